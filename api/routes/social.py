"""``GET /api/integrations/social/status/``: where each platform stands for the tenant.

- ``not_connected``: no credential (or Airbyte connection, or GA4 property / Search Console
  site) on file;
- ``started_not_complete``: connected, but no accounts landed yet, the credential needs
  re-authorisation, or (GA4, Search Console) the credential or the property/site is missing
  (``reason`` says which);
- ``complete``: accounts connected, but no successful sync in the freshness window;
- ``active``: connected and synced within the window;
- ``error``: the platform's stored state cannot be interpreted (``reason`` says which value);
  the other platforms are unaffected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.tenant_store import PROVIDERS
from adinsights_pipelines.warehouse.tolerant import (
    log_unreadable_once,
    unreadable_columns,
    unreadable_reason,
)
from api.auth import authenticate, scoped_tenant
from api.state import state_of

# Hourly feeds fail after 4 hours without a successful sync (the runbook's threshold).
ACTIVE_WITHIN = timedelta(hours=4)
REAUTH_STATUSES = ("invalid", "reauth_required")
#: Synced directly (GA4 properties and Search Console sites in app.web_analytics_sources).
WEB_ANALYTICS = ("ga4", "search_console")

_STATE_SQL = """
select p.provider,
       c.token_status,
       c.status_reason,
       (select count(*) from app.airbyte_connections a
         where a.tenant_id = :t and a.provider = p.provider and a.is_active) as connections,
       case when p.provider = 'meta' then
            (select count(*) from raw.meta_ad_accounts m where m.tenant_id = :t) end
         as meta_accounts,
       (select count(*) from app.web_analytics_sources w
         where w.tenant_id = :t and w.provider = p.provider and w.is_active) as web_sources,
       case when p.provider = 'meta' then
            (select max(last_success_at) from app.meta_sync_state s where s.tenant_id = :t)
            when p.provider in ('ga4', 'search_console') then
            (select max(w.last_success_at) from app.web_analytics_sources w
              where w.tenant_id = :t and w.provider = p.provider and w.is_active)
       else (select max(j.finished_at) from app.airbyte_jobs j
              join app.airbyte_connections a using (connection_id)
             where a.tenant_id = :t and a.provider = p.provider and j.status = 'succeeded')
       end as last_success_at
  from unnest(cast(:providers as text[])) as p(provider)
  left join app.platform_credentials c on c.tenant_id = :t and c.provider = p.provider
"""


def platform_status(row: Any, now: datetime, tenant_id: str | None = None) -> dict[str, Any]:
    columns = unreadable_columns(row._mapping)
    if columns:
        unreadable = unreadable_reason(columns)
        log_unreadable_once("social_status", tenant_id, unreadable)
        return {
            "platform": row.provider,
            "status": "error",
            "reason": unreadable,
            "token_status": row.token_status,
            "last_synced_at": None,
        }
    connected = row.token_status is not None or row.connections > 0 or row.web_sources > 0
    if not connected:
        status, reason = "not_connected", None
    elif row.token_status in REAUTH_STATUSES:
        status, reason = "started_not_complete", row.status_reason or "credential_reauth_required"
    elif row.provider in WEB_ANALYTICS and row.token_status is None:
        status, reason = "started_not_complete", "credential_missing"
    elif row.provider in WEB_ANALYTICS and row.web_sources == 0:
        status, reason = "started_not_complete", "no_sources_configured"
    elif row.meta_accounts == 0 or (row.meta_accounts is None and row.last_success_at is None):
        status, reason = "started_not_complete", "no_accounts_synced"
    elif row.last_success_at is None or now - row.last_success_at > ACTIVE_WITHIN:
        status, reason = "complete", "no_recent_sync"
    else:
        status, reason = "active", None
    return {
        "platform": row.provider,
        "status": status,
        "reason": reason,
        "token_status": row.token_status,
        "last_synced_at": row.last_success_at.isoformat() if row.last_success_at else None,
    }


def platform_statuses(conn: sa.Connection, tenant_id: str, now: datetime) -> list[dict[str, Any]]:
    """Every platform's state for the tenant (also the Meta lifecycle's ``setup``)."""
    rows = conn.execute(sa.text(_STATE_SQL), {"t": tenant_id, "providers": list(PROVIDERS)}).all()
    return [platform_status(r, now, tenant_id) for r in rows]


def social_status(request: Request) -> JSONResponse:
    """Where each platform stands for the tenant.

    ---
    summary: Social onboarding and sync status per platform
    tags: [integrations]
    parameters:
      - $ref: '#/components/parameters/TenantId'
    responses:
      200:
        description: One entry per platform (meta, google_ads, ga4, search_console).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/SocialStatus'}
    """
    tenant_id = scoped_tenant(request, authenticate(request))
    with state_of(request).engine.connect() as conn:
        platforms = platform_statuses(conn, tenant_id, datetime.now(UTC))
    return JSONResponse({"tenant_id": tenant_id, "platforms": platforms})
