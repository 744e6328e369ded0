"""Registering and deactivating tenants' Airbyte connections, audited.

The connection itself must exist in Airbyte; here it is only registered for syncing.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from adinsights_pipelines.defs.airbyte import store
from adinsights_pipelines.defs.airbyte.store import AirbyteConnectionRow
from adinsights_pipelines.services.audit_trail import AuditSubject


def add_airbyte_connection(
    conn: Connection,
    tenant_id: str,
    provider: str,
    connection_id: str,
    source_account_id: str,
    *,
    interval_minutes: int = 60,
    actor: str,
) -> tuple[str, bool]:
    """Register (or update and reactivate) the tenant's connection to ``provider``'s account
    ``source_account_id``; its canonical id, and True when it was new. Audited as
    ``airbyte_connection_added`` or ``..._updated`` (metadata: the provider and the interval)."""
    created = store.add_connection(
        conn,
        tenant_id=tenant_id,
        provider=provider,
        connection_id=connection_id,
        source_account_id=source_account_id,
        interval_minutes=interval_minutes,
    )
    canonical = store.normalize_connection_id(connection_id)
    AuditSubject(tenant_id, "airbyte_connection", canonical).record(
        conn,
        "airbyte_connection_added" if created else "airbyte_connection_updated",
        actor=actor,
        metadata={"provider": provider, "sync_interval_minutes": interval_minutes},
    )
    return canonical, created


def deactivate_airbyte_connection(
    conn: Connection, connection_id: str, *, actor: str
) -> AirbyteConnectionRow:
    """Stop syncing the connection (its jobs and data are kept), audited as
    ``airbyte_connection_deactivated``; ``ConnectionNotFound`` when it is not registered."""
    row = store.deactivate_connection(conn, connection_id)
    AuditSubject(row.tenant_id, "airbyte_connection", row.connection_id).record(
        conn, "airbyte_connection_deactivated", actor=actor, metadata={"provider": row.provider}
    )
    return row
