"""The Meta retry, backoff and throttle policy as the contract and runbook state it.

- retries: base-2 exponential backoff with full jitter, at most 5 attempts, for retryable errors
  only: HTTP 429 and 5xx, Graph codes 1, 2, 4, 17, 32, 341, 613 and 80000-80014, and anything
  Graph flags ``is_transient``;
- throttling: at 75 % usage or more a pause before the next call, 2 s per point above 74 %
  (75 % -> 2 s, 90 % -> 32 s, 100 % -> 52 s), at most 120 s;
- error classes: 190/102 token invalid, 10 and 200-299 permission denied, 429 and the throttle
  codes rate limited.

Expected values are written out; the pauses the client asks for are recorded (its ``sleep``),
so nothing here waits. The calls go to the loopback Graph simulator.
"""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adinsights_pipelines.defs.meta.client import (
    AD_STATUSES,
    INSIGHT_FIELDS,
    ApiCallFailure,
    MetaApiError,
    MetaGraphClient,
    PermissionDeniedError,
    RateLimitedError,
    ReportRun,
    TokenInvalidError,
    asks_for_less_data,
    is_retryable,
    parse_usage,
    throttle_delay,
)
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from tests.scripted import Scripted

TOKEN = "sim_policy_tests_SECRET"
DAY = date(2025, 6, 2)


@pytest.fixture(autouse=True)
def _reset(sim: MetaSimulator) -> None:
    sim.state.reset()


@pytest.fixture(scope="module")
def account(sim: MetaSimulator) -> str:
    account_id: str = MetaGraphClient(TOKEN, base_url=sim.url).list_ad_accounts()[0]["id"]
    return account_id


class Recorder:
    def __init__(self) -> None:
        self.failures: list[ApiCallFailure] = []
        self.sleeps: list[float] = []

    def client(self, url: str, **kwargs: Any) -> MetaGraphClient:
        return MetaGraphClient(
            TOKEN, base_url=url, on_error=self.failures.append, sleep=self.sleeps.append, **kwargs
        )


# --- throttling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "pause"),
    [
        (0, 0.0),
        (50, 0.0),
        (74, 0.0),
        (74.99, 0.0),
        (75, 2.0),  # runbook: 75 % -> 2 s
        (76, 4.0),
        (80, 12.0),
        (90, 32.0),  # runbook: 90 % -> 32 s
        (100, 52.0),  # runbook: 100 % -> 52 s
        (133, 118.0),
        (134, 120.0),  # the cap
        (135, 120.0),
        (1000, 120.0),
    ],
)
def test_throttle_pause_at_the_documented_usage_levels(usage: float, pause: float) -> None:
    assert throttle_delay(usage) == pytest.approx(pause)


@given(st.floats(min_value=-10, max_value=10_000, allow_nan=False))
def test_throttle_pause_is_zero_below_75_then_two_seconds_a_point_capped_at_120(
    usage: float,
) -> None:
    pause = throttle_delay(usage)
    if usage < 75:
        assert pause == 0
    elif usage >= 134:
        assert pause == 120
    else:
        assert pause == pytest.approx(2 * usage - 148)


@pytest.mark.parametrize(("usage", "pause"), [(74, None), (75, 2.0), (90, 32.0), (100, 52.0)])
def test_the_client_pauses_before_the_call_after_a_high_usage_answer(
    sim: MetaSimulator, account: str, usage: int, pause: float | None
) -> None:
    rec = Recorder()
    client = rec.client(sim.url)
    sim.state.set_usage(usage)
    list(client.iter_campaigns(account))
    assert client.usage_pct == usage
    assert rec.sleeps == []  # the first call knows no usage yet
    sim.state.set_usage(10)
    list(client.iter_campaigns(account))
    assert rec.sleeps == ([] if pause is None else [pause])
    list(client.iter_campaigns(account))  # the answer said 10 %: no pause any more
    assert rec.sleeps == ([] if pause is None else [pause])


# --- the retryable set -----------------------------------------------------------------------

RETRYABLE_GRAPH_CODES = {1, 2, 4, 17, 32, 341, 613, *range(80000, 80015)}


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [
        (None, False),
        (200, False),
        (400, False),
        (404, False),
        (428, False),
        (429, True),
        (430, False),
        (499, False),
        (500, True),
        (503, True),
        (599, True),
        (600, False),
    ],
)
def test_http_statuses_that_are_retried(http_status: int | None, expected: bool) -> None:
    assert is_retryable(http_status, None, False) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, False),
        (1, True),
        (2, True),
        (3, False),
        (4, True),
        (5, False),
        (10, False),
        (16, False),
        (17, True),
        (18, False),
        (31, False),
        (32, True),
        (33, False),
        (100, False),
        (102, False),
        (190, False),
        (200, False),
        (340, False),
        (341, True),
        (342, False),
        (612, False),
        (613, True),
        (614, False),
        (79999, False),
        (80000, True),
        (80007, True),
        (80014, True),
        (80015, False),
    ],
)
def test_graph_codes_that_are_retried(code: int, expected: bool) -> None:
    assert is_retryable(400, code, False) is expected


@given(
    st.none() | st.integers(min_value=100, max_value=699),
    st.none() | st.integers(min_value=0, max_value=90_000),
    st.booleans(),
)
@example(None, None, True)
@example(None, None, False)
def test_retryable_is_transient_or_429_or_5xx_or_a_listed_code(
    http_status: int | None, code: int | None, is_transient: bool
) -> None:
    expected = (
        is_transient
        or http_status == 429
        or (http_status is not None and 500 <= http_status <= 599)
        or code in RETRYABLE_GRAPH_CODES
    )
    assert is_retryable(http_status, code, is_transient) is expected


def test_is_transient_alone_makes_an_error_retried(sim: MetaSimulator, account: str) -> None:
    rec = Recorder()
    sim.state.inject("/campaigns", count=1, http_status=400, code=100, is_transient=True)
    assert list(rec.client(sim.url).iter_campaigns(account))
    assert sim.state.request_count("/campaigns") == 2
    assert [(f.code, f.is_retryable) for f in rec.failures] == [(100, True)]

    rec = Recorder()
    sim.state.inject("/campaigns", count=1, http_status=400, code=100, is_transient=False)
    with pytest.raises(MetaApiError) as raised:
        list(rec.client(sim.url).iter_campaigns(account))
    assert (raised.value.code, raised.value.is_transient, raised.value.is_retryable) == (
        100,
        False,
        False,
    )
    assert sim.state.request_count("/campaigns") == 3  # 2 before, 1 now: not repeated
    assert rec.sleeps == []


# --- error classes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http_status", "code", "cls", "retryable"),
    [
        (400, 190, TokenInvalidError, False),
        (400, 102, TokenInvalidError, False),
        (403, 10, PermissionDeniedError, False),
        (403, 200, PermissionDeniedError, False),
        (403, 250, PermissionDeniedError, False),
        (403, 299, PermissionDeniedError, False),
        (400, 199, MetaApiError, False),
        (400, 300, MetaApiError, False),
        (400, 100, MetaApiError, False),
        (400, 11, MetaApiError, False),
        (400, 4, RateLimitedError, True),
        (400, 17, RateLimitedError, True),
        (400, 32, RateLimitedError, True),
        (400, 613, RateLimitedError, True),
        (400, 80000, RateLimitedError, True),
        (400, 80014, RateLimitedError, True),
        (400, 80015, MetaApiError, False),
        (400, 341, MetaApiError, True),
        (429, 100, RateLimitedError, True),
        (500, 2, MetaApiError, True),
    ],
)
def test_error_classes_by_graph_code(
    sim: MetaSimulator, account: str, http_status: int, code: int, cls: type, retryable: bool
) -> None:
    rec = Recorder()
    sim.state.inject(
        "/ads", count=1, http_status=http_status, code=code, subcode=7, is_transient=False
    )
    with pytest.raises(MetaApiError) as raised:
        list(rec.client(sim.url, max_attempts=1).iter_ads(account))
    error = raised.value
    assert type(error) is cls
    assert (error.http_status, error.code, error.subcode, error.is_retryable) == (
        http_status,
        code,
        7,
        retryable,
    )
    assert error.endpoint == f"/v26.0/{account}/ads"
    assert error.fbtrace_id and error.fbtrace_id.startswith("A")
    assert str(error).startswith(
        f"Meta API /v26.0/{account}/ads failed (HTTP {http_status}, code {code}/7, fbtrace_id A"
    )
    assert repr(error).startswith(f"{cls.__name__}('Meta API /v26.0/{account}/ads failed")
    (failure,) = rec.failures
    assert (failure.provider, failure.endpoint, failure.http_status, failure.code) == (
        "meta",
        f"/v26.0/{account}/ads",
        http_status,
        code,
    )
    assert (failure.subcode, failure.is_retryable) == (7, retryable)
    assert failure.message == error.message


def test_a_request_that_never_left_is_not_retried() -> None:
    """Not a network error (no host in the URL): nothing transient about it."""
    rec = Recorder()
    with pytest.raises(MetaApiError) as raised:
        rec.client("http://").list_ad_accounts()
    assert raised.value.http_status is None and raised.value.is_transient is False
    assert raised.value.message == "InvalidURL talking to the Graph API"
    assert str(raised.value) == (
        "Meta API /v26.0/me/adaccounts failed (network error): InvalidURL talking to the Graph API"
    )
    assert len(rec.failures) == 1 and rec.sleeps == []


# --- attempts and backoff --------------------------------------------------------------------


def _failing_run(sim: MetaSimulator, account: str, **kwargs: Any) -> Recorder:
    """One call that keeps failing with a retryable 503 until the client gives up."""
    rec = Recorder()
    sim.state.reset()
    sim.state.inject("/campaigns", count=50, http_status=503, code=2)
    with pytest.raises(MetaApiError) as raised:
        list(rec.client(sim.url, **kwargs).iter_campaigns(account))
    assert (raised.value.http_status, raised.value.code) == (503, 2)
    return rec


def test_at_most_five_attempts_by_default(sim: MetaSimulator, account: str) -> None:
    rec = _failing_run(sim, account)
    assert sim.state.request_count("/campaigns") == 5
    assert len(rec.failures) == 5 and len(rec.sleeps) == 4


@pytest.mark.parametrize("attempts", [1, 2, 7])
def test_max_attempts_is_the_number_of_calls(
    sim: MetaSimulator, account: str, attempts: int
) -> None:
    rec = _failing_run(sim, account, max_attempts=attempts)
    assert sim.state.request_count("/campaigns") == attempts
    assert len(rec.failures) == attempts and len(rec.sleeps) == attempts - 1


def test_max_attempts_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        MetaGraphClient(TOKEN, max_attempts=0)
    assert MetaGraphClient(TOKEN, max_attempts=1).max_attempts == 1


def test_backoff_is_base_2_exponential_with_full_jitter(sim: MetaSimulator, account: str) -> None:
    """The n-th pause is uniform in [0, 2 ** (n - 1)] seconds: 1, 2, 4, 8 s at most."""
    random.seed(20240601)  # tenacity draws its jitter from the random module
    runs = [_failing_run(sim, account).sleeps for _ in range(24)]
    bounds = [1.0, 2.0, 4.0, 8.0]
    for pauses in runs:
        assert len(pauses) == 4
        assert all(0 <= p <= b for p, b in zip(pauses, bounds, strict=True))
    for n, bound in enumerate(bounds):
        nth = [pauses[n] for pauses in runs]
        # full jitter: spread over the whole range, not a fixed pause nor a tiny one
        assert max(nth) > 0.5 * bound
        assert min(nth) < 0.5 * bound
        assert len(set(nth)) == len(nth)


def test_backoff_base_scales_the_pauses_and_60_seconds_caps_them(
    sim: MetaSimulator, account: str
) -> None:
    random.seed(7)
    runs = [_failing_run(sim, account, backoff_base=16.0).sleeps for _ in range(24)]
    bounds = [16.0, 32.0, 60.0, 60.0]  # 16, 32, 64 and 128, capped at 60
    for pauses in runs:
        assert all(0 <= p <= b for p, b in zip(pauses, bounds, strict=True))
    for n, bound in enumerate(bounds):
        assert max(pauses[n] for pauses in runs) > 0.5 * bound


def test_a_retried_call_throttles_before_each_attempt(sim: MetaSimulator, account: str) -> None:
    """The usage of a failed answer counts too: the retry pauses for both reasons."""
    random.seed(3)
    rec = Recorder()
    client = rec.client(sim.url)
    sim.state.set_usage(90)
    list(client.iter_campaigns(account))
    sim.state.inject("/campaigns", count=1, http_status=500, code=2)
    list(client.iter_campaigns(account))
    # throttle 32 s, the backoff pause (at most 1 s), throttle 32 s again before the retry
    assert len(rec.sleeps) == 3
    assert rec.sleeps[0] == 32.0 and rec.sleeps[2] == 32.0
    assert 0 <= rec.sleeps[1] <= 1.0


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(attempts=st.integers(min_value=1, max_value=6), base=st.sampled_from([0.5, 1.0, 3.0]))
def test_every_pause_lies_within_its_jitter_bound(
    sim: MetaSimulator, account: str, attempts: int, base: float
) -> None:
    rec = _failing_run(sim, account, max_attempts=attempts, backoff_base=base)
    assert len(rec.sleeps) == attempts - 1
    for n, pause in enumerate(rec.sleeps, start=1):
        assert 0 <= pause <= min(60.0, base * 2 ** (n - 1))


# --- what the client sends and reports ---------------------------------------------------------


def test_client_defaults() -> None:
    client = MetaGraphClient(TOKEN)
    assert (client.base_url, client.api_version) == ("https://graph.facebook.com", "v26.0")
    assert (client.max_attempts, client.timeout, client.backoff_base) == (5, 30.0, 1.0)
    assert client.last_usage == {} and client.usage_pct == 0.0 and client.on_error is None
    assert repr(client) == (
        "MetaGraphClient(base_url='https://graph.facebook.com', api_version='v26.0')"
    )
    assert MetaGraphClient(TOKEN, base_url="http://x/").base_url == "http://x"
    assert TOKEN not in repr(client)


def test_meta_api_error_text() -> None:
    error = MetaApiError(
        "boom", http_status=400, code=190, subcode=463, fbtrace_id="AbC", endpoint="/v26.0/me"
    )
    assert str(error) == "Meta API /v26.0/me failed (HTTP 400, code 190/463, fbtrace_id AbC): boom"
    assert repr(error) == (
        "MetaApiError('Meta API /v26.0/me failed (HTTP 400, code 190/463, fbtrace_id AbC): boom')"
    )
    assert (error.message, error.http_status, error.code, error.subcode) == ("boom", 400, 190, 463)
    assert (error.is_transient, error.fbtrace_id, error.endpoint) == (False, "AbC", "/v26.0/me")
    bare = MetaApiError("down", http_status=None)
    assert str(bare) == "Meta API call failed (network error): down"
    assert (bare.code, bare.subcode, bare.is_transient, bare.fbtrace_id, bare.endpoint) == (
        None,
        None,
        False,
        None,
        "",
    )
    assert (
        str(MetaApiError("x", http_status=500, code=2))
        == "Meta API call failed (HTTP 500, code 2): x"
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, {}),
        (
            {"x-app-usage": '{"call_count": 10, "total_cputime": 20, "total_time": 5}'},
            {"x-app-usage": 20.0},
        ),
        (
            {
                "x-app-usage": '{"call_count": 91}',
                "x-ad-account-usage": '{"acc_id_util_pct": 33.5}',
            },
            {"x-app-usage": 91.0, "x-ad-account-usage": 33.5},
        ),
        (
            {"x-ad-account-usage": '{"acc_id_util_pct": true, "call_count": 99}'},
            {"x-ad-account-usage": 0.0},
        ),
        (
            {
                "x-business-use-case-usage": '{"1": [{"type": "ads_insights", "call_count": 5, '
                '"total_cputime": 80, "total_time": 2, "estimated_time_to_regain_access": 99}], '
                '"2": [{"call_count": 81}], "3": "odd", "4": ["odd"]}'
            },
            {"x-business-use-case-usage": 81.0},
        ),
        ({"x-business-use-case-usage": "{}"}, {"x-business-use-case-usage": 0.0}),
        ({"x-app-usage": "not json", "x-ad-account-usage": "[1, 2]"}, {}),
        ({"x-app-usage": ""}, {}),
        # Insights' own header: the higher of the app's and the account's share; an empty or
        # unreadable header before it does not stop the reading
        (
            {
                "x-app-usage": "",
                "x-fb-ads-insights-throttle": '{"app_id_util_pct": 12, "acc_id_util_pct": 64.5, '
                '"ads_api_access_tier": "standard_access"}',
            },
            {"x-fb-ads-insights-throttle": 64.5},
        ),
        (
            {
                "x-app-usage": "not json",
                "x-fb-ads-insights-throttle": '{"app_id_util_pct": 70, "acc_id_util_pct": 3}',
            },
            {"x-fb-ads-insights-throttle": 70.0},
        ),
        (
            {
                "x-app-usage": "[1, 2]",
                "x-fb-ads-insights-throttle": '{"app_id_util_pct": 70, "acc_id_util_pct": 3}',
            },
            {"x-fb-ads-insights-throttle": 70.0},
        ),
        (
            {"x-app-usage": '{"call_count": 1, "total_cputime": 2, "total_time": 30}'},
            {"x-app-usage": 30.0},
        ),
    ],
)
def test_usage_headers(headers: dict[str, str], expected: dict[str, float]) -> None:
    assert parse_usage(headers) == expected


def test_parameters_are_sent_as_graph_expects_them(sim: MetaSimulator, account: str) -> None:
    client = MetaGraphClient(TOKEN, base_url=sim.url)
    list(
        client.iter_pages(
            f"/{account}/campaigns",
            {
                "fields": ("id", "name"),
                "on": True,
                "off": False,
                "day": date(2025, 6, 1),
                "range": {"since": "2025-06-01"},
                "limit": 3,
            },
        )
    )
    query = sim.state.requests[0].query
    assert sim.state.requests[0].path == f"/v26.0/{account}/campaigns"
    assert (query["fields"], query["on"], query["off"], query["day"]) == (
        "id,name",
        "true",
        "false",
        "2025-06-01",
    )
    assert (query["range"], query["limit"]) == ('{"since":"2025-06-01"}', "3")


def test_retries_and_pauses_are_logged(
    sim: MetaSimulator, account: str, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    client = rec.client(sim.url)
    sim.state.set_usage(90)
    list(client.iter_campaigns(account))
    sim.state.inject("/campaigns", count=1, http_status=503, code=2)
    with caplog.at_level("INFO", logger="adinsights_pipelines.defs.meta.client"):
        list(client.iter_campaigns(account))
    messages = [r.getMessage() for r in caplog.records]
    path = f"/v26.0/{account}/campaigns"
    assert messages[0] == f"Meta usage at 90%; pausing 32.0s before {path}"
    assert messages[1].startswith(f"Meta API {path} failed (HTTP 503, code 2, fbtrace_id A")
    assert messages[2] == f"retrying Meta call (attempt 2) in {rec.sleeps[1]:.2f}s"
    assert [r.levelname for r in caplog.records[:3]] == ["INFO", "WARNING", "INFO"]


# --- async report runs -----------------------------------------------------------------------


def test_report_runs_start_poll_and_read(sim: MetaSimulator, account: str) -> None:
    client = MetaGraphClient(TOKEN, base_url=sim.url)
    run_id = client.start_insights_report(
        account.removeprefix("act_"), DAY, DAY, breakdowns=("region",)
    )
    start = sim.state.requests[0]
    assert (start.method, start.path, start.query["level"]) == (
        "POST",
        f"/v26.0/{account}/insights",
        "ad",
    )
    assert start.query["time_increment"] == "1" and start.query["breakdowns"] == "region"
    assert start.query["time_range"] == '{"since":"2025-06-02","until":"2025-06-02"}'
    first = client.report_runs([run_id])
    assert list(first) == [run_id]
    assert (first[run_id].completed, first[run_id].failed) == (False, False)
    while not (status := client.report_runs([run_id])[run_id]).completed:
        assert status.async_status in {"Job Not Started", "Job Started", "Job Running"}
    assert status.percent_complete == 100 and status.id == run_id
    rows = list(client.iter_report_rows(run_id, limit=2))
    assert rows == list(client.iter_insights(account, DAY, DAY, breakdowns=("region",)))
    assert [
        r.query.get("limit") for r in sim.state.requests if r.path.endswith(f"{run_id}/insights")
    ][:1] == ["2"]


def test_report_runs_in_batches(sim: MetaSimulator, account: str) -> None:
    client = MetaGraphClient(TOKEN, base_url=sim.url)
    runs = [client.start_insights_report(account, DAY, DAY, breakdowns=()) for _ in range(3)]
    statuses = client.report_runs(runs)
    assert sorted(statuses) == sorted(runs)
    assert [r.method for r in sim.state.requests[3:]] == ["POST"]  # one batch call
    sim.state.fail_next_report_run = True
    failing = client.start_insights_report(account, DAY, DAY)
    for _ in range(5):
        if (run := client.report_runs([failing, runs[0]])[failing]).failed:
            break
    assert run.async_status == "Job Failed" and run.failed and not run.completed


def test_report_run_status_from_graph_defaults() -> None:
    from adinsights_pipelines.defs.meta.client import ReportRun

    assert ReportRun.from_graph("9", {}) == ReportRun("9", "unknown", 0)
    skipped = {"id": "8", "async_status": "Job Skipped", "async_percent_completion": 42.7}
    assert ReportRun.from_graph("9", skipped) == ReportRun("8", "Job Skipped", 42)
    assert ReportRun.from_graph("9", {"async_percent_completion": "50"}).percent_complete == 0
    assert ReportRun("9", "Job Skipped", 0).failed
    assert ReportRun("9", "Job Completed", 100).completed


# --- answers that are not Graph's envelope (a proxy, an outage page) ---------------------------


def test_an_error_without_a_graph_body(scripted: Scripted) -> None:
    rec = Recorder()
    scripted.answers = [(502, "Bad Gateway", b"<html>proxy</html>")] * 2
    with pytest.raises(MetaApiError) as raised:
        rec.client(scripted.url, max_attempts=2).get(f"{scripted.url}/v26.0/me")
    assert type(raised.value) is MetaApiError
    assert raised.value.message == "HTTP 502 Bad Gateway without a Graph error body"
    assert raised.value.endpoint == "/v26.0/me"
    assert (raised.value.http_status, raised.value.code, raised.value.is_retryable) == (
        502,
        None,
        True,
    )
    assert len(rec.failures) == 2 and len(rec.sleeps) == 1
    scripted.answers = [(404, "", b'{"error": "not an object"}')]
    with pytest.raises(MetaApiError) as missing:
        rec.client(scripted.url).get(f"{scripted.url}/v26.0/me")
    assert missing.value.message == "HTTP 404 without a Graph error body"
    assert missing.value.is_retryable is False


def test_a_success_that_is_not_a_json_object_is_retried(scripted: Scripted) -> None:
    rec = Recorder()
    scripted.answers = [(200, "OK", b"[1, 2]"), (200, "OK", b"not json"), (200, "OK", b'{"a": 1}')]
    assert rec.client(scripted.url).get(f"{scripted.url}/v26.0/me") == {"a": 1}
    assert [f.message for f in rec.failures] == [
        "the Graph API answered with a body that is not a JSON object"
    ] * 2
    assert [(f.http_status, f.is_retryable) for f in rec.failures] == [(200, True)] * 2
    assert [f.endpoint for f in rec.failures] == ["/v26.0/me"] * 2


def test_graph_error_fields_of_the_wrong_type_are_dropped(scripted: Scripted) -> None:
    body = b'{"error": {"message": "odd", "code": "17", "error_subcode": "x", "is_transient": 1}}'
    scripted.answers = [(400, "", body)]
    with pytest.raises(MetaApiError) as raised:
        MetaGraphClient(TOKEN, base_url=scripted.url, max_attempts=1).get(f"{scripted.url}/x")
    error = raised.value
    assert (error.code, error.subcode, error.is_transient, error.fbtrace_id) == (
        None,
        None,
        True,
        None,
    )
    scripted.answers = [(400, "", b'{"error": {}}')]
    with pytest.raises(MetaApiError) as empty:
        MetaGraphClient(TOKEN, base_url=scripted.url, max_attempts=1).get(f"{scripted.url}/x")
    assert empty.value.message == "unknown Graph error"


def test_the_token_is_sent_as_a_header_and_dropped_from_next_urls(scripted: Scripted) -> None:
    next_url = f"{scripted.url}/v26.0/act_1/ads?after=QVFI&access_token={TOKEN}&limit=2"
    scripted.answers = [
        (200, "OK", b'{"data": [{"id": "1"}], "paging": {"next": "' + next_url.encode() + b'"}}'),
        (200, "OK", b'{"data": [{"id": "2"}], "paging": {"next": "' + next_url.encode() + b'"}}'),
    ]
    client = MetaGraphClient(TOKEN, base_url=scripted.url)
    assert [r["id"] for r in client.iter_pages("act_1/ads", {"limit": 2})] == ["1", "2"]
    # the second page came from paging.next, without the token; the loop stopped there
    assert scripted.paths == ["/v26.0/act_1/ads?limit=2", "/v26.0/act_1/ads?after=QVFI&limit=2"]


def test_the_token_is_redacted_from_graph_messages(scripted: Scripted) -> None:
    message = f"bad access_token={TOKEN}&x=1 and ACCESS_TOKEN=other and {TOKEN}"
    body = json.dumps({"error": {"message": message, "code": 100}}).encode()
    scripted.answers = [(400, "", body)]
    with pytest.raises(MetaApiError) as raised:
        MetaGraphClient(TOKEN, base_url=scripted.url).get(f"{scripted.url}/x")
    assert raised.value.message == (
        "bad access_token=<redacted>&x=1 and ACCESS_TOKEN=<redacted> and <redacted>"
    )


def test_report_run_status_requests_and_batch_answers(scripted: Scripted) -> None:
    from urllib.parse import parse_qs

    rec = Recorder()
    client = rec.client(scripted.url)
    ok = {
        "code": 200,
        "body": '{"id": "11", "async_status": "Job Running", "async_percent_completion": 40}',
    }
    busy = {
        "code": 500,
        "body": '{"error": {"message": "try later", "code": 2, "is_transient": true}}',
    }
    scripted.answers = [
        (
            200,
            "OK",
            b'{"id": "10", "async_status": "Job Completed", "async_percent_completion": 100}',
        ),
        (200, "OK", json.dumps([ok, busy, None]).encode()),
    ]
    assert client.report_runs(["10"]) == {"10": ReportRun("10", "Job Completed", 100)}
    assert scripted.paths[0] == "/v26.0/10?fields=id%2Casync_status%2Casync_percent_completion"
    # three runs: one batch call; the busy one is reported and left out, the missing one too
    assert client.report_runs(["11", "12", "13"]) == {"11": ReportRun("11", "Job Running", 40)}
    form = parse_qs(scripted.bodies[0])
    assert form["include_headers"] == ["false"]
    assert json.loads(form["batch"][0]) == [
        {
            "method": "GET",
            "relative_url": f"v26.0/{r}?fields=id,async_status,async_percent_completion",
        }
        for r in ("11", "12", "13")
    ]
    (failure,) = rec.failures
    assert (failure.endpoint, failure.http_status, failure.code, failure.is_retryable) == (
        "/v26.0/12",
        500,
        2,
        True,
    )
    assert failure.message == "try later"


def completed(run_id: str) -> dict[str, object]:
    body = {"id": run_id, "async_status": "Job Completed", "async_percent_completion": 100}
    return {"code": 200, "body": json.dumps(body)}


def test_runs_graph_had_no_time_for_are_left_to_the_next_poll_wherever_they_stand(
    scripted: Scripted,
) -> None:
    client = MetaGraphClient(TOKEN, base_url=scripted.url)
    scripted.answers = [
        (200, "OK", json.dumps([None, completed("32")]).encode()),
        # fewer answers than runs asked for
        (200, "OK", json.dumps([completed("33")]).encode()),
    ]
    assert client.report_runs(["31", "32"]) == {"32": ReportRun("32", "Job Completed", 100)}
    assert client.report_runs(["33", "34"]) == {"33": ReportRun("33", "Job Completed", 100)}


def test_a_run_status_without_its_id_is_the_run_asked_for(scripted: Scripted) -> None:
    client = MetaGraphClient(TOKEN, base_url=scripted.url)
    running = {"async_status": "Job Running", "async_percent_completion": 5}
    scripted.answers = [
        (200, "OK", json.dumps(running).encode()),
        (200, "OK", json.dumps([{"code": 200, "body": json.dumps(running)}, None]).encode()),
    ]
    assert client.report_runs(["41"]) == {"41": ReportRun("41", "Job Running", 5)}
    assert client.report_runs(["42", "43"]) == {"42": ReportRun("42", "Job Running", 5)}


def test_a_batch_error_that_is_not_retryable_is_raised(scripted: Scripted) -> None:
    denied = {"code": 403, "body": '{"error": {"message": "no", "code": 200}}'}
    scripted.answers = [(200, "OK", json.dumps([denied, None]).encode())]
    with pytest.raises(PermissionDeniedError) as raised:
        MetaGraphClient(TOKEN, base_url=scripted.url).report_runs(["21", "22"])
    assert (raised.value.endpoint, raised.value.http_status) == ("/v26.0/21", 403)
    no_code = {"body": "not json"}
    scripted.answers = [(200, "OK", json.dumps([no_code, None]).encode())]
    rec = Recorder()
    assert rec.client(scripted.url).report_runs(["23", "24"]) == {}
    assert [(f.http_status, f.is_retryable) for f in rec.failures] == [(500, True)]


def test_a_batch_answer_that_is_not_a_list(scripted: Scripted) -> None:
    rec = Recorder()
    scripted.answers = [(200, "OK", b'{"odd": 1}')] * 2
    with pytest.raises(MetaApiError) as raised:
        rec.client(scripted.url, max_attempts=1).report_runs(["1", "2"])
    assert raised.value.message == "the batch endpoint answered with something other than a list"
    assert (raised.value.http_status, raised.value.is_transient, raised.value.endpoint) == (
        200,
        True,
        "/",
    )


def test_more_than_50_runs_take_one_batch_call_per_50(scripted: Scripted) -> None:
    runs = [str(100 + i) for i in range(51)]
    answers = lambda ids: json.dumps(  # noqa: E731
        [{"code": 200, "body": json.dumps({"id": r, "async_status": "Job Completed"})} for r in ids]
    ).encode()
    scripted.answers = [(200, "OK", answers(runs[:50])), (200, "OK", answers(runs[50:]))]
    statuses = MetaGraphClient(TOKEN, base_url=scripted.url).report_runs(runs)
    assert sorted(statuses) == runs and all(s.completed for s in statuses.values())
    assert [len(json.loads(parse_form(b)["batch"])) for b in scripted.bodies] == [50, 1]


def parse_form(body: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(body))


def test_a_report_run_started_without_an_id(scripted: Scripted) -> None:
    rec = Recorder()
    scripted.answers = [(200, "OK", b'{"id": "x"}')]
    with pytest.raises(MetaApiError) as raised:
        rec.client(scripted.url, max_attempts=1).start_insights_report("act_5", DAY, DAY)
    assert raised.value.message == "starting a report run answered without report_run_id"
    assert (raised.value.http_status, raised.value.is_transient) == (200, True)
    assert raised.value.endpoint == "/v26.0/act_5/insights"
    assert scripted.paths[0] == "/v26.0/act_5/insights"  # a POST's parameters are its body
    form = parse_form(scripted.bodies[0])
    assert form == {
        "level": "ad",
        "time_increment": "1",
        "time_range": '{"since":"2025-06-02","until":"2025-06-02"}',
        "fields": ",".join(INSIGHT_FIELDS),
        # no breakdown by default: the ad rows Meta reports off-Meta actions on;
        # the tenant's attribution, sent explicitly (unified: each ad set's own setting)
        "use_unified_attribution_setting": "true",
        "action_report_time": "impression",
        # archived and deleted ads spent too: below the account level Meta lists them only
        # when asked for
        "filtering": json.dumps(
            [{"field": "ad.effective_status", "operator": "IN", "value": list(AD_STATUSES)}],
            separators=(",", ":"),
        ),
    }
    scripted.answers = [(200, "OK", b"[]")]
    with pytest.raises(MetaApiError, match="without report_run_id"):
        rec.client(scripted.url, max_attempts=1).start_insights_report("5", DAY, DAY)
    # account totals: no filtering (they always include every ad)
    scripted.answers = [(200, "OK", b'{"report_run_id": "77"}')]
    rec.client(scripted.url, max_attempts=1).start_insights_report(
        "act_5", DAY, DAY, level="account"
    )
    account_form = parse_form(scripted.bodies[-1])
    assert account_form["level"] == "account"
    assert "filtering" not in account_form


def test_page_limits_the_client_asks_for(sim: MetaSimulator, account: str) -> None:
    client = MetaGraphClient(TOKEN, base_url=sim.url)
    client.list_ad_accounts()
    list(client.iter_ads(account))
    list(client.iter_insights(account, DAY, DAY))
    assert [r.query.get("limit") for r in sim.state.requests[:3]] == ["100", "500", "500"]


def test_blank_parameters_of_a_next_url_are_kept(scripted: Scripted) -> None:
    reduce = (
        b'{"error": {"message": "Please reduce the amount of data you\'re asking for", "code": 1}}'
    )
    next_url = f"{scripted.url}/v26.0/act_1/ads?after=QVFI&filtering=&limit=400"
    scripted.answers = [
        (200, "OK", b'{"data": [{"id": "1"}], "paging": {"next": "' + next_url.encode() + b'"}}'),
        (500, "", reduce),
        (200, "OK", b'{"paging": {}}'),  # no "data" at all: no rows, not an error
    ]
    rows = list(
        MetaGraphClient(TOKEN, base_url=scripted.url).iter_pages("act_1/ads", {"limit": 400})
    )
    assert rows == [{"id": "1"}]
    assert scripted.paths[1:] == [
        "/v26.0/act_1/ads?after=QVFI&filtering=&limit=400",
        "/v26.0/act_1/ads?after=QVFI&filtering=&limit=200",
    ]


def test_reduce_data_without_a_limit_is_raised(scripted: Scripted) -> None:
    reduce = (
        b'{"error": {"message": "Please reduce the amount of data you\'re asking for", "code": 1}}'
    )
    scripted.answers = [(500, "", reduce)]
    with pytest.raises(MetaApiError) as raised:
        list(MetaGraphClient(TOKEN, base_url=scripted.url).iter_pages("act_1/ads", {}))
    assert (raised.value.http_status, raised.value.code) == (500, 1)
    assert len(scripted.paths) == 1  # neither shrunk (no limit) nor retried


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (500, 1, "Please reduce the amount of data you're asking for, then retry", True),
        (500, 1, "PLEASE REDUCE THE AMOUNT OF DATA", True),
        (500, 1, "An unknown error occurred", False),
        (500, 2, "Please reduce the amount of data you're asking for", False),
        (400, 1, "Please reduce the amount of data you're asking for", False),
        (400, 100, "Please reduce the amount of data you're asking for", False),
    ],
)
def test_asks_for_less_data(status: int, code: int, message: str, expected: bool) -> None:
    error = MetaApiError(message, http_status=status, code=code)
    assert asks_for_less_data(error) is expected


def test_an_empty_token_redacts_nothing(scripted: Scripted) -> None:
    scripted.answers = [(400, "", b'{"error": {"message": "bad request", "code": 100}}')]
    with pytest.raises(MetaApiError) as raised:
        MetaGraphClient("", base_url=scripted.url).get(f"{scripted.url}/x")
    assert raised.value.message == "bad request"


def test_delete_is_a_delete_with_the_token_and_answers_graphs_json(
    sim: MetaSimulator,
) -> None:
    client = MetaGraphClient(TOKEN, base_url=sim.url)
    assert client.delete(f"{sim.url}/v26.0/me/permissions") == {"success": True}
    last = sim.state.requests[-1]
    assert (last.method, last.path) == ("DELETE", "/v26.0/me/permissions")
