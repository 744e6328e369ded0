"""``/api/audit-logs/``: tenant scoping, filters, keyset paging, bad parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from api.pagination import encode_cursor
from tests.sql import query

URL = "/api/audit-logs/"
TENANT, SIMILAR = "acme", "acme-jm"
BASE = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def setup(database: Database) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with engine(database).begin() as conn:
        add_tenant(conn, TENANT, "Acme")
        add_tenant(conn, SIMILAR, "Acme JM")
        keys = {
            "tenant": create_api_key(conn, tenant_id=TENANT),
            "similar": create_api_key(conn, tenant_id=SIMILAR),
            "operator": create_api_key(conn, tenant_id=None, operator=True),
        }
        # start from an empty trail: creating keys may itself be audited
        conn.execute(sa.text("delete from app.audit_log"))
        for i in range(7):
            record_audit(
                conn,
                tenant_id=TENANT,
                actor="cli",
                action="credential_set" if i % 2 else "tenant_updated",
                resource_type="credential" if i % 2 else "tenant",
                resource_id=f"acme-{i}",
                metadata={"i": i},
            )
        for i in range(3):
            record_audit(
                conn,
                tenant_id=SIMILAR,
                actor="cli",
                action="tenant_updated",
                resource_type="tenant",
                resource_id=f"similar-{i}",
            )
        record_audit(conn, tenant_id=None, actor="system", action="x", resource_type="tenant")
        # distinct times for most rows, and two rows sharing one timestamp (tie broken by id)
        ids = conn.execute(sa.text("select id from app.audit_log order by id")).scalars().all()
        for n, row_id in enumerate(ids):
            conn.execute(
                sa.text("update app.audit_log set created_at = :at where id = :id"),
                {"at": BASE + timedelta(minutes=min(n, 4)), "id": row_id},
            )
    with TestClient(create_app(database)) as client:
        yield client, keys


def expected(database: Database, tenant_id: str) -> list[int]:
    sql = "select id from app.audit_log where tenant_id = :t order by created_at desc, id desc"
    return [row.id for row in query(database, sql, t=tenant_id)]


def test_tenant_key_sees_only_its_own_rows(setup, database: Database) -> None:
    client, keys = setup
    body = client.get(URL, headers=auth(keys["tenant"])).json()
    assert [r["id"] for r in body["results"]] == expected(database, TENANT)
    assert {r["tenant_id"] for r in body["results"]} == {TENANT}
    assert body["next_cursor"] is None
    first = body["results"][0]
    assert set(first) == {
        "id",
        "tenant_id",
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "metadata",
        "created_at",
    }
    assert datetime.fromisoformat(first["created_at"]).tzinfo is not None

    similar = client.get(URL, headers=auth(keys["similar"])).json()
    assert {r["tenant_id"] for r in similar["results"]} == {SIMILAR}
    assert len(similar["results"]) == 3


def test_naming_another_tenant_is_403(setup) -> None:
    client, keys = setup
    response = client.get(URL, params={"tenant_id": SIMILAR}, headers=auth(keys["tenant"]))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    own = client.get(URL, params={"tenant_id": TENANT}, headers=auth(keys["tenant"]))
    assert own.status_code == 200


def test_operator_must_name_a_tenant(setup) -> None:
    client, keys = setup
    assert client.get(URL, headers=auth(keys["operator"])).status_code == 400
    body = client.get(URL, params={"tenant_id": SIMILAR}, headers=auth(keys["operator"])).json()
    assert {r["tenant_id"] for r in body["results"]} == {SIMILAR}


def test_missing_key_is_401(setup) -> None:
    client, _ = setup
    assert client.get(URL).status_code == 401


def test_filters_by_action_and_resource_type(setup) -> None:
    client, keys = setup
    by_action = client.get(URL, params={"action": "credential_set"}, headers=auth(keys["tenant"]))
    assert [r["resource_id"] for r in by_action.json()["results"]] == [
        "acme-5",
        "acme-3",
        "acme-1",
    ]
    by_type = client.get(URL, params={"resource_type": "tenant"}, headers=auth(keys["tenant"]))
    results = by_type.json()["results"]
    assert len(results) == 4 and {r["resource_type"] for r in results} == {"tenant"}
    both = client.get(
        URL,
        params={"action": "credential_set", "resource_type": "tenant"},
        headers=auth(keys["tenant"]),
    )
    assert both.json() == {"results": [], "next_cursor": None}


def test_paging_with_limit_2_returns_every_row_once_newest_first(setup, database: Database) -> None:
    client, keys = setup
    seen: list[int] = []
    pages = 0
    params: dict[str, str] = {"limit": "2"}
    while True:
        body = client.get(URL, params=params, headers=auth(keys["tenant"])).json()
        assert len(body["results"]) <= 2
        seen += [r["id"] for r in body["results"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        params = {"limit": "2", "cursor": body["next_cursor"]}
    assert seen == expected(database, TENANT)
    assert len(seen) == len(set(seen)) == 7
    assert pages == 4


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not base64!"},
        {"cursor": "e30"},  # {} : no position
        {"cursor": encode_cursor({"created_at": "yesterday", "id": 1})},
        {"cursor": encode_cursor({"created_at": "2026-04-01T12:00:00", "id": 1})},
        {"cursor": encode_cursor({"created_at": "2026-04-01T12:00:00+00:00", "id": "1"})},
        {"cursor": encode_cursor({"created_at": "2026-04-01T12:00:00+00:00", "id": 2**70})},
        {"cursor": "WzEsMl0"},  # [1,2]: not an object
        {"cursor": "_w"},  # not UTF-8
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"limit": "5_0"},
        {"action": "x" * 101},
        {"resource_type": "y" * 101},
        {"tenant_id": "Not A Tenant!"},
    ],
)
def test_bad_parameters_are_400_problems(setup, params) -> None:
    client, keys = setup
    response = client.get(URL, params=params, headers=auth(keys["tenant"]))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]
