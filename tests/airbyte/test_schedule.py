"""The hourly Airbyte schedule: Jamaica hours, and only the connections that are due."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import RunRequest, build_schedule_context

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.airbyte.definitions import airbyte_sync_hourly
from adinsights_pipelines.defs.airbyte.jobs import JobOutcome
from adinsights_pipelines.defs.airbyte.store import (
    add_connection,
    deactivate_connection,
    record_job,
)
from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.simulators.airbyte import AirbyteSimulator
from adinsights_pipelines.warehouse.database import engine
from tests.airbyte.conftest import World, register
from tests.sql import query

TICK = datetime(2025, 6, 2, 9, 0, tzinfo=ZoneInfo("America/Jamaica"))
TWO_HOURS = timedelta(hours=2)


def test_the_schedule_runs_hourly_from_6_to_22_jamaica_time() -> None:
    schedule = next(s for s in defs.schedules or [] if s.name == "airbyte_sync_hourly")
    assert schedule.cron_schedule == "0 6-22 * * *"
    assert schedule.execution_timezone == "America/Jamaica"
    assert schedule.default_status.value == "RUNNING"
    assert schedule.job_name == "airbyte_sync"


def test_only_due_connections_are_launched_and_only_they_sync(
    world: World, airbyte: AirbyteSimulator
) -> None:
    due = register(world, "sched-due")
    recent = register(world, "sched-recent")
    gone = register(world, "sched-gone")
    second = airbyte.state.add_connection("5550001112", database_url=world.db.plain_url)
    with engine(world.db).begin() as conn:
        add_connection(
            conn,
            tenant_id="sched-due",
            provider="google_ads",
            connection_id=second.connection_id,
            source_account_id="5550001112",
            interval_minutes=240,
        )
        for connection_id, tenant_id, job_id in (
            (recent, "sched-recent", 901),
            (second.connection_id, "sched-due", 902),
        ):
            record_job(
                conn,
                tenant_id,
                JobOutcome(
                    connection_id, job_id, "succeeded", started_at=TICK - timedelta(hours=2)
                ),
            )
        deactivate_connection(conn, gone)

    with build_schedule_context(
        instance=world.instance,
        scheduled_execution_time=TICK,
        resources={"warehouse": WarehouseResource()},
    ) as context:
        result = airbyte_sync_hourly(context)
    assert isinstance(result, list)
    requests = {r.partition_key: r for r in result if isinstance(r, RunRequest)}
    # the 60-minute connections synced 2 hours ago are due; the 240-minute one is not
    assert set(requests) == {"sched-due", "sched-recent"}
    config = requests["sched-due"].run_config["ops"]["google_ads_campaign_performance"]["config"]
    assert config == {"connection_ids": [due]}
    assert requests["sched-due"].tags["tenant_id"] == "sched-due"

    run = defs.resolve_job_def("airbyte_sync").execute_in_process(
        instance=world.instance,
        partition_key="sched-due",
        run_config=requests["sched-due"].run_config,
    )
    assert run.success
    assert [j.connection_id for j in airbyte.state.jobs] == [due]
    synced = query(
        world.db,
        "select connection_id from app.airbyte_jobs where tenant_id = 'sched-due' "
        "and started_at > :t",
        t=datetime.now(UTC) - timedelta(minutes=5),
    )
    assert [r.connection_id for r in synced] == [due]
