"""``/api/metrics/combined/`` and ``/api/health/`` as dashboards call them."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key, revoke_api_key
from adinsights_pipelines.demo import DEMO_TENANTS
from adinsights_pipelines.warehouse.database import engine
from api.app import create_app

URL = "/api/metrics/combined/"


@pytest.fixture(scope="module")
def client(demo_run) -> Iterator[TestClient]:
    db, _ = demo_run
    with TestClient(create_app(db)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keys(demo_run) -> dict[str, str]:
    db, result = demo_run
    with engine(db).begin() as conn:
        other = create_api_key(conn, tenant_id=DEMO_TENANTS[1][0])
        operator = create_api_key(conn, tenant_id=None, operator=True)
    return {"tenant": result.api_key, "other": other, "operator": operator}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stored_timestamp(demo_run, tenant_id: str):
    db, _ = demo_run
    with engine(db).connect() as conn:
        return conn.execute(
            sa.text("select snapshot_generated_at from app.metrics_snapshots where tenant_id = :t"),
            {"t": tenant_id},
        ).scalar_one()


def test_health_reports_database_and_dagster_instance(client: TestClient) -> None:
    response = client.get("/api/health/")
    body = response.json()
    # No daemon runs in these tests: reported, but not a 503 (no heartbeat ever recorded).
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["dagster_instance"] == {"status": "ok"}
    assert body["checks"]["dagster_daemon"]["status"] == "missing"


def test_missing_or_wrong_key_is_401_problem(client: TestClient) -> None:
    for headers in ({}, auth("adi_nope_nope"), {"Authorization": "Basic abc"}):
        response = client.get(URL, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/unauthorized")


def test_tenant_key_reads_its_own_snapshot_with_timestamp(client: TestClient, keys) -> None:
    body = client.get(URL, params={"source": "warehouse"}, headers=auth(keys["tenant"])).json()
    assert body["tenant_id"] == DEMO_TENANTS[0][0]
    assert body["snapshot_generated_at"]
    assert body["payload"]["tenant_id"] == DEMO_TENANTS[0][0]
    assert body["payload"]["totals"] and body["payload"]["by_parish"]
    assert body["materialization"]["run_id"]


def test_tenant_key_cannot_read_another_tenant(client: TestClient, keys) -> None:
    response = client.get(
        URL, params={"tenant_id": DEMO_TENANTS[1][0]}, headers=auth(keys["tenant"])
    )
    assert response.status_code == 403
    other = client.get(URL, headers=auth(keys["other"])).json()
    assert other["tenant_id"] == DEMO_TENANTS[1][0]
    assert other["payload"]["tenant_id"] == DEMO_TENANTS[1][0]


def test_operator_key_must_name_a_tenant(client: TestClient, keys) -> None:
    assert client.get(URL, headers=auth(keys["operator"])).status_code == 400
    body = client.get(
        URL, params={"tenant_id": DEMO_TENANTS[1][0]}, headers=auth(keys["operator"])
    ).json()
    assert body["tenant_id"] == DEMO_TENANTS[1][0]


def test_two_unfiltered_calls_return_the_same_cached_snapshot(client: TestClient, keys) -> None:
    first = client.get(URL, headers=auth(keys["tenant"])).json()
    second = client.get(URL, headers=auth(keys["tenant"])).json()
    assert first["snapshot_generated_at"] == second["snapshot_generated_at"]
    assert first["payload"] == second["payload"]
    assert first["cached"] is True


def test_filtered_call_is_live_and_leaves_the_snapshot_alone(
    client: TestClient, keys, demo_run
) -> None:
    before = stored_timestamp(demo_run, DEMO_TENANTS[0][0])
    full = client.get(URL, headers=auth(keys["tenant"])).json()
    parish = full["payload"]["by_parish"][0]["parish"]
    body = client.get(URL, params={"parish": parish}, headers=auth(keys["tenant"])).json()
    assert body["cached"] is False
    assert {row["parish"] for row in body["payload"]["by_parish"]} == {parish}
    assert stored_timestamp(demo_run, DEMO_TENANTS[0][0]) == before


def test_cache_false_recomputes_and_stores_a_new_timestamp(
    client: TestClient, keys, demo_run
) -> None:
    before = stored_timestamp(demo_run, DEMO_TENANTS[0][0])
    body = client.get(URL, params={"cache": "false"}, headers=auth(keys["tenant"])).json()
    after = stored_timestamp(demo_run, DEMO_TENANTS[0][0])
    assert after > before
    assert body["snapshot_generated_at"] == after.isoformat()


@pytest.mark.parametrize(
    "params",
    [
        {"source": "spreadsheet"},
        {"start_date": "2026-13-01"},
        {"start_date": "2026-05-02", "end_date": "2026-05-01"},
        {"cache": "maybe"},
        {"tenant_id": "Not A Tenant!"},
    ],
)
def test_bad_parameters_are_400_problems(client: TestClient, keys, params) -> None:
    response = client.get(URL, params=params, headers=auth(keys["tenant"]))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


def test_revoked_key_is_refused(client: TestClient, demo_run) -> None:
    db, _ = demo_run
    with engine(db).begin() as conn:
        key = create_api_key(conn, tenant_id=DEMO_TENANTS[0][0])
    assert client.get(URL, headers=auth(key)).status_code == 200
    with engine(db).begin() as conn:
        assert revoke_api_key(conn, key.split("_")[1])
    assert client.get(URL, headers=auth(key)).status_code == 401


def test_snapshot_cache_rules_call_by_call(client: TestClient, keys, demo_run) -> None:
    """The contract's cache semantics, one call at a time, with the marts changing underneath."""
    db, _ = demo_run
    tenant = DEMO_TENANTS[0][0]
    headers = auth(keys["tenant"])

    def call(**params):
        response = client.get(URL, params=params, headers=headers)
        assert response.status_code == 200
        return response.json()

    def total_spend(body) -> float:  # spend is a decimal string per currency
        return sum(float(t["spend"]) for t in body["payload"]["totals"])

    start = call()
    stored = stored_timestamp(demo_run, tenant)
    assert start["cached"] is True
    assert start["snapshot_generated_at"] == stored.isoformat()
    with engine(db).begin() as conn:  # the marts change after the snapshot was taken
        changed_rows = conn.execute(
            sa.text(
                "update marts.fct_ad_performance_daily set spend = spend + 1000 "
                "where tenant_id = :t and date_day = (select max(date_day) "
                "from marts.fct_ad_performance_daily where tenant_id = :t)"
            ),
            {"t": tenant},
        ).rowcount
    assert changed_rows > 0
    try:
        # 1. unfiltered, twice: the stored payload, not recomputed (the new spend is not in it)
        for _ in range(2):
            again = call(source="warehouse")
            assert again["cached"] is True
            assert again["payload"] == start["payload"]
            assert again["snapshot_generated_at"] == start["snapshot_generated_at"]
        assert stored_timestamp(demo_run, tenant) == stored

        # 2. filtered calls: live (they see the change), stored snapshot untouched
        parish = start["payload"]["by_parish"][0]["parish"]
        latest_day = start["payload"]["date_range"]["end"]
        by_parish = call(parish=parish)
        by_dates = call(start_date=latest_day, end_date=latest_day)
        forced_but_filtered = call(parish=parish, cache="false")
        for body in (by_parish, by_dates, forced_but_filtered):
            assert body["cached"] is False
            assert body["snapshot_generated_at"] == start["snapshot_generated_at"]
        assert {r["parish"] for r in by_parish["payload"]["by_parish"]} == {parish}
        assert by_dates["payload"]["date_range"] == {"start": latest_day, "end": latest_day}
        assert by_dates["payload"]["filters"]["start_date"] == latest_day
        assert total_spend(by_dates) >= 1000
        assert stored_timestamp(demo_run, tenant) == stored
        assert call()["payload"] == start["payload"]

        # 3. cache=false: recomputed (the change shows), stored, new timestamp
        refreshed = call(cache="false")
        assert refreshed["cached"] is False
        assert total_spend(refreshed) == pytest.approx(
            total_spend(start) + 1000 * changed_rows, abs=0.05
        )
        new_stored = stored_timestamp(demo_run, tenant)
        assert new_stored > stored
        assert refreshed["snapshot_generated_at"] == new_stored.isoformat()
        assert refreshed["materialization"] is None  # stored by the API, by no Dagster run

        # 4. unfiltered again: the new snapshot, cached
        after = call()
        assert after["cached"] is True
        assert after["payload"] == refreshed["payload"]
        assert after["snapshot_generated_at"] == refreshed["snapshot_generated_at"]
        assert after["materialization"] is None
    finally:
        with engine(db).begin() as conn:
            conn.execute(
                sa.text(
                    "update marts.fct_ad_performance_daily set spend = spend - 1000 "
                    "where tenant_id = :t and date_day = (select max(date_day) "
                    "from marts.fct_ad_performance_daily where tenant_id = :t)"
                ),
                {"t": tenant},
            )


def run_cli(*args: str) -> tuple[int, str, str]:
    """``adinsights ARGS`` in this process (main(): the CLI's own error handling)."""
    import contextlib
    import io
    import logging
    import sys

    from adinsights_pipelines.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    argv = sys.argv
    sys.argv = ["adinsights", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        sys.argv = argv
        root.handlers[:] = handlers
        root.setLevel(level)
    return code, out.getvalue(), err.getvalue()


def test_snapshot_metrics_command_rebuilds_every_tenant_as_dagster_runs(
    demo_run, client: TestClient, keys
) -> None:
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    served = client.get(URL, headers=auth(keys["tenant"])).json()  # in the app's snapshot cache
    before = {t: stored_timestamp(demo_run, t) for t, _, _ in DEMO_TENANTS}
    code, out, err = run_cli("snapshot-metrics")
    assert code == 0, err
    assert out.strip() == f"rebuilt {len(DEMO_TENANTS)} of {len(DEMO_TENANTS)} metrics snapshots"
    for tenant_id, _, _ in DEMO_TENANTS:
        assert f"{tenant_id}: " in err and "rows in" in err
        assert stored_timestamp(demo_run, tenant_id) > before[tenant_id]
    instance = DagsterInstance.get()
    record = instance.fetch_materializations(AssetKey("metrics_snapshot"), limit=1).records[0]
    metadata = record.asset_materialization.metadata
    assert record.asset_materialization.partition == DEMO_TENANTS[-1][0]
    assert metadata["row_totals"].value["fct_ad_performance_daily"] > 0
    assert metadata["duration_ms"].value >= 0
    assert (
        metadata["snapshot_generated_at"].value
        == stored_timestamp(demo_run, DEMO_TENANTS[-1][0]).isoformat()
    )

    one = DEMO_TENANTS[0][0]
    code, out, err = run_cli("snapshot-metrics", "--tenant-id", one)
    assert code == 0 and out.strip() == "rebuilt 1 of 1 metrics snapshots"
    # The same app answers the new snapshot at once, naming the run that stored it.
    latest = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("metrics_snapshot"), asset_partitions=[one]),
        limit=1,
    ).records[0]
    body = client.get(URL, headers=auth(keys["tenant"])).json()
    assert body["tenant_id"] == one
    assert body["snapshot_generated_at"] == stored_timestamp(demo_run, one).isoformat()
    assert body["snapshot_generated_at"] != served["snapshot_generated_at"]
    assert body["materialization"] == {
        "run_id": latest.run_id,
        "materialized_at": datetime.fromtimestamp(latest.timestamp, UTC).isoformat(),
    }


def test_snapshot_metrics_command_fails_in_one_line(demo_run) -> None:
    code, out, err = run_cli("snapshot-metrics", "--tenant-id", "no-such-tenant")
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1] == (
        "adinsights: error: tenant 'no-such-tenant' does not exist (adinsights tenants list)"
    )


def test_a_deactivated_tenants_keys_stop_working_until_it_is_reactivated(
    client: TestClient, demo_run
) -> None:
    from adinsights_pipelines.errors import AdinsightsError
    from adinsights_pipelines.tenant_store import add_tenant, deactivate_tenant

    db, _ = demo_run
    tenant, name, _ = DEMO_TENANTS[1]
    with engine(db).begin() as conn:
        key = create_api_key(conn, tenant_id=tenant)
    assert client.get(URL, headers=auth(key)).status_code == 200
    with engine(db).begin() as conn:
        deactivate_tenant(conn, tenant)
    try:
        refused = client.get(URL, headers=auth(key))
        assert refused.status_code == 401
        assert refused.json()["detail"].endswith("or its tenant is deactivated")
        with engine(db).begin() as conn, pytest.raises(AdinsightsError, match="is inactive"):
            create_api_key(conn, tenant_id=tenant)
    finally:
        with engine(db).begin() as conn:
            add_tenant(conn, tenant, name)  # reactivates: the same key works again
    assert client.get(URL, headers=auth(key)).status_code == 200
