"""Registering and removing tenants' GA4 properties and Search Console sites, audited."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from adinsights_pipelines.defs.google import sources
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.services.audit_trail import AuditSubject


def _source(tenant_id: str, provider: str, identifier: str) -> AuditSubject:
    return AuditSubject(tenant_id, "web_analytics_source", f"{provider}:{identifier}")


def add_web_analytics_source(
    conn: Connection, tenant_id: str, provider: str, identifier: str, *, actor: str
) -> tuple[str, bool]:
    """Sync the source (a GA4 property id or a Search Console site) for the tenant from now on,
    new or reactivated; its identifier as stored (normalised), and True when it was new.
    Audited as ``web_analytics_source_added`` or ``..._reactivated``."""
    identifier = sources.normalise_identifier(provider, identifier)
    created = sources.add_source(conn, tenant_id, provider, identifier)
    action = "web_analytics_source_added" if created else "web_analytics_source_reactivated"
    _source(tenant_id, provider, identifier).record(conn, action, actor=actor)
    return identifier, created


def remove_web_analytics_source(
    conn: Connection, tenant_id: str, provider: str, identifier: str, *, actor: str
) -> str:
    """Stop syncing the source (its rows are kept), audited as
    ``web_analytics_source_deactivated``; its identifier as stored. An error when the tenant has
    no such active source."""
    identifier = sources.normalise_identifier(provider, identifier)
    if not sources.deactivate_source(conn, tenant_id, provider, identifier):
        raise AdinsightsError(f"tenant {tenant_id!r} has no active {provider} {identifier}")
    _source(tenant_id, provider, identifier).record(
        conn, "web_analytics_source_deactivated", actor=actor
    )
    return identifier
