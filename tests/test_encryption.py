"""Credentials are stored only as ciphertext under per-tenant keys, and rotate safely."""

import os

import pytest
import sqlalchemy as sa

from adinsights_pipelines.encryption import DecryptionError, LocalKeyring, rotate_deks
from adinsights_pipelines.tenant_store import add_tenant, get_credential, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from tests.sql import execute, query, scalar

TOKENS = {"acme": "EAAB-acme-long-lived-token-1234567890", "acne": "EAAB-acne-other-token-0987"}


@pytest.fixture
def stored(product_env: Database, keyring: LocalKeyring) -> Database:
    with engine(product_env).begin() as conn:
        for tenant, token in TOKENS.items():
            add_tenant(conn, tenant, tenant.title())
            set_credential(conn, keyring, tenant, "meta", token)
    return product_env


def read_all(db: Database, keyring) -> dict[str, str]:
    with engine(db).connect() as conn:
        return {t: get_credential(conn, keyring, t, "meta").access_token for t in TOKENS}


def dump_database(db: Database) -> str:
    """Every row of every table in every schema, as text (bytea shows as hex)."""
    tables = query(
        db,
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' "
        "and table_schema not in ('pg_catalog', 'information_schema')",
    )
    chunks = []
    with engine(db).connect() as conn:
        for schema, table in tables:
            chunks.append(
                conn.execute(
                    sa.text(
                        f"select coalesce(string_agg(t::text, chr(10)), '') "
                        f'from "{schema}"."{table}" t'
                    )
                ).scalar_one()
            )
    return "\n".join(chunks)


def test_tokens_round_trip_and_never_appear_in_any_table(stored: Database, keyring) -> None:
    assert read_all(stored, keyring) == TOKENS
    dump = dump_database(stored)
    for token in TOKENS.values():
        assert token not in dump
        assert token.encode().hex() not in dump


def test_ciphertext_moved_to_another_tenant_does_not_decrypt(stored: Database, keyring) -> None:
    execute(
        stored,
        "update app.platform_credentials set token_ciphertext = "
        "(select token_ciphertext from app.platform_credentials where tenant_id = 'acme') "
        "where tenant_id = 'acne'",
    )
    with engine(stored).connect() as conn, pytest.raises(DecryptionError):
        get_credential(conn, keyring, "acne", "meta")


def test_rotation_re_encrypts_under_new_keys_and_stays_readable(stored: Database, keyring) -> None:
    report = rotate_deks(engine(stored), keyring)
    assert sorted(report.tenants) == sorted(TOKENS) and report.credentials == 2
    assert read_all(stored, keyring) == TOKENS
    versions = query(stored, "select tenant_id, version from app.tenant_data_keys order by 1")
    audit = scalar(stored, "select count(*) from app.audit_log where action = 'dek_rotated'")
    assert [tuple(v) for v in versions] == [("acme", 2), ("acne", 2)]
    assert audit == 2


def test_dry_run_changes_nothing(stored: Database, keyring) -> None:
    before = dump_database(stored)
    report = rotate_deks(engine(stored), keyring, dry_run=True)
    assert report.dry_run and report.credentials == 2
    assert dump_database(stored) == before


def test_rotation_killed_midway_leaves_everything_readable_and_rerun_completes(
    stored: Database, keyring
) -> None:
    class Crash(Exception):
        pass

    def crash_after_first(tenant: str, count: int) -> None:
        raise Crash(tenant)

    with pytest.raises(Crash):
        rotate_deks(engine(stored), keyring, on_tenant_done=crash_after_first)
    assert read_all(stored, keyring) == TOKENS
    rotate_deks(engine(stored), keyring)
    assert read_all(stored, keyring) == TOKENS
    with engine(stored).connect() as conn:
        versions = dict(
            conn.execute(
                sa.text("select tenant_id, max(version) from app.tenant_data_keys group by 1")
            ).all()
        )
    assert versions == {"acme": 3, "acne": 2}  # acme rotated twice, acne once


def test_master_key_rotation_moves_every_data_key_to_the_new_master(
    product_env: Database,
) -> None:
    old_master, new_master = os.urandom(32), os.urandom(32)
    with engine(product_env).begin() as conn:
        for tenant, token in TOKENS.items():
            add_tenant(conn, tenant, tenant.title())
            set_credential(conn, LocalKeyring(old_master), tenant, "meta", token)

    rotate_deks(engine(product_env), LocalKeyring(new_master, previous=[old_master]))

    assert read_all(product_env, LocalKeyring(new_master)) == TOKENS
    with pytest.raises(DecryptionError, match="master key"):
        read_all(product_env, LocalKeyring(old_master))
