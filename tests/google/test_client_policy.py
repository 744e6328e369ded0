"""The Google retry policy as the contract states it, against the loopback Google simulator.

Retried: network errors, HTTP 429 and 5xx, the statuses RESOURCE_EXHAUSTED / UNAVAILABLE /
INTERNAL / ABORTED and the per-user rate limits (rateLimitExceeded, userRateLimitExceeded,
backendError), with base-2 exponential backoff and full jitter, at most 5 attempts. Nothing else
(400, 401, 403 permission or daily quota, 404). Expected values are written out by hand.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from adinsights_pipelines.defs.google.client import (
    Ga4Client,
    GoogleApiError,
    GoogleOAuth,
    InvalidGrantError,
    PermissionDeniedError,
    SearchConsoleClient,
    UnauthenticatedError,
    is_retryable,
    mark_data_state,
)
from adinsights_pipelines.simulators.google import GoogleSimulator
from tests.google import clients
from tests.scripted import Scripted

REFRESH = "sim_policy_test_refresh_91aa"
PROPERTY = "420000001"
SITE = "https://www.island-grill.com/"
DAY = date(2026, 5, 1)


class Recorder(clients.Recorder):
    def ga4(self, sim: GoogleSimulator, **kw: Any) -> Ga4Client:
        return self.client(Ga4Client, sim.url, self.oauth(sim.token_url), REFRESH, **kw)

    def search_console(self, sim: GoogleSimulator, **kw: Any) -> SearchConsoleClient:
        return self.client(SearchConsoleClient, sim.url, self.oauth(sim.token_url), REFRESH, **kw)


# --- the retryable set -----------------------------------------------------------------------

RETRYABLE_STATUSES = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "ABORTED"}
RETRYABLE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "backendError"}


@pytest.mark.parametrize(
    ("http_status", "status", "reason", "expected"),
    [
        (None, None, None, True),  # a network error
        (429, None, None, True),
        (428, None, None, False),
        (430, None, None, False),
        (499, None, None, False),
        (500, None, None, True),
        (503, None, None, True),
        (599, None, None, True),
        (600, None, None, False),
        (400, "INVALID_ARGUMENT", None, False),
        (400, "RESOURCE_EXHAUSTED", None, True),
        (400, "UNAVAILABLE", None, True),
        (400, "INTERNAL", None, True),
        (400, "ABORTED", None, True),
        (401, "UNAUTHENTICATED", None, False),
        (403, "PERMISSION_DENIED", None, False),
        (403, "PERMISSION_DENIED", "dailyLimitExceeded", False),
        (403, "PERMISSION_DENIED", "quotaExceeded", False),
        (403, None, "rateLimitExceeded", True),
        (403, None, "userRateLimitExceeded", True),
        (403, None, "backendError", True),
        (404, "NOT_FOUND", None, False),
    ],
)
def test_the_retryable_set(
    http_status: int | None, status: str | None, reason: str | None, expected: bool
) -> None:
    assert is_retryable(http_status, status, reason) is expected


@given(
    st.none() | st.integers(min_value=100, max_value=699),
    st.none() | st.sampled_from([*RETRYABLE_STATUSES, "PERMISSION_DENIED", "NOT_FOUND", "OK"]),
    st.none() | st.sampled_from([*RETRYABLE_REASONS, "dailyLimitExceeded", "forbidden"]),
)
def test_retryable_property(
    http_status: int | None, status: str | None, reason: str | None
) -> None:
    expected = (
        http_status is None
        or http_status == 429
        or 500 <= http_status <= 599
        or status in RETRYABLE_STATUSES
        or reason in RETRYABLE_REASONS
    )
    assert is_retryable(http_status, status, reason) is expected
    assert is_retryable(http_status, status) is (
        http_status is None
        or http_status == 429
        or 500 <= http_status <= 599
        or status in RETRYABLE_STATUSES
    )


def test_error_text() -> None:
    error = GoogleApiError(
        "Quota",
        provider="ga4",
        endpoint="/v1beta/x",
        http_status=429,
        status="RESOURCE_EXHAUSTED",
        reason="rateLimitExceeded",
    )
    assert (
        str(error)
        == "ga4 /v1beta/x failed (HTTP 429, RESOURCE_EXHAUSTED, rateLimitExceeded): Quota"
    )
    assert repr(error) == (
        "GoogleApiError('ga4 /v1beta/x failed (HTTP 429, RESOURCE_EXHAUSTED, rateLimitExceeded): "
        "Quota')"
    )
    bare = GoogleApiError("down", provider="search_console", endpoint="/q", http_status=None)
    assert str(bare) == "search_console /q failed (network error): down"
    assert (bare.status, bare.reason, bare.message, bare.provider) == (
        None,
        None,
        "down",
        "search_console",
    )


# --- through the clients -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls", "attempts", "message"),
    [
        ({"http_status": 429}, GoogleApiError, 5, "RESOURCE_EXHAUSTED"),
        ({"http_status": 500}, GoogleApiError, 5, "INTERNAL"),
        ({"http_status": 400}, GoogleApiError, 1, "INVALID_ARGUMENT"),
        ({"http_status": 400, "status": "ABORTED"}, GoogleApiError, 5, "ABORTED"),
        ({"http_status": 403}, PermissionDeniedError, 1, "PERMISSION_DENIED"),
        (
            {"http_status": 403, "reason": "dailyLimitExceeded"},
            PermissionDeniedError,
            1,
            "PERMISSION_DENIED",
        ),
        (
            {"http_status": 403, "reason": "userRateLimitExceeded"},
            PermissionDeniedError,
            5,
            "PERMISSION_DENIED",
        ),
        ({"http_status": 404}, GoogleApiError, 1, "NOT_FOUND"),
        (
            {"http_status": 400, "status": "UNAUTHENTICATED"},
            UnauthenticatedError,
            2,
            "UNAUTHENTICATED",
        ),
    ],
)
def test_ga4_failures_by_status_and_reason(
    sim: GoogleSimulator, fault: dict[str, Any], cls: type, attempts: int, message: str
) -> None:
    rec = Recorder()
    client = rec.ga4(sim)
    client.access_token()
    sim.state.inject(":runReport", count=20, **fault)
    with pytest.raises(GoogleApiError) as raised:
        list(client.iter_report(PROPERTY, DAY, DAY))
    assert type(raised.value) is cls
    assert raised.value.http_status == fault["http_status"]
    assert raised.value.reason == fault.get("reason")
    # attempts counted as the client saw them: the simulator's log may still get a late answer
    # of an earlier test's slow request
    assert len(rec.failures) == attempts
    failure = rec.failures[0]
    assert (failure.provider, failure.http_status, failure.code, failure.subcode) == (
        "ga4",
        fault["http_status"],
        fault["http_status"],
        None,
    )
    assert failure.message == f"{message}: {raised.value.message}"
    assert failure.endpoint == f"/v1beta/properties/{PROPERTY}:runReport"
    assert failure.occurred_at.tzinfo is not None


def test_search_console_legacy_reasons(sim: GoogleSimulator) -> None:
    rec = Recorder()
    sim.state.inject("searchAnalytics", count=1, http_status=403, reason="rateLimitExceeded")
    assert list(rec.search_console(sim).iter_rows(SITE, DAY, DAY)) is not None
    assert [(f.http_status, f.is_retryable) for f in rec.failures] == [(403, True)]
    sim.state.inject("searchAnalytics", count=5, http_status=403, reason="quotaExceeded")
    with pytest.raises(PermissionDeniedError) as raised:
        list(rec.search_console(sim).iter_rows(SITE, DAY, DAY))
    assert raised.value.reason == "quotaExceeded" and not raised.value.is_retryable


def test_the_token_endpoint(sim: GoogleSimulator) -> None:
    rec = Recorder()
    sim.state.inject("/token", count=2, http_status=500)
    token = rec.oauth(sim.token_url).refresh(REFRESH)
    assert [(f.http_status, f.is_retryable) for f in rec.failures] == [(500, True)] * 2
    assert rec.failures[0].message.startswith("internal_failure: ")
    assert len(rec.sleeps) == 2 and token.token
    sim.state.inject("/token", count=1, http_status=400)
    with pytest.raises(InvalidGrantError) as raised:
        rec.oauth(sim.token_url).refresh(REFRESH)
    assert (raised.value.reason, raised.value.http_status) == ("invalid_grant", 400)
    sim.state.inject("/token", count=1, http_status=400, oauth_error="invalid_client")
    with pytest.raises(GoogleApiError) as other:
        rec.oauth(sim.token_url).refresh(REFRESH)
    assert type(other.value) is GoogleApiError and other.value.reason == "invalid_client"


def test_an_access_token_is_renewed_60_seconds_before_it_expires(sim: GoogleSimulator) -> None:
    t0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    now = [t0]
    rec = Recorder()
    oauth = rec.oauth(sim.token_url, clock=lambda: now[0])
    client = Ga4Client(sim.url, oauth=oauth, refresh_token=REFRESH, clock=lambda: now[0])
    first = client.access_token()
    assert first.expires_at == t0 + timedelta(seconds=3599)
    assert first.scopes and all(
        s.startswith("https://www.googleapis.com/auth/") for s in first.scopes
    )
    now[0] = t0 + timedelta(seconds=3538)  # 61 s before expiry
    assert client.access_token() is first
    now[0] = t0 + timedelta(seconds=3539)  # 60 s before: renewed
    assert client.access_token() is not first
    assert sim.state.request_count("/token") == 2


# --- attempts and backoff --------------------------------------------------------------------


def _failing(sim: GoogleSimulator, **kw: Any) -> Recorder:
    rec = Recorder()
    client = rec.ga4(sim, **kw)
    client.access_token()
    sim.state.clear_faults()
    sim.state.inject(":runReport", count=50, http_status=503)
    with pytest.raises(GoogleApiError):
        list(client.iter_report(PROPERTY, DAY, DAY))
    return rec


def test_at_most_five_attempts_and_never_below_one(sim: GoogleSimulator) -> None:
    rec = _failing(sim)
    assert len(rec.failures) == 5 and len(rec.sleeps) == 4
    assert len(_failing(sim, max_attempts=2).failures) == 2
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        Recorder().ga4(sim, max_attempts=0)
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        Recorder().oauth(sim.token_url, max_attempts=0)


def test_backoff_is_base_2_exponential_with_full_jitter(sim: GoogleSimulator) -> None:
    random.seed(99)
    runs = [_failing(sim).sleeps for _ in range(24)]
    bounds = [1.0, 2.0, 4.0, 8.0]
    for pauses in runs:
        assert all(0 <= p <= b for p, b in zip(pauses, bounds, strict=True))
    for n, bound in enumerate(bounds):
        nth = [pauses[n] for pauses in runs]
        assert max(nth) > 0.5 * bound and min(nth) < 0.5 * bound


def test_backoff_is_capped(sim: GoogleSimulator) -> None:
    random.seed(5)
    runs = [_failing(sim, backoff_max_s=3.0).sleeps for _ in range(24)]
    bounds = [1.0, 2.0, 3.0, 3.0]
    for pauses in runs:
        assert all(0 <= p <= b for p, b in zip(pauses, bounds, strict=True))
    assert max(pauses[3] for pauses in runs) > 2.0


# --- paging bounds and data state ----------------------------------------------------------


def test_page_size_bounds(sim: GoogleSimulator) -> None:
    client = Recorder().ga4(sim)
    for bad in (0, 250_001):
        with pytest.raises(ValueError, match="page_size must be from 1 to 250000"):
            list(client.iter_report(PROPERTY, DAY, DAY, page_size=bad))
    assert list(client.iter_report(PROPERTY, DAY, DAY, page_size=1)) == list(
        client.iter_report(PROPERTY, DAY, DAY, page_size=250_000)
    )
    sc = Recorder().search_console(sim)
    for bad in (0, 25_001):
        with pytest.raises(ValueError, match="row_limit must be from 1 to 25000"):
            list(sc.iter_rows(SITE, DAY, DAY, row_limit=bad))
    with pytest.raises(ValueError, match="data_state must be final or all"):
        list(sc.iter_rows(SITE, DAY, DAY, data_state="fresh"))
    assert list(sc.iter_rows(SITE, DAY, DAY, row_limit=1)) == list(
        sc.iter_rows(SITE, DAY, DAY, row_limit=25_000)
    )


@pytest.mark.parametrize(
    ("row_date", "first_incomplete", "expected"),
    [
        ("2026-05-01", "2026-05-02", "final"),
        ("2026-05-02", "2026-05-02", "all"),
        ("2026-05-03", "2026-05-02", "all"),
        ("2026-05-03", None, "final"),
        ("2026-05-03", "", "final"),
    ],
)
def test_data_state(row_date: str, first_incomplete: str | None, expected: str) -> None:
    assert mark_data_state(row_date, first_incomplete) == expected


# --- what the clients send -------------------------------------------------------------------


def test_the_requests_the_clients_send(sim: GoogleSimulator) -> None:
    rec = Recorder()
    ga4 = rec.ga4(sim)
    sc = rec.search_console(sim)
    assert repr(ga4) == f"Ga4Client(base_url={sim.url.rstrip('/')!r})"
    assert repr(sc) == f"SearchConsoleClient(base_url={sim.url.rstrip('/')!r})"
    assert sc.last_aggregation_type is None
    list(ga4.iter_report(PROPERTY, DAY, DAY, page_size=1000))
    list(sc.iter_rows("sc-domain:x.example", DAY, DAY))
    calls = [r for r in sim.state.requests if r.path != "/token"]
    assert calls[0].path == f"/v1beta/properties/{PROPERTY}:runReport"
    assert calls[0].body == {
        "dateRanges": [{"startDate": "2026-05-01", "endDate": "2026-05-01"}],
        "dimensions": [
            {"name": "date"},
            {"name": "region"},
            {"name": "sessionDefaultChannelGroup"},
        ],
        "metrics": [
            {"name": m}
            for m in (
                "sessions",
                "totalUsers",
                "newUsers",
                "screenPageViews",
                "engagedSessions",
                "keyEvents",
            )
        ],
        # a stable order across pages: GA4 promises none without orderBys
        "orderBys": [
            {"dimension": {"dimensionName": "date"}},
            {"dimension": {"dimensionName": "region"}},
            {"dimension": {"dimensionName": "sessionDefaultChannelGroup"}},
        ],
        "offset": 0,
        "limit": 1000,
        "keepEmptyRows": False,
        "returnPropertyQuota": True,
    }
    assert calls[-1].path == "/webmasters/v3/sites/sc-domain:x.example/searchAnalytics/query"
    assert calls[-1].body == {
        "startDate": "2026-05-01",
        "endDate": "2026-05-01",
        "dimensions": ["date", "query", "page", "country", "device"],
        "type": "web",
        "aggregationType": "auto",
        "dataState": "all",
        "rowLimit": 25000,
        "startRow": 0,
    }
    assert isinstance(sc.last_aggregation_type, str)


def test_search_console_failures_name_their_provider(sim: GoogleSimulator) -> None:
    rec = Recorder()
    sim.state.inject("searchAnalytics", count=1, http_status=400)
    with pytest.raises(GoogleApiError) as raised:
        list(rec.search_console(sim).iter_rows(SITE, DAY, DAY))
    assert str(raised.value).startswith("search_console /webmasters/v3/sites/")
    assert [f.provider for f in rec.failures] == ["search_console"]
    with pytest.raises(ValueError) as bad:
        list(rec.search_console(sim).iter_rows(SITE, DAY, DAY, data_state="fresh"))
    assert str(bad.value) == "data_state must be final or all"


def test_search_console_reads_the_legacy_errors_list(sim: GoogleSimulator) -> None:
    rec = Recorder()
    sim.state.inject("searchAnalytics", count=1, http_status=403)  # errors[].reason only
    with pytest.raises(PermissionDeniedError) as raised:
        list(rec.search_console(sim).iter_rows(SITE, DAY, DAY))
    assert raised.value.reason == "forbidden"


def test_a_401_is_unauthenticated_whatever_its_status(sim: GoogleSimulator) -> None:
    rec = Recorder()
    client = rec.ga4(sim)
    sim.state.inject(":runReport", count=2, http_status=401, status="PERMISSION_DENIED")
    with pytest.raises(UnauthenticatedError):
        list(client.iter_report(PROPERTY, DAY, DAY))
    assert sim.state.request_count("/token") == 2  # exchanged again once


def test_failures_and_retries_are_logged(
    sim: GoogleSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    client = rec.ga4(sim)
    client.access_token()
    sim.state.inject(":runReport", count=1, http_status=503)
    with caplog.at_level("INFO", logger="adinsights_pipelines.defs.google.client"):
        list(client.iter_report(PROPERTY, DAY, DAY))
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    path = f"/v1beta/properties/{PROPERTY}:runReport"
    message = rec.failures[0].message.removeprefix("UNAVAILABLE: ")
    assert records == [
        ("WARNING", f"ga4 {path} failed (HTTP 503, UNAVAILABLE): {message}"),
        ("INFO", f"retrying ga4 call (attempt 2) in {rec.sleeps[0]:.2f}s"),
    ]


def test_ga4_rows_carry_every_metric_and_the_answer_s_quota(sim: GoogleSimulator) -> None:
    client = Recorder().ga4(sim, max_attempts=1)
    assert (client.last_property_quota, client.last_metadata) == ({}, {})
    rows = list(client.iter_report(PROPERTY, DAY, DAY))
    assert rows
    for row in rows:
        assert set(row) == {
            "date",
            "region",
            "sessionDefaultChannelGroup",
            "sessions",
            "totalUsers",
            "newUsers",
            "screenPageViews",
            "engagedSessions",
            "keyEvents",
        }
        assert all(row[m].isdigit() for m in ("sessions", "totalUsers", "newUsers"))
    assert sum(int(r["sessions"]) for r in rows) > 0
    assert client.last_property_quota and client.last_metadata
    assert client.base_url == sim.url.rstrip("/")
    assert Ga4Client(
        "http://x.example/", oauth=Recorder().oauth(sim.token_url), refresh_token="r"
    ).base_url == ("http://x.example")


# --- answers that are not Google's envelope (a proxy, an outage page) -------------------------


def test_answers_without_a_google_body(scripted: Scripted) -> None:
    rec = Recorder()
    oauth = rec.oauth(f"{scripted.url}/token", max_attempts=2)
    scripted.answers = [(502, "Bad Gateway", b"<html/>"), (200, "OK", b"[1]")]
    with pytest.raises(GoogleApiError) as raised:
        oauth.refresh("r")
    assert raised.value.message == "the answer is not a JSON object"
    assert (raised.value.status, raised.value.http_status) == ("INTERNAL", 200)
    assert [f.message for f in rec.failures] == [
        "HTTP 502 Bad Gateway without a Google error body",
        "INTERNAL: the answer is not a JSON object",
    ]
    assert [(f.http_status, f.is_retryable) for f in rec.failures] == [(502, True), (200, True)]
    assert rec.failures[0].endpoint == "/token"


def test_token_answers(scripted: Scripted) -> None:
    t0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    oauth = GoogleOAuth(f"{scripted.url}/token", "c", "s", provider="ga4", clock=lambda: t0)
    scripted.answers = [
        (200, "OK", b'{"access_token": "at-1"}'),
        (200, "OK", b'{"access_token": "at-2", "expires_in": "120", "scope": "a b"}'),
        (200, "OK", b'{"expires_in": 10}'),
        (400, "", b'{"error": "invalid_grant", "error_description": "Token has been revoked."}'),
        (400, "", b'{"error": "invalid_request"}'),
    ]
    first = oauth.refresh("r")
    assert (first.token, first.expires_at, first.scopes) == ("at-1", t0 + timedelta(hours=1), ())
    second = oauth.refresh("r")
    assert (second.expires_at, second.scopes) == (t0 + timedelta(seconds=120), ("a", "b"))
    with pytest.raises(GoogleApiError) as missing:
        oauth.refresh("r")
    assert missing.value.message == "the token endpoint answered without an access_token"
    assert (missing.value.endpoint, missing.value.http_status) == ("/token", 200)
    with pytest.raises(InvalidGrantError) as revoked:
        oauth.refresh("r")
    assert (revoked.value.message, revoked.value.reason) == (
        "Token has been revoked.",
        "invalid_grant",
    )
    with pytest.raises(GoogleApiError) as bad:
        oauth.refresh("r")
    assert (type(bad.value), bad.value.message, bad.value.reason) == (
        GoogleApiError,
        "invalid_request",
        "invalid_request",
    )
    assert repr(oauth) == f"GoogleOAuth(token_url='{scripted.url}/token')"


def test_network_errors_are_unavailable_and_other_request_errors_are_not() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for url, status, message in [
        (f"http://127.0.0.1:{port}/token", "UNAVAILABLE", "ConnectionError talking to ga4"),
        ("http:///token", None, "InvalidURL talking to ga4"),
    ]:
        rec = Recorder()
        oauth = rec.oauth(url, max_attempts=2)
        with pytest.raises(GoogleApiError) as raised:
            oauth.refresh("r")
        assert (raised.value.status, raised.value.message, raised.value.http_status) == (
            status,
            message,
            None,
        )
        assert raised.value.provider == "ga4" and raised.value.endpoint == "/token"
        assert len(rec.failures) == 2  # no HTTP status: worth repeating either way


# --- row shapes, error bodies and what goes on the wire (issue #24's survivors) ---------------


def test_search_console_rows_carry_the_four_metrics(sim: GoogleSimulator) -> None:
    rows = list(Recorder().search_console(sim).iter_rows(SITE, DAY, DAY, row_limit=500))
    assert rows
    for row in rows:
        assert set(row) == {
            "date",
            "query",
            "page",
            "country",
            "device",
            "clicks",
            "impressions",
            "ctr",
            "position",
            "data_state",
        }
        assert row["impressions"] >= max(1, row["clicks"])
        assert row["ctr"] == pytest.approx(row["clicks"] / row["impressions"])
        assert row["position"] >= 1.0


def _scripted_search_console(scripted: Scripted, rec: Recorder) -> SearchConsoleClient:
    oauth = GoogleOAuth(f"{scripted.url}/token", "c", "s", provider="search_console")
    return rec.client(SearchConsoleClient, scripted.url, oauth, "r")


TOKEN_ANSWER = (200, "OK", b'{"access_token": "at-scripted", "expires_in": 3599}')


def test_search_console_rows_as_google_renders_them(scripted: Scripted) -> None:
    """Rows keyed by the requested dimensions, metrics as sent; a metric Google leaves out
    (proto3 JSON omits zeros) reads 0, and a row without ``keys`` (no dimension requested)
    has the metrics only. Without ``firstIncompleteDate`` every row is ``final``."""
    scripted.answers = [
        TOKEN_ANSWER,
        (
            200,
            "OK",
            b'{"rows": [{"keys": ["2026-05-01", "jerk chicken"], "clicks": 3, '
            b'"impressions": 10, "ctr": 0.3, "position": 1.5}, '
            b'{"keys": ["2026-05-02", "patty"], "impressions": 4, "position": 7.25}], '
            b'"metadata": {"firstIncompleteDate": "2026-05-02"}, '
            b'"responseAggregationType": "byProperty"}',
        ),
        (200, "OK", b'{"responseAggregationType": "byProperty"}'),
        (200, "OK", b'{"rows": [{"clicks": 5, "impressions": 50, "ctr": 0.1, "position": 2}]}'),
    ]
    client = _scripted_search_console(scripted, Recorder())
    rows = list(client.iter_rows(SITE, DAY, DAY, dimensions=("date", "query"), row_limit=2))
    assert rows == [
        {
            "date": "2026-05-01",
            "query": "jerk chicken",
            "clicks": 3,
            "impressions": 10,
            "ctr": 0.3,
            "position": 1.5,
            "data_state": "final",
        },
        {
            "date": "2026-05-02",
            "query": "patty",
            "clicks": 0,
            "impressions": 4,
            "ctr": 0,
            "position": 7.25,
            "data_state": "all",
        },
    ]
    assert client.last_aggregation_type == "byProperty"
    assert list(client.iter_rows(SITE, DAY, DAY, dimensions=())) == [
        {"clicks": 5, "impressions": 50, "ctr": 0.1, "position": 2, "data_state": "final"}
    ]
    assert client.last_aggregation_type is None  # the last answer named none
    assert [orjson.loads(b)["startRow"] for b in scripted.bodies[1:]] == [0, 2, 0]


def test_google_error_bodies_without_a_message_or_a_string_status(scripted: Scripted) -> None:
    rec = Recorder()
    oauth = GoogleOAuth(f"{scripted.url}/token", "c", "s", provider="ga4")
    client = rec.client(Ga4Client, scripted.url, oauth, "r", max_attempts=2)
    path = f"/v1beta/properties/{PROPERTY}:runReport"
    scripted.answers = [
        TOKEN_ANSWER,
        (500, "Internal Server Error", b'{"error": {"code": 500, "status": "INTERNAL"}}'),
        (503, "Service Unavailable", b'{"error": {"code": 503, "status": 14, "message": "down"}}'),
    ]
    with pytest.raises(GoogleApiError) as raised:
        list(client.iter_report(PROPERTY, DAY, DAY))
    assert (raised.value.status, raised.value.message, raised.value.http_status) == (
        None,  # a status that is not a string is no status
        "down",
        503,
    )
    assert str(raised.value) == f"ga4 {path} failed (HTTP 503): down"
    assert [(f.message, f.is_retryable) for f in rec.failures] == [
        ("INTERNAL: unknown Google error", True),
        ("down", True),
    ]


def test_every_error_names_its_provider_and_endpoint(scripted: Scripted) -> None:
    def refused(answer: tuple[int, str, bytes]) -> GoogleApiError:
        scripted.answers = [answer]
        oauth = GoogleOAuth(f"{scripted.url}/token", "c", "s", provider="ga4", max_attempts=1)
        with pytest.raises(GoogleApiError) as raised:
            oauth.refresh("r")
        assert (raised.value.provider, raised.value.endpoint) == ("ga4", "/token")
        return raised.value

    assert type(refused((400, "", b'{"error": "invalid_grant"}'))) is InvalidGrantError
    assert refused((502, "Bad Gateway", b"<html/>")).message == (
        "HTTP 502 Bad Gateway without a Google error body"
    )
    assert refused((200, "OK", b"null")).message == "the answer is not a JSON object"


class WireSession(requests.Session):
    """A real requests session that notes what each request carried on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, Mapping[str, str], Any]] = []

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        # header names stay case-insensitive, as on the wire
        headers = request.headers.copy()
        self.sent.append((urlsplit(request.url or "").path, headers, kw["timeout"]))
        return super().send(request, **kw)


def test_what_goes_on_the_wire(sim: GoogleSimulator) -> None:
    token_session, data_session = WireSession(), WireSession()
    oauth = GoogleOAuth(
        sim.token_url, "client", "client-secret", provider="ga4", session=token_session
    )
    client = Ga4Client(sim.url, oauth=oauth, refresh_token=REFRESH, session=data_session)
    list(client.iter_report(PROPERTY, DAY, DAY))
    [(token_path, token_headers, token_timeout)] = token_session.sent
    assert token_path == "/token" and token_timeout == 30.0
    # the refresh token travels in a form body, the API call's body is JSON
    assert token_headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in token_headers
    [(path, headers, timeout)] = data_session.sent
    assert path == f"/v1beta/properties/{PROPERTY}:runReport" and timeout == 60.0
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == f"Bearer {client.access_token().token}"


def test_constructor_checks_and_base_urls(sim: GoogleSimulator) -> None:
    with pytest.raises(ValueError) as raised:
        Recorder().ga4(sim, max_attempts=0)
    assert str(raised.value) == "max_attempts must be at least 1"
    oauth = Recorder().oauth(sim.token_url)
    # only trailing slashes go: a base URL may end in any other character
    assert Ga4Client("http://proxy.example/GX/", oauth=oauth, refresh_token="r").base_url == (
        "http://proxy.example/GX"
    )
    assert SearchConsoleClient(
        "http://proxy.example/X//", oauth=oauth, refresh_token="r"
    ).base_url == ("http://proxy.example/X")


def _scripted_ga4(scripted: Scripted, rec: Recorder, **kw: Any) -> Ga4Client:
    oauth = GoogleOAuth(f"{scripted.url}/token", "c", "s", provider="ga4")
    return Ga4Client(
        scripted.url,
        oauth=oauth,
        refresh_token="r",
        on_error=rec.failures.append,
        sleep=rec.sleeps.append,
        **kw,
    )


def test_ga4_rows_as_google_renders_them(scripted: Scripted) -> None:
    """proto3 JSON leaves out empty lists: a report without dimensions has rows without
    ``dimensionValues``, one without metrics rows without ``metricValues``; a value left out
    reads as the empty string. A property id is one path segment."""
    scripted.answers = [
        TOKEN_ANSWER,
        (
            200,
            "OK",
            b'{"metricHeaders": [{"name": "sessions"}, {"name": "newUsers"}], '
            b'"rows": [{"metricValues": [{"value": "12"}, {}]}], "rowCount": 1}',
        ),
        (
            200,
            "OK",
            b'{"dimensionHeaders": [{"name": "region"}, {"name": "date"}], '
            b'"rows": [{"dimensionValues": [{}, {"value": "20260501"}]}], "rowCount": 1}',
        ),
    ]
    client = _scripted_ga4(scripted, Recorder())
    assert list(
        client.iter_report("1/2", DAY, DAY, dimensions=(), metrics=("sessions", "newUsers"))
    ) == [{"sessions": "12", "newUsers": ""}]
    assert list(
        client.iter_report(PROPERTY, DAY, DAY, dimensions=("region", "date"), metrics=())
    ) == [{"region": "", "date": "20260501"}]
    assert scripted.paths[1:] == [
        "/v1beta/properties/1%2F2:runReport",
        f"/v1beta/properties/{PROPERTY}:runReport",
    ]


def test_a_report_without_a_requested_column_is_an_error(scripted: Scripted) -> None:
    scripted.answers = [
        TOKEN_ANSWER,
        (
            200,
            "OK",
            b'{"dimensionHeaders": [{"name": "date"}], "metricHeaders": [{"name": "sessions"}], '
            b'"rows": [{"dimensionValues": [{"value": "20260501"}], '
            b'"metricValues": [{"value": "3"}]}], "rowCount": 1}',
        ),
    ]
    rec = Recorder()
    client = _scripted_ga4(scripted, rec)
    with pytest.raises(GoogleApiError) as raised:
        list(
            client.iter_report(
                PROPERTY, DAY, DAY, dimensions=("date",), metrics=("sessions", "keyEvents")
            )
        )
    path = f"/v1beta/properties/{PROPERTY}:runReport"
    assert type(raised.value) is GoogleApiError
    assert (
        str(raised.value) == f"ga4 {path} failed (HTTP 200): the report lacks columns ['keyEvents']"
    )
    assert (raised.value.provider, raised.value.endpoint, raised.value.http_status) == (
        "ga4",
        path,
        200,
    )
    assert raised.value.status is None and not rec.failures  # the call itself succeeded


def test_the_reason_is_the_first_error_info_among_the_details(scripted: Scripted) -> None:
    # Google puts Help and other detail types next to ErrorInfo, in any order
    scripted.answers = [
        TOKEN_ANSWER,
        (
            403,
            "Forbidden",
            b'{"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED", "details": ['
            b'"not an object", '
            b'{"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": "https://x"}]}, '
            b'{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": 7}, '
            b'{"@type": "type.googleapis.com/google.rpc.ErrorInfo", '
            b'"reason": "SERVICE_DISABLED"}]}}',
        ),
    ]
    with pytest.raises(PermissionDeniedError) as raised:
        list(_scripted_ga4(scripted, Recorder()).iter_report(PROPERTY, DAY, DAY))
    assert raised.value.reason == "SERVICE_DISABLED" and not raised.value.is_retryable


def test_the_token_endpoint_is_tried_five_times(sim: GoogleSimulator) -> None:
    rec = Recorder()
    sim.state.inject("/token", count=10, http_status=503)
    with pytest.raises(GoogleApiError) as raised:
        rec.oauth(sim.token_url).refresh(REFRESH)
    assert raised.value.http_status == 503
    assert len(rec.failures) == 5 and len(rec.sleeps) == 4


@pytest.mark.parametrize("answer", [b'{"access_token": ""}', b'{"access_token": 12345678}'])
def test_a_token_answer_without_a_usable_access_token(scripted: Scripted, answer: bytes) -> None:
    scripted.answers = [(200, "OK", answer)]
    oauth = GoogleOAuth(f"{scripted.url}/token", "c", "s", provider="search_console")
    with pytest.raises(GoogleApiError) as raised:
        oauth.refresh("r")
    assert str(raised.value) == (
        "search_console /token failed (HTTP 200): "
        "the token endpoint answered without an access_token"
    )
    assert raised.value.provider == "search_console"


def test_the_client_secret_and_access_tokens_are_masked_in_logs(scripted: Scripted) -> None:
    from adinsights_pipelines.logs import redact

    # fresh values each run: the set of known secrets lives as long as the process
    secret, access = f"cs-{uuid.uuid4().hex}", f"at-{uuid.uuid4().hex}"
    assert redact(f"client {secret}, token {access}") == f"client {secret}, token {access}"
    oauth = GoogleOAuth(f"{scripted.url}/token", "c", secret, provider="ga4")
    assert redact(f"client {secret}!") == "client ***!"
    assert redact(f"token {access}") == f"token {access}"  # not known yet
    scripted.answers = [(200, "OK", orjson.dumps({"access_token": access}))]
    assert oauth.refresh("r").token == access
    assert redact(f"token {access}") == "token ***"


def test_the_default_endpoints_are_google_s() -> None:
    oauth = GoogleOAuth("https://oauth2.googleapis.com/token", "c", "s", provider="ga4")
    assert Ga4Client(oauth=oauth, refresh_token="r").base_url == (
        "https://analyticsdata.googleapis.com"
    )
    assert SearchConsoleClient(oauth=oauth, refresh_token="r").base_url == (
        "https://www.googleapis.com"
    )
