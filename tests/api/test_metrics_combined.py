"""``/api/metrics/combined/`` and ``/api/health/`` as dashboards call them."""

from collections.abc import Iterator

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
    body = client.get("/api/health/").json()
    assert body == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "dagster_instance": {"status": "ok"}},
    }


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
