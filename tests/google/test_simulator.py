"""The Google simulator answers with Google's documented shapes, errors and knobs (over HTTP)."""

from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests

from adinsights_pipelines.simulators.google import GA4_REGIONS, GoogleSimulator

SITE = "https://www.blue-mountain.jm/"


def exchange(sim: GoogleSimulator, refresh_token: str = "sim_fidelity") -> requests.Response:
    return requests.post(
        sim.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "c",
            "client_secret": "s",
        },
        timeout=10,
    )


def bearer(sim: GoogleSimulator, refresh_token: str = "sim_fidelity") -> dict[str, str]:
    return {"Authorization": f"Bearer {exchange(sim, refresh_token).json()['access_token']}"}


def run_report(sim: GoogleSimulator, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(
        f"{sim.url}/v1beta/properties/555:runReport",
        json=body,
        headers=headers if headers is not None else bearer(sim),
        timeout=10,
    )


def query(sim: GoogleSimulator, body: dict, site: str = SITE, **kw) -> requests.Response:
    return requests.post(
        f"{sim.url}/webmasters/v3/sites/{quote(site, safe='')}/searchAnalytics/query",
        json=body,
        headers=kw.get("headers") or bearer(sim, kw.get("token", "sim_fidelity")),
        timeout=10,
    )


def today(tz: str) -> str:
    return datetime.now(ZoneInfo(tz)).date().isoformat()


def test_token_endpoint_follows_oauth_shapes(sim: GoogleSimulator) -> None:
    ok = exchange(sim)
    assert ok.status_code == 200
    assert set(ok.json()) == {"access_token", "expires_in", "scope", "token_type"}
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 3599

    revoked = exchange(sim, "sim_revoked_x")
    assert revoked.status_code == 400
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    no_client = requests.post(
        sim.token_url, data={"grant_type": "refresh_token", "refresh_token": "sim_x"}, timeout=5
    )
    assert no_client.status_code == 401 and no_client.json()["error"] == "invalid_client"
    requests.post(f"{sim.url}/__sim__/revoke", json={"refresh_token": "sim_fidelity"}, timeout=5)
    assert exchange(sim).json()["error"] == "invalid_grant"


def test_run_report_answers_headers_string_values_and_row_count(sim: GoogleSimulator) -> None:
    body = {
        "dateRanges": [{"startDate": "2daysAgo", "endDate": "today"}],
        "dimensions": [{"name": "date"}, {"name": "region"}],
        "metrics": [{"name": "sessions"}, {"name": "keyEvents"}],
        "limit": "5",
        "returnPropertyQuota": True,
    }
    answer = run_report(sim, body).json()
    assert answer["kind"] == "analyticsData#runReport"
    assert answer["dimensionHeaders"] == [{"name": "date"}, {"name": "region"}]
    assert answer["metricHeaders"][0] == {"name": "sessions", "type": "TYPE_INTEGER"}
    row = answer["rows"][0]
    assert row["dimensionValues"][0]["value"].isdigit()
    assert all(isinstance(v["value"], str) for v in row["metricValues"])
    assert answer["metadata"]["timeZone"] == "America/Jamaica"
    assert set(answer["propertyQuota"]) >= {"tokensPerDay", "tokensPerHour"}

    everything = run_report(sim, {**body, "limit": 1000}).json()["rows"]
    pairs = {tuple(v["value"] for v in r["dimensionValues"]) for r in everything}
    assert len(answer["rows"]) == 5 and answer["rowCount"] == len(everything) == len(pairs)
    days = {d for d, _ in pairs}
    assert max(days) == today("America/Jamaica").replace("-", "") and len(days) == 3
    regions = {r for _, r in pairs}
    assert regions <= set(GA4_REGIONS) and "Saint Andrew Parish" in regions
    past_end = run_report(sim, {**body, "offset": 10_000}).json()
    assert "rows" not in past_end and past_end["rowCount"] == len(everything)
    future = {**body, "dateRanges": [{"startDate": "2099-01-01", "endDate": "2099-01-02"}]}
    assert "rows" not in run_report(sim, future).json()


def test_bad_requests_answer_the_google_error_envelope(sim: GoogleSimulator) -> None:
    bad = run_report(
        sim,
        {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "dimensions": [{"name": "pageTitle"}],
        },
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert "pageTitle is not a valid dimension" in error["message"]

    anonymous = run_report(sim, {}, headers={})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["status"] == "UNAUTHENTICATED"
    assert anonymous.json()["error"]["details"][0]["reason"] == "CREDENTIALS_MISSING"

    too_many = query(sim, {"startDate": "2026-01-01", "endDate": "2026-01-02", "rowLimit": 25001})
    assert too_many.status_code == 400 and too_many.json()["error"]["status"] == "INVALID_ARGUMENT"

    gsc_only = run_report(
        sim,
        {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "metrics": [{"name": "sessions"}],
        },
        headers=bearer(sim, "sim_x_gsconly_1"),
    )
    assert gsc_only.status_code == 403
    assert gsc_only.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"

    unencoded = requests.post(
        f"{sim.url}/webmasters/v3/sites/{SITE}searchAnalytics/query",
        json={"startDate": "2026-01-01", "endDate": "2026-01-01"},
        headers=bearer(sim),
        timeout=5,
    )
    assert unencoded.status_code == 404  # the site URL must be one encoded path segment


def test_search_console_fresh_days_only_in_data_state_all(sim: GoogleSimulator) -> None:
    end = datetime.now(ZoneInfo("America/Los_Angeles")).date()
    body = {
        "startDate": (end - timedelta(days=6)).isoformat(),
        "endDate": end.isoformat(),
        "dimensions": ["date"],
    }
    final = query(sim, body).json()
    fresh = query(sim, {**body, "dataState": "all"}).json()
    final_days = {r["keys"][0] for r in final["rows"]}
    all_days = {r["keys"][0] for r in fresh["rows"]}
    first_incomplete = (end - timedelta(days=2)).isoformat()
    assert max(final_days) < first_incomplete <= max(all_days)
    assert "metadata" not in final
    assert fresh["metadata"] == {"firstIncompleteDate": first_incomplete}
    assert fresh["responseAggregationType"] == "byProperty"

    # Three days later the fresh days are final, with their complete numbers.
    sim.state.advance(timedelta(days=3))
    later = query(sim, body).json()
    before = {r["keys"][0]: r["clicks"] for r in fresh["rows"]}
    after = {r["keys"][0]: r["clicks"] for r in later["rows"]}
    assert first_incomplete in after and after[first_incomplete] >= before[first_incomplete]


def test_faults_quota_and_clock_are_controllable_over_http(sim: GoogleSimulator) -> None:
    base = f"{sim.url}/__sim__"
    spec = {"path_contains": ":runReport", "count": 1, "http_status": 429}
    assert (
        requests.post(f"{base}/faults", json=spec, timeout=5).json()["faults"][0]["remaining"] == 1
    )
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "sessions"}],
    }
    limited = run_report(sim, body)
    assert limited.status_code == 429
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert run_report(sim, body).status_code == 200

    requests.post(f"{base}/config", json={"ga4_tokens_per_hour": 1}, timeout=5)
    exhausted = run_report(sim, body)
    assert exhausted.status_code == 429
    assert "Exhausted property tokens per hour" in exhausted.json()["error"]["message"]

    headers = bearer(sim)
    requests.post(
        f"{base}/config", json={"advance_s": 7200, "ga4_tokens_per_hour": 40000}, timeout=5
    )
    expired = run_report(sim, body, headers=headers)
    assert expired.status_code == 401
    assert expired.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"

    log = requests.get(f"{base}/requests", timeout=5).json()["requests"]
    assert any(r["path"] == "/token" for r in log)
    assert not any("refresh_token" in r["body"] or "client_secret" in r["body"] for r in log)
    knobs = requests.post(f"{base}/reset", timeout=5).json()
    assert knobs["ga4_tokens_per_hour"] == 40000 and not knobs["clock_pinned"]
    assert requests.post(f"{base}/config", json={"bogus": 1}, timeout=5).status_code == 400
