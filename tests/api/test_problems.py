"""Every error is application/problem+json with a stable type; never a traceback."""

from __future__ import annotations

import io
import json
import logging

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.logs import json_handler
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from api.problems import PROBLEM_BASE, PROBLEM_TYPES, Problem, problem_type
from tests.api.conftest import NO_THROTTLES, ApiWorld


@pytest.fixture(scope="module")
def client(api_world: ApiWorld):
    with TestClient(api_world.app()) as test_client:
        yield test_client


def assert_problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM_BASE + kind
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/api/meta/accounts/", {"limit": "0"}, "limit"),
        ("/api/meta/accounts/", {"limit": ""}, "limit"),
        ("/api/meta/accounts/", {"limit": "12x"}, "limit"),
        ("/api/meta/accounts/", {"cursor": "%%%"}, "cursor"),
        # a well-formed cursor with values SQL would choke on (a NUL byte)
        ("/api/meta/accounts/", {"cursor": "eyJhZnRlciI6WyJhXHUwMDAwYiJdfQ"}, "cursor"),
        ("/api/meta/campaigns/", {}, "account_id is required"),
        ("/api/meta/campaigns/", {"account_id": "act_1001\n"}, "account_id"),
        ("/api/meta/adsets/", {"campaign_id": "20x1"}, "campaign_id"),
        ("/api/meta/insights/", {"account_id": "act_1001", "since": "20260401"}, "since"),
        ("/api/meta/insights/", {"account_id": "act_1001", "until": "2026-W14"}, "until"),
        (
            "/api/meta/insights/",
            {"account_id": "act_1001", "since": "2026-04-02", "until": "2026-04-01"},
            "after",
        ),
        (
            "/api/meta/insights/",
            {"account_id": "act_1001", "since": "2020-01-01", "until": "2026-01-01"},
            "spans",
        ),
        ("/api/meta/insights/", {"account_id": "act_1001", "level": "campaign"}, "level"),
        ("/api/audit-logs/", {"action": "x" * 101}, "too long"),
        ("/api/audit-logs/", {"resource_type": "a\x00b"}, "control"),
        ("/api/metrics/combined/", {"parish": "King\x00ston"}, "control"),
        ("/api/metrics/combined/", {"start_date": "2026-13-01"}, "start_date"),
        ("/api/metrics/combined/", {"cache": "maybe"}, "cache"),
        ("/api/metrics/combined/", {"source": "sheets"}, "source"),
        ("/api/integrations/social/status/", {"tenant_id": "Acme!"}, "tenant_id"),
        ("/api/integrations/social/status/", {"tenant_id": ""}, "tenant_id"),
    ],
)
def test_bad_parameters_are_400_problems_with_a_reason(
    client: TestClient, api_world: ApiWorld, path, params, reason
) -> None:
    body = assert_problem(
        client.get(path, params=params, headers=api_world.auth("acme")), 400, "bad-request"
    )
    assert reason in body["detail"]


def test_operator_keys_name_an_existing_tenant(client: TestClient, api_world: ApiWorld) -> None:
    operator = api_world.auth("operator")
    url = "/api/meta/accounts/"
    assert_problem(client.get(url, headers=operator), 400, "bad-request")
    body = assert_problem(
        client.get(url, params={"tenant_id": "no-such-co"}, headers=operator),
        404,
        "tenant-not-found",
    )
    assert "no-such-co" in body["detail"]
    ok = client.get(url, params={"tenant_id": "acme-2"}, headers=operator)
    assert ok.status_code == 200 and ok.json()["results"]


def test_auth_problems(client: TestClient, api_world: ApiWorld) -> None:
    url = "/api/meta/accounts/"
    missing = client.get(url)
    assert_problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.get(url, headers={"Authorization": "Bearer adi_x_y"})
    assert_problem(wrong, 401, "unauthorized")
    other = client.get(url, params={"tenant_id": "acme-2"}, headers=api_world.auth("acme"))
    assert_problem(other, 403, "forbidden")


def test_unknown_path_and_wrong_method(client: TestClient) -> None:
    assert_problem(client.get("/api/nothing-here/"), 404, "not-found")
    wrong = client.post("/api/meta/accounts/")
    assert_problem(wrong, 405, "method-not-allowed")
    assert "GET" in wrong.headers["allow"]


def test_an_unexpected_error_is_a_500_problem_without_internals(database: Database) -> None:
    """A real failure (a table the endpoint reads is gone): logged in full, answered in brief."""
    with engine(database).begin() as conn:
        add_tenant(conn, "acme", "Acme")
        key = create_api_key(conn, tenant_id="acme")
        conn.execute(sa.text("alter table raw.meta_ad_accounts rename to meta_ad_accounts_gone"))
    stream = io.StringIO()
    handler = json_handler(stream)
    errors = logging.getLogger("api.errors")
    errors.addHandler(handler)
    try:
        app = create_app(database, Settings().model_copy(update=NO_THROTTLES))
        with TestClient(app) as client:
            response = client.get(
                "/api/meta/accounts/",
                headers={"Authorization": f"Bearer {key}", "X-Request-ID": "req-500-test"},
            )
    finally:
        errors.removeHandler(handler)
    body = assert_problem(response, 500, "internal-error")
    assert "req-500-test" in body["detail"]
    for leak in ("Traceback", "meta_ad_accounts", "psycopg", "select "):
        assert leak not in response.text
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert logged and logged[0]["request_id"] == "req-500-test"
    assert "meta_ad_accounts" in logged[0]["exc_info"]  # the operator gets the details
    assert key not in stream.getvalue()


def test_problem_kinds_are_one_stable_list() -> None:
    uris = [t.uri for t in PROBLEM_TYPES.values()]
    assert len(set(uris)) == len(uris)
    assert all(uri.startswith(PROBLEM_BASE) for uri in uris)
    assert problem_type(400).kind == "bad-request"
    assert problem_type(413).kind == "payload-too-large"
    assert problem_type(422).uri == PROBLEM_BASE + "http-422"  # statuses without a kind
    with pytest.raises(ValueError):
        Problem(400, "x", kind="no-such-kind")
    with pytest.raises(ValueError):
        Problem(400, "x", kind="not-found")  # a kind belongs to one status


def test_a_dropped_database_connection_answers_503_once_then_recovers(api_world: ApiWorld) -> None:
    """The API's pool has no pre-ping: a connection the server killed (a restart, a failover)
    fails one request with a 503 problem, and the pool is replaced for the next."""
    with TestClient(api_world.app()) as client:
        headers = api_world.auth("acme")
        assert client.get("/api/metrics/combined/", headers=headers).status_code == 200
        with engine(api_world.db).connect() as conn:
            killed = conn.execute(
                sa.text(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid() "
                    "and state = 'idle'"
                )
            ).scalar_one()
        assert killed >= 1
        failed = client.get("/api/metrics/combined/", headers=headers)
        body = assert_problem(failed, 503, "unavailable")
        assert "Traceback" not in failed.text and "pg_" not in failed.text
        assert body["detail"] == "the database is unavailable; retry shortly"
        again = client.get("/api/metrics/combined/", headers=headers)
        assert again.status_code == 200 and again.json()["tenant_id"] == "acme"
