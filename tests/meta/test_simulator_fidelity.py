"""The Meta Graph simulator behaves like Meta where real clients depend on it: scale, async
report runs, batch, Pages, formats, Meta's limits and the fault knobs."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from adinsights_pipelines.defs.meta.client import (
    MetaGraphClient,
    PermissionDeniedError,
    RateLimitedError,
    TokenInvalidError,
)
from adinsights_pipelines.simulators.meta_graph import KNOB_NAMES, MetaSimulator
from tests.meta.conftest import TODAY

TOKEN = "sim_fidelity_tests"
NOW = datetime(2025, 6, 30, 15, 0, tzinfo=UTC)
V = "v26.0"
INSIGHT_FIELDS = "account_id,campaign_id,adset_id,ad_id,ad_name,spend,impressions,clicks,reach"
GRAPH_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}")


@pytest.fixture(autouse=True)
def _reset(sim: MetaSimulator) -> None:
    sim.state.reset()
    sim.state.set_now(NOW)


def get(sim: MetaSimulator, path: str, token: str | None = TOKEN, **params: Any) -> Any:
    if token is not None:
        params["access_token"] = token
    return requests.get(f"{sim.url}/{V}/{path}", params=params, timeout=10)


def client(sim: MetaSimulator, token: str = TOKEN, **kwargs: Any) -> MetaGraphClient:
    return MetaGraphClient(token, base_url=sim.url, sleep=lambda _: None, **kwargs)


def first_account(sim: MetaSimulator, token: str = TOKEN) -> str:
    account: str = get(sim, "me/adaccounts", token).json()["data"][0]["id"]
    return account


def insight_params(since: str, until: str, **extra: Any) -> dict[str, Any]:
    return {
        "level": "ad",
        "time_increment": 1,
        "breakdowns": "region",
        "time_range": json.dumps({"since": since, "until": until}),
        "fields": INSIGHT_FIELDS,
        **extra,
    }


def follow(sim: MetaSimulator, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row from ``body`` on, following ``paging.next``."""
    rows = list(body["data"])
    while "next" in body.get("paging", {}):
        body = requests.get(body["paging"]["next"], timeout=10).json()
        rows += body["data"]
    return rows


def error_of(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# --- scale --------------------------------------------------------------------------------------


def test_ads_scale_knob_gives_exactly_n_ads_per_account(sim: MetaSimulator) -> None:
    token = "sim_bench_ads400_x"
    meta = client(sim, token)
    accounts = meta.list_ad_accounts()
    assert len(accounts) == 2
    for account in accounts:
        ads = list(meta.iter_ads(account["id"]))
        adsets = list(meta.iter_adsets(account["id"]))
        campaigns = list(meta.iter_campaigns(account["id"]))
        # 400 live ads, plus the archived and the deleted one the client lists too
        live = [a for a in ads if a["effective_status"] not in ("ARCHIVED", "DELETED")]
        assert len(live) == 400 and len(ads) == len({a["id"] for a in ads}) == 402
        assert {a["adset_id"] for a in ads} == {s["id"] for s in adsets}
        assert {s["campaign_id"] for s in adsets} == {c["id"] for c in campaigns}
        assert len(campaigns) > 1 and len(adsets) > len(campaigns)
    # one day without breakdowns: one row per ad, in a single page of 500
    day = get(
        sim,
        f"{accounts[0]['id']}/insights",
        token,
        limit=500,
        level="ad",
        time_range=json.dumps({"since": "2025-06-01", "until": "2025-06-01"}),
        fields="ad_id",
    ).json()
    assert len(day["data"]) == 400 and "next" not in day["paging"]


def test_scale_knob_pages_a_million_rows_lazily(sim: MetaSimulator) -> None:
    token = "sim_bench_ads400_x"
    account = first_account(sim, token)
    params = insight_params("2024-09-01", "2025-06-29", limit=500)
    started = time.monotonic()
    first = get(sim, f"{account}/insights", token, **params).json()
    second = requests.get(first["paging"]["next"], timeout=10).json()
    elapsed = time.monotonic() - started
    assert len(first["data"]) == len(second["data"]) == 500
    assert elapsed < 2.0  # rows are built per page, not for the whole range
    one_day = get(
        sim, f"{account}/insights", token, **insight_params("2025-06-01", "2025-06-01"), limit=500
    )
    per_day = len(follow(sim, one_day.json()))
    n_days = (date(2025, 6, 29) - date(2024, 9, 1)).days + 1
    assert per_day % 400 == 0 and per_day * n_days * 2 > 700_000  # ~1M rows over two accounts
    keys = {(r["ad_id"], r["date_start"], r["region"]) for r in first["data"] + second["data"]}
    assert len(keys) == 1000


def test_long_lived_token_sees_the_same_insights(sim: MetaSimulator) -> None:
    account = first_account(sim)
    params = insight_params("2025-06-01", "2025-06-02", limit=500)
    short = get(sim, f"{account}/insights", TOKEN, **params).json()["data"]
    long_lived = get(sim, f"{account}/insights", "sim_ll_fidelity_tests", **params).json()["data"]
    assert short and short == long_lived


# --- async report runs -------------------------------------------------------------------------


def start_run(sim: MetaSimulator, account: str, token: str = TOKEN, **extra: Any) -> str:
    params = insight_params("2025-06-01", "2025-06-03", **extra)
    response = requests.post(
        f"{sim.url}/{V}/{account}/insights", data={**params, "access_token": token}, timeout=10
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"report_run_id"} and body["report_run_id"].isdigit()
    run_id: str = body["report_run_id"]
    return run_id


def test_async_report_run_lifecycle_matches_sync_rows(sim: MetaSimulator) -> None:
    account = first_account(sim)
    run_id = start_run(sim, account)
    polls = [get(sim, run_id).json() for _ in range(3)]
    assert [p["async_status"] for p in polls] == [
        "Job Not Started",
        "Job Completed",
        "Job Completed",
    ]
    assert [p["async_percent_completion"] for p in polls] == [0, 100, 100]
    done = polls[-1]
    assert set(done) == {
        "id",
        "account_id",
        "async_status",
        "async_percent_completion",
        "date_start",
        "date_stop",
        "time_ref",
        "time_completed",
    }
    assert done["id"] == run_id and done["account_id"] == account.removeprefix("act_")
    assert (done["date_start"], done["date_stop"]) == ("2025-06-01", "2025-06-03")
    assert done["time_ref"] == int(NOW.timestamp()) <= done["time_completed"]
    assert polls[0]["time_completed"] == 0

    meta = client(sim)
    async_rows = list(meta.iter_pages(f"{run_id}/insights", {"limit": 7}))
    # the same request answered synchronously (our client's own reads add filtering)
    sync_rows = list(
        meta.iter_pages(f"{account}/insights", insight_params("2025-06-01", "2025-06-03", limit=7))
    )
    assert async_rows == sync_rows and len(async_rows) > 7
    page = get(sim, f"{run_id}/insights", limit=5).json()
    assert len(page["data"]) == 5
    assert urlsplit(page["paging"]["next"]).path == f"/{V}/{run_id}/insights"


def test_report_run_params_in_query_string_and_poll_knob(sim: MetaSimulator) -> None:
    sim.state.report_polls_to_complete = 4
    account = first_account(sim)
    params = insight_params("2025-06-02", "2025-06-02", access_token=TOKEN)
    posted = requests.post(f"{sim.url}/{V}/{account}/insights", params=params, timeout=10)
    run_id = posted.json()["report_run_id"]
    not_ready = get(sim, f"{run_id}/insights")
    assert not_ready.status_code == 400 and error_of(not_ready)["code"] == 100
    polls = [get(sim, run_id).json() for _ in range(4)]
    assert [p["async_status"] for p in polls] == [
        "Job Not Started",
        "Job Started",
        "Job Running",
        "Job Completed",
    ]
    pcts = [p["async_percent_completion"] for p in polls]
    assert pcts == sorted(pcts) and pcts[0] == 0 and pcts[-1] == 100 and 0 < pcts[2] < 100
    rows = follow(sim, get(sim, f"{run_id}/insights", limit=500).json())
    assert rows and {r["date_start"] for r in rows} == {"2025-06-02"}
    assert all("region" in r for r in rows)


def test_report_run_failure_knob_and_validation(sim: MetaSimulator) -> None:
    account = first_account(sim)
    sim.state.fail_next_report_run = True
    failed = start_run(sim, account)
    ok = start_run(sim, account)  # the knob fails only the next run
    assert [get(sim, failed).json()["async_status"] for _ in range(2)] == [
        "Job Not Started",
        "Job Failed",
    ]
    assert error_of(get(sim, f"{failed}/insights"))["code"] == 100
    assert [get(sim, ok).json()["async_status"] for _ in range(2)][-1] == "Job Completed"
    # the run belongs to its token; bad params fail at creation like the GET does
    assert error_of(get(sim, ok, "sim_other_tenant"))["code"] == 100
    bad = requests.post(
        f"{sim.url}/{V}/{account}/insights",
        data={
            **insight_params("2025-06-01", "2025-06-01", fields="ad_id,region"),
            "access_token": TOKEN,
        },
        timeout=10,
    )
    assert bad.status_code == 400 and error_of(bad)["code"] == 100


# --- batch ---------------------------------------------------------------------------------------


def test_batch_polls_report_runs_and_mixes_calls(sim: MetaSimulator) -> None:
    account = first_account(sim)
    runs = [start_run(sim, account), start_run(sim, account)]
    batch = [{"method": "GET", "relative_url": run_id} for run_id in runs]
    batch.append({"method": "GET", "relative_url": f"{V}/me/adaccounts?fields=id,name"})
    batch.append({"method": "GET", "relative_url": "act_1/campaigns"})
    for _ in range(2):
        response = requests.post(
            f"{sim.url}/{V}/",
            data={"access_token": TOKEN, "batch": json.dumps(batch)},
            timeout=10,
        )
    assert response.status_code == 200
    answers = response.json()
    assert isinstance(answers, list) and len(answers) == 4
    for answer in answers:
        assert set(answer) == {"code", "headers", "body"} and isinstance(answer["body"], str)
        assert all(set(h) == {"name", "value"} for h in answer["headers"])
    bodies = [json.loads(a["body"]) for a in answers]
    assert [a["code"] for a in answers] == [200, 200, 200, 403]
    assert [b["async_status"] for b in bodies[:2]] == ["Job Completed"] * 2
    assert {b["id"] for b in bodies[:2]} == set(runs)
    assert len(bodies[2]["data"]) == 2
    assert bodies[3]["error"]["code"] == 200
    assert any(h["name"] == "x-app-usage" for h in answers[0]["headers"])


def test_batch_at_root_with_bearer_and_item_faults(sim: MetaSimulator) -> None:
    account = first_account(sim)
    sim.state.inject("/campaigns", count=1, http_status=500, code=2)
    batch = [
        {"method": "GET", "relative_url": f"{account}/campaigns?fields=id"},
        {"method": "GET", "relative_url": f"{account}/campaigns?fields=id"},
    ]
    response = requests.post(
        f"{sim.url}/",
        data={"batch": json.dumps(batch)},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert [a["code"] for a in response.json()] == [500, 200]
    missing = requests.post(f"{sim.url}/{V}/", data={"access_token": TOKEN}, timeout=10)
    assert missing.status_code == 400 and error_of(missing)["code"] == 100
    bad_token = requests.post(
        f"{sim.url}/{V}/", data={"access_token": "nope", "batch": "[]"}, timeout=10
    )
    assert error_of(bad_token)["code"] == 190
    assert all("access_token" not in r.query and "batch" not in r.query for r in sim.state.requests)


# --- Pages ---------------------------------------------------------------------------------------


def pages(sim: MetaSimulator, token: str = TOKEN) -> list[dict[str, Any]]:
    body = get(sim, "me/accounts", token, fields="id,name,category,access_token").json()
    data: list[dict[str, Any]] = body["data"]
    return data


def test_me_accounts_lists_pages_with_page_tokens(sim: MetaSimulator) -> None:
    listed = pages(sim)
    assert 1 <= len(listed) <= 2
    for page in listed:
        assert set(page) == {"id", "name", "category", "access_token"}
        assert page["id"].isdigit() and page["access_token"].startswith("sim_page_")
    assert pages(sim) == listed
    assert {p["id"] for p in pages(sim, "sim_someone_else")}.isdisjoint(p["id"] for p in listed)
    page_token = listed[0]["access_token"]
    assert get(sim, "me", page_token).json()["id"] == listed[0]["id"]
    assert error_of(get(sim, "me/adaccounts", page_token))["code"] == 100
    assert get(sim, f"{first_account(sim)}/campaigns", page_token).status_code == 403


def test_page_insights_shape(sim: MetaSimulator) -> None:
    page = pages(sim)[0]
    metrics = "page_media_view,page_total_media_view_unique,page_post_engagements,page_follows"
    response = get(
        sim,
        f"{page['id']}/insights",
        page["access_token"],
        metric=metrics,
        period="day",
        since="2025-06-01",
        until="2025-06-08",
    )
    assert response.status_code == 200
    body = response.json()
    assert [m["name"] for m in body["data"]] == metrics.split(",")
    by_name = {m["name"]: m for m in body["data"]}
    for metric in body["data"]:
        assert metric["period"] == "day" and metric["title"] and metric["description"]
        assert metric["id"] == f"{page['id']}/insights/{metric['name']}/day"
        assert len(metric["values"]) == 7  # until is exclusive
        for value in metric["values"]:
            assert isinstance(value["value"], int)
        # end of each Pacific day (PDT in June), in UTC
        assert metric["values"][0]["end_time"] == "2025-06-02T07:00:00+0000"
        assert metric["values"][-1]["end_time"] == "2025-06-08T07:00:00+0000"
    unique = [v["value"] for v in by_name["page_total_media_view_unique"]["values"]]
    total = [v["value"] for v in by_name["page_media_view"]["values"]]
    assert all(u <= t for u, t in zip(unique, total, strict=True))
    fans = [v["value"] for v in by_name["page_follows"]["values"]]
    assert fans == sorted(fans)
    for link in ("previous", "next"):
        query = parse_qs(urlsplit(body["paging"][link]).query)
        assert query["metric"] == [metrics] and query["since"][0].isdigit()
    following = requests.get(body["paging"]["next"], timeout=10).json()
    assert following["data"][0]["values"][0]["end_time"] == "2025-06-09T07:00:00+0000"
    winter = get(
        sim,
        f"{page['id']}/insights",
        page["access_token"],
        metric="page_follows",
        since="2025-01-10",
        until="2025-01-11",
    ).json()
    assert winter["data"][0]["values"][0]["end_time"] == "2025-01-11T08:00:00+0000"


def test_retired_page_and_post_metrics_fail_the_whole_request(sim: MetaSimulator) -> None:
    page = pages(sim)[0]
    for metric in ("page_impressions", "page_impressions_unique", "page_fans"):
        answer = get(
            sim,
            f"{page['id']}/insights",
            page["access_token"],
            metric=f"page_post_engagements,{metric}",
        )
        assert answer.status_code == 400
        error = error_of(answer)
        assert (error["code"], error["message"]) == (
            100,
            "(#100) The value must be a valid insights metric",
        )
    # A metric retired later (the knob), and the list as a JSON array.
    sim.state.configure(retired_metrics=["page_follows"])
    retired = get(sim, f"{page['id']}/insights", page["access_token"], metric='["page_follows"]')
    assert error_of(retired)["code"] == 100
    kept = get(sim, f"{page['id']}/insights", page["access_token"], metric='["page_media_view"]')
    assert [m["name"] for m in kept.json()["data"]] == ["page_media_view"]


def test_page_insights_errors(sim: MetaSimulator) -> None:
    page = pages(sim)[0]
    unknown = get(sim, f"{page['id']}/insights", page["access_token"], metric="page_bogus")
    assert unknown.status_code == 400 and error_of(unknown)["code"] == 100
    user_token = get(sim, f"{page['id']}/insights", TOKEN, metric="page_follows")
    assert error_of(user_token)["code"] == 190
    other = pages(sim, "sim_someone_else")[0]["access_token"]
    assert error_of(get(sim, f"{page['id']}/insights", other, metric="page_follows"))["code"] == 100
    too_long = get(
        sim,
        f"{page['id']}/insights",
        page["access_token"],
        metric="page_follows",
        since="2025-01-01",
        until="2025-06-01",
    )
    assert error_of(too_long)["code"] == 100


def test_posts_and_post_insights(sim: MetaSimulator) -> None:
    page = pages(sim)[0]
    page_client = client(sim, page["access_token"])
    fields = {"fields": "id,message,created_time,permalink_url", "limit": 10}
    posts = []
    for post in page_client.iter_pages(f"{page['id']}/posts", fields):
        posts.append(post)
        if len(posts) == 25:
            break
    assert len(posts) == 25 and len({p["id"] for p in posts}) == 25
    times = [datetime.strptime(p["created_time"], "%Y-%m-%dT%H:%M:%S%z") for p in posts]
    assert times == sorted(times, reverse=True) and times[0] <= NOW  # newest first
    for post in posts:
        assert set(post) == {"id", "message", "created_time", "permalink_url"}
        page_id, _, number = post["id"].partition("_")
        assert page_id == page["id"] and number.isdigit()
        assert post["created_time"].endswith("+0000")
    metrics = (
        "post_media_view,post_total_media_view_unique,post_clicks,post_reactions_by_type_total"
    )
    body = page_client.get(f"{sim.url}/{V}/{posts[5]['id']}/insights", {"metric": metrics})
    assert [m["name"] for m in body["data"]] == metrics.split(",")
    for metric in body["data"]:
        assert metric["period"] == "lifetime" and len(metric["values"]) == 1
        assert metric["id"] == f"{posts[5]['id']}/insights/{metric['name']}/lifetime"
    values = {m["name"]: m["values"][0]["value"] for m in body["data"]}
    assert isinstance(values["post_media_view"], int)
    assert values["post_total_media_view_unique"] <= values["post_media_view"]
    reactions = values["post_reactions_by_type_total"]
    assert isinstance(reactions, dict) and set(reactions) <= {
        "like",
        "love",
        "haha",
        "wow",
        "sorry",
        "anger",
    }
    bad = get(sim, f"{posts[0]['id']}/insights", page["access_token"], metric="post_bogus")
    assert error_of(bad)["code"] == 100
    # a new post appears as the virtual clock moves on
    sim.state.advance(timedelta(days=3))
    newest = get(sim, f"{page['id']}/posts", page["access_token"], limit=1).json()["data"][0]
    assert newest["id"] != posts[0]["id"]


# --- details real clients depend on ---------------------------------------------------------


def test_object_formats(sim: MetaSimulator) -> None:
    account = first_account(sim)
    assert account.startswith("act_")
    node = get(sim, account, fields="id,account_id").json()
    assert node["id"] == f"act_{node['account_id']}" and node["account_id"].isdigit()
    for edge, budget in (("campaigns", True), ("adsets", True), ("ads", False)):
        fields = "id,account_id,created_time,updated_time" + (",daily_budget" if budget else "")
        for obj in get(sim, f"{account}/{edge}", fields=fields).json()["data"]:
            assert obj["account_id"] == node["account_id"]
            for name in ("created_time", "updated_time"):
                assert GRAPH_TIME_RE.fullmatch(obj[name]) and obj[name][-5:] in ("-0700", "-0800")
            if budget:
                assert isinstance(obj["daily_budget"], str) and obj["daily_budget"].isdigit()


def test_breakdown_columns_are_not_fields(sim: MetaSimulator) -> None:
    account = first_account(sim)
    rows = get(sim, f"{account}/insights", **insight_params("2025-06-01", "2025-06-01")).json()
    assert rows["data"] and all("region" in r for r in rows["data"])
    bad = get(
        sim,
        f"{account}/insights",
        **insight_params("2025-06-01", "2025-06-01", fields="ad_id,region"),
    )
    assert bad.status_code == 400 and error_of(bad)["code"] == 100
    assert "region" in error_of(bad)["message"]


def test_37_month_rule_follows_the_virtual_clock(sim: MetaSimulator) -> None:
    account = first_account(sim)
    old = insight_params("2022-06-01", "2022-06-01")
    assert get(sim, f"{account}/insights", **old).status_code == 200
    sim.state.set_now(datetime(2025, 8, 1, 12, tzinfo=UTC))
    assert sim.state.today() == date(2025, 8, 1)
    response = get(sim, f"{account}/insights", **old)
    assert response.status_code == 400 and error_of(response)["code"] == 3018


def test_empty_pages_that_still_carry_next(sim: MetaSimulator) -> None:
    account = first_account(sim)
    meta = client(sim)
    params = insight_params("2025-06-01", "2025-06-02", limit=5)
    expected = list(meta.iter_pages(f"{account}/insights", params))
    sim.state.empty_page_every = 2
    body = get(sim, f"{account}/insights", **params)
    bodies = [body.json()]
    while "next" in bodies[-1].get("paging", {}):
        bodies.append(requests.get(bodies[-1]["paging"]["next"], timeout=10).json())
    empties = [b for b in bodies if not b["data"]]
    assert len(empties) >= 2 and all("next" in b["paging"] for b in empties)
    assert sum(len(b["data"]) for b in bodies) == len(expected)
    # the real client pages through the empty pages and gets the same rows
    assert list(meta.iter_pages(f"{account}/insights", params)) == expected


def test_max_rows_per_request(sim: MetaSimulator) -> None:
    account = first_account(sim)
    sim.state.max_rows_per_request = 100
    params = insight_params("2025-06-01", "2025-06-01")
    too_many = get(sim, f"{account}/insights", **params, limit=500)
    assert too_many.status_code == 500
    error = error_of(too_many)
    assert error["code"] == 1
    assert error["message"] == (
        "Please reduce the amount of data you're asking for, then retry your request"
    )
    assert "x-app-usage" in too_many.headers and "x-ad-account-usage" in too_many.headers
    assert get(sim, f"{account}/insights", **params, limit=100).status_code == 200
    # The real client halves its page size on this answer until Meta accepts it.
    rows = list(client(sim, max_attempts=2).iter_insights(account, date(2025, 6, 1), TODAY))
    assert rows
    assert int(sim.state.requests[-1].query["limit"]) <= 100


# --- fault knobs ----------------------------------------------------------------------------


def test_throttle_after_calls_until_reset(sim: MetaSimulator) -> None:
    sim.state.throttle_after_calls = 3
    statuses = [get(sim, "me/adaccounts").status_code for _ in range(3)]
    throttled = get(sim, "me/adaccounts")
    assert statuses == [200, 200, 200] and throttled.status_code == 400
    error = error_of(throttled)
    assert error["code"] == 17 and error["is_transient"] is True
    assert "User request limit reached" in error["message"]
    assert json.loads(throttled.headers["x-app-usage"])["call_count"] == 100
    assert get(sim, "me/adaccounts", "sim_another_user").status_code == 200  # per token
    with pytest.raises(RateLimitedError):
        client(sim, max_attempts=3).list_ad_accounts()
    sim.state.reset()
    assert get(sim, "me/adaccounts").status_code == 200


def test_error_rate_5xx_is_seeded(sim: MetaSimulator) -> None:
    def run() -> list[int]:
        sim.state.reset()
        sim.state.error_rate_5xx = 0.5
        return [get(sim, "me/adaccounts").status_code for _ in range(20)]

    first = run()
    assert set(first) == {200, 500} and first == run()
    sim.state.error_rate_5xx = 1.0
    error = error_of(get(sim, "me"))
    assert error["code"] == 2 and error["is_transient"] is True
    # the client retries them away
    sim.state.error_rate_5xx = 0.3
    assert len(client(sim, max_attempts=10).list_ad_accounts()) == 2


def test_expire_tokens_at_uses_the_virtual_clock(sim: MetaSimulator) -> None:
    sim.state.expire_tokens_at = NOW + timedelta(hours=1)
    assert get(sim, "me/adaccounts").status_code == 200
    page_token = pages(sim)[0]["access_token"]
    sim.state.advance(timedelta(hours=2))
    for token in (TOKEN, "sim_ll_fidelity_tests", page_token):
        error = error_of(get(sim, "me", token))
        assert (error["code"], error["error_subcode"]) == (190, 463)
    with pytest.raises(TokenInvalidError) as raised:
        client(sim).list_ad_accounts()
    assert raised.value.subcode == 463
    debug = get(sim, "debug_token", "123|secret", input_token=TOKEN).json()["data"]
    assert debug["is_valid"] is False and debug["error"]["subcode"] == 463
    sim.state.set_now(NOW)
    assert get(sim, "me/adaccounts").status_code == 200


def test_deny_accounts(sim: MetaSimulator) -> None:
    denied, allowed = (a["id"] for a in get(sim, "me/adaccounts").json()["data"])
    sim.state.deny_accounts = {denied}
    for path in (denied, f"{denied}/campaigns", f"{denied}/insights"):
        response = get(sim, path)
        assert response.status_code == 403
        error = error_of(response)
        assert error["code"] == 200 and "Permissions error" in error["message"]
        assert "x-app-usage" in response.headers and "x-ad-account-usage" in response.headers
    assert get(sim, f"{allowed}/campaigns").status_code == 200
    with pytest.raises(PermissionDeniedError):
        list(client(sim).iter_campaigns(denied))


def test_latency(sim: MetaSimulator) -> None:
    sim.state.latency_s = 0.2
    started = time.monotonic()
    assert get(sim, "me").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_spend_override_changes_one_row_only(sim: MetaSimulator) -> None:
    account = first_account(sim)
    params = insight_params("2025-06-01", "2025-06-02", limit=500)
    before = get(sim, f"{account}/insights", **params).json()["data"]
    target = before[3]
    key = (target["ad_id"], target["date_start"], target["region"])
    sim.state.spend_overrides = {key: "12.34"}
    after = get(sim, f"{account}/insights", **params).json()["data"]
    changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1
    old, new = changed[0]
    assert new["spend"] == "12.34"
    assert {k: v for k, v in new.items() if k != "spend"} == {
        k: v for k, v in old.items() if k != "spend"
    }
    # an ad-level row without breakdown adds the overridden region up too
    total = get(
        sim,
        f"{account}/insights",
        **insight_params(
            target["date_start"], target["date_start"], breakdowns="", fields="ad_id,spend"
        ),
    ).json()
    row = next(r for r in total["data"] if r["ad_id"] == target["ad_id"])
    regional = [
        r
        for r in after
        if r["ad_id"] == target["ad_id"] and r["date_start"] == target["date_start"]
    ]
    assert abs(float(row["spend"]) - sum(float(r["spend"]) for r in regional)) < 0.011


def test_config_over_http_and_reset(sim: MetaSimulator) -> None:
    account = first_account(sim)
    config = {
        "report_polls_to_complete": 3,
        "fail_next_report_run": True,
        "empty_page_every": 4,
        "max_rows_per_request": 250,
        "throttle_after_calls": 100,
        "error_rate_5xx": 0.0,
        "expire_tokens_at": "2030-01-01T00:00:00Z",
        "deny_accounts": [account],
        "latency_s": 0.0,
        "spend_overrides": [
            {"ad_id": "1", "date": "2025-06-01", "region": "Kingston Parish", "spend": "1.5"}
        ],
        "retired_metrics": ["page_follows"],
        "account_total_skew": {f"{account}|2025-06-01": {"spend": "1", "impressions": 4}},
        "now": "2025-07-01T10:00:00+00:00",
    }
    assert set(config) - {"now"} == set(KNOB_NAMES)
    posted = requests.post(f"{sim.url}/__sim__/config", json=config, timeout=10)
    assert posted.status_code == 200
    knobs = posted.json()
    assert knobs["deny_accounts"] == [account]
    assert knobs["spend_overrides"][0]["spend"] == "1.50"
    assert knobs["retired_metrics"] == ["page_follows"]
    assert knobs["account_total_skew"] == {
        f"{account}|2025-06-01": {"spend": "1.00", "impressions": 4}
    }
    assert knobs["now"].startswith("2025-07-01T10:00:00")
    assert sim.state.report_polls_to_complete == 3 and sim.state.max_rows_per_request == 250
    assert sim.state.today() == date(2025, 7, 1)
    assert get(sim, f"{account}/campaigns").status_code == 403
    assert requests.get(f"{sim.url}/__sim__/config", timeout=10).json() == knobs

    for bad in (
        {"no_such_knob": 1},
        {"error_rate_5xx": 3},
        {"spend_overrides": [["x"]]},
        {"account_total_skew": {f"{account}|June": {"spend": "1"}}},
        {"account_total_skew": {f"{account}|2025-06-01": {"clicks": 1.5}}},
        {"account_total_skew": [account]},
    ):
        response = requests.post(f"{sim.url}/__sim__/config", json=bad, timeout=10)
        assert response.status_code == 400

    requests.post(f"{sim.url}/__sim__/reset", timeout=10)
    cleared = requests.get(f"{sim.url}/__sim__/config", timeout=10).json()
    assert cleared["deny_accounts"] == [] and cleared["spend_overrides"] == []
    assert cleared["retired_metrics"] == [] and cleared["account_total_skew"] == {}
    assert cleared["report_polls_to_complete"] == 2 and cleared["max_rows_per_request"] is None
    assert cleared["clock_pinned"] is False and sim.state.today() == TODAY
    assert get(sim, f"{account}/campaigns").status_code == 200


def test_usage_headers_on_error_answers(sim: MetaSimulator) -> None:
    invalid = get(sim, "me/adaccounts", "not_a_sim_token")
    assert invalid.status_code == 400 and "x-app-usage" in invalid.headers
    sim.state.inject("/insights", http_status=500, code=2)
    account = first_account(sim)
    faulted = get(sim, f"{account}/insights")
    assert faulted.status_code == 500 and "x-app-usage" in faulted.headers
