"""MetaGraphClient against the loopback Graph simulator: paging, retries, errors, throttling."""

from __future__ import annotations

import json
import math
import traceback
from dataclasses import FrozenInstanceError, asdict
from datetime import UTC, date, timedelta
from typing import Any

import pytest

from adinsights_pipelines.defs.meta.client import (
    AD_STATUSES,
    ADSET_STATUSES,
    CAMPAIGN_STATUSES,
    ApiCallFailure,
    MetaApiError,
    MetaGraphClient,
    PermissionDeniedError,
    RateLimitedError,
    TokenInvalidError,
    is_retryable,
    throttle_delay,
)
from adinsights_pipelines.ports import free_port
from adinsights_pipelines.simulators.meta_graph import MetaSimulator

TOKEN = "sim_client_tests_SECRET"
SINCE, UNTIL = date(2025, 6, 1), date(2025, 6, 5)


class Recorder:
    """Collects the on_error failures and the pauses the client asked for."""

    def __init__(self) -> None:
        self.failures: list[ApiCallFailure] = []
        self.sleeps: list[float] = []

    def client(self, url: str, token: str = TOKEN, **kwargs: Any) -> MetaGraphClient:
        return MetaGraphClient(
            token, base_url=url, on_error=self.failures.append, sleep=self.sleeps.append, **kwargs
        )


@pytest.fixture(autouse=True)
def _reset(sim: MetaSimulator) -> None:
    sim.state.reset()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def account(sim: MetaSimulator) -> str:
    account_id: str = MetaGraphClient(TOKEN, base_url=sim.url).list_ad_accounts()[0]["id"]
    sim.state.reset()
    return account_id


def test_list_ad_accounts(sim: MetaSimulator, rec: Recorder) -> None:
    accounts = rec.client(sim.url).list_ad_accounts()
    assert len(accounts) == 2
    assert all(a["id"].startswith("act_") and a["currency"] in {"JMD", "USD"} for a in accounts)
    assert sim.state.request_count() == 1
    assert rec.failures == [] and rec.sleeps == []


def test_object_edges_page_to_the_end(sim: MetaSimulator, rec: Recorder, account: str) -> None:
    client = rec.client(sim.url)
    campaigns = list(client.iter_campaigns(account))
    adsets = list(client.iter_adsets(account.removeprefix("act_")))
    ads = list(client.iter_ads(account))
    assert {s["campaign_id"] for s in adsets} == {c["id"] for c in campaigns}
    assert {a["adset_id"] for a in ads} == {s["id"] for s in adsets}
    every = json.dumps(list(AD_STATUSES))
    small = list(
        client.iter_pages(
            f"{account}/ads", {"fields": ("id", "name"), "effective_status": every, "limit": 1}
        )
    )
    assert [a["id"] for a in small] == [a["id"] for a in ads]
    assert sum(r.path.endswith("/ads") for r in sim.state.requests) == 1 + len(ads)


def test_object_edges_list_archived_and_deleted_objects_too(
    sim: MetaSimulator, rec: Recorder, account: str
) -> None:
    client = rec.client(sim.url)
    for edge, listed, statuses in (
        ("campaigns", list(client.iter_campaigns(account)), CAMPAIGN_STATUSES),
        ("adsets", list(client.iter_adsets(account)), ADSET_STATUSES),
        ("ads", list(client.iter_ads(account)), AD_STATUSES),
    ):
        # what Graph answers a request that does not ask: the live objects only
        default = list(client.iter_pages(f"{account}/{edge}", {"fields": "id,effective_status"}))
        assert {o["effective_status"] for o in default}.isdisjoint({"ARCHIVED", "DELETED"})
        live = {o["id"] for o in default}
        hidden = sorted(o["effective_status"] for o in listed if o["id"] not in live)
        assert live <= {o["id"] for o in listed} and len(listed) == len(live) + 2
        assert hidden == ["ARCHIVED", "DELETED"], edge
        [asked] = [
            r.query
            for r in sim.state.requests
            if r.path.endswith(f"/{edge}") and "effective_status" in r.query
        ]
        assert json.loads(asked["effective_status"]) == list(statuses)


def test_status_lists_are_the_enums_metas_sdk_documents() -> None:
    """Graph refuses a value outside an edge's enum; the SDK is generated from Meta's spec."""
    from facebook_business.adobjects.ad import Ad
    from facebook_business.adobjects.adset import AdSet
    from facebook_business.adobjects.campaign import Campaign

    for node, ours in ((Campaign, CAMPAIGN_STATUSES), (AdSet, ADSET_STATUSES), (Ad, AD_STATUSES)):
        enum = {v for k, v in vars(node.EffectiveStatus).items() if not k.startswith("_")}
        assert sorted(ours) == sorted(enum), node.__name__
        assert {"ARCHIVED", "DELETED"} <= set(ours)


def test_an_edge_refuses_a_status_outside_its_enum(
    sim: MetaSimulator, rec: Recorder, account: str
) -> None:
    client = rec.client(sim.url, max_attempts=1)
    with pytest.raises(MetaApiError) as caught:
        list(client.iter_pages(f"{account}/campaigns", {"effective_status": '["ADSET_PAUSED"]'}))
    assert caught.value.http_status == 400 and caught.value.code == 100
    assert "effective_status[0] must be one of" in caught.value.message
    # the same status is one of an ad's
    assert list(client.iter_pages(f"{account}/ads", {"effective_status": '["ADSET_PAUSED"]'})) == [
        a for a in client.iter_ads(account) if a["effective_status"] == "ADSET_PAUSED"
    ]


def test_insights_paging_with_small_pages(sim: MetaSimulator, rec: Recorder, account: str) -> None:
    client = rec.client(sim.url)
    full = list(client.iter_insights(account, SINCE, UNTIL, breakdowns=("region",)))
    assert sim.state.request_count("/insights") == 1
    ads = {a["id"]: a["effective_status"] for a in client.iter_ads(account)}
    live = {ad for ad, status in ads.items() if status not in ("ARCHIVED", "DELETED")}
    n_regions = len({r["region"] for r in full})
    # every live ad on every day and region, and the archived and deleted ads on the days
    # they delivered (the client asks for every status)
    assert sum(r["ad_id"] in live for r in full) == len(live) * 5 * n_regions
    hidden = {r["ad_id"] for r in full} - live
    assert hidden and {ads[ad] for ad in hidden} <= {"ARCHIVED", "DELETED"}

    sim.state.clear_requests()
    paged = list(client.iter_insights(account, SINCE, UNTIL, limit=7, breakdowns=("region",)))
    calls = sim.state.requests
    # a page may hold fewer rows than the limit (Meta leaves out rows without delivery)
    assert len(calls) >= math.ceil(len(full) / 7)
    assert all(call.query["limit"] == "7" for call in calls)
    keys = [(r["ad_id"], r["date_start"], r["region"]) for r in paged]
    assert len(set(keys)) == len(keys) == len(full)
    assert paged == full
    assert {r["date_start"] for r in paged} == {
        (SINCE + timedelta(days=d)).isoformat() for d in range(5)
    }


def test_insights_are_deterministic_per_token(sim: MetaSimulator, rec: Recorder) -> None:
    def rows(token: str) -> list[dict[str, Any]]:
        client = rec.client(sim.url, token)
        first = client.list_ad_accounts()[0]["id"]
        return list(client.iter_insights(first, SINCE, SINCE))

    assert rows(TOKEN) == rows(TOKEN)
    assert rows(TOKEN) != rows("sim_another_token")


def test_retries_transient_500_then_succeeds(
    sim: MetaSimulator, rec: Recorder, account: str
) -> None:
    sim.state.inject("/insights", count=3, http_status=500, code=2)
    rows = list(rec.client(sim.url).iter_insights(account, SINCE, SINCE))
    assert rows
    assert [r.status for r in sim.state.requests] == [500, 500, 500, 200]
    assert len(rec.failures) == 3
    for failure in rec.failures:
        assert failure.provider == "meta"
        assert failure.endpoint == f"/v26.0/{account}/insights"
        assert (failure.http_status, failure.code, failure.subcode) == (500, 2, None)
        assert failure.is_retryable is True
        assert failure.occurred_at.tzinfo is not None
        assert failure.occurred_at.utcoffset() == UTC.utcoffset(None)
    # Full jitter on a base-2 exponential: the n-th pause lies in [0, 2 ** (n - 1)].
    assert len(rec.sleeps) == 3
    assert all(0 <= pause <= 2**n for n, pause in enumerate(rec.sleeps))
    with pytest.raises(FrozenInstanceError):
        rec.failures[0].code = 1  # type: ignore[misc]


def test_retry_gives_up_after_max_attempts(sim: MetaSimulator, rec: Recorder, account: str) -> None:
    sim.state.inject("/campaigns", count=10, http_status=503, code=1)
    client = rec.client(sim.url, max_attempts=3)
    with pytest.raises(MetaApiError) as raised:
        list(client.iter_campaigns(account))
    assert type(raised.value) is MetaApiError
    assert (raised.value.http_status, raised.value.code) == (503, 1)
    assert raised.value.is_retryable
    assert sim.state.request_count("/campaigns") == 3
    assert len(rec.failures) == 3 and len(rec.sleeps) == 2


def test_rate_limit_code_is_retried(sim: MetaSimulator, rec: Recorder, account: str) -> None:
    sim.state.inject("/ads", count=1, http_status=400, code=17, is_transient=False)
    assert list(rec.client(sim.url).iter_ads(account))
    assert [f.code for f in rec.failures] == [17]
    assert sim.state.request_count("/ads") == 2

    sim.state.inject("/ads", count=5, http_status=400, code=80004, is_transient=False)
    with pytest.raises(RateLimitedError) as raised:
        list(rec.client(sim.url, max_attempts=2).iter_ads(account))
    assert raised.value.code == 80004


def test_invalid_token_is_not_retried(sim: MetaSimulator, rec: Recorder) -> None:
    bad = "not_a_valid_SECRET_token"
    with pytest.raises(TokenInvalidError) as raised:
        rec.client(sim.url, bad).list_ad_accounts()
    assert (raised.value.http_status, raised.value.code, raised.value.subcode) == (400, 190, None)
    assert not raised.value.is_retryable
    assert sim.state.request_count() == 1
    assert len(rec.failures) == 1 and rec.failures[0].is_retryable is False
    assert rec.sleeps == []

    with pytest.raises(TokenInvalidError) as expired:
        rec.client(sim.url, "sim_expired_SECRET").list_ad_accounts()
    assert expired.value.subcode == 463


def test_injected_session_invalidation(sim: MetaSimulator, rec: Recorder, account: str) -> None:
    sim.state.inject("/insights", http_status=400, code=190, subcode=467, is_transient=False)
    with pytest.raises(TokenInvalidError) as raised:
        list(rec.client(sim.url).iter_insights(account, SINCE, UNTIL))
    assert raised.value.subcode == 467
    assert sim.state.request_count("/insights") == 1


def test_foreign_account_is_permission_denied(sim: MetaSimulator, rec: Recorder) -> None:
    foreign = MetaGraphClient("sim_other_tenant", base_url=sim.url).list_ad_accounts()[0]["id"]
    sim.state.clear_requests()
    with pytest.raises(PermissionDeniedError) as raised:
        list(rec.client(sim.url).iter_campaigns(foreign))
    assert (raised.value.http_status, raised.value.code) == (403, 200)
    assert raised.value.endpoint == f"/v26.0/{foreign}/campaigns"
    assert sim.state.request_count() == 1


def test_paging_does_not_redo_finished_pages_on_retry(
    sim: MetaSimulator, rec: Recorder, account: str
) -> None:
    client = rec.client(sim.url)
    pages = client.iter_pages(f"{account}/ads", {"fields": "id", "limit": 1})
    first = next(pages)
    sim.state.inject("/ads", count=1, http_status=502, code=2)
    rest = list(pages)
    assert first["id"] not in {r["id"] for r in rest}
    assert [r.query.get("after") is not None for r in sim.state.requests][1:3] == [True, True]
    assert len(rec.failures) == 1


def test_throttles_when_usage_is_high(sim: MetaSimulator, rec: Recorder, account: str) -> None:
    client = rec.client(sim.url)
    sim.state.set_usage(90)
    list(client.iter_campaigns(account))
    assert client.last_usage["x-app-usage"] == 90
    assert client.last_usage["x-ad-account-usage"] == 90
    assert rec.sleeps == []
    list(client.iter_insights(account, SINCE, SINCE))
    assert rec.sleeps == [32.0]  # runbook: 90 % -> 32 s
    assert client.last_usage["x-business-use-case-usage"] == 90
    assert client.last_usage["x-fb-ads-insights-throttle"] == 90
    sim.state.set_usage(10)
    list(client.iter_campaigns(account))  # pauses once more, then sees the low usage
    list(client.iter_campaigns(account))
    assert rec.sleeps == [32.0, 32.0]
    assert client.usage_pct == 10


def test_throttle_delay() -> None:
    assert throttle_delay(0) == 0
    assert throttle_delay(74.9) == 0
    # the runbook's table: 75 % -> 2 s, 90 % -> 32 s, 100 % -> 52 s; never more than 120 s
    assert (throttle_delay(75), throttle_delay(90), throttle_delay(100)) == (2.0, 32.0, 52.0)
    assert throttle_delay(500) == 120.0


@pytest.mark.parametrize(
    ("http_status", "code", "is_transient", "expected"),
    [
        (429, None, False, True),
        (500, 1, False, True),
        (503, None, False, True),
        (400, 2, False, True),
        (400, 4, False, True),
        (400, 17, False, True),
        (400, 32, False, True),
        (400, 341, False, True),
        (400, 613, False, True),
        (400, 80000, False, True),
        (400, 80014, False, True),
        (400, 80015, False, False),
        (400, 100, True, True),
        (None, None, True, True),
        (400, 190, False, False),
        (400, 102, False, False),
        (403, 10, False, False),
        (403, 200, False, False),
        (403, 299, False, False),
        (400, 100, False, False),
        (404, None, False, False),
    ],
)
def test_is_retryable_table(
    http_status: int | None, code: int | None, is_transient: bool, expected: bool
) -> None:
    assert is_retryable(http_status, code, is_transient) is expected


def test_network_errors_are_retried(rec: Recorder) -> None:
    client = rec.client(f"http://127.0.0.1:{free_port()}", max_attempts=2, timeout=2)
    with pytest.raises(MetaApiError) as raised:
        client.list_ad_accounts()
    assert raised.value.http_status is None and raised.value.is_retryable
    assert len(rec.failures) == 2 and len(rec.sleeps) == 1
    assert rec.failures[0].endpoint == "/v26.0/me/adaccounts"
    _assert_no_token(raised.value, rec.failures)


def test_token_never_leaks_into_errors(sim: MetaSimulator, rec: Recorder, account: str) -> None:
    errors: list[MetaApiError] = []
    for token, fault in [
        ("garbage_SECRET", None),
        ("sim_expired_SECRET", None),
        (TOKEN, (500, 2, f"echo access_token={TOKEN}")),
        (TOKEN, (400, 100, f"bad token {TOKEN}")),
    ]:
        if fault:
            status, code, message = fault
            sim.state.inject("/campaigns", count=5, http_status=status, code=code, message=message)
        with pytest.raises(MetaApiError) as raised:
            list(rec.client(sim.url, token, max_attempts=1).iter_campaigns(account))
        sim.state.clear_faults()
        errors.append(raised.value)
    assert all(e.fbtrace_id for e in errors)
    for error in errors:
        _assert_no_token(error, rec.failures)


def _assert_no_token(error: MetaApiError, failures: list[ApiCallFailure]) -> None:
    text = "".join(traceback.format_exception(error)) + str(error) + repr(error)
    text += " ".join(str(asdict(f)) for f in failures)
    assert "SECRET" not in text
    assert all("access_token" not in f.endpoint and "?" not in f.endpoint for f in failures)
