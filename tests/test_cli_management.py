"""Tenant and API-key management through the real `adinsights` command."""

import os
import subprocess
import sys

import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.warehouse.database import Database, engine


def adinsights(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adinsights_pipelines.cli", *args],
        env=dict(os.environ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
    again = adinsights("api-keys", "revoke", stored.prefix)
    assert again.returncode == 2 and "no active API key" in again.stderr


def test_credential_token_is_read_without_echo(product_env: Database) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    done = adinsights(
        "credentials",
        "set",
        "--tenant",
        "island-grill",
        "--provider",
        "meta",
        stdin="sim_secret_token\nsim_secret_token\n",
    )
    assert done.returncode == 0, done.stderr
    assert "sim_secret_token" not in done.stdout + done.stderr
    with engine(product_env).connect() as conn:
        status = conn.execute(
            sa.text(
                "select token_status from app.platform_credentials where tenant_id = 'island-grill'"
            )
        ).scalar_one()
    assert status == "valid"
