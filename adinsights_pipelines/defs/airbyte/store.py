"""Airbyte connections and job telemetry in ``app.airbyte_connections`` / ``app.airbyte_jobs``.

Used by the assets, the schedule, the CLI and the API alike. Health and telemetry are read in
one statement for every tenant, each connection's newest jobs through the primary key (and a
partial index for the newest success), so the cost does not grow with the job history.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.defs.airbyte.jobs import JobOutcome
from adinsights_pipelines.defs.airbyte.providers import PROVIDERS_BY_NAME
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.tenant_store import require_tenant


class ConnectionNotFound(AdinsightsError):
    pass


@dataclass(frozen=True)
class AirbyteConnectionRow:
    connection_id: str
    tenant_id: str
    provider: str
    source_account_id: str | None
    sync_interval_minutes: int
    is_active: bool
    created_at: datetime
    last_attempt_at: datetime | None = None
    last_attempt_status: str | None = None
    last_attempt_error: str | None = None


_CONNECTION_COLUMNS = (
    "connection_id, tenant_id, provider, source_account_id, sync_interval_minutes, is_active, "
    "created_at, last_attempt_at, last_attempt_status, last_attempt_error"
)


def _row(row: Any) -> AirbyteConnectionRow:
    return AirbyteConnectionRow(**dict(row._mapping))


def normalize_connection_id(raw: str) -> str:
    """Airbyte connection ids are UUIDs; stored in their canonical lowercase form."""
    try:
        return str(uuid.UUID(str(raw).strip()))
    except ValueError:
        raise AdinsightsError(f"connection id {raw!r} is not an Airbyte connection UUID") from None


def normalize_source_account(provider: str, raw: str) -> str:
    if provider == "google_ads":
        digits = re.sub(r"[\s-]", "", raw)
        if not re.fullmatch(r"\d{10}", digits):
            raise AdinsightsError(
                f"Google Ads customer id {raw!r} must be 10 digits (123-456-7890 or 1234567890)"
            )
        return digits
    value = raw.strip()
    if not value:
        raise AdinsightsError("the source account id must not be empty")
    return value


def add_connection(
    conn: Connection,
    *,
    tenant_id: str,
    provider: str,
    connection_id: str,
    source_account_id: str,
    interval_minutes: int = 60,
) -> bool:
    """Register (or update and reactivate) a tenant's connection. True when it was new."""
    if provider not in PROVIDERS_BY_NAME:
        known = ", ".join(sorted(PROVIDERS_BY_NAME))
        raise AdinsightsError(f"provider {provider!r} is not synced through Airbyte ({known})")
    if interval_minutes < 1:
        raise AdinsightsError("the sync interval must be at least 1 minute")
    require_tenant(conn, tenant_id)
    connection_id = normalize_connection_id(connection_id)
    account = normalize_source_account(provider, source_account_id)
    owner = conn.execute(
        sa.text("select tenant_id from app.airbyte_connections where connection_id = :c"),
        {"c": connection_id},
    ).scalar()
    if owner is not None and owner != tenant_id:
        raise AdinsightsError(f"connection {connection_id} belongs to tenant {owner!r}")
    taken = conn.execute(
        sa.text(
            "select connection_id, tenant_id from app.airbyte_connections "
            "where provider = :p and source_account_id = :a and connection_id <> :c"
        ),
        {"p": provider, "a": account, "c": connection_id},
    ).first()
    if taken is not None:
        raise AdinsightsError(
            f"{PROVIDERS_BY_NAME[provider].source_account} {account} is already synced by "
            f"connection {taken.connection_id} (tenant {taken.tenant_id})"
        )
    inserted: bool = conn.execute(
        sa.text(
            """
            insert into app.airbyte_connections
                (connection_id, tenant_id, provider, source_account_id, sync_interval_minutes)
            values (:c, :t, :p, :a, :i)
            on conflict (connection_id) do update set
                provider = excluded.provider,
                source_account_id = excluded.source_account_id,
                sync_interval_minutes = excluded.sync_interval_minutes,
                is_active = true
            returning (xmax = 0) as inserted
            """
        ),
        {"c": connection_id, "t": tenant_id, "p": provider, "a": account, "i": interval_minutes},
    ).scalar_one()
    return bool(inserted)


def get_connection(conn: Connection, connection_id: str) -> AirbyteConnectionRow | None:
    row = conn.execute(
        sa.text(
            f"select {_CONNECTION_COLUMNS} from app.airbyte_connections where connection_id = :c"
        ),
        {"c": connection_id},
    ).first()
    return _row(row) if row is not None else None


def deactivate_connection(conn: Connection, connection_id: str) -> AirbyteConnectionRow:
    connection_id = normalize_connection_id(connection_id)
    row = conn.execute(
        sa.text(
            f"update app.airbyte_connections set is_active = false where connection_id = :c "
            f"returning {_CONNECTION_COLUMNS}"
        ),
        {"c": connection_id},
    ).first()
    if row is None:
        raise ConnectionNotFound(f"no Airbyte connection {connection_id} is registered")
    return _row(row)


def active_connections(
    conn: Connection, tenant_id: str, provider: str, only: Sequence[str] = ()
) -> list[AirbyteConnectionRow]:
    """The tenant's active connections of ``provider`` (only those in ``only``, if given)."""
    rows = conn.execute(
        sa.text(
            f"""
            select {_CONNECTION_COLUMNS} from app.airbyte_connections
             where tenant_id = :t and provider = :p and is_active
               and (cardinality(cast(:only as text[])) = 0
                    or connection_id = any(cast(:only as text[])))
             order by connection_id
            """
        ),
        {"t": tenant_id, "p": provider, "only": list(only)},
    ).all()
    return [_row(r) for r in rows]


@dataclass(frozen=True)
class ConnectionListing:
    connection: AirbyteConnectionRow
    last_job_id: int | None
    last_job_status: str | None
    last_job_at: datetime | None


def list_connections(conn: Connection, tenant_id: str | None = None) -> list[ConnectionListing]:
    rows = conn.execute(
        sa.text(
            f"""
            select {", ".join("c." + c.strip() for c in _CONNECTION_COLUMNS.split(","))},
                   j.job_id as last_job_id, j.status as last_job_status,
                   coalesce(j.finished_at, j.started_at, j.recorded_at) as last_job_at
              from app.airbyte_connections c
              left join lateral (
                    select job_id, status, finished_at, started_at, recorded_at
                      from app.airbyte_jobs where connection_id = c.connection_id
                     order by job_id desc limit 1) j on true
             where cast(:t as text) is null or c.tenant_id = :t
             order by c.tenant_id, c.provider, c.connection_id
            """
        ),
        {"t": tenant_id},
    ).all()
    out = []
    for row in rows:
        values = dict(row._mapping)
        last = (values.pop("last_job_id"), values.pop("last_job_status"), values.pop("last_job_at"))
        out.append(ConnectionListing(AirbyteConnectionRow(**values), *last))
    return out


def record_job(conn: Connection, tenant_id: str, outcome: JobOutcome) -> None:
    """Upsert one job's telemetry (a later report of the same job replaces the earlier)."""
    conn.execute(
        sa.text(
            """
            insert into app.airbyte_jobs (connection_id, job_id, tenant_id, status,
                records_synced, bytes_synced, duration_seconds, started_at, finished_at, error)
            values (:c, :j, :t, :status, :records, :bytes, :duration, :started, :finished,
                    :error)
            on conflict (connection_id, job_id) do update set
                status = excluded.status,
                records_synced = coalesce(excluded.records_synced, airbyte_jobs.records_synced),
                bytes_synced = coalesce(excluded.bytes_synced, airbyte_jobs.bytes_synced),
                duration_seconds = coalesce(excluded.duration_seconds,
                                            airbyte_jobs.duration_seconds),
                started_at = coalesce(excluded.started_at, airbyte_jobs.started_at),
                finished_at = coalesce(excluded.finished_at, airbyte_jobs.finished_at),
                error = excluded.error,
                recorded_at = now()
            """
        ),
        {
            "c": outcome.connection_id,
            "j": outcome.job_id,
            "t": tenant_id,
            "status": outcome.status,
            "records": outcome.records_synced,
            "bytes": outcome.bytes_synced,
            "duration": outcome.duration_seconds,
            "started": outcome.started_at,
            "finished": outcome.finished_at,
            "error": outcome.error,
        },
    )


def stored_job_status(conn: Connection, connection_id: str, job_id: int) -> str | None:
    """The stored status of a job, locking its row until the transaction ends."""
    status: str | None = conn.execute(
        sa.text(
            "select status from app.airbyte_jobs where connection_id = :c and job_id = :j "
            "for update"
        ),
        {"c": connection_id, "j": job_id},
    ).scalar()
    return status


def note_webhook_received(conn: Connection, connection_id: str, job_id: int) -> None:
    """When Airbyte's webhook for a job last reached us, a replay of a job our own sync already
    stored included: the webhook-silence alert and the webhook-delay metric read it."""
    conn.execute(
        sa.text(
            "update app.airbyte_jobs set webhook_received_at = now() "
            "where connection_id = :c and job_id = :j"
        ),
        {"c": connection_id, "j": job_id},
    )


def record_attempt(
    conn: Connection, connection_id: str, status: str, error: str | None = None
) -> None:
    """Remember how the last sync attempt of a connection went (``started``/``succeeded``/…)."""
    conn.execute(
        sa.text(
            "update app.airbyte_connections set last_attempt_at = now(), "
            "last_attempt_status = :s, last_attempt_error = :e where connection_id = :c"
        ),
        {"c": connection_id, "s": status, "e": error},
    )


@dataclass(frozen=True)
class ScheduledConnection:
    connection_id: str
    tenant_id: str
    provider: str
    sync_interval_minutes: int
    last_started_at: datetime | None


def schedulable_connections(conn: Connection) -> list[ScheduledConnection]:
    """Active connections of active tenants with when their newest job started."""
    rows = conn.execute(
        sa.text(
            """
            select c.connection_id, c.tenant_id, c.provider, c.sync_interval_minutes,
                   j.last_started_at
              from app.airbyte_connections c
              join app.tenants t on t.id = c.tenant_id and t.status = 'active'
              left join lateral (
                    select coalesce(started_at, recorded_at) as last_started_at
                      from app.airbyte_jobs where connection_id = c.connection_id
                     order by job_id desc limit 1) j on true
             where c.is_active
             order by c.tenant_id, c.provider, c.connection_id
            """
        )
    ).all()
    return [ScheduledConnection(**dict(r._mapping)) for r in rows]


_HEALTH_SQL = """
select c.tenant_id, c.connection_id, c.provider, c.source_account_id,
       c.last_attempt_at, c.last_attempt_status, c.last_attempt_error,
       l.job_id as last_job_id, l.status as last_job_status, l.error as last_job_error,
       coalesce(l.finished_at, l.started_at, l.recorded_at) as last_job_at,
       s.job_id as success_job_id, coalesce(s.finished_at, s.recorded_at) as last_synced_at,
       s.records_synced, s.bytes_synced, s.duration_seconds
  from app.airbyte_connections c
  join app.tenants t on t.id = c.tenant_id and t.status = 'active'
  left join lateral (
        select job_id, status, error, finished_at, started_at, recorded_at
          from app.airbyte_jobs j where j.connection_id = c.connection_id
         order by j.job_id desc limit 1) l on true
  left join lateral (
        select job_id, finished_at, recorded_at, records_synced, bytes_synced, duration_seconds
          from app.airbyte_jobs j
         where j.connection_id = c.connection_id and j.status = 'succeeded'
         order by j.job_id desc limit 1) s on true
 where c.is_active and (cast(:t as text) is null or c.tenant_id = :t)
 order by c.tenant_id, c.provider, c.connection_id
"""


def connection_health_rows(conn: Connection, tenant_id: str | None) -> list[dict[str, Any]]:
    """Per active connection: its newest job and its newest successful job (one statement)."""
    return [dict(r._mapping) for r in conn.execute(sa.text(_HEALTH_SQL), {"t": tenant_id})]


_TELEMETRY_SQL = """
select t.id as tenant_id,
       (select count(*) from app.airbyte_connections c
         where c.tenant_id = t.id and c.is_active) as connections,
       (select max(coalesce(s.finished_at, s.recorded_at))
          from app.airbyte_connections c
          cross join lateral (
                select finished_at, recorded_at from app.airbyte_jobs j
                 where j.connection_id = c.connection_id and j.status = 'succeeded'
                 order by j.job_id desc limit 1) s
         where c.tenant_id = t.id and c.is_active) as last_synced_at,
       lj.connection_id, lj.provider, lj.job_id, lj.status, lj.records_synced, lj.bytes_synced,
       lj.duration_seconds, lj.started_at, lj.finished_at, lj.error
  from app.tenants t
  left join lateral (
        select c.connection_id, c.provider, j.*
          from app.airbyte_connections c
          cross join lateral (
                select job_id, status, records_synced, bytes_synced, duration_seconds,
                       started_at, finished_at, error, recorded_at
                  from app.airbyte_jobs j where j.connection_id = c.connection_id
                 order by j.job_id desc limit 1) j
         where c.tenant_id = t.id and c.is_active
         order by coalesce(j.started_at, j.recorded_at) desc limit 1) lj on true
 where t.status = 'active'
   and (cast(:t as text) is null or t.id = :t)
   and (cast(:after as text) is null or t.id > :after)
 order by t.id
 limit :limit
"""


def tenant_telemetry_rows(
    conn: Connection, tenant_id: str | None, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Per active tenant (a keyset page): newest success and newest job (one statement)."""
    params = {"t": tenant_id, "after": after, "limit": limit}
    return [dict(r._mapping) for r in conn.execute(sa.text(_TELEMETRY_SQL), params)]
