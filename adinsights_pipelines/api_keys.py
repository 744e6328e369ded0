"""API keys: shown once at creation, stored as a SHA-256 hash.

A key looks like ``adi_<prefix>_<secret>``; the prefix finds the row, the hash is compared in
constant time. Keys carry 256 bits of randomness, so a fast hash is appropriate (no password
stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.tenant_store import require_tenant

KEY_PREFIX = "adi"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant's key, or an operator's key (all tenants)."""

    key_prefix: str
    role: str
    tenant_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class ApiKeyInfo:
    prefix: str
    role: str
    tenant_id: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    conn: Connection,
    *,
    tenant_id: str | None,
    operator: bool = False,
    label: str = "",
    actor: str = "cli",
) -> str:
    """Create a key and return it in full; only its hash is stored."""
    if operator == (tenant_id is not None):
        raise AdinsightsError("an API key is either for one tenant (--tenant) or --operator")
    if tenant_id is not None:
        require_tenant(conn, tenant_id)
        status: str = conn.execute(
            sa.text("select status from app.tenants where id = :t"), {"t": tenant_id}
        ).scalar_one()
        if status != "active":
            raise AdinsightsError(
                f"tenant {tenant_id!r} is {status}: its keys do not work "
                f"(reactivate it with adinsights tenants add {tenant_id} --name ...)"
            )
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    conn.execute(
        sa.text(
            "insert into app.api_keys (prefix, key_hash, role, tenant_id, label) "
            "values (:p, :h, :r, :t, :l)"
        ),
        {
            "p": prefix,
            "h": _hash(key),
            "r": "operator" if operator else "tenant",
            "t": tenant_id,
            "l": label,
        },
    )
    record_audit(
        conn,
        tenant_id=tenant_id,
        actor=actor,
        action="api_key_created",
        resource_type="api_key",
        resource_id=prefix,
        metadata={"role": "operator" if operator else "tenant", "label": label},
    )
    return key


def verify_api_key(conn: Connection, key: str) -> Principal | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    # A tenant key works only while its tenant is active (deactivation keeps the keys, so a
    # reactivated tenant's keys work again); operator keys have no tenant.
    row = conn.execute(
        sa.text(
            "select k.prefix, k.key_hash, k.role, k.tenant_id from app.api_keys k "
            "left join app.tenants t on t.id = k.tenant_id "
            "where k.prefix = :p and k.revoked_at is null "
            "and (k.tenant_id is null or t.status = 'active')"
        ),
        {"p": parts[1]},
    ).one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return Principal(key_prefix=row.prefix, role=row.role, tenant_id=row.tenant_id)


def revoke_api_key(conn: Connection, prefix: str, actor: str = "cli") -> bool:
    revoked = conn.execute(
        sa.text(
            "update app.api_keys set revoked_at = now() "
            "where prefix = :p and revoked_at is null returning tenant_id"
        ),
        {"p": prefix},
    ).one_or_none()
    if revoked is None:
        return False
    record_audit(
        conn,
        tenant_id=revoked.tenant_id,
        actor=actor,
        action="api_key_revoked",
        resource_type="api_key",
        resource_id=prefix,
    )
    return True


#: ``last_used_at`` is written at most this often per key (it answers "is this key still
#: used?", in days, not an access log).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def record_key_use(conn: Connection, used: Mapping[str, datetime]) -> int:
    """Set ``last_used_at`` of each key prefix to when it was used, unless the stored time is
    less than :data:`LAST_USED_RESOLUTION` older (several API processes write the same key);
    the number of keys written."""
    if not used:
        return 0
    written = 0
    for prefix, at in sorted(used.items()):
        written += conn.execute(
            sa.text(
                "update app.api_keys set last_used_at = :at where prefix = :p "
                "and (last_used_at is null or last_used_at <= :at - :resolution)"
            ),
            {"p": prefix, "at": at, "resolution": LAST_USED_RESOLUTION},
        ).rowcount
    return written


def list_api_keys(conn: Connection, unused_days: int | None = None) -> list[ApiKeyInfo]:
    """Every key; with ``unused_days``, only active keys not used (nor created) in that many
    days."""
    rows = conn.execute(
        sa.text(
            "select prefix, role, tenant_id, label, created_at, revoked_at, last_used_at "
            "from app.api_keys where cast(:days as integer) is null or (revoked_at is null "
            "and coalesce(last_used_at, created_at) < now() - make_interval(days => :days)) "
            "order by created_at"
        ),
        {"days": unused_days},
    ).all()
    return [ApiKeyInfo(**r._mapping) for r in rows]
