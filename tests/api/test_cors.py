"""CORS as the runbook's smoke checks describe: approved origins only, preflights included."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from adinsights_pipelines.errors import ConfigError
from adinsights_pipelines.settings import load_settings
from tests.api.conftest import ApiWorld

APPROVED = "https://dashboard.adinsights.example"
OTHER = "https://evil.example"
URL = "/api/meta/accounts/"


def preflight(client: TestClient, origin: str, method: str = "GET", headers: str = "authorization"):
    return client.options(
        URL,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture(scope="module")
def client(api_world: ApiWorld):
    app = api_world.app(cors_allowed_origins=[APPROVED, "http://localhost:5173"])
    with TestClient(app) as test_client:
        yield test_client


def test_approved_preflight_gets_allow_origin(client: TestClient) -> None:
    response = preflight(client, APPROVED)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APPROVED
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_unapproved_preflight_is_rejected_without_cors_headers(client: TestClient) -> None:
    response = preflight(client, OTHER)
    assert response.status_code == 403
    assert cors_headers(response) == {}
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/cors-origin-not-allowed")


def test_approved_origin_asking_for_an_unlisted_method_is_a_400_problem(
    client: TestClient,
) -> None:
    response = preflight(client, APPROVED, method="DELETE")
    assert response.status_code == 400
    assert response.json()["type"].endswith("/cors-rejected")
    assert "method" in response.json()["detail"]


def test_simple_request_from_approved_origin_carries_allow_origin(
    client: TestClient, api_world: ApiWorld
) -> None:
    response = client.get(URL, headers={"Origin": APPROVED, **api_world.auth("acme")})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APPROVED
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert "Origin" in response.headers["vary"]


def test_simple_request_from_unapproved_origin_has_no_cors_headers(
    client: TestClient, api_world: ApiWorld
) -> None:
    response = client.get(URL, headers={"Origin": OTHER, **api_world.auth("acme")})
    assert response.status_code == 200  # served; the browser withholds it from the page
    assert cors_headers(response) == {}
    assert "Origin" in response.headers["vary"]


def test_request_without_origin_has_no_cors_headers(
    client: TestClient, api_world: ApiWorld
) -> None:
    response = client.get(URL, headers=api_world.auth("acme"))
    assert response.status_code == 200
    assert cors_headers(response) == {}


def test_no_approved_origins_rejects_every_preflight(api_world: ApiWorld) -> None:
    with TestClient(api_world.app(cors_allowed_origins=[])) as client:
        response = preflight(client, APPROVED)
    assert response.status_code == 403 and cors_headers(response) == {}


def test_allow_all_origins_is_an_explicit_switch(api_world: ApiWorld) -> None:
    with TestClient(api_world.app(cors_allow_all_origins=True)) as client:
        response = preflight(client, OTHER)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_origins_come_from_the_runbook_variable_or_the_prefixed_one(monkeypatch) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", f"{APPROVED}, http://localhost:5173")
    assert load_settings().cors_allowed_origins == [APPROVED, "http://localhost:5173"]
    monkeypatch.setenv("ADINSIGHTS_CORS_ALLOWED_ORIGINS", OTHER)
    assert load_settings().cors_allowed_origins == [OTHER]  # the prefixed name wins
    assert load_settings().cors_allow_all_origins is False


@pytest.mark.parametrize("value", ["dashboard.example", "https://a.example/path", "*"])
def test_an_origin_that_is_not_a_full_origin_is_a_config_error(monkeypatch, value) -> None:
    monkeypatch.setenv("ADINSIGHTS_CORS_ALLOWED_ORIGINS", value)
    with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
        load_settings()
