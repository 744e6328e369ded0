"""What ``adinsights_pipelines.dagster_internals`` and ``tests/dagster_internals.py`` take from
Dagster's private modules is still there and shaped as we use it. An upgrade that moves or
reshapes one fails here, by name, rather than somewhere in a sensor or the API."""

from __future__ import annotations

import gc
import time
from datetime import timedelta
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    Definitions,
    FreshnessPolicy,
    MetadataValue,
    RunRequest,
    asset,
    asset_check,
    build_schedule_context,
    define_asset_job,
    deserialize_value,
    materialize,
)

from adinsights_pipelines.dagster_internals import (
    PARTITION_NAME_TAG,
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
    AssetGraph,
    AssetJob,
    TimeWindowFreshnessPolicy,
    materialization_entry,
    repository_snapshot,
)
from tests import dagster_internals as test_internals
from tests.conftest import disposing


@asset
def upstream() -> None:
    return None


@asset_check(asset=upstream, blocking=True)
def upstream_rows() -> AssetCheckResult:
    return AssetCheckResult(passed=False, metadata={"tenant_ids": MetadataValue.json(["acme"])})


def test_the_types_dagster_hands_out_are_the_ones_we_name() -> None:
    policy = FreshnessPolicy.time_window(fail_window=timedelta(hours=2))
    assert isinstance(policy, TimeWindowFreshnessPolicy)
    assert (policy.fail_window.to_timedelta(), policy.warn_window) == (timedelta(hours=2), None)
    assert isinstance(define_asset_job("j", selection=[upstream]), AssetJob)

    graph = Definitions(assets=[upstream], asset_checks=[upstream_rows]).resolve_asset_graph()
    assert isinstance(graph, AssetGraph)
    # What guard.py and the alerts call on a graph.
    checks = graph.get_check_keys_for_assets({upstream.key})
    assert [graph.get(key).blocking for key in checks] == [True]
    assert [node.key for node in graph.asset_nodes] == [upstream.key]
    assert AssetSelection.assets(upstream).upstream().resolve(graph) == {upstream.key}


def test_the_partition_tag_is_the_one_dagster_puts_on_a_partitioned_run() -> None:
    assert PARTITION_NAME_TAG == "dagster/partition"
    assert RunRequest(partition_key="acme", tags={PARTITION_NAME_TAG: "acme"}).partition_key == (
        "acme"
    )


def test_a_failed_check_is_a_record_with_the_status_run_and_metadata_we_read() -> None:
    assert {s.name for s in AssetCheckExecutionRecordStatus} >= {"PLANNED", "SUCCEEDED", "FAILED"}
    with DagsterInstance.ephemeral() as instance:
        result = materialize([upstream, upstream_rows], instance=instance, raise_on_error=False)
        (key,) = upstream_rows.check_keys
        records = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])
        record = records[key]
        assert isinstance(record, AssetCheckExecutionRecord)
        assert record.status is AssetCheckExecutionRecordStatus.FAILED
        assert record.run_id == result.run_id
        assert record.evaluation is not None
        assert record.evaluation.metadata["tenant_ids"].value == ["acme"]
        assert instance.get_latest_asset_check_evaluation_record(key) is not None


def test_a_materialization_entry_is_stored_at_its_time_runless_or_for_its_run() -> None:
    past = time.time() - 3600
    with DagsterInstance.ephemeral() as instance:
        instance.event_log_storage.store_event_batch(
            [
                materialization_entry(
                    AssetMaterialization("feed", partition="acme"), timestamp=past
                ),
                materialization_entry(
                    AssetMaterialization("snap", partition="acme"),
                    timestamp=past + 60,
                    job_name="metrics_snapshots",
                    run_id="r1",
                    step_key="snap",
                ),
            ]
        )
        feed = instance.get_latest_materialization_event(AssetKey("feed"))
        snap = instance.get_latest_materialization_event(AssetKey("snap"))
        assert feed is not None and snap is not None
        assert feed.timestamp == past and snap.timestamp == past + 60
        assert feed.asset_materialization is not None
        assert feed.asset_materialization.partition == "acme"
        assert (snap.run_id, snap.job_name, snap.step_key) == ("r1", "metrics_snapshots", "snap")
        assert (feed.run_id, feed.job_name) == ("", "")  # Dagster's runless events


def test_a_repository_snapshot_serializes_the_repository() -> None:
    repository = Definitions(assets=[upstream]).get_repository_def()
    snapshot = repository_snapshot(repository)
    loaded = deserialize_value(snapshot)
    assert type(loaded).__name__ == "RepositorySnap"
    assert loaded.name == "__repository__"
    assert [node.asset_key for node in loaded.asset_nodes] == [upstream.key]


def test_what_the_tests_reach_is_still_there_with_the_parameters_we_pass() -> None:
    assert test_internals.runs_to_dequeue_parameters() == [
        "self",
        "instance",
        "concurrency_config",
        "fixed_iteration_time",
    ]
    heartbeat = test_internals.DaemonHeartbeat(time.time(), "SCHEDULER", "test", None)
    assert heartbeat.daemon_type == "SCHEDULER"
    origin = test_internals.code_location_job_origin("pkg.definitions", "loc", "meta_sync")
    assert origin.job_name == "meta_sync"
    assert origin.repository_origin.repository_name == "__repository__"


def test_instances_of_fixtures_unwound_out_of_order_leave_no_gone_instance_in_effect(
    tmp_path: Path,
) -> None:
    # A module's instance set up before a package's and torn down first: with ``with
    # instance:`` the package's teardown restored the module's instance as the one in effect,
    # after it had gone, and loading definitions then failed. ``disposing`` sets none.
    homes = [tmp_path / "module", tmp_path / "package"]
    for home in homes:
        home.mkdir()
    module, package = (disposing(DagsterInstance.local_temp(str(home))) for home in homes)
    module.__enter__()
    package.__enter__()
    module.__exit__(None, None, None)
    package.__exit__(None, None, None)
    del module, package
    gc.collect()
    repository = Definitions(assets=[upstream]).get_repository_def()
    assert [node.key for node in repository.asset_graph.asset_nodes] == [upstream.key]


def test_a_schedule_context_puts_an_instance_in_effect_until_it_is_left(tmp_path: Path) -> None:
    # Why the tests enter schedule contexts with ``with``: ``context.instance`` opens an instance
    # of the context's own from the given one's ref and puts it in effect; only leaving the
    # context takes it out again (a context dropped without that left it there, gone).
    with disposing(DagsterInstance.local_temp(str(tmp_path))) as instance:
        with build_schedule_context(instance=instance) as context:
            assert test_internals.instance_storage_in_effect() is None
            assert context.instance is not instance
            assert test_internals.instance_storage_in_effect() is not None
        assert test_internals.instance_storage_in_effect() is None
