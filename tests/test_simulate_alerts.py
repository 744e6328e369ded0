"""``adinsights simulate-alerts`` end to end: real dbt, real instance, loopback sinks."""

import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, RunsFilter

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.alerts.observe import SIMULATION_TAG
from adinsights_pipelines.defs.alerts.simulation import Row, render_table
from adinsights_pipelines.defs.snapshots.guard import failures_blocking
from adinsights_pipelines.warehouse.database import engine
from tests.api.test_metrics_combined import run_cli

EXPECTED_ROWS = (
    "stale metrics snapshot",
    "dbt model test failure (asset check)",
    "dbt run failure",
    "Airbyte job failure",
)


def sandbox_leftovers(db) -> list[int]:
    with engine(db).connect() as conn:
        return [
            conn.execute(
                sa.text(f"select count(*) from {table} where {column} like 'alert-sim-%'")
            ).scalar_one()
            for table, column in (
                ("app.tenants", "id"),
                ("app.metrics_snapshots", "tenant_id"),
                ("app.airbyte_jobs", "tenant_id"),
                ("raw.meta_insights", "tenant_id"),
            )
        ]


def test_simulation_delivers_every_alert_to_local_sinks_and_cleans_up(instance, product_env):
    code, out, err = run_cli("simulate-alerts")
    assert code == 0, err[-3000:]
    lines = out.strip().splitlines()
    assert lines[0].split() == ["ALERT", "SLACK", "EMAIL", "RESULT"]
    assert len(lines) == 1 + len(EXPECTED_ROWS)
    for line, label in zip(lines[1:], EXPECTED_ROWS, strict=True):
        assert line.startswith(label)
        assert line.split()[-3:] == ["pass", "pass", "PASS"]
    assert "local sink at http://127.0.0.1:" in err
    assert sandbox_leftovers(product_env) == [0, 0, 0, 0]
    # The drill's failing run is gone; the one left re-evaluated the tests on the real rows,
    # so no tenant's snapshot stays blocked by the drill's failed check.
    instance = DagsterInstance.get()
    runs = instance.get_runs(RunsFilter(job_name="dbt_build"))
    assert [r.status.value for r in runs] == ["SUCCESS"]
    assert SIMULATION_TAG in runs[0].tags
    assert "re-evaluated stg_meta__insights's tests without the sandbox rows: passed" in err
    graph = defs.resolve_asset_graph()
    assert failures_blocking(instance, graph, AssetKey("metrics_snapshot"), "any-tenant") == []


def test_the_table_fails_a_row_unless_both_channels_got_it() -> None:
    rows = [Row("stale metrics snapshot", "pass", "pass"), Row("dbt run failure", "fail", "sent")]
    assert [r.passed for r in rows] == [True, False]
    assert render_table(rows).splitlines() == [
        "ALERT                   SLACK  EMAIL  RESULT",
        "stale metrics snapshot  pass   pass   PASS",
        "dbt run failure         fail   sent   FAIL",
    ]
