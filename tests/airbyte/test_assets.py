"""The Google Ads Airbyte asset against the simulator, through a real Dagster instance."""

import pytest
from dagster import AssetKey, AssetRecordsFilter, ExecuteInProcessResult

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.simulators.airbyte import AirbyteSimState, AirbyteSimulator
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import engine
from tests.airbyte.conftest import Tenant, World, register
from tests.sql import query
from tests.test_encryption import dump_database

ASSET = AssetKey("google_ads_campaign_performance")


def sync(world: World, tenant_id: str) -> ExecuteInProcessResult:
    return defs.resolve_job_def("airbyte_sync").execute_in_process(
        instance=world.instance, partition_key=tenant_id, raise_on_error=False
    )


def failure_message(result: ExecuteInProcessResult) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.error.message


def latest_metadata(world: World, tenant_id: str) -> dict[str, object] | None:
    records = world.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=ASSET, asset_partitions=[tenant_id]), limit=1
    ).records
    if not records:
        return None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def job_rows(world: World, connection_id: str) -> list:
    return query(
        world.db,
        "select * from app.airbyte_jobs where connection_id = :c order by job_id",
        c=connection_id,
    )


def test_sync_materializes_the_partition_with_job_metadata_and_rows(
    world: World, tenant: Tenant
) -> None:
    result = sync(world, tenant.id)
    assert result.success

    (job,) = job_rows(world, tenant.connection_id)
    assert (job.tenant_id, job.status) == (tenant.id, "succeeded")
    customer = world.sim.state.connection(tenant.connection_id).customer_id
    raw = query(
        world.db,
        "select count(*) as n, count(distinct customer_currency_code) as currencies, "
        "min(customer_currency_code) as ccy, count(distinct segments_date) as days "
        "from raw.google_ads_campaign_performance "
        "where customer_id = :c and _airbyte_meta->>'sync_id' = :j",
        c=customer,
        j=str(job.job_id),
    )[0]
    assert raw.n == job.records_synced > 0
    assert (raw.currencies, raw.ccy, raw.days) == (1, "JMD", 30)
    assert job.bytes_synced > 0 and job.duration_seconds >= 0.2
    assert job.started_at <= job.finished_at

    md = latest_metadata(world, tenant.id)
    assert md is not None
    assert md["connection_id"] == tenant.connection_id and md["job_id"] == job.job_id
    assert md["job_status"] == "succeeded" and md["tenant_id"] == tenant.id
    assert md["records_synced"] == job.records_synced
    assert md["bytes_synced"] == job.bytes_synced
    assert md["duration_seconds"] == pytest.approx(job.duration_seconds)
    assert md["started_at"] == job.started_at.timestamp()
    assert md["finished_at"] == job.finished_at.timestamp()
    assert md["attached_to_running_job"] is False
    (attempt,) = query(
        world.db,
        "select last_attempt_status from app.airbyte_connections where connection_id = :c",
        c=tenant.connection_id,
    )
    assert attempt.last_attempt_status == "succeeded"


def test_a_resync_appends_newer_copies_of_the_lookback_window(
    world: World, tenant: Tenant, airbyte: AirbyteSimulator
) -> None:
    airbyte.state.configure(lookback_days=3)
    assert sync(world, tenant.id).success
    assert sync(world, tenant.id).success
    first, second = job_rows(world, tenant.connection_id)
    customer = airbyte.state.connection(tenant.connection_id).customer_id
    per_job = dict(
        (r.sync_id, (r.days, r.extracted))
        for r in query(
            world.db,
            "select _airbyte_meta->>'sync_id' as sync_id, count(distinct segments_date) as days, "
            "max(_airbyte_extracted_at) as extracted from raw.google_ads_campaign_performance "
            "where customer_id = :c group by 1",
            c=customer,
        )
    )
    assert per_job[str(first.job_id)][0] == 30 and per_job[str(second.job_id)][0] == 3
    assert per_job[str(second.job_id)][1] > per_job[str(first.job_id)][1]
    assert second.records_synced < first.records_synced


def test_failed_job_fails_the_partition_with_airbytes_reason_and_is_stored(
    world: World, tenant: Tenant, airbyte: AirbyteSimulator
) -> None:
    airbyte.state.configure(fail_next_jobs=1, failure_reason="Refresh token revoked by user")
    result = sync(world, tenant.id)

    assert not result.success
    assert "Refresh token revoked by user" in failure_message(result)
    (job,) = job_rows(world, tenant.connection_id)
    assert job.status == "failed" and "Refresh token revoked by user" in job.error
    customer = airbyte.state.connection(tenant.connection_id).customer_id
    assert not query(
        world.db,
        "select 1 from raw.google_ads_campaign_performance where customer_id = :c",
        c=customer,
    )
    assert latest_metadata(world, tenant.id) is None
    assert sync(world, tenant.id).success  # a re-run syncs


def test_a_sync_already_running_is_attached_to_not_failed(
    world: World, tenant: Tenant, airbyte: AirbyteSimulator
) -> None:
    # Long enough that no loaded machine starts the run after it ended (1 s did not, at a load
    # average of 20); the sync waits for it, so the test takes that long.
    airbyte.state.configure(job_duration_s=8.0)
    running = airbyte.state.start_job(tenant.connection_id)  # Airbyte's own schedule was first

    result = sync(world, tenant.id)

    assert result.success
    assert [j.job_id for j in airbyte.state.jobs] == [running.job_id]  # no second job
    md = latest_metadata(world, tenant.id)
    assert md is not None
    assert md["job_id"] == running.job_id and md["attached_to_running_job"] is True
    assert [(j.job_id, j.status) for j in job_rows(world, tenant.connection_id)] == [
        (running.job_id, "succeeded")
    ]


def test_server_errors_are_retried_by_the_client(
    world: World, tenant: Tenant, airbyte: AirbyteSimulator
) -> None:
    airbyte.state.inject("/api/public/v1/jobs", count=2, http_status=503)
    result = sync(world, tenant.id)
    assert result.success
    assert [r.status for r in airbyte.state.requests if r.status >= 500] == [503, 503]
    assert [j.status for j in job_rows(world, tenant.connection_id)] == ["succeeded"]


def test_server_down_fails_clearly_and_records_the_attempt(
    world: World, tenant: Tenant, airbyte: AirbyteSimulator
) -> None:
    airbyte.down()
    result = sync(world, tenant.id)
    assert not result.success
    assert "did not answer" in failure_message(result)
    (state,) = query(
        world.db,
        "select last_attempt_status, last_attempt_error from app.airbyte_connections "
        "where connection_id = :c",
        c=tenant.connection_id,
    )
    assert state.last_attempt_status == "failed" and "did not answer" in state.last_attempt_error
    assert job_rows(world, tenant.connection_id) == []


def test_a_hung_job_is_cancelled_after_the_timeout(
    world: World, tenant: Tenant, airbyte: AirbyteSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADINSIGHTS_AIRBYTE_SYNC_TIMEOUT_SECONDS", "0.6")
    airbyte.state.configure(hang_next_jobs=1)
    result = sync(world, tenant.id)
    assert not result.success
    assert "cancelled" in failure_message(result)
    assert [j.status for j in airbyte.state.jobs] == ["cancelled"]
    assert [j.status for j in job_rows(world, tenant.connection_id)] == ["cancelled"]


def test_tenant_without_a_connection_fails_with_a_clear_message(
    world: World, airbyte: AirbyteSimulator
) -> None:
    with engine(world.db).begin() as conn:
        add_tenant(conn, "no-connection", "No Connection")
    world.instance.add_dynamic_partitions("tenant", ["no-connection"])
    result = sync(world, "no-connection")
    assert not result.success
    assert "no active google_ads Airbyte connection" in failure_message(result)
    assert airbyte.state.jobs == []


def test_application_credentials_are_used_and_never_leak(
    world: World, airbyte: AirbyteSimulator, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    secret = "airbyte-app-secret-LEAKCHECK-5b1e9c"
    state = AirbyteSimState(seed=8, client_id="adinsights-app", client_secret=secret)
    state.configure(job_duration_s=0.1)
    with AirbyteSimulator(state) as secured:
        connection_id = register(world, "secured-app", sim=secured)
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_URL", secured.url)
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_WORKSPACE_ID", state.workspace_id)
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_CLIENT_ID", "adinsights-app")
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_CLIENT_SECRET", secret)
        caplog.set_level("DEBUG")
        assert sync(world, "secured-app").success
        state.configure(fail_next_jobs=1, failure_reason="Quota exhausted")
        failed = sync(world, "secured-app")
    assert not failed.success and "Quota exhausted" in failure_message(failed)
    assert [r.status for r in state.requests if r.path.endswith("/token")] == [200, 200]
    assert all(r.status != 401 for r in state.requests)
    assert [j.status for j in job_rows(world, connection_id)] == ["succeeded", "failed"]
    events = "\n".join(str(e) for run in (failed.run_id,) for e in world.instance.all_logs(run))
    assert secret not in events and secret not in caplog.text
    assert secret not in dump_database(world.db)
