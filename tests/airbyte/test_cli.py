"""``adinsights sync-airbyte`` and ``adinsights airbyte-connections``."""

import uuid

from click.testing import CliRunner
from dagster import AssetKey, AssetRecordsFilter

from adinsights_pipelines.cli.main import cli
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.simulators.airbyte import AirbyteSimulator
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import engine
from tests.airbyte.conftest import Tenant, World
from tests.cli import adinsights
from tests.sql import query


def audit(world: World, tenant_id: str) -> list[tuple[str, str]]:
    return [
        (r.action, r.resource_id)
        for r in query(
            world.db,
            "select action, resource_id from app.audit_log where tenant_id = :t "
            "and resource_type = 'airbyte_connection' order by id",
            t=tenant_id,
        )
    ]


def test_connections_are_added_listed_and_deactivated_with_audit(world: World) -> None:
    with engine(world.db).begin() as conn:
        add_tenant(conn, "cli-conn", "CLI Conn")
    connection_id = str(uuid.uuid4())
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["airbyte-connections", "add", "--tenant-id", "cli-conn", "--provider", "google_ads",
         "--connection-id", connection_id.upper(), "--source-account-id", "123-456-7890",
         "--interval-minutes", "120"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert f"connection {connection_id} registered for cli-conn" in added.stdout
    (row,) = query(
        world.db,
        "select provider, source_account_id, sync_interval_minutes, is_active "
        "from app.airbyte_connections where connection_id = :c",
        c=connection_id,
    )
    assert tuple(row) == ("google_ads", "1234567890", 120, True)

    listed = runner.invoke(cli, ["airbyte-connections", "list", "--tenant-id", "cli-conn"])
    assert listed.exit_code == 0
    (line,) = [x for x in listed.stdout.splitlines() if x.startswith(connection_id)]
    assert "cli-conn" in line and "1234567890" in line and "120m" in line and "active" in line

    gone = runner.invoke(cli, ["airbyte-connections", "deactivate", connection_id])
    assert gone.exit_code == 0 and "deactivated" in gone.stdout
    assert query(
        world.db,
        "select is_active from app.airbyte_connections where connection_id = :c",
        c=connection_id,
    ) == [(False,)]
    assert audit(world, "cli-conn") == [
        ("airbyte_connection_added", connection_id),
        ("airbyte_connection_deactivated", connection_id),
    ]


def test_sync_airbyte_syncs_the_tenant_shows_progress_and_audits(
    world: World, tenant: Tenant
) -> None:
    done = CliRunner().invoke(cli, ["sync-airbyte", "--tenant", tenant.id])
    assert done.exit_code == 0, done.output
    (job,) = query(
        world.db,
        "select job_id, status, records_synced from app.airbyte_jobs where connection_id = :c",
        c=tenant.connection_id,
    )
    assert job.status == "succeeded"
    assert f"{tenant.id}: syncing google_ads (1 connection)" in done.stderr
    assert f"job {job.job_id} succeeded: {job.records_synced:,} records" in done.stderr
    assert "1 Airbyte job(s) succeeded" in done.stdout
    (trigger,) = query(
        world.db,
        "select actor, resource_id, metadata from app.audit_log "
        "where tenant_id = :t and action = 'airbyte_sync_triggered'",
        t=tenant.id,
    )
    assert (trigger.actor, trigger.resource_id) == ("cli", tenant.connection_id)
    assert trigger.metadata["status"] == "succeeded"
    assert trigger.metadata["job_ids"] == [job.job_id]
    materialized = world.instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=AssetKey("google_ads_campaign_performance"), asset_partitions=[tenant.id]
        ),
        limit=1,
    ).records
    assert materialized[0].run_id == trigger.metadata["run_id"]


def test_a_failed_sync_exits_non_zero_with_one_line_and_is_audited(
    world: World, tenant: Tenant, airbyte: AirbyteSimulator
) -> None:
    airbyte.state.configure(fail_next_jobs=1, failure_reason="Customer account suspended")
    done = CliRunner().invoke(cli, ["sync-airbyte", "--tenant", tenant.id])
    # main() prints an AdinsightsError as `adinsights: error: <message>` and exits 2
    assert isinstance(done.exception, AdinsightsError)
    message = str(done.exception)
    assert "\n" not in message and message.startswith("1 of 1 Airbyte syncs failed")
    assert "Customer account suspended" in message
    assert "failed: " in done.stderr  # the progress line
    (trigger,) = query(
        world.db,
        "select metadata from app.audit_log where tenant_id = :t "
        "and action = 'airbyte_sync_triggered'",
        t=tenant.id,
    )
    assert trigger.metadata["status"] == "failed"
    assert "Customer account suspended" in trigger.metadata["error"]


def test_bad_input_is_refused_in_one_line(world: World) -> None:
    with engine(world.db).begin() as conn:
        add_tenant(conn, "cli-bad", "CLI Bad")
    done = adinsights(
        "airbyte-connections", "add", "--tenant-id", "cli-bad", "--provider", "google_ads",
        "--connection-id", "not-a-uuid", "--source-account-id", "1234567890",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "adinsights: error: connection id 'not-a-uuid' is not an Airbyte connection UUID"
    )
    assert (
        query(world.db, "select 1 from app.airbyte_connections where tenant_id = 'cli-bad'") == []
    )
    no_connection = CliRunner().invoke(cli, ["sync-airbyte", "--tenant", "nobody-here"])
    assert no_connection.exit_code != 0
    assert "does not exist" in str(no_connection.exception)
