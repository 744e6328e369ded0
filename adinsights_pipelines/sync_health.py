"""Where each tenant's connections stand, from the warehouse: Meta accounts, Airbyte
connections and metrics snapshots.

One query per source for any number of tenants (``tenant_ids=None`` means all active tenants);
the classification is pure and shared by the ops API and the alert sensor.

Vocabulary (contract): ``fresh``, ``stale``, ``failing``, ``missing``; and ``error`` for a row
that cannot be interpreted (a stored time outside what Python can hold, see
``warehouse/tolerant.py``): that row alone is reported, with the reason, and logged once; the
other rows and tenants are classified as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.defs.freshness_policies import SNAPSHOT_FAIL, SNAPSHOT_WARN, State
from adinsights_pipelines.warehouse.tolerant import (
    log_unreadable_once,
    unreadable_columns,
    unreadable_reason,
)

FRESH, STALE, FAILING, MISSING, ERROR = "fresh", "stale", "failing", "missing", "error"
SYNC_STATES = (FRESH, STALE, FAILING, MISSING, ERROR)
#: Meta's hourly feeds fail after 4 h without a successful sync (runbook).
META_STALE_AFTER = timedelta(hours=4)
#: An Airbyte sync is healthy while its newest successful job is under an hour old (runbook).
AIRBYTE_STALE_AFTER = timedelta(minutes=60)
#: Tenants whose id starts with this are `adinsights simulate-alerts` sandboxes: the real alert
#: sensor and the ops rollups leave them alone.
SANDBOX_TENANT_PREFIX = "alert-sim-"


@dataclass(frozen=True)
class ConnectionHealth:
    tenant_id: str
    platform: str
    kind: str  # meta_account | airbyte_connection | asset
    connection: str
    state: str
    last_synced_at: datetime | None
    age_minutes: float | None
    last_job_status: str | None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "kind": self.kind,
            "connection": self.connection,
            "state": self.state,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "age_minutes": self.age_minutes,
            "last_job_status": self.last_job_status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SnapshotHealth:
    tenant_id: str
    snapshot_generated_at: datetime | None
    age_minutes: float | None
    state: State
    #: Why the stored row could not be interpreted (then the times above are None).
    error: str | None = None

    @property
    def sync_state(self) -> str:
        if self.error is not None:
            return ERROR
        if self.snapshot_generated_at is None:
            return MISSING
        return FRESH if self.state is State.PASS else STALE


def age_minutes(moment: datetime | None, now: datetime) -> float | None:
    return round((now - moment).total_seconds() / 60, 1) if moment else None


def classify_meta_account(
    last_job_status: str, last_success_at: datetime | None, now: datetime
) -> str:
    if last_job_status == "failed":
        return FAILING
    if last_success_at is None:
        return MISSING
    return STALE if now - last_success_at > META_STALE_AFTER else FRESH


def classify_airbyte_connection(
    latest_status: str | None, last_success_at: datetime | None, now: datetime
) -> str:
    """``latest_status`` is the newest *finished* job's status (running jobs do not count)."""
    if latest_status is None:
        return MISSING
    if latest_status != "succeeded":
        return FAILING
    if last_success_at is None or now - last_success_at > AIRBYTE_STALE_AFTER:
        return STALE
    return FRESH


def snapshot_state(
    generated_at: datetime | None, tenant_created_at: datetime, now: datetime
) -> State:
    """Warning after 60 min, critical after 120 min or when missing (contract).

    A tenant younger than the critical window has had no chance of a snapshot yet: UNKNOWN.
    """
    if generated_at is None:
        return State.FAIL if now - tenant_created_at >= SNAPSHOT_FAIL else State.UNKNOWN
    age = now - generated_at
    if age >= SNAPSHOT_FAIL:
        return State.FAIL
    if age >= SNAPSHOT_WARN:
        return State.WARN
    return State.PASS


def unreadable(where: str, row: Any) -> str | None:
    """The reason ``row`` cannot be interpreted (logged once), or None when it can."""
    columns = unreadable_columns(row._mapping)
    if not columns:
        return None
    reason = unreadable_reason(columns)
    log_unreadable_once(where, row._mapping.get("tenant_id"), reason)
    return reason


def _error_entry(
    row: Any, platform: str, kind: str, connection: str, reason: str
) -> ConnectionHealth:
    return ConnectionHealth(
        tenant_id=row.tenant_id,
        platform=platform,
        kind=kind,
        connection=connection,
        state=ERROR,
        last_synced_at=None,
        age_minutes=None,
        last_job_status=None,
        detail=reason,
    )


def _tenant_filter(tenant_ids: Sequence[str] | None, column: str) -> tuple[str, dict[str, Any]]:
    if tenant_ids is None:
        return f"{column} not like :sandbox", {"sandbox": SANDBOX_TENANT_PREFIX + "%"}
    return f"{column} = any(:tenant_ids)", {"tenant_ids": list(tenant_ids)}


def timezone_mismatches(
    conn: Connection, tenant_ids: Sequence[str] | None, reporting_zone: str
) -> list[dict[str, str]]:
    """The synced Meta ad accounts whose ``timezone_name`` is not ``reporting_zone``.

    Meta reports an account's days in the account's zone, so such an account's days do not
    line up with the reporting days (a "day" of its spend starts at another midnight). An
    account whose zone Meta did not give is left out (the sync then assumes America/Jamaica).
    """
    where, params = _tenant_filter(tenant_ids, "t.id")
    rows = conn.execute(
        sa.text(
            f"""
            select a.tenant_id, a.account_id, a.timezone_name
              from raw.meta_ad_accounts a
              join app.tenants t on t.id = a.tenant_id
             where t.status = 'active' and {where}
               and a.timezone_name is not null and a.timezone_name <> :zone
               and (not exists (select 1 from app.meta_selection x
                                 where x.tenant_id = a.tenant_id and x.kind = 'ad_account')
                    or exists (select 1 from app.meta_selection x
                                where x.tenant_id = a.tenant_id and x.kind = 'ad_account'
                                  and x.object_id = a.account_id))
             order by a.tenant_id, a.account_id
            """
        ),
        {**params, "zone": reporting_zone},
    ).all()
    return [
        {
            "tenant_id": r.tenant_id,
            "platform": "meta",
            "account_id": r.account_id,
            "timezone_name": r.timezone_name,
        }
        for r in rows
    ]


def meta_account_health(
    conn: Connection, tenant_ids: Sequence[str] | None, now: datetime
) -> list[ConnectionHealth]:
    """Per Meta ad account (``app.meta_sync_state``), plus ``missing`` for a tenant whose Meta
    credential has no synced account yet."""
    where, params = _tenant_filter(tenant_ids, "t.id")
    rows = conn.execute(
        sa.text(
            f"""
            select t.id as tenant_id, s.account_id, s.last_job_status, s.last_job_error,
                   s.last_synced_at, s.last_success_at,
                   (c.tenant_id is not null) as has_credential
              from app.tenants t
              left join app.meta_sync_state s on s.tenant_id = t.id
              left join app.platform_credentials c
                on c.tenant_id = t.id and c.provider = 'meta'
             where t.status = 'active' and {where}
               and (s.account_id is not null or c.tenant_id is not null)
             order by t.id, s.account_id
            """
        ),
        params,
    ).all()
    result = []
    for r in rows:
        reason = unreadable("meta_account_health", r)
        if reason is not None:
            result.append(_error_entry(r, "meta", "meta_account", r.account_id or "-", reason))
            continue
        if r.account_id is None:
            result.append(
                ConnectionHealth(
                    tenant_id=r.tenant_id,
                    platform="meta",
                    kind="meta_account",
                    connection="-",
                    state=MISSING,
                    last_synced_at=None,
                    age_minutes=None,
                    last_job_status=None,
                    detail="Meta credential on file, no account synced yet",
                )
            )
            continue
        state = classify_meta_account(r.last_job_status, r.last_success_at, now)
        result.append(
            ConnectionHealth(
                tenant_id=r.tenant_id,
                platform="meta",
                kind="meta_account",
                connection=r.account_id,
                state=state,
                last_synced_at=r.last_success_at,
                age_minutes=age_minutes(r.last_success_at, now),
                last_job_status=r.last_job_status,
                detail=(r.last_job_error or None) if state == FAILING else None,
            )
        )
    return result


def airbyte_connection_health(
    conn: Connection, tenant_ids: Sequence[str] | None, now: datetime
) -> list[ConnectionHealth]:
    """Per active Airbyte connection, from its newest finished job and newest success."""
    where, params = _tenant_filter(tenant_ids, "a.tenant_id")
    rows = conn.execute(
        sa.text(
            f"""
            select a.tenant_id, a.connection_id, a.provider,
                   latest.status as latest_status, latest.error as latest_error,
                   latest.job_id as latest_job_id,
                   ok.finished_at as last_success_at
              from app.airbyte_connections a
              join app.tenants t on t.id = a.tenant_id and t.status = 'active'
              left join lateral (
                   select j.status, j.error, j.job_id from app.airbyte_jobs j
                    where j.connection_id = a.connection_id
                      and j.status not in ('running', 'pending')
                    order by coalesce(j.finished_at, j.recorded_at) desc, j.job_id desc
                    limit 1) latest on true
              left join lateral (
                   select max(j.finished_at) as finished_at from app.airbyte_jobs j
                    where j.connection_id = a.connection_id and j.status = 'succeeded') ok on true
             where a.is_active and {where}
             order by a.tenant_id, a.connection_id
            """
        ),
        params,
    ).all()
    result = []
    for r in rows:
        reason = unreadable("airbyte_connection_health", r)
        if reason is not None:
            result.append(
                _error_entry(r, r.provider, "airbyte_connection", r.connection_id, reason)
            )
            continue
        state = classify_airbyte_connection(r.latest_status, r.last_success_at, now)
        result.append(
            ConnectionHealth(
                tenant_id=r.tenant_id,
                platform=r.provider,
                kind="airbyte_connection",
                connection=r.connection_id,
                state=state,
                last_synced_at=r.last_success_at,
                age_minutes=age_minutes(r.last_success_at, now),
                last_job_status=r.latest_status,
                detail=(
                    f"job {r.latest_job_id}: {r.latest_error or r.latest_status}"
                    if state == FAILING
                    else None
                ),
            )
        )
    return result


def snapshot_health(
    conn: Connection, tenant_ids: Sequence[str] | None, now: datetime
) -> list[SnapshotHealth]:
    """Every active tenant's snapshot age and state (missing snapshots included)."""
    where, params = _tenant_filter(tenant_ids, "t.id")
    rows = conn.execute(
        sa.text(
            f"""
            select t.id as tenant_id, t.created_at, s.snapshot_generated_at
              from app.tenants t
              left join app.metrics_snapshots s on s.tenant_id = t.id
             where t.status = 'active' and {where}
             order by t.id
            """
        ),
        params,
    ).all()
    result = []
    for r in rows:
        reason = unreadable("snapshot_health", r)
        if reason is not None:
            result.append(SnapshotHealth(r.tenant_id, None, None, State.UNKNOWN, error=reason))
            continue
        result.append(
            SnapshotHealth(
                tenant_id=r.tenant_id,
                snapshot_generated_at=r.snapshot_generated_at,
                age_minutes=age_minutes(r.snapshot_generated_at, now),
                state=snapshot_state(r.snapshot_generated_at, r.created_at, now),
            )
        )
    return result


def visible_tenant_ids(conn: Connection, tenant_ids: Sequence[str] | None) -> list[str]:
    where, params = _tenant_filter(tenant_ids, "id")
    return list(
        conn.execute(
            sa.text(f"select id from app.tenants where status = 'active' and {where} order by id"),
            params,
        ).scalars()
    )
