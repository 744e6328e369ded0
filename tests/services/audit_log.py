"""Reading back what a service wrote: the rows of ``app.audit_log``, oldest first."""

from __future__ import annotations

from typing import Any

from adinsights_pipelines.warehouse.database import Database
from tests.sql import query


def audit_rows(db: Database) -> list[tuple[Any, ...]]:
    """(tenant_id, actor, action, resource_type, resource_id, metadata) per audit row."""
    return [
        tuple(row)
        for row in query(
            db,
            "select tenant_id, actor, action, resource_type, resource_id, metadata "
            "from app.audit_log order by id",
        )
    ]
