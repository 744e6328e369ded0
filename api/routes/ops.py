"""Operations rollups: ``GET /api/ops/sync-health/`` and ``GET /api/ops/health-overview/``.

Both are tenant-scoped through ``api/auth.py``: a tenant key sees its own tenant, an operator key
every tenant (or the one named by ``tenant_id=``). Queries are batched: one per source for all
visible tenants, two per tenant-partitioned asset for the instance's materializations.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa
from dagster import DagsterRunStatus, RunsFilter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.dagster_internals import TimeWindowFreshnessPolicy
from adinsights_pipelines.defs.alerts.observe import (
    latest_dbt_success_end,
    partition_materialized_at,
)
from adinsights_pipelines.defs.contracts.reconcile import summary as reconciliation_summary
from adinsights_pipelines.defs.freshness_policies import (
    DBT_JOB,
    SNAPSHOT_GRACE_AFTER_DBT,
    State,
    freshness_state,
)
from adinsights_pipelines.defs.fx import store as fx_store
from adinsights_pipelines.defs.meta.graph_versions import version_health
from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS
from adinsights_pipelines.settings import load_settings
from adinsights_pipelines.sync_health import (
    ERROR,
    FAILING,
    FRESH,
    MISSING,
    STALE,
    SYNC_STATES,
    ConnectionHealth,
    age_minutes,
    airbyte_connection_health,
    meta_account_health,
    snapshot_health,
    timezone_mismatches,
    visible_tenant_ids,
)
from api.auth import authenticate, tenant_scope
from api.pagination import TenantCursor, decode_cursor, encode_cursor, parse_limit
from api.state import AppState, state_of

log = logging.getLogger("api.ops")

_WORST_FIRST = (ERROR, FAILING, STALE, MISSING, FRESH)
#: Dagster daemons beat every 30 s; three missed beats mean the daemon is not running.
DAEMON_HEARTBEAT_STALE_AFTER = timedelta(seconds=90)
DBT_STALE_AFTER = timedelta(hours=24)
INGESTION_GROUPS = ("meta", "airbyte", "web_analytics")


def _platform(key: str, group: str) -> str:
    for platform in ("google_ads", "ga4", "search_console"):
        if key.startswith(platform):
            return platform
    return group


def _worst(states: list[str]) -> str:
    return next((s for s in _WORST_FIRST if s in states), FRESH if not states else states[0])


def asset_health(state: AppState, tenants: list[str], now: datetime) -> list[ConnectionHealth]:
    """Tenant-partitioned ingestion assets, from the instance: fresh / stale per their policy
    (partitions never materialized are left to the warehouse sources' ``missing``)."""
    result = []
    for node in state.ingestion_graph.asset_nodes:
        policy = node.freshness_policy
        if (
            not node.is_materializable
            or node.group_name not in INGESTION_GROUPS
            or getattr(node.partitions_def, "name", None) != TENANT_PARTITIONS
            or not isinstance(policy, TimeWindowFreshnessPolicy)
        ):
            continue
        key = node.key.to_user_string()
        for tenant, last_at in partition_materialized_at(state.instance, node.key, tenants).items():
            verdict = freshness_state(policy, last_at, now)
            result.append(
                ConnectionHealth(
                    tenant_id=tenant,
                    platform=_platform(key, node.group_name),
                    kind="asset",
                    connection=key,
                    state=FRESH if verdict is State.PASS else STALE,
                    last_synced_at=last_at,
                    age_minutes=age_minutes(last_at, now),
                    last_job_status=None,
                    detail=None if verdict is State.PASS else f"freshness {verdict.value}",
                )
            )
    return result


def _position(request: Request) -> str | None:
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    return decode_cursor(raw, TenantCursor).after


def _sync_health(request: Request) -> dict[str, Any]:
    principal = authenticate(request)
    scope = tenant_scope(request, principal)
    limit, after = parse_limit(request, default=100), _position(request)
    state, now = state_of(request), datetime.now(UTC)
    with state.engine.connect() as conn:
        tenants = visible_tenant_ids(conn, [scope] if scope else None)
        entries = meta_account_health(conn, tenants, now)
        entries += airbyte_connection_health(conn, tenants, now)
        snapshots = snapshot_health(conn, tenants, now)
        reconciled = reconciliation_summary(conn, load_settings().contracts_window_days, tenants)
    entries += asset_health(state, tenants, now)
    for snap in snapshots:
        entries.append(
            ConnectionHealth(
                tenant_id=snap.tenant_id,
                platform="snapshots",
                kind="metrics_snapshot",
                connection="metrics_snapshot",
                state=snap.sync_state,
                last_synced_at=snap.snapshot_generated_at,
                age_minutes=snap.age_minutes,
                last_job_status=None,
                detail=snap.error
                or (None if snap.state in (State.PASS, State.UNKNOWN) else snap.state.value),
            )
        )
    by_tenant: dict[str, list[ConnectionHealth]] = {t: [] for t in tenants}
    for entry in entries:
        by_tenant.setdefault(entry.tenant_id, []).append(entry)

    ordered = [t for t in sorted(by_tenant) if after is None or t > after]
    page, more = ordered[:limit], len(ordered) > limit
    return {
        "generated_at": now.isoformat(),
        "counts": _counts(entries),
        "tenants": [
            {
                "tenant_id": tenant,
                "state": _worst([e.state for e in by_tenant[tenant]]),
                "counts": _counts(by_tenant[tenant]),
                "connections": [
                    e.as_json()
                    for e in sorted(
                        by_tenant[tenant], key=lambda e: (e.platform, e.kind, e.connection)
                    )
                ],
                # our Meta ad rows against Meta's account totals (the blocking contract
                # meta_reconciles_with_account_totals); null before any were read
                "reconciliation": reconciled.get(tenant),
            }
            for tenant in page
        ],
        "next_cursor": encode_cursor({"after": page[-1]}) if more and page else None,
    }


def _counts(entries: list[ConnectionHealth]) -> dict[str, int]:
    counted = Counter(e.state for e in entries)
    return {s: counted.get(s, 0) for s in SYNC_STATES}


async def sync_health(request: Request) -> JSONResponse:
    """Every connection of every tenant in scope: fresh, stale, failing or missing.

    ---
    summary: Sync health per tenant and connection
    tags: [ops]
    parameters:
      - $ref: '#/components/parameters/TenantId'
      - name: limit
        in: query
        required: false
        description: Tenants per page.
        schema: {type: integer, minimum: 1, maximum: 500, default: 100}
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: Counts over all tenants in scope and one page of tenants.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/SyncHealth'}
    """
    return JSONResponse(await run_in_threadpool(_sync_health, request))


# --- health overview --------------------------------------------------------------------------


def _card(service: str, status: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"service": service, "status": status, "detail": detail, **extra}


def _database_card(state: AppState) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with state.engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # a health card reports, never raises
        return _card("database", "error", f"unreachable ({type(exc).__name__})")
    latency = round((time.perf_counter() - started) * 1000, 1)
    return _card("database", "ok", f"answered in {latency} ms", latency_ms=latency)


def _daemon_card(state: AppState, now: datetime) -> dict[str, Any]:
    """The runbook's "Scheduler started" check: Dagster daemon heartbeats and their age."""
    instance = state.instance
    beats = instance.get_daemon_heartbeats()
    required = list(instance.get_required_daemon_types())
    ages = {
        daemon: round(now.timestamp() - beat.timestamp, 1)
        for daemon, beat in beats.items()
        if daemon in required
    }
    if not ages:
        return _card("dagster_daemon", "missing", "no daemon heartbeat: is dagster-daemon running?")
    late = sorted(
        d for d in required if ages.get(d, 1e12) > DAEMON_HEARTBEAT_STALE_AFTER.total_seconds()
    )
    scheduler = ages.get("SCHEDULER")
    detail = (
        f"scheduler heartbeat {scheduler:.0f}s ago"
        if scheduler is not None
        else "no scheduler heartbeat"
    )
    if late:
        detail += f"; late or missing: {', '.join(late)}"
    return _card(
        "dagster_daemon",
        "stale" if late else "ok",
        detail,
        heartbeat_age_seconds=ages,
    )


def _dbt_card(state: AppState, now: datetime) -> dict[str, Any]:
    records = state.instance.get_run_records(
        RunsFilter(job_name=DBT_JOB, statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]),
        limit=1,
        order_by="update_timestamp",
    )
    last_success = latest_dbt_success_end(state.instance)
    if not records:
        return _card("dbt", "stale", "no dbt_build run has finished yet")
    latest = records[0]
    ended = datetime.fromtimestamp(latest.end_time or latest.update_timestamp.timestamp(), UTC)
    extra = {
        "last_run_at": ended.isoformat(),
        "last_run_status": latest.dagster_run.status.value,
        "last_success_at": last_success.isoformat() if last_success else None,
    }
    if latest.dagster_run.status is DagsterRunStatus.FAILURE:
        return _card(
            "dbt", "failing", f"latest dbt_build run {latest.dagster_run.run_id} failed", **extra
        )
    if last_success is None or now - last_success > DBT_STALE_AFTER:
        return _card("dbt", "stale", "no successful dbt_build in 24 h", **extra)
    return _card(
        "dbt", "ok", f"dbt_build succeeded {age_minutes(last_success, now)} min ago", **extra
    )


def _rollup_card(service: str, entries: list[ConnectionHealth], empty: str) -> dict[str, Any]:
    if not entries:
        return _card(service, "not_configured", empty, counts=_counts([]))
    counts = _counts(entries)
    worst = _worst([e.state for e in entries])
    status = {
        ERROR: "error",
        FAILING: "failing",
        STALE: "stale",
        MISSING: "no_recent_sync",
        FRESH: "ok",
    }[worst]
    detail = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    errors = [e for e in entries if e.state == ERROR]
    if errors:
        detail += "; " + "; ".join(f"{e.tenant_id} {e.connection}: {e.detail}" for e in errors[:5])
    return _card(service, status, detail, counts=counts)


def _meta_sync_card(
    conn: sa.Connection, tenants: list[str], now: datetime, reporting_zone: str
) -> dict[str, Any]:
    """The Meta accounts' sync states, and ``timezone_mismatch``: the accounts whose zone is
    not the reporting zone (their days do not line up with the reports'; a fact to know, not
    a failure, so the status does not change)."""
    card = _rollup_card(
        "meta_sync", meta_account_health(conn, tenants, now), "no Meta accounts connected"
    )
    card["reporting_timezone"] = reporting_zone
    card["timezone_mismatch"] = timezone_mismatches(conn, tenants, reporting_zone)
    return card


def _snapshot_card(state: AppState, snapshots: list, now: datetime) -> dict[str, Any]:
    if not snapshots:
        return _card("metrics_snapshots", "not_configured", "no active tenants")
    unreadable = [s for s in snapshots if s.error is not None]
    states = Counter(s.state for s in snapshots if s.error is None)
    dbt_end = latest_dbt_success_end(state.instance)
    grace = dbt_end is not None and now - dbt_end < SNAPSHOT_GRACE_AFTER_DBT
    status = (
        "error"
        if unreadable
        else "critical"
        if states[State.FAIL]
        else "warning"
        if states[State.WARN]
        else "ok"
    )
    ages = [s.age_minutes for s in snapshots if s.age_minutes is not None]
    detail = (
        f"{states[State.PASS]} fresh, {states[State.WARN]} older than 60 min, "
        f"{states[State.FAIL]} older than 120 min or missing"
    )
    if grace:
        detail += "; within 15 min of a dbt run (staleness under 15 min old not yet alerted)"
    for snap in unreadable[:5]:
        detail += f"; {snap.tenant_id}: {snap.error}"
    return _card(
        "metrics_snapshots",
        status,
        detail,
        oldest_age_minutes=max(ages) if ages else None,
        in_dbt_grace=grace,
    )


#: How far back the exchange-rate card looks for carried-forward and missing days.
FX_WINDOW_DAYS = 30


def _fx_rates_card(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    """Exchange rates for every currency in use (tenants' reporting currencies and ad
    accounts' currencies): the latest rate day, and over the last 30 days up to yesterday (UTC;
    today's rate arrives at 00:30 Jamaica) the carried-forward and missing days."""
    quotes = sorted(fx_store.currencies_in_use(conn) - {fx_store.BASE})
    if not quotes:
        return _card("fx_rates", "not_configured", "no currency other than USD in use")
    yesterday = now.date() - timedelta(days=1)
    start = yesterday - timedelta(days=FX_WINDOW_DAYS - 1)
    first_data_day = fx_store.earliest_data_day(conn)
    seen = fx_store.overview(conn, quotes, max(start, first_data_day or start), yesterday)
    extra = {
        "quotes": quotes,
        "latest_rate_date": seen.latest_day.isoformat() if seen.latest_day else None,
        "latest_published_date": (
            seen.latest_published.isoformat() if seen.latest_published else None
        ),
        "carried_forward_days": [d.isoformat() for d in seen.carried_days],
        "missing_days": [d.isoformat() for d in seen.missing_days],
        "sources": seen.sources,
    }
    if seen.latest_day is None:
        return _card("fx_rates", "missing", f"no exchange rates for {', '.join(quotes)}", **extra)
    detail = (
        f"latest rate {seen.latest_day} (published {seen.latest_published}); "
        f"{len(seen.carried_days)} carried-forward and {len(seen.missing_days)} missing days "
        f"in the last {FX_WINDOW_DAYS}"
    )
    if seen.missing_days:
        shown = ", ".join(d.isoformat() for d in seen.missing_days[:5])
        return _card("fx_rates", "stale", f"{detail}: missing {shown}", **extra)
    if seen.latest_day < yesterday:
        return _card("fx_rates", "stale", detail, **extra)
    return _card("fx_rates", "ok", detail, **extra)


def _superset_card(url: str | None) -> dict[str, Any]:
    if not url:
        return _card("superset", "not_configured", "ADINSIGHTS_SUPERSET_HEALTH_URL is not set")
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException as exc:
        return _card("superset", "error", f"unreachable ({type(exc).__name__})")
    if response.status_code != 200:
        return _card("superset", "error", f"/health answered HTTP {response.status_code}")
    return _card("superset", "ok", "/health answered 200")


def _meta_api_version_card(version: str, now: datetime) -> dict[str, Any]:
    """The configured Graph API version against Meta's sunset dates (graph_versions.toml)."""
    health = version_health(version, now)
    return _card(
        "meta_api_version",
        health.status,
        health.detail,
        version=health.version,
        sunset=health.sunset.isoformat() if health.sunset else None,
        days_left=health.days_left,
        latest=health.latest,
    )


def _guarded_card(
    state: AppState, service: str, build: Callable[[sa.Connection], dict[str, Any]]
) -> dict[str, Any]:
    """One card that cannot be built never takes the others down (its rows are already read
    one by one; this catches the unforeseen). A lost database still answers 503."""
    try:
        with state.engine.connect() as conn:
            return build(conn)
    except sa.exc.OperationalError:
        raise
    except Exception as exc:
        log.exception("health overview: the %s card failed", service)
        return _card(service, "error", f"could not be read ({type(exc).__name__})")


def _health_overview(request: Request) -> dict[str, Any]:
    principal = authenticate(request)
    scope = tenant_scope(request, principal)
    state, now = state_of(request), datetime.now(UTC)
    database = _database_card(state)
    cards = [_card("api", "ok", "answering requests"), database]
    try:
        cards += [_daemon_card(state, now), _dbt_card(state, now)]
    except Exception as exc:  # the instance is down: say so on the cards
        reason = f"Dagster instance unreachable ({type(exc).__name__})"
        cards += [_card("dagster_daemon", "error", reason), _card("dbt", "error", reason)]
    settings = load_settings()
    if database["status"] == "ok":
        with state.engine.connect() as conn:
            tenants = visible_tenant_ids(conn, [scope] if scope else None)
        cards += [
            _guarded_card(state, "airbyte", lambda c: _rollup_card(
                "airbyte", airbyte_connection_health(c, tenants, now), "no Airbyte connections"
            )),
            _guarded_card(state, "meta_sync", lambda c: _meta_sync_card(
                c, tenants, now, settings.reporting_timezone
            )),
            _guarded_card(state, "metrics_snapshots", lambda c: _snapshot_card(
                state, snapshot_health(c, tenants, now), now
            )),
            _guarded_card(state, "fx_rates", lambda c: _fx_rates_card(c, now)),
        ]  # fmt: skip
    else:
        for service in ("airbyte", "meta_sync", "metrics_snapshots", "fx_rates"):
            cards.append(_card(service, "error", "database unreachable"))
    cards.append(_superset_card(settings.superset_health_url))
    cards.append(_meta_api_version_card(settings.meta_api_version, now))
    healthy = all(c["status"] in ("ok", "not_configured") for c in cards)
    return {
        "status": "ok" if healthy else "degraded",
        "generated_at": now.isoformat(),
        "tenant_id": scope,
        "cards": cards,
    }


async def health_overview(request: Request) -> JSONResponse:
    """One card per service: API, database, Dagster daemon, dbt, Airbyte, Meta sync, metrics
    snapshots, exchange rates, Superset and the Meta Graph API version (ok, warning within 90
    days of its sunset, error past it).

    ---
    summary: Health overview of the platform
    tags: [ops]
    parameters:
      - $ref: '#/components/parameters/TenantId'
    responses:
      200:
        description: The cards; `status` is `degraded` when any card is not ok.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/HealthOverview'}
    """
    return JSONResponse(await run_in_threadpool(_health_overview, request))
