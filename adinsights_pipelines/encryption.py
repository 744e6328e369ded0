"""Envelope encryption of platform credentials.

Each tenant has a data-encryption key (DEK) in ``app.tenant_data_keys``, stored only wrapped by
the master key. Tokens are AES-256-GCM ciphertext under the tenant's DEK with
``(tenant_id, provider)`` as associated data, so a ciphertext copied to another tenant's row does
not decrypt. The master key sits behind :class:`Keyring`, so a KMS can replace the local
implementation without touching callers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Connection, Engine

from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.errors import AdinsightsError, ConfigError
from adinsights_pipelines.settings import Settings

log = logging.getLogger(__name__)

NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(AdinsightsError):
    """A ciphertext that does not decrypt here (wrong tenant, wrong key, or tampered)."""


class Keyring(Protocol):
    """Wraps and unwraps DEKs under a master key (a local key, or a KMS)."""

    @property
    def current_key_id(self) -> str: ...

    def wrap(self, dek: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes: ...

    def holds(self, key_id: str) -> bool: ...


class MasterKeyMismatch(ConfigError):
    """The database's data keys are wrapped by a master key this process does not hold."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"adinsights-master-key-id" + key).hexdigest()[:16]


class LocalKeyring:
    """AES-256-GCM key wrapping under a master key held in this process.

    ``previous`` master keys can still unwrap, so ``rotate-deks`` can move every DEK to the
    current master key (master-key rotation).
    """

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        self._keys = {_key_id(k): k for k in (*previous, current)}
        self._current = _key_id(current)

    @property
    def current_key_id(self) -> str:
        return self._current

    def holds(self, key_id: str) -> bool:
        return key_id in self._keys

    def wrap(self, dek: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        aad = b"adinsights:dek:" + self._current.encode()
        return self._current, nonce + AESGCM(self._keys[self._current]).encrypt(nonce, dek, aad)

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (HKDF-SHA256 of the current master key), e.g. to sign
        onboarding links; a master-key rotation changes it."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"adinsights:{purpose}".encode()
        ).derive(self._keys[self._current])

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(
                f"data key is wrapped by master key {key_id}, which this process does not have "
                "(set ADINSIGHTS_MASTER_KEY_PREVIOUS during a master-key rotation)"
            )
        try:
            return AESGCM(key).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], b"adinsights:dek:" + key_id.encode()
            )
        except InvalidTag:
            raise DecryptionError(f"data key does not unwrap under master key {key_id}") from None


def parse_master_key(raw: str, name: str = "ADINSIGHTS_MASTER_KEY") -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{name} must be {KEY_BYTES} random bytes, base64-encoded "
            "(make one with `adinsights generate-master-key`)"
        )
    return key


def generate_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def keyring_from_settings(settings: Settings, database_url: str | None = None) -> LocalKeyring:
    """The master key from ``ADINSIGHTS_MASTER_KEY``; for local use, a key file in data_dir.

    A key file is created only for a database that has no data keys yet: a process started
    with another data folder must not mint a second master key the others cannot read.
    """
    previous = [
        parse_master_key(raw, "ADINSIGHTS_MASTER_KEY_PREVIOUS")
        for raw in (
            settings.master_key_previous.get_secret_value().split(",")
            if settings.master_key_previous
            else []
        )
        if raw.strip()
    ]
    if settings.master_key is not None:
        return LocalKeyring(parse_master_key(settings.master_key.get_secret_value()), previous)
    url = database_url or settings.database_url
    return LocalKeyring(
        _local_key_file(settings.data_dir, lambda: stored_master_key_ids_at(url)), previous
    )


def stored_master_key_ids(conn: Connection) -> list[str]:
    """The master keys wrapping the database's data keys, most used first."""
    return list(
        conn.execute(
            sa.text(
                "select master_key_id from app.tenant_data_keys group by master_key_id "
                "order by count(*) desc, master_key_id"
            )
        ).scalars()
    )


def stored_master_key_ids_at(database_url: str | None) -> list[str]:
    if not database_url:
        return []
    from adinsights_pipelines.warehouse.database import Database, engine

    try:
        with engine(Database.from_url(database_url)).connect() as conn:
            return stored_master_key_ids(conn)
    except sa.exc.ProgrammingError:  # not migrated yet: no data keys
        return []


def _mismatch(expected: Sequence[str], why: str) -> MasterKeyMismatch:
    others = f" (and {', '.join(expected[1:])})" if len(expected) > 1 else ""
    return MasterKeyMismatch(
        f"the database's data keys are wrapped by master key {expected[0]}{others}, {why}: "
        "set ADINSIGHTS_MASTER_KEY to that key"
    )


def _local_key_file(data_dir: Path, stored_ids: Callable[[], list[str]]) -> bytes:
    path = data_dir / "master.key"
    if not path.exists():
        expected = stored_ids()
        if expected:
            raise _mismatch(
                expected,
                f"and neither ADINSIGHTS_MASTER_KEY nor {path} holds it; refusing to "
                "create a new master key",
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_master_key())
        log.warning(
            "ADINSIGHTS_MASTER_KEY is not set: created a local master key in %s "
            "(development only; production sets ADINSIGHTS_MASTER_KEY)",
            path,
        )
    return parse_master_key(path.read_text(), f"master key file {path}")


def _aad(tenant_id: str, provider: str) -> bytes:
    return f"adinsights:credential:{tenant_id}:{provider}".encode()


def _new_dek(conn: Connection, keyring: Keyring, tenant_id: str, version: int) -> bytes:
    # A data key wrapped by another master key than the database's would be unreadable to
    # every other process: refuse rather than split the keys between two masters.
    foreign = [k for k in stored_master_key_ids(conn) if not keyring.holds(k)]
    if foreign:
        raise _mismatch(foreign, "which this process does not hold; refusing to wrap new keys")
    dek = AESGCM.generate_key(bit_length=256)
    key_id, wrapped = keyring.wrap(dek)
    conn.execute(
        sa.text(
            "insert into app.tenant_data_keys (tenant_id, version, wrapped_key, master_key_id) "
            "values (:t, :v, :w, :k)"
        ),
        {"t": tenant_id, "v": version, "w": wrapped, "k": key_id},
    )
    return dek


def _dek(conn: Connection, keyring: Keyring, tenant_id: str, version: int) -> bytes:
    row = conn.execute(
        sa.text(
            "select wrapped_key, master_key_id from app.tenant_data_keys "
            "where tenant_id = :t and version = :v"
        ),
        {"t": tenant_id, "v": version},
    ).one_or_none()
    if row is None:
        raise DecryptionError(f"tenant {tenant_id} has no data key version {version}")
    return keyring.unwrap(row.master_key_id, bytes(row.wrapped_key))


def current_dek(conn: Connection, keyring: Keyring, tenant_id: str) -> tuple[int, bytes]:
    """The tenant's newest DEK, created on first use."""
    version = conn.execute(
        sa.text("select max(version) from app.tenant_data_keys where tenant_id = :t"),
        {"t": tenant_id},
    ).scalar()
    if version is None:
        return 1, _new_dek(conn, keyring, tenant_id, 1)
    return version, _dek(conn, keyring, tenant_id, version)


def seal(dek: bytes, tenant_id: str, provider: str, token: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(dek).encrypt(nonce, token.encode(), _aad(tenant_id, provider))


def open_sealed(dek: bytes, tenant_id: str, provider: str, ciphertext: bytes) -> str:
    try:
        plain = AESGCM(dek).decrypt(
            ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], _aad(tenant_id, provider)
        )
    except InvalidTag:
        raise DecryptionError(
            f"the {provider} credential of tenant {tenant_id} does not decrypt"
        ) from None
    return plain.decode()


def encrypt_token(
    conn: Connection, keyring: Keyring, tenant_id: str, provider: str, token: str
) -> tuple[int, bytes]:
    """(dek_version, ciphertext) for storing ``token``."""
    version, dek = current_dek(conn, keyring, tenant_id)
    return version, seal(dek, tenant_id, provider, token)


def decrypt_token(
    conn: Connection,
    keyring: Keyring,
    tenant_id: str,
    provider: str,
    dek_version: int,
    ciphertext: bytes,
) -> str:
    return open_sealed(_dek(conn, keyring, tenant_id, dek_version), tenant_id, provider, ciphertext)


@dataclass
class RotationReport:
    dry_run: bool
    tenants: list[str] = field(default_factory=list)
    credentials: int = 0
    #: Tenants whose data keys are wrapped by a master key this process does not hold:
    #: unreadable here, so not rotatable (tenant -> the master key ids it needs).
    unreadable: dict[str, list[str]] = field(default_factory=dict)


def rotate_deks(
    engine: Engine,
    keyring: Keyring,
    *,
    tenant_id: str | None = None,
    dry_run: bool = False,
    on_tenant_done: Callable[[str, int], None] = lambda tenant, count: None,
    on_tenant_unreadable: Callable[[str, list[str]], None] = lambda tenant, key_ids: None,
) -> RotationReport:
    """Give each tenant a new DEK (wrapped by the current master key) and re-encrypt its tokens.

    One transaction per tenant: a crash leaves each tenant either wholly on its old key or
    wholly on its new one, so every credential stays readable and a re-run completes the rest.
    A dry run reports tenants whose keys this process cannot unwrap as unreadable; a real run
    refuses them (:class:`MasterKeyMismatch`).
    """
    report = RotationReport(dry_run=dry_run)
    with engine.connect() as conn:
        tenant_ids: list[str] = list(
            conn.execute(
                sa.text(
                    "select distinct tenant_id from app.tenant_data_keys "
                    "where cast(:t as text) is null or tenant_id = :t order by tenant_id"
                ),
                {"t": tenant_id},
            ).scalars()
        )
    for tenant in tenant_ids:
        with engine.begin() as conn:
            conn.execute(
                sa.text("select 1 from app.tenant_data_keys where tenant_id = :t for update"),
                {"t": tenant},
            )
            rows = conn.execute(
                sa.text(
                    "select id, provider, dek_version, token_ciphertext "
                    "from app.platform_credentials where tenant_id = :t"
                ),
                {"t": tenant},
            ).all()
            key_ids: list[str] = list(
                conn.execute(
                    sa.text("select master_key_id from app.tenant_data_keys where tenant_id = :t"),
                    {"t": tenant},
                ).scalars()
            )
            missing = sorted({k for k in key_ids if not keyring.holds(k)})
            if missing and dry_run:
                report.unreadable[tenant] = missing
                on_tenant_unreadable(tenant, missing)
                continue
            if not dry_run:
                newest: int = conn.execute(
                    sa.text("select max(version) from app.tenant_data_keys where tenant_id = :t"),
                    {"t": tenant},
                ).scalar_one()
                new_version = newest + 1
                new_dek = _new_dek(conn, keyring, tenant, new_version)
                for row in rows:
                    token = decrypt_token(
                        conn,
                        keyring,
                        tenant,
                        row.provider,
                        row.dek_version,
                        bytes(row.token_ciphertext),
                    )
                    conn.execute(
                        sa.text(
                            "update app.platform_credentials set token_ciphertext = :c, "
                            "dek_version = :v, updated_at = now() where id = :id"
                        ),
                        {
                            "c": seal(new_dek, tenant, row.provider, token),
                            "v": new_version,
                            "id": row.id,
                        },
                    )
                conn.execute(
                    sa.text(
                        "delete from app.tenant_data_keys where tenant_id = :t and version < :v"
                    ),
                    {"t": tenant, "v": new_version},
                )
                record_audit(
                    conn,
                    tenant_id=tenant,
                    actor="system",
                    action="dek_rotated",
                    resource_type="tenant_data_key",
                    resource_id=str(new_version),
                    metadata={"credentials": len(rows), "master_key_id": keyring.current_key_id},
                )
        report.tenants.append(tenant)
        report.credentials += len(rows)
        on_tenant_done(tenant, len(rows))
    return report
