"""The tenant-scoped audit trail in ``app.audit_log``."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def record_audit(
    conn: Connection,
    *,
    tenant_id: str | None,
    actor: str,
    action: str,
    resource_type: str,
    resource_id: str | None = None,
    metadata: dict[str, object] | None = None,
) -> None:
    conn.execute(
        sa.text(
            """
            insert into app.audit_log (tenant_id, actor, action, resource_type, resource_id,
                                       metadata)
            values (:t, :a, :act, :rt, :rid, cast(:m as jsonb))
            """
        ),
        {
            "t": tenant_id,
            "a": actor,
            "act": action,
            "rt": resource_type,
            "rid": resource_id,
            "m": json.dumps(metadata or {}, default=str),
        },
    )


def audit_event_json(row: Any) -> dict[str, Any]:
    """An ``app.audit_log`` row as the API serves it and retention exports it: every column,
    ``created_at`` in ISO 8601 UTC."""
    return {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "actor": row.actor,
        "action": row.action,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "metadata": row.metadata,
        "created_at": row.created_at.astimezone(UTC).isoformat(),
    }
