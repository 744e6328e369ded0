"""The audit record each onboarding service writes beside its change, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from adinsights_pipelines.audit import record_audit


@dataclass(frozen=True)
class AuditSubject:
    """What a change touched: the tenant (None: no tenant's), the resource's type and id."""

    tenant_id: str | None
    resource_type: str
    resource_id: str | None

    def record(
        self,
        conn: Connection,
        action: str,
        *,
        actor: str,
        metadata: dict[str, object] | None = None,
    ) -> None:
        """One ``app.audit_log`` row saying ``actor`` did ``action`` to this subject."""
        record_audit(
            conn,
            tenant_id=self.tenant_id,
            actor=actor,
            action=action,
            resource_type=self.resource_type,
            resource_id=self.resource_id,
            metadata=metadata,
        )
