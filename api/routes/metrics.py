"""``GET /api/metrics/combined/``: the tenant's metrics snapshot, per the contract's cache rules.

- unfiltered: the stored snapshot, unchanged between calls;
- ``cache=false``: recompute, store, answer the new snapshot;
- filtered (``start_date``, ``end_date``, ``parish``): computed live, nothing stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from dagster import AssetKey, AssetRecordsFilter
from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.snapshots.payload import (
    SnapshotFilters,
    compute_payload,
    load_snapshot,
    store_snapshot,
)
from api.auth import authenticate, scoped_tenant
from api.problems import Problem
from api.state import state_of

SNAPSHOT_ASSET = AssetKey("metrics_snapshot")
SOURCES = ("warehouse",)


def _date_param(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Problem(400, f"{name} must be a date (YYYY-MM-DD)") from None


def _filters(request: Request) -> SnapshotFilters:
    filters = SnapshotFilters(
        start_date=_date_param(request, "start_date"),
        end_date=_date_param(request, "end_date"),
        parish=(request.query_params.get("parish") or None),
    )
    if filters.start_date and filters.end_date and filters.start_date > filters.end_date:
        raise Problem(400, "start_date is after end_date")
    if filters.parish is not None and len(filters.parish) > 64:
        raise Problem(400, "parish is too long")
    return filters


def _use_cache(request: Request) -> bool:
    raw = request.query_params.get("cache", "true").lower()
    if raw not in ("true", "false", "1", "0"):
        raise Problem(400, "cache must be true or false")
    return raw in ("true", "1")


def _latest_materialization(request: Request, tenant_id: str) -> dict[str, Any] | None:
    result = state_of(request).instance.fetch_materializations(
        AssetRecordsFilter(asset_key=SNAPSHOT_ASSET, asset_partitions=[tenant_id]), limit=1
    )
    if not result.records:
        return None
    record = result.records[0]
    return {
        "run_id": record.run_id,
        "materialized_at": datetime.fromtimestamp(record.timestamp, UTC).isoformat(),
    }


def combined_metrics(request: Request) -> JSONResponse:
    principal = authenticate(request)
    tenant_id = scoped_tenant(request, principal)
    source = request.query_params.get("source", "warehouse")
    if source not in SOURCES:
        raise Problem(400, f"source must be one of: {', '.join(SOURCES)}")
    filters, use_cache = _filters(request), _use_cache(request)
    engine = state_of(request).engine

    if not filters.is_empty:
        with engine.connect() as conn:
            payload, _ = compute_payload(conn, tenant_id, filters)
            stored = load_snapshot(conn, tenant_id)
        # A live answer carries the stored snapshot's timestamp, which it never changes.
        generated_at = stored.snapshot_generated_at if stored else None
        cached = False
    elif not use_cache:
        with engine.begin() as conn:
            payload, row_totals = compute_payload(conn, tenant_id)
            generated_at = store_snapshot(
                conn, tenant_id, payload, row_totals, duration_ms=0, dagster_run_id=None
            )
        cached = False
    else:
        with engine.connect() as conn:
            stored = load_snapshot(conn, tenant_id)
        payload = stored.payload if stored else {}
        generated_at = stored.snapshot_generated_at if stored else None
        cached = True

    return JSONResponse(
        {
            "tenant_id": tenant_id,
            "source": source,
            "cached": cached,
            "snapshot_generated_at": generated_at.isoformat() if generated_at else None,
            "snapshot_age_minutes": (
                round((datetime.now(UTC) - generated_at).total_seconds() / 60, 1)
                if generated_at
                else None
            ),
            "materialization": _latest_materialization(request, tenant_id),
            "payload": payload,
        }
    )
