"""``GET /api/metrics/combined/``: the tenant's metrics snapshot, per the contract's cache rules.

- unfiltered: the stored snapshot, unchanged between calls;
- ``cache=false``: recompute, store, answer the new snapshot;
- filtered (``start_date``, ``end_date``, ``parish``, ``currency``): computed live, nothing
  stored. ``currency=USD`` converts into another reporting currency than the tenant's.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from adinsights_pipelines.currencies import is_currency
from adinsights_pipelines.defs.snapshots.payload import MissingExchangeRates, SnapshotFilters
from adinsights_pipelines.services import snapshots
from api import params
from api.auth import authenticate, scoped_tenant
from api.problems import Problem
from api.state import AppState, CachedSnapshot, state_of

SOURCES = ("warehouse",)


CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def _filters(request: Request) -> SnapshotFilters:
    start_date, end_date = params.date_range(request, "start_date", "end_date")
    # present but empty is a 400 too, as the documented pattern says
    currency = params.matching(request, "currency", CURRENCY_CODE, "three capital letters")
    if currency is not None and not is_currency(currency):
        raise Problem(400, f"currency: {currency!r} is not an ISO 4217 code such as JMD or USD")
    return SnapshotFilters(
        start_date=start_date,
        end_date=end_date,
        parish=params.text(request, "parish", max_length=64),
        currency=currency,
    )


def _live(conn: sa.Connection, tenant_id: str, filters: SnapshotFilters) -> Any:
    try:
        return snapshots.live_snapshot(conn, tenant_id, filters)
    except MissingExchangeRates as exc:
        raise Problem(409, str(exc), "exchange-rate-missing") from None


def _recompute(state: AppState, tenant_id: str) -> Any:
    try:
        with state.engine.begin() as write:
            return snapshots.recompute_snapshot(write, tenant_id)
    except MissingExchangeRates as exc:
        raise Problem(409, str(exc), "exchange-rate-missing") from None


def _materialization(state: AppState, entry: CachedSnapshot) -> dict[str, Any] | None:
    """The Dagster materialization that stored ``entry``: ``None`` for a snapshot the API
    recomputed (``cache=false``), and until the run's event is in the instance."""
    if entry.dagster_run_id is None or entry.materialization is not None:
        return entry.materialization
    found = snapshots.snapshot_materialization(
        state.instance, entry.tenant_id, entry.dagster_run_id
    )
    if found is not None:
        state.snapshots[entry.tenant_id] = replace(entry, materialization=found)
    return found


def _stored(state: AppState, conn: sa.Connection, tenant_id: str) -> CachedSnapshot | None:
    """The tenant's stored snapshot, from ``AppState.snapshots`` while its timestamp is
    unchanged: never stale, only cheaper (one indexed read of the timestamp instead of the
    payload and an instance query)."""
    generated_at = snapshots.stored_generated_at(conn, tenant_id)
    if generated_at is None:
        return None
    entry = state.snapshots.get(tenant_id)
    if entry is not None and entry.generated_at == generated_at:
        return entry
    stored = snapshots.stored_snapshot(conn, tenant_id)
    if stored is None:  # deleted between the two reads
        return None
    entry = CachedSnapshot(
        tenant_id, stored.snapshot_generated_at, stored.payload, stored.dagster_run_id
    )
    state.snapshots[tenant_id] = entry
    return entry


def combined_metrics(request: Request) -> Response:
    """The tenant's metrics snapshot, cached or live per the contract's cache rules.

    ---
    summary: The tenant's combined metrics snapshot
    description: >
      Unfiltered: the stored snapshot, unchanged between calls (`cached: true`).
      `cache=false`: recomputed and stored, with a new `snapshot_generated_at`.
      Filtered (`start_date`, `end_date`, `parish`, `currency`): computed live; the stored
      snapshot and its timestamp are left alone. `snapshot_generated_at` is present (null when
      the tenant has no snapshot yet, with an empty payload). Every entry carries its spend in
      the reporting currency (`spend_reporting`, a decimal string, with `reporting_currency`)
      beside the original currency's; `total_reporting` is the one total, `by_day` the daily
      series with each day's rates, `fx` the rate sources and the range of rate dates used.
      `currency=<ISO 4217>` converts into that currency instead of the tenant's. 409
      `exchange-rate-missing` names the days with spend and no rate.
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
      - name: currency
        in: query
        required: false
        description: Report in this ISO 4217 currency instead of the tenant's (live, not stored).
        schema: {type: string, pattern: '^[A-Z]{3}$'}
      - $ref: '#/components/parameters/TenantId'
    responses:
      200:
        description: The snapshot (or live figures) with its timestamp.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/CombinedMetrics'}
      409:
        description: A day with spend has no exchange rate into the reporting currency.
        content:
          application/problem+json:
            schema: {$ref: '#/components/schemas/Problem'}
    """
    state = state_of(request)
    materialization = None  # only a stored snapshot was made by a Dagster run
    # One pooled connection (autocommit) for the key check, the scoping and the reads.
    with state.reader.connect() as conn:
        principal = authenticate(request, conn)
        tenant_id = scoped_tenant(request, principal, conn)
        source = params.choice(request, "source", SOURCES, "warehouse")
        filters, use_cache = _filters(request), params.boolean(request, "cache", default=True)
        if not filters.is_empty:  # live; the stored snapshot's timestamp, which it never changes
            payload, generated_at = _live(conn, tenant_id, filters)
        elif use_cache:
            entry = _stored(state, conn, tenant_id)
            payload = entry.payload if entry else {}
            generated_at = entry.generated_at if entry else None
            materialization = _materialization(state, entry) if entry else None
    if filters.is_empty and not use_cache:  # recompute and store
        payload, generated_at = _recompute(state, tenant_id)

    body = {
        "tenant_id": tenant_id,
        "source": source,
        "cached": filters.is_empty and use_cache,
        "snapshot_generated_at": generated_at.isoformat() if generated_at else None,
        "snapshot_age_minutes": (
            round((datetime.now(UTC) - generated_at).total_seconds() / 60, 1)
            if generated_at
            else None
        ),
        "materialization": materialization,
        "payload": payload,
    }
    return Response(orjson.dumps(body), media_type="application/json")
