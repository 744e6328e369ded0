"""Tenants' GA4 properties and Search Console sites (``app.web_analytics_sources``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.tenant_store import require_tenant

WEB_PROVIDERS = ("ga4", "search_console")
PROPERTY_ID = re.compile(r"^[0-9]{1,20}$")
SITE_URL = re.compile(r"^(https?://[^\s/?#]+/[^\s?#]*|sc-domain:[a-z0-9.-]+)$", re.IGNORECASE)


@dataclass(frozen=True)
class WebSource:
    id: int
    tenant_id: str
    provider: str
    #: The GA4 property id or the Search Console site URL.
    identifier: str
    is_active: bool
    last_job_status: str | None
    last_success_at: datetime | None
    synced_through: date | None


def normalise_identifier(provider: str, identifier: str) -> str:
    """A GA4 property id (``123``, or ``properties/123``) or a Search Console site URL
    (``https://www.example.com/`` or ``sc-domain:example.com``), checked."""
    value = identifier.strip()
    if provider == "ga4":
        value = value.removeprefix("properties/")
        if not PROPERTY_ID.match(value):
            raise AdinsightsError(f"invalid GA4 property id {identifier!r}: use its digits")
        return value
    if provider == "search_console":
        if not SITE_URL.match(value):
            raise AdinsightsError(
                f"invalid Search Console site {identifier!r}: use the property as Search Console "
                "names it, e.g. https://www.example.com/ or sc-domain:example.com"
            )
        return value
    raise AdinsightsError(f"unknown web analytics provider {provider!r}")


def _column(provider: str) -> str:
    return "property_id" if provider == "ga4" else "site_url"


def add_source(conn: Connection, tenant_id: str, provider: str, identifier: str) -> bool:
    """Register (or reactivate) a source for the tenant. True when it was new."""
    require_tenant(conn, tenant_id)
    value = normalise_identifier(provider, identifier)
    column = _column(provider)
    row = conn.execute(
        sa.text(
            f"""
            insert into app.web_analytics_sources (tenant_id, provider, {column})
            values (:t, :p, :v)
            on conflict (tenant_id, provider, {column}) do update
               set is_active = true, updated_at = now()
            returning (xmax = 0) as inserted
            """
        ),
        {"t": tenant_id, "p": provider, "v": value},
    ).one()
    return bool(row.inserted)


def deactivate_source(conn: Connection, tenant_id: str, provider: str, identifier: str) -> bool:
    """Stop syncing a source (its rows stay). False when the tenant has no such active source."""
    value = normalise_identifier(provider, identifier)
    done = conn.execute(
        sa.text(
            f"""
            update app.web_analytics_sources set is_active = false, updated_at = now()
             where tenant_id = :t and provider = :p and {_column(provider)} = :v and is_active
            returning id
            """
        ),
        {"t": tenant_id, "p": provider, "v": value},
    ).first()
    return done is not None


_SELECT = """
select id, tenant_id, provider, coalesce(property_id, site_url) as identifier, is_active,
       last_job_status, last_success_at, synced_through
  from app.web_analytics_sources
"""


def _source(row: sa.Row[tuple[object, ...]]) -> WebSource:
    m = row._mapping
    return WebSource(
        int(m["id"]),
        str(m["tenant_id"]),
        str(m["provider"]),
        str(m["identifier"]),
        bool(m["is_active"]),
        m["last_job_status"],
        m["last_success_at"],
        m["synced_through"],
    )


def list_sources(conn: Connection, tenant_id: str | None = None) -> list[WebSource]:
    where = "where tenant_id = :t" if tenant_id else ""
    rows = conn.execute(
        sa.text(f"{_SELECT} {where} order by tenant_id, provider, identifier"), {"t": tenant_id}
    ).all()
    return [_source(r) for r in rows]


def active_sources(conn: Connection, tenant_id: str, provider: str) -> list[WebSource]:
    rows = conn.execute(
        sa.text(
            f"{_SELECT} where tenant_id = :t and provider = :p and is_active order by identifier"
        ),
        {"t": tenant_id, "p": provider},
    ).all()
    return [_source(r) for r in rows]


def tenants_with_sources(conn: Connection, provider: str) -> list[str]:
    """Active tenants with at least one active source of ``provider`` (what schedules sync)."""
    return list(
        conn.execute(
            sa.text(
                """
                select distinct s.tenant_id from app.web_analytics_sources s
                  join app.tenants t on t.id = s.tenant_id
                 where s.provider = :p and s.is_active and t.status = 'active'
                 order by s.tenant_id
                """
            ),
            {"p": provider},
        ).scalars()
    )


def set_sync_state(
    conn: Connection,
    source_id: int,
    status: str,
    *,
    error: str | None = None,
    through: date | None = None,
) -> None:
    """Record a source's sync outcome (``running``, ``succeeded`` or ``failed``)."""
    conn.execute(
        sa.text(
            """
            update app.web_analytics_sources
               set last_job_status = :status,
                   last_job_error = :error,
                   last_synced_at = now(),
                   last_success_at = case when :status = 'succeeded' then now()
                                          else last_success_at end,
                   synced_through = coalesce(:through, synced_through),
                   updated_at = now()
             where id = :id
            """
        ),
        {"id": source_id, "status": status, "error": error, "through": through},
    )
