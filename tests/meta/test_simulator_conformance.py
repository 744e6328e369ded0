"""The Meta simulator read through Meta's own Python SDK (``facebook_business``) only.

Nothing of the product is used here: the SDK's ``FacebookSession`` is pointed at the simulator
through its documented ``GRAPH`` attribute (the Graph URL), and every answer is read as the SDK
reads Graph's. Expected values are written out from what Meta documents.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from facebook_business.adobjects.ad import Ad
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.campaign import Campaign
from facebook_business.adobjects.user import User
from facebook_business.api import FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from adinsights_pipelines.simulators.meta_graph import MetaSimState, MetaSimulator

TOKEN = "sim_sdk_conformance"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
VERSION = "v26.0"
SINCE, UNTIL = "2026-11-01", "2026-11-07"
TIME_RANGE = {"since": SINCE, "until": UNTIL}
USAGE_HEADERS = ("x-app-usage", "x-ad-account-usage", "x-business-use-case-usage")


@pytest.fixture(scope="module")
def sim() -> Iterator[MetaSimulator]:
    with MetaSimulator(MetaSimState()) as running:
        yield running


@pytest.fixture(autouse=True)
def _clock(sim: MetaSimulator) -> None:
    sim.state.reset()
    sim.state.set_now(NOW)


def sdk(sim: MetaSimulator, token: str = TOKEN, version: str = VERSION) -> FacebookAdsApi:
    session = FacebookSession(access_token=token)
    session.GRAPH = sim.url  # the SDK's documented Graph URL attribute
    return FacebookAdsApi(session, api_version=version)


@pytest.fixture
def api(sim: MetaSimulator) -> FacebookAdsApi:
    return sdk(sim)


def ad_accounts(api: FacebookAdsApi) -> list[AdAccount]:
    fields = [AdAccount.Field.id, AdAccount.Field.account_id, AdAccount.Field.currency]
    return list(User(fbid="me", api=api).get_ad_accounts(fields=fields))


# --- accounts, campaigns, ad sets, ads -------------------------------------------------------


def test_accounts_and_objects_page_to_the_end_with_summary_counts(api: FacebookAdsApi) -> None:
    cursor = User(fbid="me", api=api).get_ad_accounts(
        fields=[AdAccount.Field.name, AdAccount.Field.currency, AdAccount.Field.timezone_name],
        params={"limit": 1},
    )
    accounts = list(cursor)
    assert len(accounts) == 2 and cursor.total() == 2
    assert all(a[AdAccount.Field.id].startswith("act_") for a in accounts)
    for account in accounts:
        for edge, fields in (
            (
                account.get_campaigns,
                [
                    Campaign.Field.name,
                    Campaign.Field.start_time,
                    Campaign.Field.lifetime_budget,
                    Campaign.Field.bid_strategy,
                    Campaign.Field.effective_status,
                    Campaign.Field.updated_time,
                ],
            ),
            (
                account.get_ad_sets,
                [
                    AdSet.Field.campaign_id,
                    AdSet.Field.targeting,
                    AdSet.Field.bid_strategy,
                    AdSet.Field.start_time,
                    AdSet.Field.attribution_spec,
                ],
            ),
            (account.get_ads, [Ad.Field.adset_id, Ad.Field.creative, Ad.Field.effective_status]),
        ):
            paged = edge(fields=fields, params={"limit": 1})
            objects = list(paged)  # one object per page, to the last page
            everything = list(edge(fields=fields, params={"limit": 100}))
            assert [o["id"] for o in objects] == [o["id"] for o in everything]
            assert paged.total() == len(objects) >= 1
            assert len({o["id"] for o in objects}) == len(objects)
            for obj in objects:
                assert set(obj.export_all_data()) <= {*fields, "id"}
                assert obj.get("effective_status") not in ("ARCHIVED", "DELETED")
        for campaign in account.get_campaigns(fields=[Campaign.Field.start_time]):
            assert campaign[Campaign.Field.start_time][4] == "-"
        for adset in account.get_ad_sets(fields=[AdSet.Field.targeting]):
            assert adset[AdSet.Field.targeting]["geo_locations"]["countries"] == ["JM"]


def test_archived_and_deleted_objects_come_back_only_when_asked_for(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    status = Campaign.Field.effective_status
    default = Counter(c[status] for c in account.get_campaigns(fields=[status]))
    assert set(default) <= {"ACTIVE", "PAUSED"}
    archived = list(
        account.get_campaigns(fields=[status], params={"effective_status": ["ARCHIVED"]})
    )
    assert [c[status] for c in archived] == ["ARCHIVED"]
    both = account.get_campaigns(
        fields=[status],
        params={
            "filtering": [
                {"field": "effective_status", "operator": "IN", "value": ["ARCHIVED", "DELETED"]}
            ]
        },
    )
    assert sorted(c[status] for c in both) == ["ARCHIVED", "DELETED"] and both.total() == 2
    # A comma list instead of the SDK's JSON array (the SDK warns about it, Graph takes both).
    with pytest.warns(UserWarning, match="effective_status might not be compatible"):
        deleted_ads = list(
            account.get_ads(
                fields=[Ad.Field.effective_status], params={"effective_status": "DELETED"}
            )
        )
    assert [a[Ad.Field.effective_status] for a in deleted_ads] == ["DELETED"]
    # An archived object is still readable by its id.
    read = Campaign(archived[0]["id"], api=api).api_get(fields=[Campaign.Field.name, status])
    assert read[status] == "ARCHIVED"


def test_filtering_on_updated_time_and_ids(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    fields = [Campaign.Field.updated_time, Campaign.Field.name]
    campaigns = list(account.get_campaigns(fields=fields))
    stamps = sorted(
        datetime.strptime(c[Campaign.Field.updated_time], "%Y-%m-%dT%H:%M:%S%z").timestamp()
        for c in campaigns
    )
    cut = stamps[len(stamps) // 2]
    newer = account.get_campaigns(
        fields=fields,
        params={
            "filtering": [{"field": "updated_time", "operator": "GREATER_THAN", "value": int(cut)}]
        },
    )
    assert len(list(newer)) == sum(1 for s in stamps if s > int(cut))
    first = campaigns[0]["id"]
    adsets = list(
        account.get_ad_sets(
            fields=[AdSet.Field.campaign_id],
            params={"filtering": [{"field": "campaign.id", "operator": "IN", "value": [first]}]},
        )
    )
    assert adsets and {a[AdSet.Field.campaign_id] for a in adsets} == {first}
    children = list(Campaign(first, api=api).get_ad_sets(fields=[AdSet.Field.campaign_id]))
    assert sorted(a["id"] for a in children) == sorted(a["id"] for a in adsets)


def test_an_undocumented_field_is_rejected_as_meta_does(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    with (
        pytest.raises(FacebookRequestError) as raised,
        pytest.warns(UserWarning, match="does not allow field not_a_campaign_field"),
    ):
        list(account.get_campaigns(fields=["name", "not_a_campaign_field"]))
    error = raised.value
    assert (error.http_status(), error.api_error_code(), error.api_error_type()) == (
        400,
        100,
        "OAuthException",
    )
    assert error.api_error_message() == (
        "(#100) Tried accessing nonexisting field (not_a_campaign_field) on node type (Campaign)"
    )
    with (
        pytest.raises(FacebookRequestError) as insights,
        pytest.warns(UserWarning, match="does not allow field no_such_metric"),
    ):
        list(account.get_insights(fields=["spend", "no_such_metric"]))
    assert "(no_such_metric) on node type (AdsInsights)" in insights.value.api_error_message()


# --- insights --------------------------------------------------------------------------------


def _key(row: AdsInsights) -> tuple[str, str, str]:
    return (row["ad_id"], row["date_start"], row.get("region", ""))


def test_sync_insights_daily_with_region_breakdown_and_default_all_days(
    api: FacebookAdsApi,
) -> None:
    account = ad_accounts(api)[0]
    ads = list(account.get_ads(fields=[Ad.Field.name]))
    fields = [
        AdsInsights.Field.ad_id,
        AdsInsights.Field.spend,
        AdsInsights.Field.impressions,
        AdsInsights.Field.clicks,
        AdsInsights.Field.unique_clicks,
        AdsInsights.Field.actions,
        AdsInsights.Field.account_currency,
    ]
    params = {"level": "ad", "time_range": TIME_RANGE, "time_increment": 1}
    daily = list(account.get_insights(fields=fields, params={**params, "breakdowns": ["region"]}))
    regions = {r["region"] for r in daily}
    assert len(daily) == 7 * len(ads) * len(regions)
    assert all(r["date_start"] == r["date_stop"] for r in daily)
    assert all(int(r["unique_clicks"]) <= int(r["clicks"]) for r in daily)
    # the same breakdown as a comma list
    with pytest.warns(UserWarning, match="breakdowns might not be compatible"):
        comma = list(account.get_insights(fields=fields, params={**params, "breakdowns": "region"}))
    assert [_key(r) for r in comma] == [_key(r) for r in daily]

    whole = list(
        account.get_insights(fields=fields, params={"level": "ad", "time_range": TIME_RANGE})
    )
    assert len(whole) == len(ads)  # Meta's default time_increment is all_days
    assert {(r["date_start"], r["date_stop"]) for r in whole} == {(SINCE, UNTIL)}
    for row in whole:
        per_day = [r for r in daily if r["ad_id"] == row["ad_id"]]
        assert int(row["impressions"]) == sum(int(r["impressions"]) for r in per_day)


def test_async_insights_report_run_matches_the_sync_answer(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    fields = [AdsInsights.Field.ad_id, AdsInsights.Field.spend, AdsInsights.Field.impressions]
    params = {
        "level": "ad",
        "time_range": TIME_RANGE,
        "time_increment": 1,
        "breakdowns": ["region"],
    }
    sync = {_key(r): r["spend"] for r in account.get_insights(fields=fields, params=dict(params))}
    job = account.get_insights(fields=fields, params=dict(params), is_async=True)
    assert isinstance(job, AdReportRun)
    for _ in range(10):
        job = job.api_get()
        if job[AdReportRun.Field.async_status] == "Job Completed":
            break
        time.sleep(0.01)
    assert job[AdReportRun.Field.async_percent_completion] == 100
    rows = list(job.get_insights(params={"limit": 7}))
    assert {_key(r): r["spend"] for r in rows} == sync


def _actions(rows: list[AdsInsights]) -> dict[tuple[str, str], dict]:
    return {(r["ad_id"], a["action_type"]): a for r in rows for a in r.get("actions", [])}


def test_action_options_change_the_answer_as_meta_documents(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    fields = [
        AdsInsights.Field.ad_id,
        AdsInsights.Field.actions,
        AdsInsights.Field.attribution_setting,
    ]
    base = {"level": "ad", "time_range": TIME_RANGE}
    default = list(account.get_insights(fields=fields, params=base))
    plain = _actions(default)
    # Unified attribution: each ad set's own setting (Meta's default or one-day click).
    settings = {r["ad_id"]: r["attribution_setting"] for r in default}
    assert set(settings.values()) == {"7d_click_1d_view", "1d_click"}

    windows = _actions(
        account.get_insights(
            fields=fields,
            params={**base, "action_attribution_windows": ["1d_click", "7d_click", "1d_view"]},
        )
    )
    assert windows.keys() == plain.keys()
    conversions = 0
    for (ad_id, action), entry in windows.items():
        assert entry["value"] == plain[(ad_id, action)]["value"]
        if action in ("link_click", "page_engagement"):
            continue  # engagement on Meta: the same in every window
        conversions += 1
        assert int(entry["1d_click"]) <= int(entry["7d_click"])
        if settings[ad_id] == "1d_click":
            assert entry["value"] == entry["1d_click"]
        else:
            assert int(entry["7d_click"]) <= int(entry["value"])
    assert conversions

    devices = account.get_insights(
        fields=fields, params={**base, "action_breakdowns": ["action_type", "action_device"]}
    )
    summed: Counter[tuple[str, str]] = Counter()
    for row in devices:
        for entry in row["actions"]:
            assert entry["action_device"] in ("iphone", "android_smartphone", "desktop", "ipad")
            summed[(row["ad_id"], entry["action_type"])] += int(entry["value"])
    assert summed == {key: int(entry["value"]) for key, entry in plain.items()}

    unified = list(
        account.get_insights(
            fields=fields, params={**base, "use_unified_attribution_setting": True}
        )
    )
    assert _actions(unified) == plain

    daily = {**base, "time_increment": 1}
    on_impression = _day_actions(account, fields, daily)
    on_conversion = _day_actions(account, fields, {**daily, "action_report_time": "conversion"})
    assert on_conversion.keys() == on_impression.keys() and on_conversion != on_impression


def _day_actions(account: AdAccount, fields: list[str], params: dict) -> dict:
    rows = account.get_insights(fields=fields, params=params)
    return {
        (r["ad_id"], r["date_start"], a["action_type"]): a["value"]
        for r in rows
        for a in r.get("actions", [])
    }


# --- batch, errors, headers, user edges ------------------------------------------------------


def test_batch_requests_reach_success_and_failure_callbacks(api: FacebookAdsApi) -> None:
    accounts = ad_accounts(api)
    successes: list[FacebookResponse] = []
    failures: list[FacebookResponse] = []
    batch = api.new_batch()
    for account in accounts:
        account.get_campaigns(
            fields=[Campaign.Field.name],
            batch=batch,
            success=successes.append,
            failure=failures.append,
        )
    with pytest.warns(UserWarning, match="does not allow field no_such_field"):
        accounts[0].get_ads(
            fields=["no_such_field"],
            batch=batch,
            success=successes.append,
            failure=failures.append,
        )
    assert batch.execute() is None or failures  # failed calls come back for a retry
    assert len(successes) == 2 and len(failures) == 1
    for response in successes:
        body = response.json()
        assert body["data"] and all(set(c) == {"id", "name"} for c in body["data"])
    error = failures[0].error()
    assert isinstance(error, FacebookRequestError) and error.api_error_code() == 100


def test_error_envelope_reaches_facebook_request_error(sim: MetaSimulator) -> None:
    with pytest.raises(FacebookRequestError) as bad_token:
        User(fbid="me", api=sdk(sim, token="not-a-token")).api_get(fields=["id"])
    error = bad_token.value
    assert (error.http_status(), error.api_error_code(), error.api_error_type()) == (
        400,
        190,
        "OAuthException",
    )
    assert error.body()["error"]["fbtrace_id"]

    expired = sdk(sim, token="sim_expired_sdk")
    with pytest.raises(FacebookRequestError) as session_expired:
        User(fbid="me", api=expired).api_get(fields=["id"])
    assert (session_expired.value.api_error_code(), session_expired.value.api_error_subcode()) == (
        190,
        463,
    )

    # v24.0's Marketing API sunset was 2026-11-10 (NOW is 2026-12-01).
    retired = sdk(sim, version="v24.0")
    account_id = ad_accounts(sdk(sim))[0]["id"]
    with pytest.raises(FacebookRequestError) as old_version:
        AdAccount(account_id, api=retired).api_get(fields=["name"])
    assert old_version.value.api_error_code() == 2635
    assert old_version.value.api_error_message() == (
        "(#2635) You are calling a deprecated version of the Ads API. Please update to the "
        "latest version: v27.0."
    )
    assert all(name in old_version.value.http_headers() for name in USAGE_HEADERS)


def test_rate_limit_headers_on_every_answer_errors_included(api: FacebookAdsApi) -> None:
    me = User(fbid="me", api=api).get_ad_accounts(fields=["name"])
    list(me)
    assert "x-app-usage" in me.headers()
    account = ad_accounts(api)[0]
    campaigns = account.get_campaigns(fields=["name"])
    list(campaigns)
    for name in USAGE_HEADERS:
        assert json.loads(campaigns.headers()[name])
    insights = account.get_insights(fields=["spend"], params={"time_range": TIME_RANGE})
    list(insights)
    throttle = json.loads(insights.headers()["x-fb-ads-insights-throttle"])
    assert set(throttle) >= {"app_id_util_pct", "acc_id_util_pct"}
    with (
        pytest.raises(FacebookRequestError) as bad,
        pytest.warns(UserWarning, match="level might not be compatible"),
    ):
        list(account.get_insights(fields=["spend"], params={"level": "nowhere"}))
    headers = bad.value.http_headers()
    for name in (*USAGE_HEADERS, "x-fb-ads-insights-throttle"):
        assert name in headers


def test_user_node_edges(api: FacebookAdsApi) -> None:
    me = User(fbid="me", api=api).api_get(fields=[User.Field.id, User.Field.name])
    assert me[User.Field.id].isdigit() and me[User.Field.name]
    pages = list(User(fbid="me", api=api).get_accounts(fields=["name", "access_token"]))
    assert pages and all(p["access_token"].startswith("sim_page_") for p in pages)
    businesses = list(User(fbid="me", api=api).get_businesses(fields=["name"]))
    assert len(businesses) == 1 and businesses[0]["id"].isdigit()
    permissions = {p["permission"]: p["status"] for p in User(fbid="me", api=api).get_permissions()}
    assert permissions["ads_read"] == "granted" and permissions["pages_show_list"] == "granted"


# --- data as Meta reports it today (issues #16, #17) ----------------------------------------

#: Every status an ad can have (what Airbyte's source-facebook-marketing sends in ``filtering``).
ALL_STATUSES = [
    "ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "IN_PROCESS", "WITH_ISSUES",
    "CAMPAIGN_PAUSED", "ADSET_PAUSED", "PENDING_REVIEW", "DISAPPROVED",
]  # fmt: skip
ALL_ADS = [{"field": "ad.effective_status", "operator": "IN", "value": ALL_STATUSES}]
PURCHASE_PIXEL = (
    "offsite_conversion.fb_pixel_purchase",
    "onsite_web_purchase",
    "onsite_web_app_purchase",
    "web_in_store_purchase",
    "web_app_in_store_purchase",
)
ACTION_FIELDS = [
    AdsInsights.Field.ad_id,
    AdsInsights.Field.spend,
    AdsInsights.Field.impressions,
    AdsInsights.Field.clicks,
    AdsInsights.Field.reach,
    AdsInsights.Field.frequency,
    AdsInsights.Field.actions,
    AdsInsights.Field.action_values,
]


def _by_type(row: AdsInsights, field: str = "actions") -> dict[str, str]:
    return {a["action_type"]: a["value"] for a in row.get(field, [])}


def _cents(amount: str) -> int:
    units, _, cents = amount.partition(".")
    assert len(cents) == 2, amount
    return int(units) * 100 + int(cents)


def _daily(account: AdAccount, **params: object) -> list[AdsInsights]:
    base = {"level": "ad", "time_range": TIME_RANGE, "time_increment": 1, "limit": 500}
    return list(account.get_insights(fields=ACTION_FIELDS, params={**base, **params}))


def test_one_conversion_is_listed_under_overlapping_action_types(api: FacebookAdsApi) -> None:
    rows = [r for account in ad_accounts(api) for r in _daily(account, filtering=ALL_ADS)]
    seen: Counter[str] = Counter()
    for row in rows:
        actions, values = _by_type(row), _by_type(row, "action_values")
        pixel = actions.get("offsite_conversion.fb_pixel_purchase", "0")
        on_meta = actions.get("onsite_conversion.purchase", "0")
        if pixel != "0":
            # One website purchase under every pixel alias, with the same value.
            assert {actions[t] for t in PURCHASE_PIXEL} == {pixel}
            assert {values[t] for t in PURCHASE_PIXEL} == {values[PURCHASE_PIXEL[0]]}
            seen["pixel purchase"] += 1
        if pixel != "0" and on_meta != "0":
            seen["both sources"] += 1
        if "purchase" in actions:
            # The aggregates are pixel + on-Meta, and equal to each other.
            assert actions["purchase"] == actions["omni_purchase"]
            assert int(actions["purchase"]) == int(pixel) + int(on_meta)
            assert values["purchase"] == values["omni_purchase"]
            assert _cents(values["purchase"]) == _cents(
                values.get(PURCHASE_PIXEL[0], "0.00")
            ) + _cents(values.get("onsite_conversion.purchase", "0.00"))
        if "lead" in actions:
            grouped = actions.get("onsite_conversion.lead_grouped", "0")
            assert actions.get("leadgen_grouped", "0") == grouped
            assert int(actions["lead"]) == int(
                actions.get("offsite_conversion.fb_pixel_lead", "0")
            ) + int(grouped)
            seen["lead"] += 1
        if "complete_registration" in actions:
            assert (
                actions["complete_registration"]
                == actions["omni_complete_registration"]
                == actions["offsite_conversion.fb_pixel_complete_registration"]
            )
            seen["registration"] += 1
        custom = [t for t in actions if t.startswith("offsite_conversion.custom.")]
        assert len(custom) <= 1 and all(t.rsplit(".", 1)[1].isdigit() for t in custom)
        seen["custom"] += len(custom)
        # action_values: only the purchase family carries a value.
        assert set(values) <= {*PURCHASE_PIXEL, "purchase", "omni_purchase"} | {
            "onsite_conversion.purchase"
        }
    assert min(seen.values()) >= 1 and len(seen) == 5, seen


def test_type1_region_breakdown_returns_only_on_meta_actions(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    whole = {(r["ad_id"], r["date_start"]): r for r in _daily(account, filtering=ALL_ADS)}
    regional = _daily(account, filtering=ALL_ADS, breakdowns=["region"])
    assert regional
    on_meta_only = {
        "link_click", "page_engagement", "onsite_conversion.purchase", "purchase",
        "omni_purchase", "onsite_conversion.lead_grouped", "leadgen_grouped", "lead",
    }  # fmt: skip
    summed: dict[tuple[str, str], Counter[str]] = {}
    for row in regional:
        actions, values = _by_type(row), _by_type(row, "action_values")
        assert set(actions) <= on_meta_only, set(actions) - on_meta_only
        assert set(values) <= {"onsite_conversion.purchase", "purchase", "omni_purchase"}
        # An aggregate counts only its on-Meta part.
        assert actions.get("purchase", "0") == actions.get("onsite_conversion.purchase", "0")
        assert actions.get("lead", "0") == actions.get("onsite_conversion.lead_grouped", "0")
        total = summed.setdefault((row["ad_id"], row["date_start"]), Counter())
        total["spend"] += _cents(row["spend"])
        for name in ("impressions", "clicks"):
            total[name] += int(row[name])
        total["on_meta_purchases"] += int(actions.get("onsite_conversion.purchase", "0"))
    assert summed.keys() == whole.keys()
    for key, total in summed.items():
        row = whole[key]
        assert total["spend"] == _cents(row["spend"])
        assert total["impressions"] == int(row["impressions"])
        assert total["clicks"] == int(row["clicks"])
        assert total["on_meta_purchases"] == int(
            _by_type(row).get("onsite_conversion.purchase", "0")
        )
    # The unbroken rows still hold the pixel purchases the region rows leave out.
    assert any("offsite_conversion.fb_pixel_purchase" in _by_type(r) for r in whole.values())


def test_reach_is_deduplicated_across_regions_ads_and_days(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    daily = _daily(account)
    regional = _daily(account, breakdowns=["region"])
    assert _daily(account) == daily  # a pure function of the request

    def check(row: AdsInsights, parts: list[int]) -> None:
        reach = int(row["reach"])
        assert len(parts) >= 2
        assert max(parts) <= reach < sum(parts)
        assert row["frequency"] == f"{int(row['impressions']) / reach:.6f}"

    for row in daily:  # ad x day over its regions
        check(
            row,
            [
                int(r["reach"])
                for r in regional
                if (r["ad_id"], r["date_start"]) == (row["ad_id"], row["date_start"])
            ],
        )
    whole = account.get_insights(
        fields=ACTION_FIELDS, params={"level": "ad", "time_range": TIME_RANGE}
    )
    for row in whole:  # ad x all days over its days
        check(row, [int(r["reach"]) for r in daily if r["ad_id"] == row["ad_id"]])
    ad_campaign = {
        a["id"]: a[Ad.Field.campaign_id] for a in account.get_ads(fields=[Ad.Field.campaign_id])
    }
    campaigns = account.get_insights(
        fields=[AdsInsights.Field.campaign_id, *ACTION_FIELDS[1:]],
        params={"level": "campaign", "time_range": TIME_RANGE, "time_increment": 1},
    )
    checked = 0
    for row in campaigns:  # campaign x day over its ads
        parts = [
            int(r["reach"])
            for r in daily
            if ad_campaign[r["ad_id"]] == row["campaign_id"]
            and r["date_start"] == row["date_start"]
        ]
        if len(parts) >= 2:
            check(row, parts)
            checked += 1
    assert checked >= 7


def test_archived_and_deleted_ads_that_spent(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    hidden = {
        a["id"]: a[Ad.Field.effective_status]
        for a in account.get_ads(
            fields=[Ad.Field.effective_status],
            params={"effective_status": ["ARCHIVED", "DELETED"]},
        )
    }
    assert sorted(hidden.values()) == ["ARCHIVED", "DELETED"]
    default = _daily(account)
    assert default and not {r["ad_id"] for r in default} & hidden.keys()
    everything = _daily(account, filtering=ALL_ADS)
    for ad_id in hidden:
        days = sorted(r["date_start"] for r in everything if r["ad_id"] == ad_id)
        # Delivered on some days of the week, and no row on the days it did not run.
        assert 1 <= len(days) < 7, days
        rows = [r for r in everything if r["ad_id"] == ad_id]
        assert all(_cents(r["spend"]) > 0 and int(r["impressions"]) > 0 for r in rows)
    assert any("actions" in r for r in everything if r["ad_id"] in hidden)
    # Without the archived/deleted ones, only the visible ads: exactly the default answer.
    visible = [r for r in everything if r["ad_id"] not in hidden]
    assert [r.export_all_data() for r in visible] == [r.export_all_data() for r in default]
    # A deleted ad's own insights answer by its id.
    deleted = next(i for i, s in hidden.items() if s == "DELETED")
    own = list(
        Ad(deleted, api=api).get_insights(
            fields=[AdsInsights.Field.spend], params={"time_range": TIME_RANGE}
        )
    )
    assert _cents(own[0]["spend"]) == sum(
        _cents(r["spend"]) for r in everything if r["ad_id"] == deleted
    )


def test_account_totals_equal_the_ad_rows_of_every_status(api: FacebookAdsApi) -> None:
    for account in ad_accounts(api):
        ads = _daily(account, filtering=ALL_ADS)
        totals = _daily(account, level="account")
        assert [r["date_start"] for r in totals] == [f"2026-11-0{d}" for d in range(1, 8)]
        for row in totals:
            day = [r for r in ads if r["date_start"] == row["date_start"]]
            assert _cents(row["spend"]) == sum(_cents(r["spend"]) for r in day)
            for name in ("impressions", "clicks"):
                assert int(row[name]) == sum(int(r[name]) for r in day)
            summed: Counter[str] = Counter()
            for r in day:
                summed.update({t: int(v) for t, v in _by_type(r).items()})
            assert {t: int(v) for t, v in _by_type(row).items()} == dict(summed)
            money: Counter[str] = Counter()
            for r in day:
                money.update({t: _cents(v) for t, v in _by_type(r, "action_values").items()})
            assert {t: _cents(v) for t, v in _by_type(row, "action_values").items()} == dict(money)


def test_account_total_skew_knob_breaks_reconciliation_for_one_day(
    sim: MetaSimulator, api: FacebookAdsApi
) -> None:
    account = ad_accounts(api)[1]
    before = _daily(account, level="account")
    ads_before = _daily(account, filtering=ALL_ADS)
    sim.state.configure(
        account_total_skew={f"{account['id']}|2026-11-03": {"spend": "1.00", "clicks": 2}}
    )
    after = _daily(account, level="account")
    assert [r["date_start"] for r in after] == [r["date_start"] for r in before]
    for old, new in zip(before, after, strict=True):
        if new["date_start"] == "2026-11-03":
            assert _cents(new["spend"]) == _cents(old["spend"]) + 100
            assert int(new["clicks"]) == int(old["clicks"]) + 2
            assert new["impressions"] == old["impressions"]
        else:
            assert new.export_all_data() == old.export_all_data()
    assert [r.export_all_data() for r in _daily(account, filtering=ALL_ADS)] == [
        r.export_all_data() for r in ads_before
    ]
    assert sim.state.knobs()["account_total_skew"] == {
        f"{account['id']}|2026-11-03": {"spend": "1.00", "clicks": 2}
    }
    with pytest.raises(ValueError, match="unknown metric"):
        sim.state.configure(account_total_skew={f"{account['id']}|2026-11-03": {"reach": 1}})


def test_accounts_report_days_in_their_own_time_zone(
    sim: MetaSimulator, api: FacebookAdsApi
) -> None:
    # 06:00 UTC on 2 December: 01:00 in Kingston (UTC-5), 22:00 on 1 December in Los Angeles.
    sim.state.set_now(datetime(2026, 12, 2, 6, 0, tzinfo=UTC))
    fields = [
        AdAccount.Field.currency,
        AdAccount.Field.timezone_name,
        AdAccount.Field.timezone_offset_hours_utc,
    ]
    accounts = list(User(fbid="me", api=api).get_ad_accounts(fields=fields))
    assert [
        (a["currency"], a["timezone_name"], a["timezone_offset_hours_utc"]) for a in accounts
    ] == [("USD", "America/Jamaica", -5), ("USD", "America/Los_Angeles", -8)]
    newest = {}
    for account, today in zip(accounts, ("2026-12-02", "2026-12-01"), strict=True):
        rows = account.get_insights(
            fields=[AdsInsights.Field.spend],
            params={"level": "account", "date_preset": "today"},
        )
        assert [(r["date_start"], r["date_stop"]) for r in rows] == [(today, today)]
        capped = account.get_insights(
            fields=[AdsInsights.Field.spend],
            params={
                "level": "account",
                "time_increment": 1,
                "time_range": {"since": "2026-11-30", "until": "2026-12-05"},
            },
        )
        newest[account["timezone_name"]] = max(r["date_start"] for r in capped)
    assert newest == {"America/Jamaica": "2026-12-02", "America/Los_Angeles": "2026-12-01"}


def test_attribution_as_meta_answers_it_today(api: FacebookAdsApi) -> None:
    account = ad_accounts(api)[0]
    fields = [AdsInsights.Field.ad_id, AdsInsights.Field.actions]
    base = {"level": "ad", "time_range": TIME_RANGE}
    default = _actions(account.get_insights(fields=fields, params=base))
    # Unified attribution always applies: asking for it off changes nothing.
    off = account.get_insights(
        fields=fields, params={**base, "use_unified_attribution_setting": False}
    )
    assert _actions(off) == default
    # 7d_view and 28d_view are accepted but no longer returned (since 2026-01-12).
    windows = ["1d_click", "7d_click", "1d_view", "7d_view", "28d_view"]
    answered = _actions(
        account.get_insights(fields=fields, params={**base, "action_attribution_windows": windows})
    )
    assert answered.keys() == default.keys()
    for key, entry in answered.items():
        assert set(entry) == {"action_type", "value", "1d_click", "7d_click", "1d_view"}
        assert entry["value"] == default[key]["value"]
