"""API keys say when they were last used (written at most once a minute, off the request
path), unused keys can be listed, and a process that does not hold the database's master key
refuses to mint a new one or wrap new data keys."""

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.encryption import LocalKeyring, generate_master_key
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES
from tests.cli import add_meta_token, adinsights


def last_used(db: Database, prefix: str) -> datetime | None:
    with engine(db).connect() as conn:
        return conn.execute(
            sa.text("select last_used_at from app.api_keys where prefix = :p"), {"p": prefix}
        ).scalar_one()


def wait_for_stamp(db: Database, prefix: str, newer_than: datetime | None) -> datetime:
    deadline = time.monotonic() + 10
    while True:
        stamp = last_used(db, prefix)
        if stamp is not None and (newer_than is None or stamp > newer_than):
            return stamp
        assert time.monotonic() < deadline, "last_used_at was not written in the background"
        time.sleep(0.05)


def test_last_used_at_is_written_at_most_once_a_minute_in_the_background(
    product_env: Database,
) -> None:
    with engine(product_env).begin() as conn:
        add_tenant(conn, "key-user", "Key User")
        key = create_api_key(conn, tenant_id="key-user")
    prefix = key.split("_")[1]
    app = create_app(product_env, Settings().model_copy(update=NO_THROTTLES))
    auth = {"Authorization": f"Bearer {key}"}
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=True) as clock, TestClient(app) as client:
        assert last_used(product_env, prefix) is None
        for _ in range(5):
            assert client.get("/api/audit-logs/", headers=auth).status_code == 200
        first = wait_for_stamp(product_env, prefix, None)
        assert abs((first - start).total_seconds()) < 5
        for _ in range(5):
            assert client.get("/api/audit-logs/", headers=auth).status_code == 200
        assert app.state.adinsights.key_usage.flush() == 0  # nothing pending inside the minute
        assert last_used(product_env, prefix) == first

        clock.shift(61)
        assert client.get("/api/audit-logs/", headers=auth).status_code == 200
        second = wait_for_stamp(product_env, prefix, first)
        assert 60 <= (second - first).total_seconds() < 70


def test_api_keys_list_shows_last_use_and_finds_keys_unused_for_n_days(
    product_env: Database,
) -> None:
    now = datetime.now(UTC)
    with engine(product_env).begin() as conn:
        add_tenant(conn, "key-owner", "Key Owner")
        prefixes = {
            name: create_api_key(conn, tenant_id="key-owner", label=name).split("_")[1]
            for name in ("fresh", "stale", "never", "newborn", "revoked")
        }
        times = {  # (created_at, last_used_at, revoked_at)
            "fresh": (now - timedelta(days=90), now - timedelta(days=2), None),
            "stale": (now - timedelta(days=90), now - timedelta(days=45), None),
            "never": (now - timedelta(days=60), None, None),
            "newborn": (now - timedelta(days=1), None, None),
            "revoked": (now - timedelta(days=90), None, now - timedelta(days=10)),
        }
        for name, (created, used, revoked) in times.items():
            conn.execute(
                sa.text(
                    "update app.api_keys set created_at = :c, last_used_at = :u, "
                    "revoked_at = :r where prefix = :p"
                ),
                {"c": created, "u": used, "r": revoked, "p": prefixes[name]},
            )

    listing = adinsights("api-keys", "list")
    assert listing.returncode == 0, listing.stderr
    assert "LAST USED" in listing.stdout.splitlines()[0]
    stale_line = next(line for line in listing.stdout.splitlines() if prefixes["stale"] in line)
    assert f"{times['stale'][1]:%Y-%m-%d %H:%M}" in stale_line
    never_line = next(line for line in listing.stdout.splitlines() if prefixes["never"] in line)
    assert " never " in never_line

    unused = adinsights("api-keys", "list", "--unused-days", "30")
    assert unused.returncode == 0, unused.stderr
    listed = {name for name, p in prefixes.items() if p in unused.stdout}
    assert listed == {"stale", "never"}
    assert adinsights("api-keys", "list", "--unused-days", "0").returncode == 2


def _keys_rows(db: Database) -> list[tuple[str, str]]:
    with engine(db).connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "select tenant_id, master_key_id from app.tenant_data_keys order by tenant_id"
                )
            )
        ]


@pytest.fixture
def keys_before(product_env: Database, keyring: LocalKeyring) -> list[tuple[str, str]]:
    """first-co with a stored Meta token (so with a data key), second-co without one; the
    data-key rows then."""
    with engine(product_env).begin() as conn:
        add_tenant(conn, "first-co", "First")
        set_credential(conn, keyring, "first-co", "meta", "EAAB-first-token")
        add_tenant(conn, "second-co", "Second")
    return _keys_rows(product_env)


def test_a_process_without_the_master_key_refuses_to_create_one(
    product_env: Database,
    keyring: LocalKeyring,
    keys_before: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    assert "ADINSIGHTS_MASTER_KEY" not in os.environ  # the local key file of the data folder
    elsewhere = tmp_path / "another-data-folder"

    done = add_meta_token("second-co", "sim_second_token", ADINSIGHTS_DATA_DIR=str(elsewhere))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("adinsights: error: the database's data keys are wrapped by ")
    assert keyring.current_key_id in lines[-1]
    assert "refusing to create a new master key" in lines[-1]
    assert not (elsewhere / "master.key").exists()
    assert _keys_rows(product_env) == keys_before


def test_a_process_holding_another_master_key_wraps_nothing_and_dry_run_says_unreadable(
    product_env: Database, keyring: LocalKeyring, keys_before: list[tuple[str, str]]
) -> None:
    other_master = generate_master_key()

    done = add_meta_token("second-co", "sim_second_token", ADINSIGHTS_MASTER_KEY=other_master)
    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("adinsights: error: the database's data keys are wrapped by ")
    assert keyring.current_key_id in last and "refusing to wrap new keys" in last
    assert _keys_rows(product_env) == keys_before

    dry = adinsights("rotate-deks", "--dry-run", ADINSIGHTS_MASTER_KEY=other_master)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip().splitlines()[-1] == (
        "would rotate 0 tenants, 0 credentials; 1 unreadable"
    )
    assert f"unreadable first-co: wrapped by master key {keyring.current_key_id}" in dry.stderr
    held = adinsights("rotate-deks", "--dry-run")  # the process that holds it: rotatable
    assert held.stdout.strip().splitlines()[-1] == "would rotate 1 tenants, 1 credentials"
