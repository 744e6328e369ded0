"""The Meta Graph simulator reproduces the Graph shapes the client depends on."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from adinsights_pipelines.simulators.meta_graph import (
    JAMAICA_REGIONS,
    MetaSimulator,
)

TOKEN = "sim_simulator_tests"
INSIGHT_FIELDS = (
    "account_id,campaign_id,campaign_name,adset_id,adset_name,ad_id,ad_name,spend,impressions,"
    "clicks,reach,account_currency,actions"
)


@pytest.fixture(autouse=True)
def _reset(sim: MetaSimulator) -> None:
    sim.state.reset()


def get(
    sim: MetaSimulator, path: str, token: str | None = TOKEN, **params: Any
) -> requests.Response:
    if token is not None:
        params["access_token"] = token
    return requests.get(f"{sim.url}/v26.0/{path}", params=params, timeout=10)


def accounts(sim: MetaSimulator, token: str = TOKEN) -> list[dict[str, Any]]:
    fields = "id,account_id,name,currency,timezone_name,account_status"
    response = get(sim, "me/adaccounts", token, fields=fields)
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def insights(sim: MetaSimulator, account: str, since: str, until: str, **extra: Any) -> Any:
    params = {
        "level": "ad",
        "time_increment": 1,
        "breakdowns": "region",
        "time_range": json.dumps({"since": since, "until": until}),
        "fields": INSIGHT_FIELDS,
        "limit": 500,
        **extra,
    }
    return get(sim, f"{account}/insights", **params)


def test_ad_accounts_shape_and_determinism(sim: MetaSimulator) -> None:
    first = accounts(sim)
    assert len(first) == 2
    for account in first:
        assert account["id"] == f"act_{account['account_id']}"
        assert account["account_id"].isdigit()
        assert account["currency"] == "USD"  # Meta's ad account currencies have no JMD
        assert account["account_status"] == 1
    assert [a["timezone_name"] for a in first] == ["America/Jamaica", "America/Los_Angeles"]
    assert accounts(sim) == first
    assert {a["id"] for a in accounts(sim, "sim_someone_else")}.isdisjoint(a["id"] for a in first)


def test_default_fields_and_field_selection(sim: MetaSimulator) -> None:
    account = accounts(sim)[0]["id"]
    default = get(sim, f"{account}/campaigns").json()["data"]
    assert default and all(set(row) == {"id"} for row in default)
    chosen = get(sim, f"{account}/campaigns", fields="name,objective").json()["data"]
    assert all(set(row) == {"id", "name", "objective"} for row in chosen)
    bad = get(sim, f"{account}/campaigns", fields="id,nonsense")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 100


def test_hierarchy_sizes_and_links(sim: MetaSimulator) -> None:
    account = accounts(sim)[0]["id"]
    campaigns = get(sim, f"{account}/campaigns", fields="id,name").json()["data"]
    adsets = get(sim, f"{account}/adsets", fields="id,campaign_id").json()["data"]
    ads = get(sim, f"{account}/ads", fields="id,adset_id,campaign_id").json()["data"]
    assert 2 <= len(campaigns) <= 3
    campaign_ids = {c["id"] for c in campaigns}
    adset_ids = {s["id"] for s in adsets}
    assert {s["campaign_id"] for s in adsets} == campaign_ids
    assert {a["adset_id"] for a in ads} == adset_ids
    assert all(1 <= sum(s["campaign_id"] == c for s in adsets) <= 2 for c in campaign_ids)
    assert all(1 <= sum(a["adset_id"] == s for a in ads) <= 2 for s in adset_ids)


def test_cursor_paging_like_graph(sim: MetaSimulator) -> None:
    account = accounts(sim)[0]["id"]
    first = get(sim, f"{account}/ads", fields="id,name", limit=1).json()
    rows, body, pages = list(first["data"]), first, 1
    while "next" in body["paging"]:
        cursors = body["paging"]["cursors"]
        base64.urlsafe_b64decode(cursors["after"] + "==")  # opaque, but base64
        next_url = urlsplit(body["paging"]["next"])
        query = parse_qs(next_url.query)
        assert f"{next_url.scheme}://{next_url.netloc}" == sim.url
        assert query["access_token"] == [TOKEN]
        assert query["after"] == [cursors["after"]]
        assert query["fields"] == ["id,name"] and query["limit"] == ["1"]
        body = requests.get(body["paging"]["next"], timeout=10).json()
        rows += body["data"]
        pages += 1
    everything = get(sim, f"{account}/ads", fields="id,name").json()
    assert "next" not in everything["paging"]
    assert rows == everything["data"]
    assert pages == len(rows)
    assert len({r["id"] for r in rows}) == len(rows)


def test_insights_rows_are_ad_by_day_by_region(sim: MetaSimulator) -> None:
    account = accounts(sim)[0]["id"]
    n_ads = len(get(sim, f"{account}/ads").json()["data"])
    response = insights(sim, account, "2025-06-01", "2025-06-03")
    assert response.status_code == 200
    rows = response.json()["data"]
    regions = {r["region"] for r in rows}
    assert 3 <= len(regions - {"Unknown"}) <= 5
    assert regions <= {*JAMAICA_REGIONS, "Unknown"}
    assert len(rows) == n_ads * 3 * len(regions)
    keys = {(r["ad_id"], r["date_start"], r["region"]) for r in rows}
    assert len(keys) == len(rows)
    for row in rows:
        assert row["date_start"] == row["date_stop"]
        assert "2025-06-01" <= row["date_start"] <= "2025-06-03"
        assert row["account_id"] == account.removeprefix("act_")
        assert float(row["spend"]) >= 0 and row["spend"] == f"{float(row['spend']):.2f}"
        for name in ("impressions", "clicks", "reach"):
            assert isinstance(row[name], str) and row[name].isdigit()
        assert int(row["clicks"]) <= int(row["impressions"])
        assert int(row["reach"]) <= int(row["impressions"])
        assert row["account_currency"] == "USD"
        for action in row.get("actions", []):
            assert set(action) == {"action_type", "value"} and action["value"].isdigit()
    assert any(a["action_type"] == "link_click" for r in rows for a in r.get("actions", []))


def test_insight_numbers_are_deterministic_per_ad_day_region(sim: MetaSimulator) -> None:
    account = accounts(sim)[0]["id"]
    wide = insights(sim, account, "2025-06-01", "2025-06-04").json()["data"]
    narrow = insights(sim, account, "2025-06-03", "2025-06-03").json()["data"]
    by_key = {(r["ad_id"], r["date_start"], r["region"]): r for r in wide}
    assert narrow and all(by_key[(r["ad_id"], r["date_start"], r["region"])] == r for r in narrow)
    assert insights(sim, account, "2025-06-01", "2025-06-04").json()["data"] == wide
    assert len({r["spend"] for r in wide}) > len(wide) // 2  # numbers actually vary


def test_insights_range_validation_and_cap(sim: MetaSimulator) -> None:
    account = accounts(sim)[0]["id"]
    backwards = insights(sim, account, "2025-06-05", "2025-06-01")
    assert backwards.status_code == 400
    error = backwards.json()["error"]
    assert error["code"] == 100 and error["message"] == "Invalid parameter"
    garbage = get(sim, f"{account}/insights", time_range="yesterday")
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == 100
    # 37 months before 2025-06-30 is 2022-05-30: an older start date is an error (#3018).
    too_old = insights(sim, account, "2022-05-29", "2022-05-31", fields="ad_id")
    assert too_old.status_code == 400 and too_old.json()["error"]["code"] == 3018
    oldest = insights(sim, account, "2022-05-30", "2022-05-31", fields="ad_id").json()["data"]
    assert {r["date_start"] for r in oldest} == {"2022-05-30", "2022-05-31"}


def test_token_errors_use_the_graph_envelope(sim: MetaSimulator) -> None:
    for token in ("not_a_sim_token", None):
        response = get(sim, "me/adaccounts", token)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 190 and error["type"] == "OAuthException"
        assert "Invalid OAuth access token" in error["message"]
        assert "error_subcode" not in error and error["is_transient"] is False
        assert error["fbtrace_id"]
    expired = get(sim, "me/adaccounts", "sim_expired_abc").json()["error"]
    assert (expired["code"], expired["error_subcode"]) == (190, 463)
    bearer = requests.get(
        f"{sim.url}/v26.0/me/adaccounts",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert bearer.status_code == 200 and len(bearer.json()["data"]) == 2


def test_foreign_account_is_a_permission_error(sim: MetaSimulator) -> None:
    foreign = accounts(sim, "sim_other_tenant")[0]["id"]
    response = get(sim, f"{foreign}/campaigns")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == 200 and error["type"] == "OAuthException"


def test_usage_headers(sim: MetaSimulator) -> None:
    me = get(sim, "me/adaccounts")
    assert set(json.loads(me.headers["x-app-usage"])) == {
        "call_count",
        "total_cputime",
        "total_time",
    }
    assert "x-ad-account-usage" not in me.headers
    account = accounts(sim)[0]
    campaigns = get(sim, f"{account['id']}/campaigns")
    assert "acc_id_util_pct" in json.loads(campaigns.headers["x-ad-account-usage"])
    (management,) = json.loads(campaigns.headers["x-business-use-case-usage"])[
        account["account_id"]
    ]
    assert management["type"] == "ads_management"
    assert "x-fb-ads-insights-throttle" not in campaigns.headers
    sim.state.set_usage(80)
    result = insights(sim, account["id"], "2025-06-01", "2025-06-01")
    buc = json.loads(result.headers["x-business-use-case-usage"])
    (entry,) = buc[account["account_id"]]
    assert entry["type"] == "ads_insights" and entry["call_count"] == 80
    assert entry["estimated_time_to_regain_access"] == 0
    assert json.loads(result.headers["x-app-usage"])["call_count"] == 80
    throttle = json.loads(result.headers["x-fb-ads-insights-throttle"])
    assert (throttle["app_id_util_pct"], throttle["acc_id_util_pct"]) == (80, 80)


def test_faults_over_http_and_request_log(sim: MetaSimulator) -> None:
    spec = {"path_contains": "/campaigns", "count": 2, "http_status": 500, "code": 2}
    posted = requests.post(f"{sim.url}/__sim__/faults", json=spec, timeout=10)
    assert posted.status_code == 200 and posted.json()["faults"][0]["remaining"] == 2
    account = accounts(sim)[0]["id"]
    statuses = [get(sim, f"{account}/campaigns").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    failed = get(sim, f"{account}/campaigns")  # fault used up
    assert failed.status_code == 200

    requests.post(f"{sim.url}/__sim__/faults", json={"code": 17, "http_status": 400}, timeout=10)
    throttled = get(sim, "me/adaccounts").json()["error"]
    assert throttled["code"] == 17 and throttled["is_transient"] is True

    requests.post(f"{sim.url}/__sim__/faults", json={"count": 5}, timeout=10)
    requests.delete(f"{sim.url}/__sim__/faults", timeout=10)
    assert get(sim, "me/adaccounts").status_code == 200

    log = requests.get(f"{sim.url}/__sim__/requests", timeout=10).json()["requests"]
    assert [r["status"] for r in log if r["path"].endswith("/campaigns")] == [500, 500, 200, 200]
    assert all("access_token" not in r["query"] for r in log)
    assert TOKEN not in json.dumps(log)
    assert sim.state.request_count("/campaigns") == 4


def test_bad_fault_spec_is_rejected(sim: MetaSimulator) -> None:
    response = requests.post(f"{sim.url}/__sim__/faults", json={"bogus": 1}, timeout=10)
    assert response.status_code == 400
    assert sim.state.faults == []


def test_simulator_stops_and_frees_its_port() -> None:
    simulator = MetaSimulator().start()
    url = simulator.url
    assert requests.get(f"{url}/v26.0/me", params={"access_token": TOKEN}, timeout=5).ok
    simulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v26.0/me", params={"access_token": TOKEN}, timeout=5)
