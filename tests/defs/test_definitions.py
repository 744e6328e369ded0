from dagster import AssetKey, Definitions

from adinsights_pipelines.definitions import defs


def test_definitions_load_and_validate() -> None:
    Definitions.validate_loadable(defs)


def test_asset_graph_runs_ingestion_to_dbt_to_snapshot() -> None:
    graph = defs.resolve_asset_graph()
    stg = AssetKey("stg_meta__insights")
    fct = AssetKey("fct_ad_performance_daily")
    snapshot = AssetKey("metrics_snapshot")
    assert AssetKey("meta_insights") in graph.get(stg).parent_keys
    assert stg in graph.get(fct).parent_keys
    assert fct in graph.get(snapshot).parent_keys
    assert AssetKey("meta_ad_accounts") in graph.get(AssetKey("meta_insights")).parent_keys


def test_ingestion_and_snapshots_are_partitioned_by_tenant() -> None:
    graph = defs.resolve_asset_graph()
    for key in ("meta_ad_accounts", "meta_insights", "metrics_snapshot"):
        partitions = graph.get(AssetKey(key)).partitions_def
        assert partitions is not None and getattr(partitions, "name", None) == "tenant"


def test_dbt_tests_and_data_contracts_are_blocking_checks_on_the_mart() -> None:
    graph = defs.resolve_asset_graph()
    checks = {
        k.name: graph.get(k).blocking
        for k in graph.asset_check_keys
        if k.asset_key == AssetKey("fct_ad_performance_daily")
    }
    assert checks["non_negative_fct_ad_performance_daily_spend"] is True
    assert checks["accepted_values_fct_ad_performance_daily_parish"] is True
    assert checks["marts_reconcile_with_raw_spend"] is True
    assert checks["currency_consistent_per_account"] is True


def test_schedules_run_in_jamaica_time() -> None:
    schedules = {s.name: s for s in defs.schedules or []}
    assert schedules["meta_sync_hourly"].cron_schedule == "0 6-22 * * *"
    assert schedules["metrics_snapshots_every_30_minutes"].cron_schedule == "*/30 * * * *"
    assert {s.execution_timezone for s in schedules.values()} == {"America/Jamaica"}
    # on from the start: an operator never has to switch a schedule on after a deploy
    assert {s.default_status.value for s in schedules.values()} == {"RUNNING"}
    assert schedules["dbt_build_every_15_minutes"].cron_schedule == "*/15 * * * *"
    assert (schedules["dbt_build_every_15_minutes"].description or "").startswith(
        "Every 15 minutes: the incremental and table models"
    )


def test_code_location_loads_as_dagster_loads_it(tmp_path) -> None:
    """`dagster definitions validate` on the workspace: what the webserver and daemon do."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Validation successful" in result.stdout + result.stderr
