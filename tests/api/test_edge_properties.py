"""Property-based edge tests (Hypothesis): generated times, strings and cursors for every GET
endpoint and for the Airbyte webhook. Never a 5xx; and nothing the webhook accepts is stored in
a form a later read cannot handle (every view still reads the tenant's rows as usual).

The generators cover the classes the edge must refuse or hold, not a list of examples: times
at the ends of what ISO-8601, Python and PostgreSQL allow (any offset, years 1 to 9999, epoch
numbers of any size), text with lone surrogates, NULs and controls, and cursors that decode to
anything JSON can express.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from dagster import DagsterInstance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import OPENAPI_PATH, create_app, routes
from tests.api.conftest import NO_THROTTLES, ApiWorld
from tests.sql import scalar
from tests.tenants import add_google_ads_tenant

GET_PATHS = sorted(
    r.path
    for r in routes
    if isinstance(r, Route) and r.methods and "GET" in r.methods and r.path != OPENAPI_PATH
)
#: Every query parameter any endpoint reads (api/routes/*, api/auth.py).
PARAMETERS = (
    "tenant_id", "cursor", "limit", "since", "until", "start_date", "end_date", "account_id",
    "campaign_id", "adset_id", "level", "action", "resource_type", "source", "cache", "parish",
    "property_id", "site_url", "data_state",
)  # fmt: skip

# --- generators ---------------------------------------------------------------------------

offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
any_moment = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
recent = st.datetimes(min_value=datetime(1999, 12, 1), max_value=datetime(2035, 1, 1))
iso_times = st.builds(
    lambda moment, tz: moment.replace(tzinfo=tz).isoformat(), st.one_of(any_moment, recent), offsets
)
edge_times = st.sampled_from(
    [
        "9999-12-31T23:59:59-05:00",  # year 10000 once in UTC
        "0001-01-01T00:00:00+05:00",  # year 0 once in UTC
        "9999-12-31T23:59:59Z",
        "infinity",
        "-infinity",
        "2026-02-30T00:00:00Z",
        "2026-01-01",
        "2026-01-01T00:00:00",
        "",
        "yesterday",
    ]
)
times = st.one_of(
    iso_times,
    edge_times,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
)
# text: every code point class, lone surrogates and NUL included
texts = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
surrogates = st.sampled_from(["\ud800", "a\udfffb", "\x00", "x\x00y", "\u2028", "\ufeff"])
strings = st.one_of(texts, surrogates, st.sampled_from(["act_1001", "2001", "acme", "ad"]))
dates = st.one_of(
    st.dates().map(str),
    st.sampled_from(["0000-01-01", "10000-01-01", "2026-02-30", "2026-1-1", "20260101"]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), strings, times),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["after", "created_at", "id", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)


def _cursor(value: Any) -> str:
    raw = json.dumps(value, ensure_ascii=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


cursors = st.one_of(
    json_values.map(_cursor),
    st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    strings,
)
values = st.one_of(strings, dates, iso_times, edge_times, cursors, st.integers().map(str))


def _query(params: dict[str, str]) -> str:
    # Raw UTF-8 with surrogates passed through: the bytes a client could really send.
    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in params.items()
    )


# --- every GET endpoint -------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_client(api_world: ApiWorld) -> Iterator[TestClient]:
    with TestClient(api_world.app(), raise_server_exceptions=False) as client:
        yield client


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(GET_PATHS),
    who=st.sampled_from(["operator", "acme", None]),
    params=st.dictionaries(
        st.sampled_from(PARAMETERS),
        values,
        max_size=4,
    ),
)
def test_no_get_endpoint_answers_5xx_to_generated_parameters(
    api_client: TestClient, api_world: ApiWorld, path: str, who: str | None, params: dict
) -> None:
    headers = api_world.auth(who) if who else {}
    response = api_client.get(f"{path}?{_query(params)}", headers=headers)
    if upstream_verdict(path, response):
        return
    assert response.status_code < 500, (path, params, response.text[:300])


def upstream_verdict(path: str, response: Any) -> bool:
    """A documented answer about another system, not a fault of ours: the Airbyte health's
    verdicts (502 failing / 503 stale, plain JSON), and the Meta connector's 502 when Meta cannot
    be reached (this world has no Graph API to list a token's accounts): a bad-gateway problem
    from its API, a page saying so from its onboarding pages."""
    status, kind = response.status_code, response.headers["content-type"]
    if path == "/api/health/airbyte/" and status in (502, 503):
        assert kind == "application/json"
        return True
    if path.startswith(("/api/integrations/meta/", "/onboarding/meta/")) and status == 502:
        if kind.startswith("application/problem+json"):
            assert response.json()["type"].endswith("/bad-gateway")
            assert "Meta API" in response.json()["detail"]
        else:
            assert kind.startswith("text/html")
            assert "Meta API" in response.text
        return True
    return False


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(GET_PATHS), cursor=cursors)
def test_no_paged_listing_answers_5xx_to_a_generated_cursor(
    api_client: TestClient, api_world: ApiWorld, path: str, cursor: str
) -> None:
    extra = {"account_id": "act_1001", "tenant_id": "acme"}
    response = api_client.get(
        f"{path}?{_query({'cursor': cursor, **extra})}", headers=api_world.auth("operator")
    )
    if response.status_code == 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    elif not upstream_verdict(path, response):
        assert response.status_code < 500, (path, cursor, response.text[:300])


# --- the webhook --------------------------------------------------------------------------

FUZZ_TENANT = "fuzz-co"
CONNECTION = str(uuid.UUID(int=0xF0F0))
READ_BACK = (
    "/api/ops/sync-health/",
    "/api/ops/health-overview/",
    "/api/health/airbyte/",
    "/api/airbyte/telemetry/",
    f"/api/integrations/social/status/?tenant_id={FUZZ_TENANT}",
)

statuses = st.one_of(
    st.sampled_from(["succeeded", "failed", "running", "cancelled", "RUNNING", "exploded"]), texts
)
notices = st.fixed_dictionaries(
    {"connectionId": st.just(CONNECTION), "jobId": st.integers(0, 50)},
    optional={
        "status": statuses,
        "success": st.one_of(st.booleans(), strings),
        "startedAt": times,
        "finishedAt": times,
        "recordsCommitted": st.one_of(st.integers(-5, 2**64), st.floats()),
        "bytesCommitted": st.integers(-5, 2**64),
        "durationInSeconds": st.one_of(st.floats(), st.integers(-5, 2**64)),
        "errorMessage": st.one_of(strings, st.integers()),
        "jobStatus": strings,
    },
)
bodies = st.one_of(notices, notices.map(lambda data: {"data": data, "text": "job ended"}))


@pytest.fixture
def webhook_world(
    instance: DagsterInstance, product_env: Database, monkeypatch: pytest.MonkeyPatch
) -> tuple[TestClient, dict[str, str], Database]:
    monkeypatch.setenv("ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET", "fuzz-secret-0123456789abcdef")
    with engine(product_env).begin() as conn:
        add_google_ads_tenant(
            conn, FUZZ_TENANT, "Fuzz", connection_id=CONNECTION, customer_id="1234567890"
        )
        key = create_api_key(conn, tenant_id=None, operator=True)
    app = create_app(product_env, Settings().model_copy(update=NO_THROTTLES))
    client = TestClient(app, raise_server_exceptions=False)
    return client, {"Authorization": f"Bearer {key}"}, product_env


def _unreadable_rows(db: Database) -> int:
    # Whatever was stored must be a time Python can hold, inside the sane window.
    return int(
        scalar(
            db,
            "select count(*) from app.airbyte_jobs where "
            "coalesce(started_at, finished_at, now()) not between "
            "timestamptz '2000-01-01 00:00Z' and now() + interval '1 day' or "
            "coalesce(finished_at, now()) not between "
            "timestamptz '2000-01-01 00:00Z' and now() + interval '1 day'",
        )
    )


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies)
def test_the_webhook_never_answers_5xx_nor_stores_what_a_read_cannot_handle(
    webhook_world: tuple[TestClient, dict[str, str], Database], body: dict
) -> None:
    client, auth, db = webhook_world  # shared by the examples on purpose: rows accumulate
    raw = json.dumps(body, ensure_ascii=True, default=str)  # surrogates travel as \ud800 escapes
    response = client.post(
        "/api/airbyte/webhook/",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "X-Airbyte-Webhook-Secret": "fuzz-secret-0123456789abcdef",
        },
    )
    assert response.status_code in (200, 400), (body, response.text[:300])
    if response.status_code == 400:
        assert response.json()["detail"]  # names what is wrong
    assert _unreadable_rows(db) == 0
    for path in READ_BACK:
        answer = client.get(path, headers=auth)
        if path == "/api/health/airbyte/":
            assert answer.status_code in (200, 502, 503)
            assert all(c["status"] != "error" for c in answer.json()["connections"])
        else:
            assert answer.status_code == 200, (path, answer.text[:300])
    tenants = client.get("/api/ops/sync-health/", headers=auth).json()["tenants"]
    assert all(t["state"] != "error" for t in tenants)
    assert client.get("/metrics/app/").status_code == 200
