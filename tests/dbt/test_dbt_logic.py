"""The pure parts of the dbt concern: run summaries, health rules, freshness, contracts, guard."""

from datetime import UTC, datetime, timedelta

import pytest
from dagster import AssetCheckKey, AssetKey

from adinsights_pipelines.defs.contracts.rules import (
    Violation,
    contracts,
    platform_coverage_sql,
    require_marts,
    violations_table,
)
from adinsights_pipelines.defs.dbt.assets import failed_nodes
from adinsights_pipelines.defs.dbt.health import DbtRun, dbt_health
from adinsights_pipelines.defs.dbt.results import decode, encode, summarize_run_results
from adinsights_pipelines.defs.dbt.source_freshness import (
    freshness_table,
    freshness_vars,
    parse_sources_json,
)
from adinsights_pipelines.defs.snapshots.guard import FailedCheck, blocking_failures
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.warehouse.database import Database, engine

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

RUN_RESULTS = {
    "metadata": {"invocation_id": "inv-1"},
    "elapsed_time": 12.3456,
    "results": [
        {"unique_id": "model.adinsights.stg_meta__insights", "status": "success"},
        {"unique_id": "model.adinsights.fct_ad_performance_daily", "status": "skipped"},
        {"unique_id": "seed.adinsights.jamaica_parishes", "status": "success"},
        {
            "unique_id": "test.adinsights.non_negative_stg_meta__insights_spend.1a2b",
            "status": "fail",
        },
        {"unique_id": "test.adinsights.not_null_x.3c4d", "status": "pass"},
    ],
}


def run(succeeded: bool, finished: datetime, results: dict | None = None) -> DbtRun:
    return DbtRun(
        run_id="r1",
        succeeded=succeeded,
        started_at=finished - timedelta(seconds=42),
        finished_at=finished,
        results=results,
    )


def test_run_results_are_counted_by_resource_type_and_status() -> None:
    summary = summarize_run_results(RUN_RESULTS)
    assert summary["counts"] == {
        "model": {"success": 1, "skipped": 1},
        "seed": {"success": 1},
        "test": {"fail": 1, "pass": 1},
    }
    assert summary["elapsed_seconds"] == 12.346
    assert summary["invocation_id"] == "inv-1"
    assert decode(encode(summary)) == summary


def test_failed_nodes_are_named_without_hashes() -> None:
    assert failed_nodes(RUN_RESULTS) == ["non_negative_stg_meta__insights_spend"]


def test_health_is_ok_after_a_recent_successful_run() -> None:
    results = summarize_run_results({"results": [{"unique_id": "model.a.m", "status": "success"}]})
    latest = run(True, NOW - timedelta(hours=1), results)
    body = dbt_health(latest, latest, NOW)
    assert body["status"] == "ok"
    assert body["duration_seconds"] == 42.0
    assert body["counts"] == {"success": 1}
    assert body["last_run_at"] == (NOW - timedelta(hours=1)).isoformat()


def test_health_is_stale_without_a_successful_run_in_24_hours() -> None:
    latest = run(True, NOW - timedelta(hours=25), summarize_run_results({"results": []}))
    assert dbt_health(latest, latest, NOW)["status"] == "stale"
    assert dbt_health(None, None, NOW)["status"] == "stale"
    assert dbt_health(None, None, NOW)["last_run_at"] is None


def test_health_is_failing_when_the_latest_run_failed_or_has_errors() -> None:
    good = run(True, NOW - timedelta(hours=2))
    failed_run = run(False, NOW - timedelta(hours=1), summarize_run_results(RUN_RESULTS))
    body = dbt_health(failed_run, good, NOW)
    assert body["status"] == "failing"
    assert body["test_counts"] == {"fail": 1, "pass": 1}
    assert body["last_success_at"] == good.finished_at.isoformat()
    model_error = run(
        True,
        NOW - timedelta(minutes=5),
        summarize_run_results({"results": [{"unique_id": "model.a.m", "status": "error"}]}),
    )
    assert dbt_health(model_error, model_error, NOW)["status"] == "failing"


def test_freshness_results_read_dbt_artifact_and_empty_tables() -> None:
    artifact = {
        "results": [
            {
                "unique_id": "source.adinsights.meta.insights",
                "status": "warn",
                "max_loaded_at": "2026-11-27T09:00:00+00:00",
                "max_loaded_at_time_ago_in_s": 10800.0,
            },
            {
                "unique_id": "source.adinsights.ga4.daily",
                "status": "error",
                "max_loaded_at": "0001-01-01T00:00:00+00:00",
                "max_loaded_at_time_ago_in_s": 6.3e10,
            },
        ]
    }
    relations = {"source.adinsights.meta.insights": "raw.meta_insights"}
    results = parse_sources_json(artifact, relations)
    assert [(r.source, r.status, r.age_hours) for r in results] == [
        ("ga4.daily", "empty", None),
        ("meta.insights", "warn", 3.0),
    ]
    assert not any(r.is_error for r in results)
    table = freshness_table(results)
    assert "raw.meta_insights" in table and "no rows" in table and "WARN" in table


def test_freshness_threshold_overrides_are_validated() -> None:
    assert freshness_vars(8, 24) == {"freshness_warn_hours": 8, "freshness_error_hours": 24}
    assert freshness_vars(None, None) == {}
    with pytest.raises(AdinsightsError, match="warn-hours"):
        freshness_vars(5, 2)


def test_contracts_cover_reconciliation_coverage_and_currency() -> None:
    rules = {c.name: c for c in contracts(days=14)}
    assert rules["marts_reconcile_with_raw_spend"].blocking
    assert rules["marts_reconcile_with_raw_spend"].params["days"] == 14
    assert rules["currency_consistent_per_account"].blocking
    assert not rules["connected_ga4_has_rows"].blocking
    assert {c.asset for c in rules.values()} >= {"fct_ad_performance_daily", "fct_ga4_daily"}
    with pytest.raises(ValueError):
        contracts(days=0)
    with pytest.raises(ValueError):
        platform_coverage_sql(["tiktok"])


def test_violations_table_lines_up_and_truncates() -> None:
    violations = [
        Violation("marts_reconcile_with_raw_spend", "acme", "meta", "2026-11-26", "raw 1, mart 2"),
        Violation("currency_consistent_per_account", "bravo-co", "meta", "act_1", "JMD, USD"),
    ]
    lines = violations_table(violations, limit=1).splitlines()
    assert lines[0].split() == ["CONTRACT", "TENANT", "PLATFORM", "SUBJECT", "DETAIL"]
    assert lines[1].startswith("marts_reconcile_with_raw_spend  acme")
    assert lines[-1] == "... and 1 more"


def test_a_failed_check_naming_tenants_blocks_only_them() -> None:
    key = AssetCheckKey(AssetKey("fct_ad_performance_daily"), "marts_reconcile_with_raw_spend")
    everyone = FailedCheck(AssetCheckKey(AssetKey("stg"), "non_negative"), "r1", None)
    only_bravo = FailedCheck(key, "r2", ("bravo",))
    assert blocking_failures([only_bravo], "alpha") == []
    assert blocking_failures([only_bravo], "bravo") == [only_bravo]
    assert blocking_failures([everyone, only_bravo], "alpha") == [everyone]


def test_contracts_need_the_marts_built(database: Database) -> None:
    with engine(database).connect() as conn, pytest.raises(AdinsightsError, match="not built"):
        require_marts(conn)
