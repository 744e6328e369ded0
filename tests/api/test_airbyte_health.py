"""``GET /api/health/airbyte/`` and ``GET /api/airbyte/telemetry/`` with controlled job times."""

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.defs.airbyte.jobs import JobOutcome
from adinsights_pipelines.defs.airbyte.store import record_attempt, record_job
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from api.pagination import encode_cursor
from tests.conftest import cloned_database
from tests.tenants import add_google_ads_tenant

NOW = datetime.now(UTC).replace(microsecond=0)
_customers = itertools.count(2_000_000_001)
MIN = timedelta(minutes=1)


def add(db: Database, tenant_id: str, *jobs: tuple[str, timedelta], attempt: str | None = None):
    """A tenant with one connection and jobs that ended ``age`` before NOW (oldest first)."""
    connection_id = str(uuid.uuid4())
    with engine(db).begin() as conn:
        customer_id = str(next(_customers))
        add_google_ads_tenant(
            conn, tenant_id, tenant_id, connection_id=connection_id, customer_id=customer_id
        )
        for number, (status, age) in enumerate(jobs, 1):
            started = NOW - age - 2 * MIN
            outcome = JobOutcome(
                connection_id,
                number,
                status,
                records_synced=100 * number,
                bytes_synced=4096 * number,
                duration_seconds=120,
                started_at=started,
                finished_at=None if status == "running" else NOW - age,
                error="Token revoked" if status == "failed" else None,
            )
            record_job(conn, tenant_id, outcome)
        if attempt:
            record_attempt(conn, connection_id, attempt, "Airbyte did not answer")
    return connection_id


@pytest.fixture(scope="module")
def db(pg_admin: Database, template_database: str) -> Iterator[Database]:
    with cloned_database(pg_admin, template_database) as database:
        add(database, "h-ok", ("succeeded", 10 * MIN))
        add(database, "h-stale", ("succeeded", 90 * MIN))
        add(database, "h-failing", ("succeeded", 50 * MIN), ("failed", 5 * MIN))
        add(database, "h-never")
        add(database, "h-running", ("succeeded", 20 * MIN), ("running", 0 * MIN))
        add(database, "h-down", ("succeeded", 30 * MIN), attempt="failed")
        yield database


@pytest.fixture(scope="module")
def keys(db: Database) -> dict[str, str]:
    with engine(db).begin() as conn:
        return {
            "operator": create_api_key(conn, tenant_id=None, operator=True),
            "h-ok": create_api_key(conn, tenant_id="h-ok"),
            "h-stale": create_api_key(conn, tenant_id="h-stale"),
        }


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    app = create_app(db)
    app.state.adinsights.clock = lambda: NOW
    with TestClient(app) as test_client:
        yield test_client


def get(client: TestClient, url: str, key: str, **params: str):
    return client.get(url, params=params, headers={"Authorization": f"Bearer {key}"})


def test_operator_sees_every_connection_and_the_worst_status(client: TestClient, keys) -> None:
    response = get(client, "/api/health/airbyte/", keys["operator"])
    assert response.status_code == 502  # failing
    body = response.json()
    assert body["status"] == "failing" and body["stale_after_minutes"] == 60
    statuses = {c["tenant_id"]: c["status"] for c in body["connections"]}
    expected = {
        "h-ok": "ok",
        "h-stale": "stale",
        "h-failing": "failing",
        "h-never": "no_recent_sync",
        "h-running": "ok",
        "h-down": "failing",
    }
    assert {t: statuses[t] for t in expected} == expected
    by_tenant = {c["tenant_id"]: c for c in body["connections"]}
    assert by_tenant["h-failing"]["last_job_status"] == "failed"
    assert by_tenant["h-failing"]["error"] == "Token revoked"
    assert by_tenant["h-down"]["error"] == "Airbyte did not answer"
    assert by_tenant["h-running"]["last_job_status"] == "running"


def test_tenant_key_sees_its_connection_with_sync_details(client: TestClient, keys) -> None:
    response = get(client, "/api/health/airbyte/", keys["h-ok"])
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["tenant_id"] == "h-ok"
    (connection,) = body["connections"]
    assert connection["last_synced_at"] == (NOW - 10 * MIN).isoformat()
    assert connection["age_minutes"] == 10.0
    assert connection["records"] == 100 and connection["last_job_status"] == "succeeded"


@pytest.mark.parametrize(
    ("tenant", "code", "status"),
    [("h-stale", 503, "stale"), ("h-never", 503, "no_recent_sync"), ("h-running", 200, "ok")],
)
def test_operator_may_name_a_tenant(
    client: TestClient, keys, tenant: str, code: int, status: str
) -> None:
    response = get(client, "/api/health/airbyte/", keys["operator"], tenant_id=tenant)
    assert (response.status_code, response.json()["status"]) == (code, status)
    assert {c["tenant_id"] for c in response.json()["connections"]} == {tenant}


def test_health_needs_a_key_and_stays_in_the_tenant(client: TestClient, keys) -> None:
    assert client.get("/api/health/airbyte/").status_code == 401
    other = get(client, "/api/health/airbyte/", keys["h-ok"], tenant_id="h-stale")
    assert other.status_code == 403
    assert get(client, "/api/airbyte/telemetry/", keys["h-ok"], tenant_id="h-x!").status_code == 400


def test_telemetry_missing_fresh_and_stale_across_the_clock(
    client: TestClient, keys, db: Database
) -> None:
    def states() -> dict[str, tuple[str, float | None]]:
        body = get(client, "/api/airbyte/telemetry/", keys["operator"]).json()
        return {
            r["tenant_id"]: (r["sync_status_state"], r["sync_status_age_minutes"])
            for r in body["results"]
        }

    now = states()
    assert now["h-ok"] == ("fresh", 10.0)
    assert now["h-stale"] == ("stale", 90.0)
    assert now["h-never"] == ("missing", None)
    assert now["h-running"] == ("fresh", 20.0)

    client.app.state.adinsights.clock = lambda: NOW + 51 * MIN
    later = states()
    assert later["h-ok"] == ("stale", 61.0)  # 61 minutes > 60
    assert later["h-running"] == ("stale", 71.0)
    assert later["h-never"] == ("missing", None)


def test_telemetry_carries_the_latest_job(client: TestClient, keys) -> None:
    body = get(client, "/api/airbyte/telemetry/", keys["h-stale"]).json()
    (only,) = body["results"]
    assert only["tenant_id"] == "h-stale" and only["connections"] == 1
    job = only["latest_job"]
    assert (job["job_id"], job["status"], job["records_synced"], job["bytes_synced"]) == (
        1,
        "succeeded",
        100,
        4096,
    )
    assert job["finished_at"] == (NOW - 90 * MIN).isoformat()
    assert job["duration_seconds"] == 120
    never = get(client, "/api/airbyte/telemetry/", keys["operator"], tenant_id="h-never").json()
    assert never["results"][0]["latest_job"] is None


def test_telemetry_pages_with_an_opaque_cursor(client: TestClient, keys) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        body = get(client, "/api/airbyte/telemetry/", keys["operator"], **params).json()
        seen += [r["tenant_id"] for r in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {"h-ok", "h-stale", "h-failing", "h-never", "h-running", "h-down"} <= set(seen)
    bad = get(client, "/api/airbyte/telemetry/", keys["operator"], cursor="nope")
    assert bad.status_code == 400
    # a well-formed cursor whose position PostgreSQL would refuse (a NUL byte): 400, not 500
    nul = get(
        client,
        "/api/airbyte/telemetry/",
        keys["operator"],
        cursor=encode_cursor({"after": "a\x00"}),
    )
    assert nul.status_code == 400
    assert nul.json()["detail"] == "cursor is not valid"


def test_statement_count_does_not_grow_with_tenants_or_jobs(
    client: TestClient, keys, db: Database
) -> None:
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    eng = engine(db)

    def measured(url: str) -> int:
        statements.clear()
        sa.event.listen(eng, "before_cursor_execute", count)
        try:
            get(client, url, keys["operator"])
        finally:
            sa.event.remove(eng, "before_cursor_execute", count)
        return len(statements)

    before = {url: measured(url) for url in ("/api/health/airbyte/", "/api/airbyte/telemetry/")}
    for n in range(12):
        add(db, f"h-more-{n:02d}", *[("succeeded", (30 - k) * MIN) for k in range(5)])
    after = {url: measured(url) for url in before}
    assert after == before
    assert before["/api/health/airbyte/"] <= 4  # key check (+ last use), one health statement


def test_a_sync_right_now_is_fresh(client: TestClient, keys, db: Database) -> None:
    connection_id = add(db, "h-just-now", ("succeeded", 0 * MIN))
    body = get(client, "/api/health/airbyte/", keys["operator"], tenant_id="h-just-now").json()
    assert body["connections"][0]["connection_id"] == connection_id
    assert body["connections"][0]["age_minutes"] == 0.0
    assert body["status"] == "ok"
