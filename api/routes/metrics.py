"""``GET /api/metrics/combined/``: the tenant's metrics snapshot, per the contract's cache rules.

- unfiltered: the stored snapshot, unchanged between calls;
- ``cache=false``: recompute, store, answer the new snapshot;
- filtered (``start_date``, ``end_date``, ``parish``): computed live, nothing stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
from api import params
from api.auth import authenticate, scoped_tenant
from api.state import state_of

SNAPSHOT_ASSET = AssetKey("metrics_snapshot")
SOURCES = ("warehouse",)


def _filters(request: Request) -> SnapshotFilters:
    start_date, end_date = params.date_range(request, "start_date", "end_date")
    return SnapshotFilters(
        start_date=start_date,
        end_date=end_date,
        parish=params.text(request, "parish", max_length=64),
    )


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
    """The tenant's metrics snapshot, cached or live per the contract's cache rules.

    ---
    summary: The tenant's combined metrics snapshot
    description: >
      Unfiltered: the stored snapshot, unchanged between calls (`cached: true`).
      `cache=false`: recomputed and stored, with a new `snapshot_generated_at`.
      Filtered (`start_date`, `end_date`, `parish`): computed live; the stored snapshot and
      its timestamp are left alone. `snapshot_generated_at` is present (null when the tenant
      has no snapshot yet, with an empty payload).
    tags: [metrics]
    parameters:
      - name: source
        in: query
        required: false
        schema: {type: string, enum: [warehouse], default: warehouse}
      - name: cache
        in: query
        required: false
        schema: {type: string, enum: ['true', 'false', '1', '0'], default: 'true'}
      - name: start_date
        in: query
        required: false
        schema: {type: string, format: date}
      - name: end_date
        in: query
        required: false
        schema: {type: string, format: date}
      - name: parish
        in: query
        required: false
        schema: {type: string, maxLength: 64}
      - $ref: '#/components/parameters/TenantId'
    responses:
      200:
        description: The snapshot (or live figures) with its timestamp.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/CombinedMetrics'}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    principal = authenticate(request)
    tenant_id = scoped_tenant(request, principal)
    source = params.choice(request, "source", SOURCES, "warehouse")
    filters, use_cache = _filters(request), params.boolean(request, "cache", default=True)
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
