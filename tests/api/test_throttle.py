"""Throttles: 429 + Retry-After per key and per address, burst vs sustained, public budget.

Time is frozen and moved with time-machine (the ``limits`` in-memory storage reads
``time.time()``), so windows pass without sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from limits import parse
from starlette.testclient import TestClient

from adinsights_pipelines.settings import load_settings
from adinsights_pipelines.warehouse.database import Database
from api.app import create_app
from api.throttle import Budget, Budgets, Throttle, retry_after_header
from tests.api.conftest import NO_THROTTLES, ApiWorld

URL = "/api/meta/accounts/"
T0 = datetime(2031, 1, 6, 12, 0, 0, tzinfo=UTC)  # on a minute (and second) boundary


def statuses(client: TestClient, n: int, **kwargs) -> list[int]:
    return [client.get(URL, **kwargs).status_code for _ in range(n)]


def test_key_burst_then_sustained_budget_with_retry_after(api_world: ApiWorld) -> None:
    app = api_world.app(throttle_auth_burst="3/second", throttle_auth_sustained="5/minute")
    acme = api_world.auth("acme")
    with time_machine.travel(T0, tick=False) as clock, TestClient(app) as client:
        assert statuses(client, 3, headers=acme) == [200, 200, 200]
        refused = client.get(URL, headers=acme)
        assert refused.status_code == 429
        # the burst window ends in a second, when its 3 hits still weigh fully: 2 s is safe
        assert refused.headers["retry-after"] == "2"
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/too-many-requests")

        clock.shift(2)  # the burst is back; the sustained budget has 2 of 5 left
        assert statuses(client, 2, headers=acme) == [200, 200]
        refused = client.get(URL, headers=acme)
        assert refused.status_code == 429
        # the minute's window ends in 58 s; its weight must then fall below 5 hits
        assert refused.headers["retry-after"] == "59"

        clock.shift(30)
        assert client.get(URL, headers=acme).status_code == 429  # still spent
        clock.shift(29)
        assert client.get(URL, headers=acme).status_code == 200  # Retry-After was right


def test_keys_have_separate_budgets(api_world: ApiWorld) -> None:
    app = api_world.app(throttle_auth_burst="2/minute")
    with time_machine.travel(T0, tick=False), TestClient(app) as client:
        assert statuses(client, 3, headers=api_world.auth("acme")) == [200, 200, 429]
        assert statuses(client, 2, headers=api_world.auth("acme-2")) == [200, 200]
        # a made-up key spends a budget of its own, not acme's
        fake = {"Authorization": "Bearer adi_00000000_not-a-real-key-at-all"}
        assert statuses(client, 1, headers=fake) == [401]


def test_an_address_budget_covers_every_key_from_that_address(api_world: ApiWorld) -> None:
    app = api_world.app(throttle_address_burst="3/minute")
    with time_machine.travel(T0, tick=False):
        with TestClient(app, client=("198.51.100.7", 40000)) as client:
            got = [
                client.get(URL, headers=api_world.auth(who)).status_code
                for who in ("acme", "acme-2", "beta", "empty-co")
            ]
            assert got == [200, 200, 200, 429]
            # a request without a key spends the address budget too
            assert client.get(URL).status_code == 429
        with TestClient(app, client=("198.51.100.8", 40000)) as other:
            assert statuses(other, 1, headers=api_world.auth("acme")) == [200]


def test_made_up_keys_from_one_address_are_stopped_before_the_database(
    api_world: ApiWorld,
) -> None:
    app = api_world.app(throttle_address_burst="3/minute")
    with (
        time_machine.travel(T0, tick=False),
        TestClient(app, client=("198.51.100.9", 40000)) as client,
    ):
        got = [
            client.get(URL, headers={"Authorization": f"Bearer adi_{i:08x}_guess"}).status_code
            for i in range(5)
        ]
        assert got == [401, 401, 401, 429, 429]
        # a good key that has not authenticated yet counts against the address too
        assert client.get(URL, headers=api_world.auth("acme")).status_code == 429


def test_a_proven_key_spends_only_its_own_budgets(api_world: ApiWorld) -> None:
    app = api_world.app(throttle_address_burst="2/minute", throttle_auth_burst="10/minute")
    acme = api_world.auth("acme")
    with time_machine.travel(T0, tick=False), TestClient(app) as client:
        # the first request proves the key (and spends 1 of the address's 2)
        assert statuses(client, 10, headers=acme) == [200] * 10
        assert client.get(URL, headers=acme).status_code == 429  # its own burst is spent
        assert client.get(URL).status_code == 401  # the address still has 1 left
        assert client.get(URL).status_code == 429


def test_x_forwarded_for_is_ignored_without_trusted_proxies(api_world: ApiWorld) -> None:
    app = api_world.app(throttle_address_burst="2/minute")
    with time_machine.travel(T0, tick=False), TestClient(app) as client:
        got = [
            client.get(URL, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(3)
        ]
    assert got == [401, 401, 429]


def test_trusted_proxy_forwards_the_client_address(api_world: ApiWorld) -> None:
    app = api_world.app(throttle_address_burst="2/minute", trusted_proxies="10.0.0.0/8")
    with (
        time_machine.travel(T0, tick=False),
        TestClient(app, client=("10.1.2.3", 5000)) as client,
    ):
        first = [
            client.get(URL, headers={"X-Forwarded-For": "203.0.113.1"}).status_code
            for _ in range(3)
        ]
        second = client.get(URL, headers={"X-Forwarded-For": "203.0.113.2"})
    assert first == [401, 401, 429]
    assert second.status_code == 401  # another client behind the same proxy: its own budget


def test_public_endpoints_spend_the_public_budget(api_world: ApiWorld) -> None:
    app = api_world.app(throttle_public="2/minute", throttle_address_burst="100/minute")
    with time_machine.travel(T0, tick=False) as clock, TestClient(app) as client:
        assert statuses_of(client, "/api/health/", 2) == [200, 200]
        refused = client.get("/api/health/", headers=api_world.auth("acme"))
        assert refused.status_code == 429  # a key does not lift the public budget
        assert refused.headers["retry-after"] == "61"
        assert client.get("/metrics/app/").status_code == 429  # same budget, same address
        assert client.get(URL, headers=api_world.auth("acme")).status_code == 200
        clock.shift(61)
        assert client.get("/api/health/").status_code == 200


def statuses_of(client: TestClient, path: str, n: int) -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def test_a_throttled_request_never_reaches_the_database(api_world: ApiWorld) -> None:
    # Nothing listens on port 1: any database work fails (503), so a 429 proves none happened.
    unreachable = Database.from_url("postgresql://postgres@127.0.0.1:1/nowhere")
    budgets = {**NO_THROTTLES, "throttle_auth_burst": "1/minute"}
    app = create_app(unreachable, api_world.settings.model_copy(update=budgets))
    with time_machine.travel(T0, tick=False), TestClient(app) as client:
        first = client.get(URL, headers=api_world.auth("acme"))
        second = client.get(URL, headers=api_world.auth("acme"))
    assert first.status_code == 503
    assert first.json()["type"].endswith("/unavailable")
    assert "127.0.0.1" not in first.text and "nowhere" not in first.text
    assert second.status_code == 429


def test_budgets_come_from_the_runbook_variables(monkeypatch) -> None:
    monkeypatch.setenv("THROTTLE_AUTH_BURST", "7/second")
    monkeypatch.setenv("DRF_THROTTLE_AUTH_SUSTAINED", "70/hour")
    monkeypatch.setenv("ADINSIGHTS_THROTTLE_PUBLIC", "9/minute")
    monkeypatch.setenv("THROTTLE_PUBLIC", "1/minute")  # the prefixed name wins
    budgets = Budgets.from_settings(load_settings())
    assert [(b.name, str(b.item)) for b in budgets.auth + budgets.public] == [
        ("auth_burst", "7 per 1 second"),
        ("auth_sustained", "70 per 1 hour"),
        ("public", "9 per 1 minute"),
    ]


def test_an_empty_budget_turns_that_throttle_off(monkeypatch) -> None:
    monkeypatch.setenv("ADINSIGHTS_THROTTLE_AUTH_SUSTAINED", "")
    budgets = Budgets.from_settings(load_settings())
    assert [b.name for b in budgets.auth] == ["auth_burst"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    limit=st.integers(1, 6),
    window=st.sampled_from(["second", "minute", "hour"]),
    steps=st.lists(st.floats(0, 2.5), min_size=1, max_size=25),
)
def test_retry_after_is_when_the_sliding_window_admits_again(limit, window, steps) -> None:
    """Against the library itself: refused until the computed wait, admitted right after it."""
    budget = Budget("auth_burst", parse(f"{limit}/{window}"))
    expiry = budget.item.get_expiry()
    throttle = Throttle("memory://", Budgets(auth=(budget,), address=(), public=()))
    checks = [(budget, "key", "k")]
    with time_machine.travel(T0, tick=False) as clock:
        for step in steps:
            clock.shift(step * expiry / 2)
            wait = throttle._spend(checks)
            if wait is None:
                continue
            assert wait > 0
            clock.shift(wait * 0.98)
            assert not throttle.limiter.test(budget.item, budget.name, "key", "k")
            clock.shift(wait * 0.02 + expiry * 1e-4)
            assert throttle.limiter.test(budget.item, budget.name, "key", "k")


@pytest.mark.parametrize(("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "2"), (58.4, "59")])
def test_retry_after_header_rounds_up_to_whole_seconds(seconds, header) -> None:
    assert retry_after_header(seconds) == header
