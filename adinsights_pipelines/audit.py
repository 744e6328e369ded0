"""The tenant-scoped audit trail in ``app.audit_log``."""

from __future__ import annotations

import json

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
