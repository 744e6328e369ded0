"""Tenant isolation, property-based: no key ever reads another tenant's rows.

``api_world`` gives ``acme``, ``acme-2`` and ``beta`` the same Meta ids and (for the acmes)
near-identical names; each tenant's text carries its marker (``<<acme>>``). Hypothesis draws a
caller (a tenant key, or the operator key naming a tenant), an endpoint and a combination of
its parameters (ids that exist in several tenants, filters, dates, page sizes, ``tenant_id``),
then follows ``next_cursor`` through the pages. Every answer must carry only the scoped
tenant's markers and ``tenant_id`` values; refusals must carry none.

Every bearer-secured GET operation in the OpenAPI document is covered: the endpoints below get
parameters drawn from the world's data, any other one (added later) gets parameters generated
from its documented schema.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from api.app import PUBLIC_PATHS
from tests.api.conftest import (
    ADSETS,
    CAMPAIGNS,
    EMPTY_TENANT,
    GA4_PROPERTY,
    SITE,
    TENANTS,
    ApiWorld,
    marker,
)

ALL_TENANTS = (*TENANTS, EMPTY_TENANT)
AIRBYTE_HEALTH = "/api/health/airbyte/"
WEB_ANALYTICS = ("/api/analytics/web/ga4/", "/api/analytics/web/search-console/")
MAX_PAGES = 4
#: Cross-tenant views (``api.auth.tenant_scope``): an operator key naming no tenant sees all.
CROSS_TENANT = frozenset(
    {
        "/api/health/airbyte/",
        "/api/airbyte/telemetry/",
        "/api/ops/sync-health/",
        "/api/ops/health-overview/",
        "/api/health/dbt/",  # no tenant rows at all; a tenant key still may not name another
    }
)


def _maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.sampled_from(values))


def known_parameters(world: ApiWorld) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """Parameter strategies per endpoint, from the ids and values the tenants share."""
    days = [(world.first_day + timedelta(days=d)).isoformat() for d in range(-2, 9)]
    page = {"limit": _maybe([1, 2, 3, 50])}
    accounts = st.sampled_from(["act_1001", "act_1002", "act_4242"])
    return {
        "/api/meta/accounts/": page,
        "/api/meta/campaigns/": {"account_id": accounts, **page},
        "/api/meta/adsets/": {"campaign_id": st.sampled_from([*CAMPAIGNS, "2999"]), **page},
        "/api/meta/ads/": {"adset_id": st.sampled_from([*ADSETS, "3999"]), **page},
        "/api/meta/insights/": {
            "account_id": accounts,
            "since": _maybe(days),
            "until": _maybe(days),
            **page,
        },
        "/api/audit-logs/": {
            "action": _maybe(["credential_updated", "tenant_created", "api_key_created"]),
            "resource_type": _maybe(["credential", "tenant", "api_key"]),
            **page,
        },
        "/api/metrics/combined/": {
            "parish": _maybe(["Kingston", "St. Andrew", "Unknown"]),
            "start_date": _maybe(days),
            "end_date": _maybe(days),
            "cache": _maybe(["true", "false"]),
        },
        "/api/integrations/social/status/": {},
        "/api/analytics/web/ga4/": {
            "property_id": _maybe([GA4_PROPERTY, f"properties/{GA4_PROPERTY}", "654321"]),
            "since": _maybe(days),
            "until": _maybe(days),
            **page,
        },
        "/api/analytics/web/search-console/": {
            "site_url": _maybe([SITE, "sc-domain:example.com"]),
            "data_state": _maybe(["final", "all"]),
            "since": _maybe(days),
            "until": _maybe(days),
            **page,
        },
        "/api/health/airbyte/": {},
        "/api/airbyte/telemetry/": page,
        "/api/ops/sync-health/": page,
        "/api/ops/health-overview/": {},
    }


def tenant_fields(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [node["tenant_id"]] if "tenant_id" in node else []
        return found + [v for value in node.values() for v in tenant_fields(value)]
    if isinstance(node, list):
        return [v for value in node for v in tenant_fields(value)]
    return []


def markers(world: ApiWorld, tenant: str) -> list[str]:
    """What only this tenant's rows contain: its marker, and its own Meta sync time."""
    synced = world.meta_last_success.get(tenant)
    return [marker(tenant), *([synced.isoformat()] if synced else [])]


def assert_only(world: ApiWorld, tenant: str | None, response) -> None:
    text = response.text
    foreign = [t for t in ALL_TENANTS if t != tenant and any(m in text for m in markers(world, t))]
    assert not foreign, f"{response.request.url} leaked rows of {foreign}"
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("application/json")
    if response.headers.get("content-type", "").startswith("application/json"):
        assert set(tenant_fields(response.json())) <= {tenant}, response.request.url


@pytest.fixture(scope="module")
def client(api_world: ApiWorld):
    with TestClient(api_world.app()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def operations(api_world: ApiWorld, client: TestClient) -> dict[str, Any]:
    """Every bearer-secured GET operation of the document: path -> parameter strategy."""
    document = client.get("/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    known = known_parameters(api_world)
    strategies: dict[str, Any] = {}
    for path, methods in document["paths"].items():
        if path in PUBLIC_PATHS or "get" not in methods:
            continue
        if path in known:
            strategies[path] = st.fixed_dictionaries(known[path])
        else:  # an endpoint this table does not know yet: parameters from its schema
            strategies[path] = schema[path]["GET"].as_strategy().map(lambda case: case.query)
    return strategies


def test_every_data_endpoint_is_covered(operations, api_world: ApiWorld) -> None:
    assert set(known_parameters(api_world)) <= set(operations)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_no_key_reads_another_tenants_rows(
    client: TestClient, api_world: ApiWorld, operations, data
) -> None:
    path = data.draw(st.sampled_from(sorted(operations)), label="path")
    params = {
        k: v
        for k, v in data.draw(operations[path], label="params").items()
        if v is not None and k not in ("tenant_id", "cursor")
    }
    who = data.draw(st.sampled_from([*ALL_TENANTS, "operator"]), label="who")
    named = data.draw(_maybe(list(ALL_TENANTS)), label="tenant_id")
    # an operator reads the tenant it names (or, in a cross-tenant view, every tenant when it
    # names none); a tenant key naming another tenant is refused
    everyone = who == "operator" and named is None and path in CROSS_TENANT
    scoped = named if who == "operator" else (who if named in (None, who) else None)
    if named is not None:
        params["tenant_id"] = named

    for _ in range(MAX_PAGES):
        response = client.get(path, params=params, headers=api_world.auth(who))
        # /api/health/airbyte/ answers its body with 502 (failing) or 503 (stale): a probe
        health = path == AIRBYTE_HEALTH and response.status_code in (502, 503)
        assert response.status_code < 500 or health, response.text
        if everyone:
            assert response.status_code in (200, 502, 503), response.text
        else:
            if scoped is None:
                assert response.status_code in (400, 403), response.text
            assert_only(api_world, scoped, response)
        cursor = response.json().get("next_cursor") if response.status_code == 200 else None
        if not cursor:
            break
        params = {**params, "cursor": cursor}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/meta/accounts/", {}),
        ("/api/meta/campaigns/", {"account_id": "act_1001"}),
        ("/api/meta/adsets/", {"campaign_id": "2001"}),
        ("/api/meta/ads/", {"adset_id": "3001"}),
        ("/api/meta/insights/", {"account_id": "act_1001"}),
        ("/api/audit-logs/", {}),
        ("/api/metrics/combined/", {}),
        ("/api/metrics/combined/", {"parish": "Kingston"}),
        ("/api/integrations/social/status/", {}),
        ("/api/analytics/web/ga4/", {"property_id": GA4_PROPERTY}),
        ("/api/analytics/web/search-console/", {"site_url": SITE}),
    ],
)
@pytest.mark.parametrize("tenant", ["acme", "acme-2"])
def test_each_tenant_sees_its_own_rows_under_the_shared_ids(
    client: TestClient, api_world: ApiWorld, path, params, tenant
) -> None:
    """The control for the property above: the markers are there to be found."""
    if path in ("/api/meta/insights/", *WEB_ANALYTICS):
        params = {**params, "since": api_world.first_day.isoformat()}
    response = client.get(path, params=params, headers=api_world.auth(tenant))
    assert response.status_code == 200
    body = json.dumps(response.json())
    if path == "/api/integrations/social/status/":
        synced = api_world.meta_last_success[tenant].isoformat()
        assert synced in body  # its own last sync, not the other acme's
    else:
        assert marker(tenant) in body
    assert_only(api_world, tenant, response)
