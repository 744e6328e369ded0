"""The GA4 and Search Console clients against the Google simulator: paging, retries, errors."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from adinsights_pipelines.defs.google.client import (
    Ga4Client,
    GoogleApiError,
    GoogleOAuth,
    InvalidGrantError,
    PermissionDeniedError,
    SearchConsoleClient,
)
from adinsights_pipelines.simulators.google import GoogleSimulator
from tests.google.clients import Recorder

REFRESH = "sim_client_test_refresh_7d1c"
SITE = "https://www.island-grill.com/"
PROPERTY = "420000001"


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def ga4(sim: GoogleSimulator, rec: Recorder, token: str = REFRESH, **kw) -> Ga4Client:
    oauth = GoogleOAuth(
        sim.token_url, "client", "client-secret", provider="ga4", sleep=rec.sleeps.append
    )
    return rec.client(Ga4Client, sim.url, oauth, token, **kw)


def search_console(sim: GoogleSimulator, rec: Recorder, **kw) -> SearchConsoleClient:
    oauth = GoogleOAuth(sim.token_url, "client", "client-secret", provider="search_console")
    return rec.client(SearchConsoleClient, sim.url, oauth, REFRESH, **kw)


def jamaica_today() -> date:
    return datetime.now(ZoneInfo("America/Jamaica")).date()


def pacific_today() -> date:
    return datetime.now(ZoneInfo("America/Los_Angeles")).date()


def test_ga4_pages_by_offset_until_row_count(sim: GoogleSimulator, rec: Recorder) -> None:
    today = jamaica_today()
    rows = list(ga4(sim, rec).iter_report(PROPERTY, today - timedelta(days=2), today, page_size=40))

    keys = [(r["date"], r["region"], r["sessionDefaultChannelGroup"]) for r in rows]
    assert len(keys) == len(set(keys)) > 80  # several pages, nothing twice
    calls = [r for r in sim.state.requests if r.path.endswith(":runReport")]
    assert [c.body["offset"] for c in calls] == list(range(0, len(rows), 40))
    assert all(c.body["limit"] == 40 for c in calls)
    first = rows[0]
    assert set(first) == {
        "date", "region", "sessionDefaultChannelGroup", "sessions", "totalUsers", "newUsers",
        "screenPageViews", "engagedSessions", "keyEvents",
    }  # fmt: skip
    assert len(first["date"]) == 8 and first["date"].isdigit()
    assert all(isinstance(v, str) for v in first.values())
    assert {r["region"] for r in rows} >= {"Kingston Parish", "Saint Andrew Parish", "(not set)"}
    assert not rec.failures


def test_ga4_pages_stay_consistent_while_recent_days_grow(
    sim: GoogleSimulator, rec: Recorder
) -> None:
    # GA4 does not promise an order without orderBys; numbers of days still being processed
    # grow between two page calls. Each page must still continue where the last one ended.
    sim.state.set_now(datetime(2026, 11, 20, 15, tzinfo=ZoneInfo("UTC")))  # 10:00 in Kingston
    since, until = date(2026, 11, 17), date(2026, 11, 20)
    rows = ga4(sim, rec).iter_report(PROPERTY, since, until, page_size=30)
    seen = [next(rows) for _ in range(30)]  # the first page
    sim.state.advance(timedelta(hours=9))
    seen += list(rows)
    keys = [(r["date"], r["region"], r["sessionDefaultChannelGroup"]) for r in seen]
    assert len(keys) == len(set(keys))
    everything = ga4(sim, rec).iter_report(PROPERTY, since, until)
    assert set(keys) == {
        (r["date"], r["region"], r["sessionDefaultChannelGroup"]) for r in everything
    }
    assert {k[0] for k in keys} == {"20261117", "20261118", "20261119", "20261120"}


def test_search_console_pages_by_start_row_until_a_short_page(
    sim: GoogleSimulator, rec: Recorder
) -> None:
    today = pacific_today()
    client = search_console(sim, rec)
    rows = list(client.iter_rows(SITE, today - timedelta(days=4), today, row_limit=60))

    keys = [(r["date"], r["query"], r["page"], r["country"], r["device"]) for r in rows]
    assert len(keys) == len(set(keys)) > 120
    calls = [r for r in sim.state.requests if "searchAnalytics" in r.path]
    assert [c.body["startRow"] for c in calls] == list(range(0, 60 * len(calls), 60))
    assert len(rows) == 60 * (len(calls) - 1) + (len(rows) % 60)
    assert all(c.body["dataState"] == "all" and c.body["rowLimit"] == 60 for c in calls)
    assert client.last_aggregation_type == "byPage"
    clicks = [r["clicks"] for r in rows]
    assert clicks == sorted(clicks, reverse=True)  # Search Console sorts by clicks


def test_search_console_marks_days_from_first_incomplete_date_as_fresh(
    sim: GoogleSimulator, rec: Recorder
) -> None:
    today = pacific_today()
    rows = list(
        search_console(sim, rec).iter_rows(SITE, today - timedelta(days=5), today, row_limit=500)
    )
    states = {r["date"]: r["data_state"] for r in rows}
    fresh = {d for d, s in states.items() if s == "all"}
    # The simulator's last three days (today included) are not final yet.
    assert fresh == {(today - timedelta(days=n)).isoformat() for n in range(3)} & set(states)
    assert {s for d, s in states.items() if d not in fresh} == {"final"}

    final_only = list(
        search_console(sim, rec).iter_rows(
            SITE, today - timedelta(days=5), today, data_state="final", row_limit=500
        )
    )
    assert {r["data_state"] for r in final_only} == {"final"}
    assert {r["date"] for r in final_only} == set(states) - fresh


def test_rate_limits_are_retried_with_backoff_and_each_failure_reported(
    sim: GoogleSimulator, rec: Recorder
) -> None:
    sim.state.inject(":runReport", count=2, http_status=429)
    today = jamaica_today()
    rows = list(ga4(sim, rec).iter_report(PROPERTY, today, today))

    assert rows
    assert len(rec.failures) == 2 and len(rec.sleeps) == 2
    failure = rec.failures[0]
    assert failure.provider == "ga4" and failure.http_status == 429 and failure.is_retryable
    assert failure.message.startswith("RESOURCE_EXHAUSTED")
    assert failure.endpoint == f"/v1beta/properties/{PROPERTY}:runReport"
    # Full jitter over base-2 exponential waits: 0..1 s, then 0..2 s.
    assert 0 <= rec.sleeps[0] <= 1 and 0 <= rec.sleeps[1] <= 2


def test_server_errors_stop_after_five_attempts(sim: GoogleSimulator, rec: Recorder) -> None:
    sim.state.inject("searchAnalytics", count=10, http_status=503)
    today = pacific_today()
    with pytest.raises(GoogleApiError) as caught:
        list(search_console(sim, rec).iter_rows(SITE, today, today))
    assert caught.value.http_status == 503 and caught.value.status == "UNAVAILABLE"
    assert sim.state.request_count("searchAnalytics") == 5
    assert len(rec.failures) == 5 and all(f.is_retryable for f in rec.failures)


def test_permission_denied_is_not_retried(sim: GoogleSimulator, rec: Recorder) -> None:
    sim.state.configure(deny_properties=[PROPERTY])
    today = jamaica_today()
    with pytest.raises(PermissionDeniedError) as caught:
        list(ga4(sim, rec).iter_report(PROPERTY, today, today))
    assert caught.value.status == "PERMISSION_DENIED" and not caught.value.is_retryable
    assert sim.state.request_count(":runReport") == 1
    assert [f.http_status for f in rec.failures] == [403]


def test_expired_access_token_is_exchanged_again_once_mid_sync(
    sim: GoogleSimulator, rec: Recorder
) -> None:
    today = jamaica_today()
    client = ga4(sim, rec)
    first = client.access_token()
    sim.state.advance(timedelta(hours=2))  # past the access token's lifetime at Google
    rows = list(client.iter_report(PROPERTY, today - timedelta(days=1), today, page_size=500))

    assert rows and client.access_token().token != first.token
    assert sim.state.request_count("/token") == 2  # the 401 made it exchange once more
    assert [(f.http_status, f.is_retryable) for f in rec.failures] == [(401, False)]
    assert rec.failures[0].message.startswith("UNAUTHENTICATED")


def test_revoked_refresh_token_fails_at_once_with_invalid_grant(
    sim: GoogleSimulator, rec: Recorder
) -> None:
    sim.state.revoke(REFRESH)
    today = jamaica_today()
    with pytest.raises(InvalidGrantError) as caught:
        list(ga4(sim, rec).iter_report(PROPERTY, today, today))
    assert caught.value.reason == "invalid_grant" and not caught.value.is_retryable
    assert sim.state.request_count("/token") == 1
    assert sim.state.request_count(":runReport") == 0
    assert REFRESH not in str(caught.value) and REFRESH not in repr(caught.value)


def test_tokens_travel_only_in_headers_and_bodies(sim: GoogleSimulator, rec: Recorder) -> None:
    sim.state.inject(":runReport", count=1, http_status=500)
    today = jamaica_today()
    client = ga4(sim, rec)
    list(client.iter_report(PROPERTY, today, today))
    access = client.access_token().token
    for record in sim.state.requests:
        assert REFRESH not in record.path and access not in record.path
        assert REFRESH not in str(record.body) and access not in str(record.body)
    for failure in rec.failures:
        assert REFRESH not in repr(failure) and access not in repr(failure)
    assert access not in repr(client.access_token())


def test_network_errors_and_timeouts_are_retried(sim: GoogleSimulator, rec: Recorder) -> None:
    sim.state.configure(latency_s=0.3)
    today = jamaica_today()
    client = ga4(sim, rec, timeout=0.05, max_attempts=2)
    client.access_token()  # the token endpoint is slow too; exchange before the short timeout
    with pytest.raises(GoogleApiError) as caught:
        list(client.iter_report(PROPERTY, today, today))
    assert caught.value.http_status is None and caught.value.is_retryable
    assert [f.http_status for f in rec.failures] == [None, None]
