"""``adinsights run-dbt``: the dbt_build job as a Dagster run of the instance, with progress,
and a failing node named in the one-line error. Real dbt, PostgreSQL and Dagster."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from dagster import DagsterRunStatus, RunsFilter

from adinsights_pipelines.warehouse.database import engine
from tests.cli import adinsights


def test_run_dbt_builds_the_selection_as_a_dagster_run_with_progress(instance, product_env) -> None:
    done = adinsights("run-dbt", "--select", "stg_meta__insights")
    assert done.returncode == 0, done.stderr
    [record] = instance.get_run_records(RunsFilter(job_name="dbt_build"))
    run = record.dagster_run
    assert run.status is DagsterRunStatus.SUCCESS
    assert run.tags["adinsights/trigger"] == "cli"
    assert run.tags["adinsights/dbt-scope"] == "selected"
    assert done.stdout.strip() == (
        f"dbt_build run {run.run_id} succeeded: 1 of 1 dbt assets built (selected)"
    )
    assert "[1/1] built stg_meta__insights" in done.stderr
    assert f"dbt_build run {run.run_id}: 1 dbt assets (selected)" in done.stderr


def test_run_dbt_exits_non_zero_naming_the_failing_node(instance, product_env) -> None:
    with engine(product_env).begin() as conn:
        conn.execute(sa.text("insert into app.tenants (id, name) values ('acme', 'Acme')"))
        conn.execute(
            sa.text(
                "insert into raw.meta_insights (tenant_id, account_id, campaign_id, adset_id, "
                "ad_id, date_start, date_stop, region, spend, currency) values "
                "('acme', 'act_1', 'c_1', 's_1', 'ad_1', :d, :d, 'Kingston', -1, 'JMD')"
            ),
            {"d": date(2026, 12, 1)},
        )
    failed = adinsights("run-dbt", "--select", "stg_meta__insights")
    assert failed.returncode == 2
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("adinsights: error: dbt build failed: 1 nodes (")
    assert "non_negative_stg_meta__insights_spend" in last
    [record] = instance.get_run_records(RunsFilter(job_name="dbt_build"))
    assert record.dagster_run.status is DagsterRunStatus.FAILURE
    assert f"(run {record.dagster_run.run_id};" in last
    assert "check failed: stg_meta__insights:non_negative_stg_meta__insights_spend" in (
        failed.stderr
    )


def test_run_dbt_refuses_a_selection_matching_nothing(instance, product_env) -> None:
    none = adinsights("run-dbt", "--select", "no_such_model")
    assert none.returncode == 2
    assert none.stderr.strip().splitlines()[-1] == (
        "adinsights: error: no dbt node matches --select 'no_such_model'"
    )
    assert instance.get_run_records(RunsFilter(job_name="dbt_build")) == []
