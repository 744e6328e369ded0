"""The golden test: hand-written Graph answers -> the real sync, dbt and snapshot -> the API.

A loopback fake Graph (:mod:`tests.meta.golden_graph`) serves literal, real-shaped answers for
two ad accounts (America/Jamaica and America/Los_Angeles, both USD): overlapping action aliases,
``action_values``, region rows without off-Meta actions (summing to the truth for some
campaign-days, short of it for others), a DELETED ad with spend, and campaign- and
account-level rows with Meta's deduplicated reach. The real ``meta_sync``,
``meta_hierarchy_sync``, ``dbt_build`` and ``metrics_snapshots`` jobs run on them, and every
figure ``/api/metrics/combined/`` serves is compared with a literal worked out by hand below
from the documented rules (docs/architecture.md, issue #17), never with product code.

The rules used (Meta):
- conversions: per event of the definition (purchase, lead, complete_registration) one action
  type of its alias family: ``omni_<event>``, else the plain name, else a channel type; the
  value is the same type's entry in ``action_values``;
- the truth read (level=ad, no breakdown) gives each campaign-day's spend, impressions, clicks,
  conversions and conversion value; the region read gives the parishes: region rows mapped to
  parishes (``stg_parish_aliases``, unmatched -> Unknown) and summed, and the truth's remainder
  put on Unknown;
- conversions and value of a campaign-day are split over its parish rows by clicks (no clicks:
  impressions; none: spend), parish order by ISO code with Unknown last, cumulative rounding to
  4 places: alloc_i = round(X * W_i / W, 4) - round(X * W_(i-1) / W, 4);
- the API sums fact rows; ratios from summed parts (ctr 6 places, money 2 places half up,
  roas 4 places half up), conversions served rounded to 2 places.

Days: D1 is the day before yesterday and D2 yesterday, in Los Angeles (whose day is never ahead
of Kingston's). With a lookback of 4 days both accounts' windows hold both days whatever the
hour: Kingston's today is Los Angeles' today or the day after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.campaign import Campaign
from facebook_business.adobjects.user import User
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.encryption import keyring_from_settings
from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES
from tests.conftest import disposing, point_environment_at
from tests.meta.golden_graph import (
    CAROUSEL_AD,
    DELETED_AD,
    FORM_AD,
    ISLAND_SALE,
    JM_ACCOUNT,
    LA_ACCOUNT,
    LA_LEADS,
    SPRING_SALE,
    TOKEN,
    VIDEO_AD,
    GoldenGraph,
)
from tests.sql import query

TENANT = "golden"
JM = f"act_{JM_ACCOUNT}"
LA = f"act_{LA_ACCOUNT}"


def golden_days() -> tuple[date, date]:
    """(D1, D2): the day before yesterday and yesterday in Los Angeles."""
    yesterday = datetime.now(ZoneInfo("America/Los_Angeles")).date() - timedelta(days=1)
    return yesterday - timedelta(days=1), yesterday


# --- the fake, read through Meta's own SDK (its shapes are Graph's) -----------------------------

SDK_D1, SDK_D2 = date(2026, 11, 30), date(2026, 12, 1)
SDK_RANGE = {"since": "2026-11-29", "until": "2026-12-02"}
EVERY_AD = [{"field": "ad.effective_status", "operator": "IN", "value": ["ACTIVE", "DELETED"]}]


@pytest.fixture(scope="module")
def sdk_graph() -> Iterator[GoldenGraph]:
    with GoldenGraph(SDK_D1, SDK_D2) as graph:
        yield graph


def sdk(graph: GoldenGraph, token: str = TOKEN) -> FacebookAdsApi:
    session = FacebookSession(access_token=token)
    session.GRAPH = graph.url  # the SDK's documented Graph URL attribute
    return FacebookAdsApi(session, api_version="v26.0")


def test_the_fake_lists_accounts_and_objects_as_graph_does(sdk_graph: GoldenGraph) -> None:
    api = sdk(sdk_graph)
    cursor = User(fbid="me", api=api).get_ad_accounts(
        fields=[AdAccount.Field.name, AdAccount.Field.currency, AdAccount.Field.timezone_name],
        params={"limit": 1},
    )
    accounts = list(cursor)  # one per page: the SDK follows the cursors
    assert [(a["id"], a["currency"], a["timezone_name"]) for a in accounts] == [
        (JM, "USD", "America/Jamaica"),
        (LA, "USD", "America/Los_Angeles"),
    ]
    assert cursor.total() == 2
    jm = AdAccount(JM, api=api)
    status = Campaign.Field.effective_status
    # Graph leaves DELETED objects out unless asked for them
    assert [c["name"] for c in jm.get_campaigns(fields=["name", status])] == ["Island Sale"]
    every = jm.get_campaigns(
        fields=["name", status], params={"effective_status": ["ACTIVE", "DELETED"]}
    )
    assert [(c["name"], c[status]) for c in every] == [
        ("Island Sale", "ACTIVE"),
        ("Spring Sale", "DELETED"),
    ]
    ads = jm.get_ads(
        fields=["name", "effective_status", "campaign_id"],
        params={"effective_status": ["ACTIVE", "DELETED"]},
    )
    assert {a["id"]: a["effective_status"] for a in ads} == {
        VIDEO_AD: "ACTIVE",
        CAROUSEL_AD: "ACTIVE",
        DELETED_AD: "DELETED",
    }
    with pytest.raises(FacebookRequestError) as bad:
        list(User(fbid="me", api=sdk(sdk_graph, "not-the-token")).get_ad_accounts())
    assert (bad.value.http_status(), bad.value.api_error_code()) == (400, 190)


def test_the_fake_answers_each_insights_read_as_graph_does(sdk_graph: GoldenGraph) -> None:
    jm = AdAccount(JM, api=sdk(sdk_graph))
    fields = [
        AdsInsights.Field.ad_id,
        AdsInsights.Field.spend,
        AdsInsights.Field.clicks,
        AdsInsights.Field.actions,
        AdsInsights.Field.action_values,
    ]
    daily = {"level": "ad", "time_increment": 1, "time_range": SDK_RANGE}
    truth = list(jm.get_insights(fields=fields, params={**daily, "filtering": EVERY_AD}))
    assert [(r["ad_id"], r["date_start"], r["spend"]) for r in truth] == [
        (VIDEO_AD, "2026-11-30", "40"),
        (CAROUSEL_AD, "2026-11-30", "20"),
        (DELETED_AD, "2026-11-30", "10"),
        (VIDEO_AD, "2026-12-01", "50"),
        (CAROUSEL_AD, "2026-12-01", "30"),
    ]
    assert all(r["date_stop"] == r["date_start"] for r in truth)
    purchases = {
        a["action_type"]: a["value"] for a in truth[0]["actions"] if "purchase" in a["action_type"]
    }
    assert purchases == {
        "omni_purchase": "3",
        "purchase": "3",
        "offsite_conversion.fb_pixel_purchase": "3",
        "onsite_web_purchase": "3",
    }
    assert {a["action_type"]: a["value"] for a in truth[0]["action_values"]}["omni_purchase"] == (
        "150"
    )
    # without filtering on the ad's status Graph leaves the deleted ad out
    assert DELETED_AD not in {r["ad_id"] for r in jm.get_insights(fields=fields, params=daily)}
    # one day only
    one_day = {**daily, "time_range": {"since": "2026-12-01", "until": "2026-12-01"}}
    assert {r["date_start"] for r in jm.get_insights(fields=fields, params=one_day)} == {
        "2026-12-01"
    }

    regions = list(
        jm.get_insights(
            fields=fields, params={**daily, "filtering": EVERY_AD, "breakdowns": ["region"]}
        )
    )
    assert len(regions) == 10 and all("region" in r for r in regions)
    off_meta = {
        a["action_type"]
        for r in regions
        for a in r.get("actions", [])
        if a["action_type"] != "link_click"
    }
    assert off_meta == set() and not any("action_values" in r for r in regions)

    account = list(
        jm.get_insights(
            fields=["spend", "reach", "account_name"],
            params={"level": "account", "time_increment": 1, "time_range": SDK_RANGE},
        )
    )
    assert [(r["date_start"], r["spend"], r["reach"]) for r in account] == [
        ("2026-11-30", "70", "4500"),
        ("2026-12-01", "80", "4800"),
    ]
    campaigns = jm.get_insights(
        fields=["campaign_id", "reach"],
        params={"level": "campaign", "time_increment": 1, "time_range": SDK_RANGE,
                "filtering": EVERY_AD},
    )  # fmt: skip
    assert [(r["campaign_id"], r["reach"]) for r in campaigns] == [
        (ISLAND_SALE, "4100"),
        (SPRING_SALE, "800"),
        (ISLAND_SALE, "4800"),
    ]
    with pytest.raises(FacebookRequestError) as other:
        list(jm.get_insights(fields=fields, params={**daily, "breakdowns": ["dma"]}))
    assert other.value.api_error_code() == 100


# --- the golden run ------------------------------------------------------------------------------


@pytest.fixture
def golden(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[GoldenGraph, Database]]:
    d1, d2 = golden_days()
    with GoldenGraph(d1, d2) as graph:
        point_environment_at(monkeypatch, database, tmp_path, graph.url)
        # Both windows hold D1 and D2 (see the module's docstring); no first-sync backfill
        # through async report runs (initial days not above the lookback).
        monkeypatch.setenv("ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS", "4")
        monkeypatch.setenv("ADINSIGHTS_META_INITIAL_SYNC_DAYS", "4")
        monkeypatch.delenv("ADINSIGHTS_META_CONVERSION_EVENTS", raising=False)  # the default
        yield graph, database


def _run(instance: DagsterInstance, job: str, partition: str | None = None) -> Any:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, raise_on_error=False
    )


def _failure(result: Any) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    if not failures:
        return "no step failure"
    error = failures[0].event_specific_data.error
    return error.message + (error.cause.message if error.cause else "")


class Checks:
    """Every comparison of the golden run, reported together (one failing figure does not hide
    the others)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def equal(self, what: str, actual: Any, expected: Any) -> None:
        if actual != expected:
            self.problems.append(f"{what}:\n    served   {actual!r}\n    expected {expected!r}")

    def entries(
        self, what: str, actual: list[dict[str, Any]], expected: list[dict[str, Any]]
    ) -> None:
        if len(actual) != len(expected):
            self.equal(f"{what} (entries)", actual, expected)
            return
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            self.equal(f"{what}[{i}]", got, want)


def _ratios(ctr: float | None, cpc: str | None, cpm: str | None, cpa: str | None,
            roas: float | None) -> dict[str, Any]:  # fmt: skip
    return {"ctr": ctr, "cpc": cpc, "cpm": cpm, "cost_per_conversion": cpa, "roas": roas}


def _entry(
    spend: str, impressions: int, clicks: int, conversions: float, value: str, **ratios: Any
) -> dict[str, Any]:
    """An entry of totals / by_platform / by_campaign / by_parish (USD, the tenant's
    reporting currency: spend_reporting = spend, fx rate 1)."""
    return {
        "currency": "USD",
        "spend": spend,
        "impressions": impressions,
        "clicks": clicks,
        "conversions": conversions,
        "conversion_value": value,
        **_ratios(**ratios),
        "spend_reporting": spend,
        "conversion_value_reporting": value,
        "reporting_currency": "USD",
    }


# The fact rows (tenant, platform meta, account, campaign, day, parish), worked out by hand.
#
# Truth read, per campaign-day (conversions: one action type per event):
#   Island Sale D1: Video 40.00 / 4000 / 100, omni_purchase 3 (of 4 aliases, all "3"), value 150
#                   Carousel 20.00 / 2000 / 50, omni_purchase 1 + complete_registration 3
#                   (only offsite_conversion.fb_pixel_complete_registration listed), value 45.50
#                   -> 60.00 / 6000 / 150, conversions 3 + 1 + 3 = 7, value 150 + 45.50 = 195.50
#   Spring Sale D1 (deleted ad): 10.00 / 900 / 0, omni_purchase 1, value 25.00
#   Island Sale D2: Video 50.00 / 5000 / 120, omni_purchase 2 + lead 1 (not
#                   onsite_conversion.lead_grouped too), value 80
#                   Carousel 30.00 / 2500 / 45, omni_purchase 1, value 60.25
#                   -> 80.00 / 7500 / 165, conversions 2 + 1 + 1 = 4, value 80 + 60.25 = 140.25
#   LA Leads D1:    35.00 / 3000 / 72, lead 5 (not lead_grouped 2 + fb_pixel_lead 3 too)
#                   + omni_complete_registration 2 = 7, value 14.00
#   LA Leads D2:    26.40 / 2200 / 44, offsite_conversion.fb_pixel_lead 2 (no aggregate listed)
#                   = 2; the custom conversion (5, value 99) is not in the definition: value 0
#
# Parish rows (region rows mapped and summed; the truth's remainder on Unknown):
#   Island Sale D1: Kingston 25 + 8 = 33.00 / 2500 + 800 = 3300 / 60 + 20 = 80;
#                   Saint Andrew 15.00 / 1500 / 40; Saint James 12.00 / 1200 / 30;
#                   remainder 60 - 60 = 0
#   Spring Sale D1: Saint Andrew 6.00 / 500 / 0; Saint James 4.00 / 400 / 0; remainder 0
#   Island Sale D2: Kingston 30 + 18 = 48.00 / 3000 + 1500 = 4500 / 70 + 27 = 97;
#                   Saint Catherine 12.50 / 1300 / 30;
#                   Unknown: region "Unknown" 4.00 / 300 / 6 + remainder
#                   (80 - 64.50 = 15.50 / 7500 - 6100 = 1400 / 165 - 133 = 32)
#                   = 19.50 / 1700 / 38
#   LA Leads D1:    Saint James 20.00 / 1800 / 41;
#                   Unknown: "California" 9.00 / 700 / 17 + remainder
#                   (35 - 29 = 6.00 / 3000 - 2500 = 500 / 72 - 58 = 14) = 15.00 / 1200 / 31
#   LA Leads D2:    Saint James 26.40 / 2200 / 44; remainder 0
#
# Conversions and value split by clicks, cumulative rounding to 4 places:
#   Island Sale D1, W = 80 + 40 + 30 = 150 (JM-01, JM-02, JM-08):
#     conv  round(7*80/150)  = 3.7333; round(7*120/150) = 5.6000; 7
#           -> 3.7333, 5.6000 - 3.7333 = 1.8667, 7 - 5.6 = 1.4000
#     value round(195.5*80/150) = 104.2667; round(195.5*120/150) = 156.4000; 195.5
#           -> 104.2667, 52.1333, 39.1000
#   Spring Sale D1: no clicks -> impressions, W = 500 + 400 = 900 (JM-02, JM-08):
#     conv  round(1*500/900) = 0.5556 -> 0.5556, 0.4444
#     value round(25*500/900) = 13.8889 -> 13.8889, 11.1111
#   Island Sale D2, W = 97 + 30 + 38 = 165 (JM-01, JM-14, Unknown):
#     conv  round(4*97/165) = round(2.351515) = 2.3515; round(4*127/165) = round(3.078788)
#           = 3.0788 -> 2.3515, 0.7273, 0.9212
#     value round(140.25*97/165) = 82.4500; round(140.25*127/165) = 107.9500
#           -> 82.4500, 25.5000, 32.3000
#   LA Leads D1, W = 41 + 31 = 72 (JM-08, Unknown):
#     conv  round(7*41/72) = round(3.986111) = 3.9861 -> 3.9861, 3.0139
#     value round(14*41/72) = round(7.972222) = 7.9722 -> 7.9722, 6.0278
#   LA Leads D2: one parish: 2, 0
ISLAND = (JM, ISLAND_SALE, "Island Sale")
SPRING = (JM, SPRING_SALE, "Spring Sale")
LEADS = (LA, LA_LEADS, "LA Leads")
FACT_ROWS = [
    # account, campaign, campaign name, day, parish, spend, impressions, clicks, conv, value
    (*ISLAND, "D1", "Kingston", "33.0000", 3300, 80, "3.7333", "104.2667"),
    (*ISLAND, "D1", "Saint Andrew", "15.0000", 1500, 40, "1.8667", "52.1333"),
    (*ISLAND, "D1", "Saint James", "12.0000", 1200, 30, "1.4000", "39.1000"),
    (*ISLAND, "D2", "Kingston", "48.0000", 4500, 97, "2.3515", "82.4500"),
    (*ISLAND, "D2", "Saint Catherine", "12.5000", 1300, 30, "0.7273", "25.5000"),
    (*ISLAND, "D2", "Unknown", "19.5000", 1700, 38, "0.9212", "32.3000"),
    (*SPRING, "D1", "Saint Andrew", "6.0000", 500, 0, "0.5556", "13.8889"),
    (*SPRING, "D1", "Saint James", "4.0000", 400, 0, "0.4444", "11.1111"),
    (*LEADS, "D1", "Saint James", "20.0000", 1800, 41, "3.9861", "7.9722"),
    (*LEADS, "D1", "Unknown", "15.0000", 1200, 31, "3.0139", "6.0278"),
    (*LEADS, "D2", "Saint James", "26.4000", 2200, 44, "2.0000", "0.0000"),
]  # fmt: skip

# The API's entries, each sum of the fact rows above; ratios from the sums.
TOTAL = _entry(
    # spend 60 + 10 + 80 + 35 + 26.40 = 211.40; impressions 6000 + 900 + 7500 + 3000 + 2200
    # = 19600; clicks 150 + 0 + 165 + 72 + 44 = 431; conversions 7 + 1 + 4 + 7 + 2 = 21;
    # value 195.50 + 25 + 140.25 + 14 + 0 = 374.75
    "211.40", 19600, 431, 21.0, "374.75",
    ctr=0.02199,  # 431 / 19600 = 0.0219898 -> 0.021990
    cpc="0.49",  # 211.40 / 431 = 0.4905
    cpm="10.79",  # 211.40 * 1000 / 19600 = 10.7857
    cpa="10.07",  # 211.40 / 21 = 10.0667
    roas=1.7727,  # 374.75 / 211.40 = 1.772706
)  # fmt: skip
BY_CAMPAIGN = [  # spend descending
    {"platform": "meta", "campaign_id": ISLAND_SALE, "campaign_name": "Island Sale", **_entry(
        # 60 + 80 = 140.00; 6000 + 7500 = 13500; 150 + 165 = 315; 7 + 4 = 11;
        # 195.50 + 140.25 = 335.75
        "140.00", 13500, 315, 11.0, "335.75",
        ctr=0.023333,  # 315 / 13500 = 0.0233333
        cpc="0.44",  # 140 / 315 = 0.4444
        cpm="10.37",  # 140000 / 13500 = 10.3704
        cpa="12.73",  # 140 / 11 = 12.7273
        roas=2.3982,  # 335.75 / 140 = 2.398214
    )},
    {"platform": "meta", "campaign_id": LA_LEADS, "campaign_name": "LA Leads", **_entry(
        # 35 + 26.40 = 61.40; 3000 + 2200 = 5200; 72 + 44 = 116; 7 + 2 = 9; 14 + 0 = 14.00
        "61.40", 5200, 116, 9.0, "14.00",
        ctr=0.022308,  # 116 / 5200 = 0.0223077
        cpc="0.53",  # 61.40 / 116 = 0.5293
        cpm="11.81",  # 61400 / 5200 = 11.8077
        cpa="6.82",  # 61.40 / 9 = 6.8222
        roas=0.228,  # 14 / 61.40 = 0.228013
    )},
    {"platform": "meta", "campaign_id": SPRING_SALE, "campaign_name": "Spring Sale", **_entry(
        "10.00", 900, 0, 1.0, "25.00",
        ctr=0.0,  # 0 / 900
        cpc=None,  # no clicks
        cpm="11.11",  # 10000 / 900 = 11.1111
        cpa="10.00",  # 10 / 1
        roas=2.5,  # 25 / 10
    )},
]  # fmt: skip
BY_PARISH = [  # spend descending; every parish has split Meta rows: estimated
    {"parish": "Kingston", **_entry(
        # 33 + 48 = 81.00; 3300 + 4500 = 7800; 80 + 97 = 177;
        # 3.7333 + 2.3515 = 6.0848 -> 6.08; 104.2667 + 82.45 = 186.7167 -> 186.72
        "81.00", 7800, 177, 6.08, "186.72",
        ctr=0.022692,  # 177 / 7800 = 0.0226923
        cpc="0.46",  # 81 / 177 = 0.4576
        cpm="10.38",  # 81000 / 7800 = 10.3846
        cpa="13.31",  # 81 / 6.0848 = 13.3119
        roas=2.3051,  # 186.7167 / 81 = 2.305144
    ), "conversions_estimated": True},
    {"parish": "Saint James", **_entry(
        # 12 + 4 + 20 + 26.40 = 62.40; 1200 + 400 + 1800 + 2200 = 5600; 30 + 0 + 41 + 44 = 115;
        # 1.4 + 0.4444 + 3.9861 + 2 = 7.8305 -> 7.83;
        # 39.1 + 11.1111 + 7.9722 + 0 = 58.1833 -> 58.18
        "62.40", 5600, 115, 7.83, "58.18",
        ctr=0.020536,  # 115 / 5600 = 0.0205357
        cpc="0.54",  # 62.40 / 115 = 0.5426
        cpm="11.14",  # 62400 / 5600 = 11.1429
        cpa="7.97",  # 62.40 / 7.8305 = 7.9688
        roas=0.9324,  # 58.1833 / 62.40 = 0.932425
    ), "conversions_estimated": True},
    {"parish": "Unknown", **_entry(
        # 19.50 + 15 = 34.50; 1700 + 1200 = 2900; 38 + 31 = 69; 0.9212 + 3.0139 = 3.9351
        # -> 3.94; 32.30 + 6.0278 = 38.3278 -> 38.33
        "34.50", 2900, 69, 3.94, "38.33",
        ctr=0.023793,  # 69 / 2900 = 0.0237931
        cpc="0.50",  # 34.50 / 69 = 0.5
        cpm="11.90",  # 34500 / 2900 = 11.8966
        cpa="8.77",  # 34.50 / 3.9351 = 8.7672
        roas=1.111,  # 38.3278 / 34.50 = 1.110951
    ), "conversions_estimated": True},
    {"parish": "Saint Andrew", **_entry(
        # 15 + 6 = 21.00; 1500 + 500 = 2000; 40 + 0 = 40; 1.8667 + 0.5556 = 2.4223 -> 2.42;
        # 52.1333 + 13.8889 = 66.0222 -> 66.02
        "21.00", 2000, 40, 2.42, "66.02",
        ctr=0.02,  # 40 / 2000
        cpc="0.53",  # 21 / 40 = 0.525, half up
        cpm="10.50",  # 21000 / 2000
        cpa="8.67",  # 21 / 2.4223 = 8.6694
        roas=3.1439,  # 66.0222 / 21 = 3.143914
    ), "conversions_estimated": True},
    {"parish": "Saint Catherine", **_entry(
        # 12.50 / 1300 / 30 / 0.7273 -> 0.73 / 25.50
        "12.50", 1300, 30, 0.73, "25.50",
        ctr=0.023077,  # 30 / 1300 = 0.0230769
        cpc="0.42",  # 12.50 / 30 = 0.4167
        cpm="9.62",  # 12500 / 1300 = 9.6154
        cpa="17.19",  # 12.50 / 0.7273 = 17.1869
        roas=2.04,  # 25.50 / 12.50
    ), "conversions_estimated": True},
]  # fmt: skip


def _day(day: str, spend: str, impressions: int, clicks: int, conversions: float, value: str,
         **ratios: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "date": day,
        "reporting_currency": "USD",
        "spend_reporting": spend,
        "impressions": impressions,
        "clicks": clicks,
        "conversions": conversions,
        "conversion_value_reporting": value,
        **_ratios(**ratios),
        "by_currency": [
            {
                "currency": "USD",
                "spend": spend,
                "fx_rate": "1",
                "fx_rate_date": None,
                "spend_reporting": spend,
            }
        ],
    }


BY_DAY = [
    _day(
        # Island Sale 60 + Spring Sale 10 + LA Leads 35 = 105.00; 6000 + 900 + 3000 = 9900;
        # 150 + 0 + 72 = 222; 7 + 1 + 7 = 15; 195.50 + 25 + 14 = 234.50
        "D1", "105.00", 9900, 222, 15.0, "234.50",
        ctr=0.022424,  # 222 / 9900 = 0.0224242
        cpc="0.47",  # 105 / 222 = 0.4730
        cpm="10.61",  # 105000 / 9900 = 10.6061
        cpa="7.00",  # 105 / 15
        roas=2.2333,  # 234.50 / 105 = 2.233333
    ),
    _day(
        # Island Sale 80 + LA Leads 26.40 = 106.40; 7500 + 2200 = 9700; 165 + 44 = 209;
        # 4 + 2 = 6; 140.25 + 0 = 140.25
        "D2", "106.40", 9700, 209, 6.0, "140.25",
        ctr=0.021546,  # 209 / 9700 = 0.0215464
        cpc="0.51",  # 106.40 / 209 = 0.5091
        cpm="10.97",  # 106400 / 9700 = 10.9691
        cpa="17.73",  # 106.40 / 6 = 17.7333
        roas=1.3181,  # 140.25 / 106.40 = 1.318139
    ),
]  # fmt: skip

# Meta's own reach (fct_meta_reach_daily) is the level answers', as served; frequency =
# impressions / reach of the same row, 4 places.
REACH_ROWS = [
    # account, level, object id, object name, day, reach, impressions, frequency
    (JM, "account", JM, "Kingston Retail", "D1", 4500, 6900, "1.5333"),  # 6900 / 4500
    (JM, "account", JM, "Kingston Retail", "D2", 4800, 7500, "1.5625"),  # 7500 / 4800
    (JM, "campaign", ISLAND_SALE, "Island Sale", "D1", 4100, 6000, "1.4634"),  # 6000 / 4100
    (JM, "campaign", ISLAND_SALE, "Island Sale", "D2", 4800, 7500, "1.5625"),
    (JM, "campaign", SPRING_SALE, "Spring Sale", "D1", 800, 900, "1.1250"),  # 900 / 800
    (LA, "account", LA, "Coast Travel", "D1", 2500, 3000, "1.2000"),  # 3000 / 2500
    (LA, "account", LA, "Coast Travel", "D2", 1900, 2200, "1.1579"),  # 2200 / 1900 = 1.157895
    (LA, "campaign", LA_LEADS, "LA Leads", "D1", 2500, 3000, "1.2000"),
    (LA, "campaign", LA_LEADS, "LA Leads", "D2", 1900, 2200, "1.1579"),
]

# The truth read as stored (raw.meta_insights_ad): one row per ad and day, the conversions and
# value of the definition (see the truth read above).
TRUTH_ROWS = [
    # ad, day, campaign name, spend, impressions, clicks, conversions, value
    (VIDEO_AD, "D1", "Island Sale", "40", 4000, 100, "3", "150"),
    (VIDEO_AD, "D2", "Island Sale", "50", 5000, 120, "3", "80"),  # 2 purchases + 1 lead
    (CAROUSEL_AD, "D1", "Island Sale", "20", 2000, 50, "4", "45.5"),  # 1 + 3 registrations
    (CAROUSEL_AD, "D2", "Island Sale", "30", 2500, 45, "1", "60.25"),
    (DELETED_AD, "D1", "Spring Sale", "10", 900, 0, "1", "25"),
    (FORM_AD, "D1", "LA Leads", "35", 3000, 72, "7", "14"),  # 5 leads + 2 registrations
    (FORM_AD, "D2", "LA Leads", "26.4", 2200, 44, "2", "0"),
]


def _dated(row: tuple[Any, ...], days: dict[str, date]) -> tuple[Any, ...]:
    return tuple(days.get(v, v) if isinstance(v, str) else v for v in row)


def test_golden_meta_figures_from_graph_answers_to_the_api(
    golden: tuple[GoldenGraph, Database],
) -> None:
    graph, db = golden
    started = time.monotonic()
    days = {"D1": graph.d1, "D2": graph.d2}
    keyring = keyring_from_settings(Settings())
    with engine(db).begin() as conn:
        add_tenant(conn, TENANT, "Golden", "USD")  # Meta accounts bill in USD: no rates needed
        set_credential(conn, keyring, TENANT, "meta", TOKEN)
        key = create_api_key(conn, tenant_id=TENANT)
    prepare_dagster_home(Settings(), db)
    with disposing(DagsterInstance.get()) as instance:
        instance.add_dynamic_partitions("tenant", [TENANT])
        synced = _run(instance, "meta_sync", TENANT)
        assert synced.success, _failure(synced)
        hierarchy = _run(instance, "meta_hierarchy_sync", TENANT)
        assert hierarchy.success, _failure(hierarchy)
        built = _run(instance, "dbt_build")
        snapshot = _run(instance, "metrics_snapshots", TENANT)
        settings = Settings().model_copy(update=NO_THROTTLES)
        with TestClient(create_app(db, settings)) as client:
            answer = client.get(
                "/api/metrics/combined/", headers={"Authorization": f"Bearer {key}"}
            )
    check = Checks()
    # The warehouse and Graph checks below run even when the snapshot did not build, so one
    # run reports everything that differs.
    check.equal("dbt_build", built.success or _failure(built), True)
    check.equal("metrics_snapshots", snapshot.success or _failure(snapshot), True)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    check.equal("tenant, cached", (body["tenant_id"], body["cached"]), (TENANT, True))
    payload = body["payload"] or {}

    # What the product asked Graph: per account the truth read, the region read (on-Meta fields
    # only) and the two level reads, every one answered (no call the fake does not know).
    check.equal("calls Graph refused", [c for c in graph.requests if c.status != 200], [])
    for account in (JM, LA):
        reads = {
            (c.params.get("level"), c.params.get("breakdowns", "")): c
            for c in graph.calls(f"/{account}/insights")
            if "after" not in c.params
        }
        check.equal(
            f"{account} insights reads",
            sorted(reads),
            [("account", ""), ("ad", ""), ("ad", "region"), ("campaign", "")],
        )
        for (level, _), call in reads.items():
            if level != "account":
                check.equal(
                    f"{account} {level} read asks for deleted ads",
                    "DELETED" in call.params.get("filtering", ""),
                    True,
                )
        if ("ad", "region") in reads:
            fields = set(reads[("ad", "region")].params["fields"].split(","))
            check.equal(
                f"{account} region read's off-Meta fields",
                sorted(fields & {"actions", "action_values"}),
                [],
            )
        if ("ad", "") in reads:
            fields = set(reads[("ad", "")].params["fields"].split(","))
            check.equal(
                f"{account} truth read's action fields",
                sorted(fields & {"actions", "action_values", "attribution_setting"}),
                ["action_values", "actions", "attribution_setting"],
            )

    # --- the warehouse -----------------------------------------------------------------------
    with engine(db).connect() as conn:
        facts = conn.execute(
            sa.text(
                """
                select account_id, campaign_id, campaign_name, date_day, parish, spend,
                       impressions, clicks, conversions, conversion_value
                  from marts.fct_ad_performance_daily
                 where tenant_id = :t and platform = 'meta'
                   and (spend <> 0 or impressions <> 0 or clicks <> 0 or conversions <> 0
                        or conversion_value <> 0)
                 order by account_id, campaign_id, date_day, parish
                """
            ),
            {"t": TENANT},
        ).all()
        check.equal(
            "fct_ad_performance_daily rows",
            sorted(
                (tuple(str(v) if isinstance(v, Decimal) else v for v in r) for r in facts),
                key=lambda r: (r[0], r[1], r[3], r[4]),
            ),
            sorted(
                [_dated(r, days) for r in FACT_ROWS],
                key=lambda r: (r[0], r[1], r[3], r[4]),
            ),
        )
        reach = conn.execute(
            sa.text(
                """
                select account_id, level, object_id, object_name, date_day, reach, impressions,
                       frequency::text
                  from marts.fct_meta_reach_daily
                 where tenant_id = :t
                 order by account_id, level, object_id, date_day
                """
            ),
            {"t": TENANT},
        ).all()
        check.equal(
            "fct_meta_reach_daily rows",
            [tuple(r) for r in reach],
            sorted([_dated(r, days) for r in REACH_ROWS], key=lambda r: (r[0], r[1], r[2], r[4])),
        )
        deleted = conn.execute(
            sa.text(
                "select effective_status, campaign_name, campaign_effective_status "
                "from marts.dim_ads where tenant_id = :t and ad_id = :ad"
            ),
            {"t": TENANT, "ad": DELETED_AD},
        ).all()
        check.equal(
            "the deleted ad in dim_ads",
            [tuple(r) for r in deleted],
            [("DELETED", "Spring Sale", "DELETED")],
        )
    try:
        truth = query(
            db,
            """
            select ad_id, date_start, campaign_name, trim_scale(spend)::text,
                   impressions, clicks,
                   trim_scale(conversions)::text, trim_scale(conversion_value)::text
              from raw.meta_insights_ad
             where tenant_id = :t
             order by ad_id, date_start
            """,
            t=TENANT,
        )
        check.equal(
            "raw.meta_insights_ad rows",
            [tuple(r) for r in truth],
            sorted([_dated(r, days) for r in TRUTH_ROWS], key=lambda r: (r[0], r[1])),
        )
    except sa.exc.ProgrammingError as exc:
        check.equal("raw.meta_insights_ad", str(exc.orig).splitlines()[0], "readable")

    # --- every figure the API serves ---------------------------------------------------------
    if not payload:
        pytest.fail("no snapshot to serve:\n" + "\n".join(check.problems))
    d1, d2 = graph.d1.isoformat(), graph.d2.isoformat()
    check.equal("date_range", payload["date_range"], {"start": d1, "end": d2})
    check.equal("reporting_currency", payload["reporting_currency"], "USD")
    check.equal(
        "definitions",
        (payload["definitions"]["meta_events"], payload["definitions"]["meta_attribution"]),
        (["purchase", "lead", "complete_registration"], "unified"),
    )
    total_reporting = {
        k: v
        for k, v in TOTAL.items()
        if k not in ("spend_reporting", "conversion_value_reporting", "reporting_currency")
    }
    check.equal(
        "total_reporting",
        payload["total_reporting"],
        {**total_reporting, "spend": "211.40"},
    )
    check.entries("totals", payload["totals"], [TOTAL])
    check.entries("by_platform", payload["by_platform"], [{"platform": "meta", **TOTAL}])
    check.entries("by_campaign", payload["by_campaign"], BY_CAMPAIGN)
    check.entries("by_parish", payload["by_parish"], BY_PARISH)
    check.entries(
        "by_day",
        payload["by_day"],
        [{**entry, "date": {"D1": d1, "D2": d2}[entry["date"]]} for entry in BY_DAY],
    )

    assert not check.problems, "\n".join(check.problems)
    print(f"golden run: {time.monotonic() - started:.1f} s")  # kept under about 60 s
