"""Tenant and API-key management through the real `adinsights` command."""

import os

import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.tenant_store import get_credential
from adinsights_pipelines.warehouse.database import Database, engine
from tests.cli import add_meta_token, adinsights
from tests.sql import execute, one, query


def test_tenants_add_creates_row_partition_and_audit_event(
    instance: DagsterInstance, product_env: Database
) -> None:
    done = adinsights("tenants", "add", "island-grill", "--name", "Island Grill")
    assert done.returncode == 0, done.stderr
    assert "tenant island-grill created" in done.stdout
    assert "island-grill" in instance.get_dynamic_partitions("tenant")
    with engine(product_env).connect() as conn:
        action = conn.execute(
            sa.text("select action from app.audit_log where tenant_id = 'island-grill'")
        ).scalar_one()
    assert action == "tenant_created"

    listing = adinsights("tenants", "list")
    assert listing.returncode == 0
    assert any(
        line.startswith("island-grill") and "Island Grill" in line
        for line in listing.stdout.splitlines()
    )


def test_invalid_tenant_id_is_refused_in_one_line(product_env: Database) -> None:
    done = adinsights("tenants", "add", "Not Valid!", "--name", "x")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("adinsights: error: invalid tenant id")


def test_api_key_is_shown_once_and_stored_hashed(product_env: Database) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    created = adinsights("api-keys", "create", "--tenant", "island-grill", "--label", "dash")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("adi_")
    with engine(product_env).connect() as conn:
        stored = conn.execute(sa.text("select prefix, key_hash from app.api_keys")).one()
    assert key not in stored.key_hash and stored.prefix == key.split("_")[1]

    listing = adinsights("api-keys", "list")
    assert stored.prefix in listing.stdout and key not in listing.stdout
    assert adinsights("api-keys", "revoke", stored.prefix).returncode == 0
    sql = "select action from app.audit_log where resource_type = 'api_key' order by id"
    actions = [row.action for row in query(product_env, sql)]
    assert actions == ["api_key_created", "api_key_revoked"]
    again = adinsights("api-keys", "revoke", stored.prefix)
    assert again.returncode == 2 and "no active API key" in again.stderr


def test_meta_token_is_checked_exchanged_and_stored_encrypted(
    product_env: Database, keyring
) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    done = add_meta_token("island-grill", "sim_secret_token")
    assert done.returncode == 0, done.stderr
    assert "sim_secret_token" not in done.stdout + done.stderr
    row = one(
        product_env,
        "select token_status, scopes, token_expires_at from app.platform_credentials "
        "where tenant_id = 'island-grill'",
    )
    with engine(product_env).connect() as conn:
        stored = get_credential(conn, keyring, "island-grill", "meta")
    assert row.token_status == "valid"
    assert {"ads_read", "business_management", "pages_show_list"} <= set(row.scopes)
    assert row.token_expires_at is not None
    assert stored.access_token == "sim_ll_secret_token"  # the long-lived exchange


def test_meta_token_without_required_scopes_is_refused_and_not_stored(
    product_env: Database,
) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    done = add_meta_token("island-grill", "sim_noscope_token")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "adinsights: error: missing_required_permissions: the token lacks "
        "business_management, pages_read_engagement"
    )
    with engine(product_env).connect() as conn:
        count = conn.execute(sa.text("select count(*) from app.platform_credentials")).scalar()
    assert count == 0


def test_token_must_come_from_stdin_or_a_file(product_env: Database) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    empty = add_meta_token("island-grill", "")
    assert empty.returncode == 2 and "no token given" in empty.stderr
    argv = adinsights(
        "credentials", "add", "--tenant", "island-grill", "--platform", "meta", "--token", "sim_x"
    )
    assert argv.returncode == 2 and "No such option" in argv.stderr


def test_rotate_deks_dry_run_then_rotation(product_env: Database) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    assert add_meta_token("island-grill", "sim_secret_token").returncode == 0

    def versions() -> list[int]:
        with engine(product_env).connect() as conn:
            return list(conn.execute(sa.text("select version from app.tenant_data_keys")).scalars())

    dry = adinsights("rotate-deks", "--dry-run")
    assert dry.returncode == 0 and "would rotate 1 tenants, 1 credentials" in dry.stdout
    assert versions() == [1]
    done = adinsights("rotate-deks", "--tenant-id", "island-grill")
    assert done.returncode == 0 and "rotated 1 tenants, 1 credentials" in done.stdout
    assert versions() == [2]
    unknown = adinsights("rotate-deks", "--tenant-id", "nobody-here")
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr


def test_generate_master_key_prints_a_usable_key() -> None:
    from adinsights_pipelines.encryption import parse_master_key

    done = adinsights("generate-master-key")
    assert done.returncode == 0
    assert len(parse_master_key(done.stdout.strip())) == 32


def test_retention_command_reports_counts(product_env: Database, tmp_path) -> None:
    execute(
        product_env,
        "insert into app.audit_log (actor, action, resource_type, created_at) values "
        "('cli', 'old_event', 'tenant', now() - interval '400 days'), "
        "('cli', 'new_event', 'tenant', now())",
    )
    os.environ["ADINSIGHTS_AUDIT_EXPORT_URL"] = str(tmp_path / "exports")
    try:
        dry = adinsights("retention", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would export and delete 1 audit rows" in dry.stdout
        done = adinsights("retention")
    finally:
        del os.environ["ADINSIGHTS_AUDIT_EXPORT_URL"]
    assert done.returncode == 0, done.stderr
    assert "exported 1 and deleted 1 audit rows" in done.stdout
    with engine(product_env).connect() as conn:
        left = conn.execute(sa.text("select action from app.audit_log")).scalars().all()
    assert sorted(left) == ["audit_log_purged", "new_event"]  # the purge is itself audited
    assert len(list((tmp_path / "exports").rglob("*.jsonl"))) == 1


def test_deactivate_and_credential_removal_are_audited(
    instance: DagsterInstance, product_env: Database
) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    assert add_meta_token("island-grill", "sim_secret_token").returncode == 0
    removed = adinsights("credentials", "remove", "--tenant", "island-grill", "--platform", "meta")
    assert removed.returncode == 0, removed.stderr
    again = adinsights("credentials", "remove", "--tenant", "island-grill", "--platform", "meta")
    assert again.returncode == 2 and "has no meta credential" in again.stderr
    done = adinsights("tenants", "deactivate", "island-grill")
    assert done.returncode == 0, done.stderr
    assert "island-grill" not in instance.get_dynamic_partitions("tenant")
    sql = "select action from app.audit_log where tenant_id = 'island-grill' order by id"
    actions = [row.action for row in query(product_env, sql)]
    assert actions == [
        "tenant_created",
        "credential_updated",
        "credential_deleted",
        "tenant_deactivated",
    ]
