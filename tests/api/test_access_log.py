"""JSON access logs: one line per request, with route, status, duration, tenant, request id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adinsights_pipelines.logs import json_handler, line_handler, log_context
from tests.api.conftest import ApiWorld


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The project's JSON log handler on ``api.access``, into a buffer."""
    stream = io.StringIO()
    handler = json_handler(stream)
    logger = logging.getLogger("api.access")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture(scope="module")
def client(api_world: ApiWorld):
    with TestClient(api_world.app(), client=("192.0.2.10", 51000)) as test_client:
        yield test_client


def test_one_line_per_request_with_its_fields(
    client: TestClient, api_world: ApiWorld, access_lines
) -> None:
    response = client.get(
        "/api/meta/campaigns/", params={"account_id": "act_1001"}, headers=api_world.auth("acme-2")
    )
    client.get("/api/health/")
    first, second = parsed(access_lines)
    prefix = api_world.keys["acme-2"].split("_")[1]
    assert first["logger"] == "api.access" and first["level"] == "INFO"
    assert first["method"] == "GET"
    assert first["route"] == "/api/meta/campaigns/"
    assert first["status"] == 200
    assert first["tenant_id"] == "acme-2"
    assert first["api_key_prefix"] == prefix
    assert first["client"] == "192.0.2.10"
    assert 0 < first["duration_ms"] < 10_000
    assert first["request_id"] == response.headers["x-request-id"]
    assert second["route"] == "/api/health/" and second["tenant_id"] is None


def test_the_callers_request_id_is_kept_and_returned(
    client: TestClient, api_world: ApiWorld, access_lines
) -> None:
    response = client.get(
        "/api/meta/accounts/", headers={"X-Request-ID": "dash-7f3a.42", **api_world.auth("acme")}
    )
    assert response.headers["x-request-id"] == "dash-7f3a.42"
    assert parsed(access_lines)[0]["request_id"] == "dash-7f3a.42"


def test_an_unusable_request_id_is_replaced(client: TestClient, access_lines) -> None:
    response = client.get("/api/health/", headers={"X-Request-ID": "bad id; drop table"})
    replaced = response.headers["x-request-id"]
    assert replaced != "bad id; drop table" and len(replaced) == 32
    assert parsed(access_lines)[0]["request_id"] == replaced


def test_operator_requests_log_the_tenant_they_read(
    client: TestClient, api_world: ApiWorld, access_lines
) -> None:
    client.get("/api/audit-logs/", params={"tenant_id": "beta"}, headers=api_world.auth("operator"))
    assert parsed(access_lines)[0]["tenant_id"] == "beta"


def test_refused_requests_are_logged_too(api_world: ApiWorld, access_lines) -> None:
    app = api_world.app(throttle_public="1/minute")
    with TestClient(app) as client:
        client.get("/api/health/")
        client.get("/api/health/")
        client.get("/api/meta/accounts/")  # no key
    lines = parsed(access_lines)
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/api/health/", 200),
        ("/api/health/", 429),
        ("/api/meta/accounts/", 401),
    ]


def test_keys_and_query_strings_never_reach_the_log(
    client: TestClient, api_world: ApiWorld, access_lines
) -> None:
    key = api_world.keys["acme"]
    client.get(
        "/api/meta/accounts/",
        params={"access_token": "EAAsecretsecretsecretsecret", "tenant_id": "acme"},
        headers=api_world.auth("acme"),
    )
    client.get("/api/meta/accounts/", headers={"Authorization": f"Bearer {key}x"})  # 401
    text = access_lines.getvalue()
    assert len(parsed(access_lines)) == 2
    assert key not in text and key.split("_", 2)[2] not in text
    assert "EAAsecret" not in text and "access_token" not in text
    assert "Bearer" not in text and "authorization" not in text.lower()


def test_the_fast_access_handler_writes_the_same_json_shape() -> None:
    """configure_logging gives api.access the orjson formatter; the line must match the
    project's JSON handler field for field, and be masked the same way."""
    lines = {}
    for name, make in (("json", json_handler), ("line", line_handler)):
        stream = io.StringIO()
        logger = logging.getLogger(f"test.access.{name}")
        logger.addHandler(make(stream))
        logger.setLevel(logging.INFO)
        logger.propagate = False
        with log_context(request_id="r-1"):
            logger.info("GET %s %s", "/x/", 200, extra={"route": "/x/", "status": 200})
            logger.info("token access_token=EAAverysecretvalue123456789 Bearer abcdefghijk")
        lines[name] = [json.loads(line) for line in stream.getvalue().splitlines()]
    for fast, reference in zip(lines["line"], lines["json"], strict=True):
        assert fast.keys() == reference.keys()
        assert {k: v for k, v in fast.items() if k not in ("time", "logger")} == {
            k: v for k, v in reference.items() if k not in ("time", "logger")
        }
    assert lines["line"][0]["request_id"] == "r-1"
    assert "EAAvery" not in lines["line"][1]["message"]
    assert "abcdefghijk" not in lines["line"][1]["message"]
