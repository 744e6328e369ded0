"""Adding, changing and deactivating tenants, each with its audit record.

Every function writes over the caller's connection, so the change and its ``app.audit_log`` row
commit (or roll back) together in the caller's transaction. The tenant's Dagster partition
follows the committed rows (``defs/tenants/sensors.sync_tenant_partitions``): the caller applies
it after the commit, or leaves it to the sensor.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from adinsights_pipelines import tenant_store
from adinsights_pipelines.services.audit_trail import AuditSubject


def _tenant(tenant_id: str) -> AuditSubject:
    return AuditSubject(tenant_id, "tenant", tenant_id)


def add_tenant(
    conn: Connection,
    tenant_id: str,
    name: str,
    reporting_currency: str | None = None,
    *,
    actor: str,
) -> bool:
    """Create the tenant, or reactivate (and rename) it; True when it was new.

    ``reporting_currency`` defaults to JMD for a new tenant and is left alone on an existing one
    unless given; the audit record carries it when given.
    """
    created = tenant_store.add_tenant(conn, tenant_id, name, reporting_currency)
    _tenant(tenant_id).record(
        conn,
        "tenant_created" if created else "tenant_reactivated",
        actor=actor,
        metadata={"reporting_currency": reporting_currency.upper()} if reporting_currency else None,
    )
    return created


def deactivate_tenant(conn: Connection, tenant_id: str, *, actor: str) -> None:
    """Stop syncing the tenant; its data and keys stay (``TenantNotFound`` when unknown)."""
    tenant_store.deactivate_tenant(conn, tenant_id)
    _tenant(tenant_id).record(conn, "tenant_deactivated", actor=actor)


def update_tenant(
    conn: Connection, tenant_id: str, *, actor: str, **settings: str | None
) -> dict[str, dict[str, str]]:
    """Change the tenant's ``settings`` (those
    :func:`adinsights_pipelines.tenant_store.update_tenant` takes: ``name``,
    ``reporting_currency``, ``conversion_events``, ``attribution``, ``action_report_time``; None
    leaves one alone); ``{field: {"from", "to"}}`` for what
    changed, audited as one ``tenant_updated`` record (nothing is written, nor audited, when
    nothing changed).

    Re-counting conversions or re-reading history under a new setting is the caller's next step.
    """
    changes = tenant_store.update_tenant(conn, tenant_id, **settings)
    if changes:
        _tenant(tenant_id).record(
            conn, "tenant_updated", actor=actor, metadata={"changes": changes}
        )
    return changes
