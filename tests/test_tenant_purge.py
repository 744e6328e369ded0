"""``adinsights tenants purge``: one of the two demo tenants (a whole demo pass: raw, marts,
snapshots, credentials, audit) is exported and deleted; the other is untouched to the byte.

Real PostgreSQL, dbt and Dagster (the demo run); the export goes to a local folder via fsspec.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.demo import DEMO_TENANTS
from adinsights_pipelines.encryption import DecryptionError, decrypt_token, keyring_from_settings
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_purge import tenant_tables
from adinsights_pipelines.warehouse.database import engine
from tests.cli import adinsights
from tests.conftest import disposing

LEAVING, STAYING = DEMO_TENANTS[0][0], DEMO_TENANTS[1][0]


def rows_of(conn: sa.Connection, table: str, condition: str, tenant: str) -> list[str]:
    schema, name = table.split(".")
    return sorted(
        conn.execute(
            sa.text(f'select row_to_json(x)::text from "{schema}"."{name}" x where {condition}'),
            {"t": tenant},
        ).scalars()
    )


def test_purge_removes_one_tenant_and_leaves_the_other_byte_for_byte(
    demo_run, tmp_path: Path
) -> None:
    db, _ = demo_run
    eng = engine(db)
    active = adinsights("tenants", "purge", LEAVING, "--yes", "--export", str(tmp_path))
    assert active.returncode == 2
    assert active.stderr.strip().splitlines()[-1] == (
        f"adinsights: error: tenant '{LEAVING}' is active: deactivate it first "
        f"(adinsights tenants deactivate {LEAVING})"
    )
    assert adinsights("tenants", "deactivate", LEAVING).returncode == 0

    # from here on nothing changes but the purge
    with eng.connect() as conn:
        tables = tenant_tables(conn)
        names = [t.name for t in tables]
        before_leaving = {t.name: rows_of(conn, t.name, t.condition, LEAVING) for t in tables}
        before_staying = {t.name: rows_of(conn, t.name, t.condition, STAYING) for t in tables}
        staying_tenant = rows_of(conn, "app.tenants", "id = :t", STAYING)
        credentials = conn.execute(
            sa.text(
                "select provider, dek_version, token_ciphertext from app.platform_credentials "
                "where tenant_id = :t"
            ),
            {"t": LEAVING},
        ).all()
    # the demo filled raw, marts, snapshots, credentials and audit for both tenants
    for table in (
        "raw.meta_insights",
        "app.metrics_snapshots",
        "app.audit_log",
        "app.platform_credentials",
        "app.tenant_data_keys",
        "raw.google_ads_campaign_performance",
    ):
        assert before_leaving[table] and before_staying[table], table
    assert any(name.startswith("marts.") and before_leaving[name] for name in names), names
    assert credentials

    dry = adinsights("tenants", "purge", LEAVING, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "raw.meta_insights" in dry.stdout
    total = sum(len(v) for v in before_leaving.values())
    assert dry.stdout.strip().splitlines()[-1] == (
        f"dry run: nothing exported or deleted ({total:,} rows would be)"
    )

    refused = adinsights("tenants", "purge", LEAVING, "--export", str(tmp_path), stdin="nope\n")
    assert refused.returncode == 2
    # (the prompt is on stderr, without the newline a terminal's echo would add)
    assert refused.stderr.rstrip().endswith(
        "Type the tenant id to confirm: "
        "adinsights: error: confirmation did not match the tenant id; nothing purged"
    )
    assert not (tmp_path / "tenant_purge").exists()

    done = adinsights("tenants", "purge", LEAVING, "--export", str(tmp_path), stdin=f"{LEAVING}\n")
    assert done.returncode == 0, done.stderr

    [folder] = (tmp_path / "tenant_purge").iterdir()
    with eng.connect() as conn:
        for table in tables:
            # gone from every table
            assert rows_of(conn, table.name, table.condition, LEAVING) == [], table.name
            # the other tenant's rows are exactly what they were
            assert (
                rows_of(conn, table.name, table.condition, STAYING) == (before_staying[table.name])
            ), table.name
            export = folder / f"{table.name}.jsonl"
            if table.exported:
                # the export holds exactly the deleted rows
                assert sorted(export.read_text().splitlines()) == before_leaving[table.name]
            else:
                assert not export.exists(), table.name
        assert rows_of(conn, "app.tenants", "id = :t", LEAVING) == []
        assert rows_of(conn, "app.tenants", "id = :t", STAYING) == staying_tenant
        # crypto-shredding: the stored ciphertexts no longer decrypt, and no export holds them
        keyring = keyring_from_settings(Settings())
        for provider, version, ciphertext in credentials:
            with pytest.raises(DecryptionError):
                decrypt_token(conn, keyring, LEAVING, provider, version, bytes(ciphertext))
        audit = conn.execute(
            sa.text(
                "select tenant_id, actor, resource_id, metadata from app.audit_log "
                "where action = 'tenant_purged'"
            )
        ).one()
    exported_text = "".join(p.read_text() for p in folder.iterdir())
    for _, _, ciphertext in credentials:
        assert bytes(ciphertext).hex() not in exported_text
    assert audit.tenant_id is None and audit.resource_id == LEAVING
    assert audit.actor.startswith("cli:")
    assert audit.metadata["export"] == f"file://{folder}"
    assert audit.metadata["deleted"] == {name: len(rows) for name, rows in before_leaving.items()}
    assert sorted(audit.metadata["shredded"]) == [
        "app.api_keys",
        "app.platform_credentials",
        "app.tenant_data_keys",
    ]
    assert done.stdout.strip().splitlines()[-1] == (
        f"tenant {LEAVING} purged: {total:,} rows deleted from "
        f"{sum(1 for rows in before_leaving.values() if rows)} tables; export in file://{folder}; "
        "its credentials and data keys are destroyed"
    )
    with disposing(DagsterInstance.get()) as instance:
        assert LEAVING not in instance.get_dynamic_partitions("tenant")
        assert STAYING in instance.get_dynamic_partitions("tenant")


def test_tables_are_found_from_the_schema(database) -> None:
    with engine(database).begin() as conn:
        conn.execute(sa.text("create table raw.some_new_source (tenant_id text, value int)"))
        names = [t.name for t in tenant_tables(conn)]
    assert "raw.some_new_source" in names
    assert "app.audit_log" in names and "raw.google_ads_campaign_performance" in names
    # referencing tables before the tables they reference
    assert names.index("app.airbyte_jobs") < names.index("app.airbyte_connections")
    assert names.index("app.platform_credentials") < names.index("app.tenant_data_keys")
    assert names.index("raw.google_ads_campaign_performance") < names.index(
        "app.airbyte_connections"
    )
