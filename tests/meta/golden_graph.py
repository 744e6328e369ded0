"""A tiny loopback Graph API that serves hand-written answers, for the golden test.

Every answer below is a literal, written in the shapes Graph uses (numbers as strings,
``actions`` / ``action_values`` as lists of ``{"action_type", "value"}``, ``account_id``
without ``act_`` on insight rows, ``date_start`` / ``date_stop`` on every insight row, cursor
paging with ``paging.cursors`` and an absolute ``paging.next``). Nothing is generated: the
golden test's expected figures are worked out by hand from these rows.

Days are written as ``"D1"`` (the day before yesterday) and ``"D2"`` (yesterday); the fake puts
the real dates in when it answers (:class:`GoldenGraph` is given them), so the sync's lookback
window always covers them.

What the fake tells apart, as Graph does:

* ``GET me/adaccounts``: the two ad accounts (one in America/Jamaica, one in
  America/Los_Angeles, both USD: Meta has no JMD accounts).
* ``GET act_<id>/campaigns|adsets|ads``: the hierarchy; ARCHIVED and DELETED objects only when
  ``effective_status`` asks for them (Graph leaves them out otherwise).
* ``GET act_<id>/insights``, by ``level`` and ``breakdowns``:
  ``level=ad`` without breakdowns (the truth read), ``level=ad`` with ``breakdowns=region``
  (the region read: Meta's "Type 1" breakdown, so no off-Meta actions at all), ``level=campaign``
  and ``level=account`` (no breakdown). Only the ``fields`` asked for are answered, only rows
  whose day is within ``time_range``; below the account level a DELETED or ARCHIVED ad's rows
  only when ``filtering`` on ``ad.effective_status`` asks for that status (the account total
  always includes them). ``time_increment`` must be 1 (the fake does not aggregate days).
* Anything else answers Graph's "Unsupported get request" error (code 100), and is recorded in
  :attr:`GoldenGraph.requests`, so a test sees a call it did not expect.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adinsights_pipelines.simulators.server import LoopbackServer

TOKEN = "golden-meta-token-0123456789"

JM_ACCOUNT = "1100220033"  # Kingston Retail, America/Jamaica
LA_ACCOUNT = "4400550066"  # Coast Travel, America/Los_Angeles

ISLAND_SALE = "120210000000000101"  # ACTIVE, account JM
SPRING_SALE = "120210000000000102"  # DELETED (with its ad set and ad), account JM; spent on D1
LA_LEADS = "120210000000000401"  # ACTIVE, account LA

ISLAND_ADSET = "120210000000001101"
SPRING_ADSET = "120210000000001102"
LA_ADSET = "120210000000004101"

VIDEO_AD = "120210000000011101"  # Island Sale
CAROUSEL_AD = "120210000000011102"  # Island Sale
DELETED_AD = "120210000000011201"  # Spring Sale, DELETED
FORM_AD = "120210000000041101"  # LA Leads

# --- me/adaccounts -----------------------------------------------------------------------------

ACCOUNTS: list[dict[str, Any]] = [
    {
        "id": "act_1100220033",
        "account_id": "1100220033",
        "name": "Kingston Retail",
        "currency": "USD",
        "timezone_name": "America/Jamaica",
        "account_status": 1,
    },
    {
        "id": "act_4400550066",
        "account_id": "4400550066",
        "name": "Coast Travel",
        "currency": "USD",
        "timezone_name": "America/Los_Angeles",
        "account_status": 1,
    },
]

# --- the hierarchy: act_<id>/campaigns, adsets, ads ---------------------------------------------

CAMPAIGNS: list[dict[str, Any]] = [
    {
        "id": ISLAND_SALE,
        "account_id": "1100220033",
        "name": "Island Sale",
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "objective": "OUTCOME_SALES",
        "daily_budget": "15000",
        "created_time": "2026-10-01T09:00:00-0500",
        "updated_time": "2026-11-20T14:12:31-0500",
    },
    {
        "id": SPRING_SALE,
        "account_id": "1100220033",
        "name": "Spring Sale",
        "status": "DELETED",
        "effective_status": "DELETED",
        "objective": "OUTCOME_SALES",
        "daily_budget": "2000",
        "created_time": "2026-09-15T10:30:00-0500",
        "updated_time": "2026-12-01T08:05:44-0500",
    },
    {
        "id": LA_LEADS,
        "account_id": "4400550066",
        "name": "LA Leads",
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "objective": "OUTCOME_LEADS",
        "created_time": "2026-10-12T11:00:00-0700",
        "updated_time": "2026-11-02T16:40:10-0800",
    },
]

ADSETS: list[dict[str, Any]] = [
    {
        "id": ISLAND_ADSET,
        "account_id": "1100220033",
        "campaign_id": ISLAND_SALE,
        "name": "Island Sale - Kingston & St Andrew",
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "created_time": "2026-10-01T09:05:00-0500",
        "updated_time": "2026-11-20T14:12:31-0500",
    },
    {
        "id": SPRING_ADSET,
        "account_id": "1100220033",
        "campaign_id": SPRING_SALE,
        "name": "Spring Sale - Island",
        "status": "DELETED",
        "effective_status": "DELETED",
        "created_time": "2026-09-15T10:35:00-0500",
        "updated_time": "2026-12-01T08:05:44-0500",
    },
    {
        "id": LA_ADSET,
        "account_id": "4400550066",
        "campaign_id": LA_LEADS,
        "name": "LA Leads - Jamaica diaspora",
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "daily_budget": "4000",
        "created_time": "2026-10-12T11:10:00-0700",
        "updated_time": "2026-11-02T16:40:10-0800",
    },
]

ADS: list[dict[str, Any]] = [
    {
        "id": VIDEO_AD,
        "account_id": "1100220033",
        "campaign_id": ISLAND_SALE,
        "adset_id": ISLAND_ADSET,
        "name": "Island Sale - Video",
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "created_time": "2026-10-01T09:10:00-0500",
        "updated_time": "2026-11-20T14:12:31-0500",
    },
    {
        "id": CAROUSEL_AD,
        "account_id": "1100220033",
        "campaign_id": ISLAND_SALE,
        "adset_id": ISLAND_ADSET,
        "name": "Island Sale - Carousel",
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "created_time": "2026-10-01T09:12:00-0500",
        "updated_time": "2026-11-20T14:12:31-0500",
    },
    {
        "id": DELETED_AD,
        "account_id": "1100220033",
        "campaign_id": SPRING_SALE,
        "adset_id": SPRING_ADSET,
        "name": "Spring Sale - Static",
        "status": "DELETED",
        "effective_status": "DELETED",
        "created_time": "2026-09-15T10:40:00-0500",
        "updated_time": "2026-12-01T08:05:44-0500",
    },
    {
        "id": FORM_AD,
        "account_id": "4400550066",
        "campaign_id": LA_LEADS,
        "adset_id": LA_ADSET,
        "name": "LA Leads - Form",
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "created_time": "2026-10-12T11:15:00-0700",
        "updated_time": "2026-11-02T16:40:10-0800",
    },
]

#: The ads' and campaigns' effective status, for the insights ``filtering`` (Graph knows it,
#: the rows do not carry it).
OBJECT_STATUS = {o["id"]: o["effective_status"] for o in (*ADS, *CAMPAIGNS)}

# --- the truth read: level=ad, time_increment=1, no breakdowns ----------------------------------
# Meta lists one conversion under several overlapping action types with the same value; the
# definition (purchase, lead, complete_registration) reads exactly one type per event.

_JM_IDS = {"account_id": "1100220033", "account_currency": "USD"}
_LA_IDS = {"account_id": "4400550066", "account_currency": "USD"}
_VIDEO = {
    **_JM_IDS,
    "campaign_id": ISLAND_SALE,
    "campaign_name": "Island Sale",
    "adset_id": ISLAND_ADSET,
    "adset_name": "Island Sale - Kingston & St Andrew",
    "ad_id": VIDEO_AD,
    "ad_name": "Island Sale - Video",
}
_CAROUSEL = {**_VIDEO, "ad_id": CAROUSEL_AD, "ad_name": "Island Sale - Carousel"}
_DELETED = {
    **_JM_IDS,
    "campaign_id": SPRING_SALE,
    "campaign_name": "Spring Sale",
    "adset_id": SPRING_ADSET,
    "adset_name": "Spring Sale - Island",
    "ad_id": DELETED_AD,
    "ad_name": "Spring Sale - Static",
}
_FORM = {
    **_LA_IDS,
    "campaign_id": LA_LEADS,
    "campaign_name": "LA Leads",
    "adset_id": LA_ADSET,
    "adset_name": "LA Leads - Jamaica diaspora",
    "ad_id": FORM_AD,
    "ad_name": "LA Leads - Form",
}

# The figures of rows that stand again at the campaign or account level: a campaign (and an
# account) with one ad reports that ad's figures.
_DELETED_D1: dict[str, Any] = {
    "spend": "10",
    "impressions": "900",
    "clicks": "0",
    "reach": "800",
    # a view-through purchase: no clicks
    "actions": [
        {"action_type": "page_engagement", "value": "12"},
        {"action_type": "omni_purchase", "value": "1"},
        {"action_type": "purchase", "value": "1"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1"},
    ],
    "action_values": [
        {"action_type": "omni_purchase", "value": "25"},
        {"action_type": "purchase", "value": "25"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "25"},
    ],
    "attribution_setting": "7d_click_1d_view",
    "date_start": "D1",
    "date_stop": "D1",
}
_FORM_D1: dict[str, Any] = {
    "spend": "35",
    "impressions": "3000",
    "clicks": "72",
    "reach": "2500",
    # 5 leads (the aggregate "lead" = 2 instant-form + 3 website) and 2 registrations
    "actions": [
        {"action_type": "link_click", "value": "60"},
        {"action_type": "page_engagement", "value": "90"},
        {"action_type": "lead", "value": "5"},
        {"action_type": "onsite_conversion.lead_grouped", "value": "2"},
        {"action_type": "offsite_conversion.fb_pixel_lead", "value": "3"},
        {"action_type": "leadgen_grouped", "value": "2"},
        {"action_type": "omni_complete_registration", "value": "2"},
        {"action_type": "complete_registration", "value": "2"},
        {"action_type": "offsite_conversion.fb_pixel_complete_registration", "value": "2"},
    ],
    "action_values": [
        {"action_type": "omni_complete_registration", "value": "14"},
        {"action_type": "complete_registration", "value": "14"},
        {"action_type": "offsite_conversion.fb_pixel_complete_registration", "value": "14"},
    ],
    "attribution_setting": "7d_click_1d_view",
    "date_start": "D1",
    "date_stop": "D1",
}
_FORM_D2: dict[str, Any] = {
    "spend": "26.4",
    "impressions": "2200",
    "clicks": "44",
    "reach": "1900",
    # 2 website leads listed only under the pixel's type; a custom conversion (not in the
    # definition) with a value, which is not conversion value either
    "actions": [
        {"action_type": "link_click", "value": "37"},
        {"action_type": "page_engagement", "value": "55"},
        {"action_type": "offsite_conversion.custom.771234567890", "value": "5"},
        {"action_type": "offsite_conversion.fb_pixel_lead", "value": "2"},
    ],
    "action_values": [
        {"action_type": "offsite_conversion.custom.771234567890", "value": "99"},
    ],
    "attribution_setting": "7d_click_1d_view",
    "date_start": "D2",
    "date_stop": "D2",
}

AD_ROWS: list[dict[str, Any]] = [
    {
        **_VIDEO,
        "spend": "40",
        "impressions": "4000",
        "clicks": "100",
        "reach": "3000",
        # 3 purchases, listed under four overlapping types, all "3"; add_to_cart is no
        # conversion of the definition
        "actions": [
            {"action_type": "link_click", "value": "82"},
            {"action_type": "page_engagement", "value": "131"},
            {"action_type": "post_engagement", "value": "131"},
            {"action_type": "omni_add_to_cart", "value": "7"},
            {"action_type": "add_to_cart", "value": "7"},
            {"action_type": "offsite_conversion.fb_pixel_add_to_cart", "value": "7"},
            {"action_type": "omni_purchase", "value": "3"},
            {"action_type": "purchase", "value": "3"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "3"},
            {"action_type": "onsite_web_purchase", "value": "3"},
        ],
        "action_values": [
            {"action_type": "omni_add_to_cart", "value": "310.4"},
            {"action_type": "add_to_cart", "value": "310.4"},
            {"action_type": "offsite_conversion.fb_pixel_add_to_cart", "value": "310.4"},
            {"action_type": "omni_purchase", "value": "150"},
            {"action_type": "purchase", "value": "150"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "150"},
            {"action_type": "onsite_web_purchase", "value": "150"},
        ],
        "attribution_setting": "7d_click_1d_view",
        "date_start": "D1",
        "date_stop": "D1",
    },
    {
        **_CAROUSEL,
        "spend": "20",
        "impressions": "2000",
        "clicks": "50",
        "reach": "1600",
        # 1 purchase; 3 registrations listed only under the pixel's type (no aggregate)
        "actions": [
            {"action_type": "link_click", "value": "41"},
            {"action_type": "page_engagement", "value": "60"},
            {"action_type": "offsite_conversion.fb_pixel_complete_registration", "value": "3"},
            {"action_type": "omni_purchase", "value": "1"},
            {"action_type": "purchase", "value": "1"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1"},
        ],
        "action_values": [
            {"action_type": "omni_purchase", "value": "45.5"},
            {"action_type": "purchase", "value": "45.5"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "45.5"},
        ],
        "attribution_setting": "7d_click_1d_view",
        "date_start": "D1",
        "date_stop": "D1",
    },
    {**_DELETED, **_DELETED_D1},
    {
        **_VIDEO,
        "spend": "50",
        "impressions": "5000",
        "clicks": "120",
        "reach": "3500",
        # 2 purchases (four types) and 1 instant-form lead (two types)
        "actions": [
            {"action_type": "link_click", "value": "97"},
            {"action_type": "page_engagement", "value": "150"},
            {"action_type": "lead", "value": "1"},
            {"action_type": "onsite_conversion.lead_grouped", "value": "1"},
            {"action_type": "omni_purchase", "value": "2"},
            {"action_type": "purchase", "value": "2"},
            {"action_type": "onsite_web_purchase", "value": "2"},
            {"action_type": "onsite_web_app_purchase", "value": "2"},
        ],
        "action_values": [
            {"action_type": "omni_purchase", "value": "80"},
            {"action_type": "purchase", "value": "80"},
            {"action_type": "onsite_web_purchase", "value": "80"},
            {"action_type": "onsite_web_app_purchase", "value": "80"},
        ],
        "attribution_setting": "7d_click_1d_view",
        "date_start": "D2",
        "date_stop": "D2",
    },
    {
        **_CAROUSEL,
        "spend": "30",
        "impressions": "2500",
        "clicks": "45",
        "reach": "2000",
        "actions": [
            {"action_type": "link_click", "value": "38"},
            {"action_type": "page_engagement", "value": "52"},
            {"action_type": "omni_purchase", "value": "1"},
            {"action_type": "purchase", "value": "1"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1"},
        ],
        "action_values": [
            {"action_type": "omni_purchase", "value": "60.25"},
            {"action_type": "purchase", "value": "60.25"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "60.25"},
        ],
        "attribution_setting": "7d_click_1d_view",
        "date_start": "D2",
        "date_stop": "D2",
    },
    {**_FORM, **_FORM_D1},
    {**_FORM, **_FORM_D2},
]

# --- the region read: level=ad, breakdowns=region ------------------------------------------------
# A "Type 1" breakdown: Meta returns no off-Meta (pixel, website) actions with it, only on-Meta
# ones such as link clicks. Per ad and day against the truth read:
#   Video D1     25 + 15 = 40.00 spend, 2500 + 1500 = 4000 impr., 60 + 40 = 100 clicks: = truth
#   Carousel D1   8 + 12 = 20.00,        800 + 1200 = 2000,        20 + 30 = 50:        = truth
#   Deleted D1    6 +  4 = 10.00,        500 +  400 =  900,         0 +  0 = 0:         = truth
#   Video D2     30 + 12.50 = 42.50,    3000 + 1300 = 4300,        70 + 30 = 100: 7.50 / 700 / 20
#                                                                                short of truth
#   Carousel D2  18 +  4 = 22.00,       1500 +  300 = 1800,        27 +  6 = 33:  8.00 / 700 / 12
#                                                                                short of truth
#   Form D1      20 +  9 = 29.00,       1800 +  700 = 2500,        41 + 17 = 58:  6.00 / 500 / 14
#                                                                                short of truth
#   Form D2      26.40 = truth,         2200,                      44:         = truth

REGION_ROWS: list[dict[str, Any]] = [
    {**_VIDEO, "region": "Kingston Parish", "spend": "25", "impressions": "2500",
     "clicks": "60", "reach": "1900", "date_start": "D1", "date_stop": "D1",
     "actions": [{"action_type": "link_click", "value": "49"}]},
    {**_VIDEO, "region": "Saint Andrew Parish", "spend": "15", "impressions": "1500",
     "clicks": "40", "reach": "1200", "date_start": "D1", "date_stop": "D1",
     "actions": [{"action_type": "link_click", "value": "33"}]},
    {**_CAROUSEL, "region": "Kingston Parish", "spend": "8", "impressions": "800",
     "clicks": "20", "reach": "700", "date_start": "D1", "date_stop": "D1",
     "actions": [{"action_type": "link_click", "value": "16"}]},
    {**_CAROUSEL, "region": "Saint James Parish", "spend": "12", "impressions": "1200",
     "clicks": "30", "reach": "950", "date_start": "D1", "date_stop": "D1",
     "actions": [{"action_type": "link_click", "value": "25"}]},
    {**_DELETED, "region": "Saint Andrew Parish", "spend": "6", "impressions": "500",
     "clicks": "0", "reach": "450", "date_start": "D1", "date_stop": "D1"},
    {**_DELETED, "region": "Saint James Parish", "spend": "4", "impressions": "400",
     "clicks": "0", "reach": "380", "date_start": "D1", "date_stop": "D1"},
    {**_VIDEO, "region": "Kingston Parish", "spend": "30", "impressions": "3000",
     "clicks": "70", "reach": "2300", "date_start": "D2", "date_stop": "D2",
     "actions": [{"action_type": "link_click", "value": "57"}]},
    {**_VIDEO, "region": "Saint Catherine Parish", "spend": "12.5", "impressions": "1300",
     "clicks": "30", "reach": "1000", "date_start": "D2", "date_stop": "D2",
     "actions": [{"action_type": "link_click", "value": "24"}]},
    {**_CAROUSEL, "region": "Kingston Parish", "spend": "18", "impressions": "1500",
     "clicks": "27", "reach": "1200", "date_start": "D2", "date_stop": "D2",
     "actions": [{"action_type": "link_click", "value": "23"}]},
    {**_CAROUSEL, "region": "Unknown", "spend": "4", "impressions": "300",
     "clicks": "6", "reach": "280", "date_start": "D2", "date_stop": "D2",
     "actions": [{"action_type": "link_click", "value": "5"}]},
    {**_FORM, "region": "Saint James Parish", "spend": "20", "impressions": "1800",
     "clicks": "41", "reach": "1500", "date_start": "D1", "date_stop": "D1",
     "actions": [{"action_type": "link_click", "value": "34"}]},
    {**_FORM, "region": "California", "spend": "9", "impressions": "700",
     "clicks": "17", "reach": "650", "date_start": "D1", "date_stop": "D1",
     "actions": [{"action_type": "link_click", "value": "14"}]},
    {**_FORM, "region": "Saint James Parish", "spend": "26.4", "impressions": "2200",
     "clicks": "44", "reach": "1900", "date_start": "D2", "date_stop": "D2",
     "actions": [{"action_type": "link_click", "value": "37"}]},
]  # fmt: skip

# --- level=campaign and level=account (no breakdown) --------------------------------------------
# Meta's own totals at that grain. Reach is Meta's count of people there, deduplicated: the
# Island Sale's D1 reach 4100 < 3000 + 1600 (its ads), the Kingston Retail account's D1 reach
# 4500 < 4100 + 800 (its campaigns). Actions are the ads' actions added up per action type.
#
# The account rows MUST equal the sums of the truth read's ad rows (spend, impressions, clicks,
# and the conversions read from their actions): the blocking reconciliation contract
# (meta_reconciles_with_account_totals) compares them per account and day and would otherwise
# keep the snapshot from building.
#   Kingston Retail D1: 40 + 20 + 10 = 70 spend, 4000 + 2000 + 900 = 6900 impr.,
#                       100 + 50 + 0 = 150 clicks, omni_purchase 3 + 1 + 1 = 5,
#                       value 150 + 45.5 + 25 = 220.5
#   Kingston Retail D2: 50 + 30 = 80, 5000 + 2500 = 7500, 120 + 45 = 165, omni_purchase 2 + 1 = 3,
#                       value 80 + 60.25 = 140.25
#   Coast Travel D1 / D2: its one ad's rows

_ISLAND = {**_JM_IDS, "campaign_id": ISLAND_SALE, "campaign_name": "Island Sale"}
_SPRING = {**_JM_IDS, "campaign_id": SPRING_SALE, "campaign_name": "Spring Sale"}
_LA_CAMPAIGN = {**_LA_IDS, "campaign_id": LA_LEADS, "campaign_name": "LA Leads"}

# Island Sale on D2, which is also all of Kingston Retail's D2 (Spring Sale spent on D1 only)
_ISLAND_D2: dict[str, Any] = {
    "spend": "80",
    "impressions": "7500",
    "clicks": "165",
    "reach": "4800",
    "actions": [
        {"action_type": "link_click", "value": "135"},
        {"action_type": "page_engagement", "value": "202"},
        {"action_type": "lead", "value": "1"},
        {"action_type": "onsite_conversion.lead_grouped", "value": "1"},
        {"action_type": "omni_purchase", "value": "3"},
        {"action_type": "purchase", "value": "3"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1"},
        {"action_type": "onsite_web_purchase", "value": "2"},
        {"action_type": "onsite_web_app_purchase", "value": "2"},
    ],
    "action_values": [
        {"action_type": "omni_purchase", "value": "140.25"},
        {"action_type": "purchase", "value": "140.25"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "60.25"},
        {"action_type": "onsite_web_purchase", "value": "80"},
        {"action_type": "onsite_web_app_purchase", "value": "80"},
    ],
    "attribution_setting": "7d_click_1d_view",
    "date_start": "D2",
    "date_stop": "D2",
}

CAMPAIGN_ROWS: list[dict[str, Any]] = [
    {
        **_ISLAND,
        "spend": "60",
        "impressions": "6000",
        "clicks": "150",
        "reach": "4100",
        "actions": [
            {"action_type": "link_click", "value": "123"},
            {"action_type": "page_engagement", "value": "191"},
            {"action_type": "post_engagement", "value": "131"},
            {"action_type": "offsite_conversion.fb_pixel_complete_registration", "value": "3"},
            {"action_type": "omni_add_to_cart", "value": "7"},
            {"action_type": "add_to_cart", "value": "7"},
            {"action_type": "offsite_conversion.fb_pixel_add_to_cart", "value": "7"},
            {"action_type": "omni_purchase", "value": "4"},
            {"action_type": "purchase", "value": "4"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "4"},
            {"action_type": "onsite_web_purchase", "value": "3"},
        ],
        "action_values": [
            {"action_type": "omni_add_to_cart", "value": "310.4"},
            {"action_type": "add_to_cart", "value": "310.4"},
            {"action_type": "offsite_conversion.fb_pixel_add_to_cart", "value": "310.4"},
            {"action_type": "omni_purchase", "value": "195.5"},
            {"action_type": "purchase", "value": "195.5"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "195.5"},
            {"action_type": "onsite_web_purchase", "value": "150"},
        ],
        "attribution_setting": "7d_click_1d_view",
        "date_start": "D1",
        "date_stop": "D1",
    },
    {**_SPRING, **_DELETED_D1},  # its one ad
    {**_ISLAND, **_ISLAND_D2},
    {**_LA_CAMPAIGN, **_FORM_D1},  # its one ad
    {**_LA_CAMPAIGN, **_FORM_D2},
]

ACCOUNT_ROWS: list[dict[str, Any]] = [
    {
        **_JM_IDS,
        "account_name": "Kingston Retail",
        "spend": "70",
        "impressions": "6900",
        "clicks": "150",
        "reach": "4500",
        "actions": [
            {"action_type": "link_click", "value": "123"},
            {"action_type": "page_engagement", "value": "203"},
            {"action_type": "post_engagement", "value": "131"},
            {"action_type": "offsite_conversion.fb_pixel_complete_registration", "value": "3"},
            {"action_type": "omni_add_to_cart", "value": "7"},
            {"action_type": "add_to_cart", "value": "7"},
            {"action_type": "offsite_conversion.fb_pixel_add_to_cart", "value": "7"},
            {"action_type": "omni_purchase", "value": "5"},
            {"action_type": "purchase", "value": "5"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "5"},
            {"action_type": "onsite_web_purchase", "value": "3"},
        ],
        "action_values": [
            {"action_type": "omni_add_to_cart", "value": "310.4"},
            {"action_type": "add_to_cart", "value": "310.4"},
            {"action_type": "offsite_conversion.fb_pixel_add_to_cart", "value": "310.4"},
            {"action_type": "omni_purchase", "value": "220.5"},
            {"action_type": "purchase", "value": "220.5"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "220.5"},
            {"action_type": "onsite_web_purchase", "value": "150"},
        ],
        "attribution_setting": "7d_click_1d_view",
        "date_start": "D1",
        "date_stop": "D1",
    },
    {**_JM_IDS, "account_name": "Kingston Retail", **_ISLAND_D2},
    {**_LA_IDS, "account_name": "Coast Travel", **_FORM_D1},  # its one ad
    {**_LA_IDS, "account_name": "Coast Travel", **_FORM_D2},
]

# --- the fake Graph -----------------------------------------------------------------------------

#: Rows per page at most (Graph may answer fewer rows than ``limit``): every read pages.
PAGE_ROWS = 2
HIDDEN = frozenset({"ARCHIVED", "DELETED"})
_KEYED = ("date_start", "date_stop")


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    status: int


def _error(code: int, message: str, *, status: int = 400, subcode: int | None = None) -> Response:
    err: dict[str, Any] = {
        "message": message,
        "type": "OAuthException" if code in (100, 190) else "GraphMethodException",
        "code": code,
        "fbtrace_id": "AGoLdEnTeStTrAcE",
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    return JSONResponse({"error": err}, status_code=status)


def _listed(raw: str | None) -> list[str]:
    """A list parameter: a JSON array (the SDKs) or a comma list."""
    if not raw:
        return []
    text = raw.strip()
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [v.strip() for v in text.split(",") if v.strip()]


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"golden:{index}".encode()).decode().rstrip("=")


def _index(cursor: str) -> int:
    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    return int(text.removeprefix("golden:"))


@dataclass
class GoldenGraph:
    """The fake, serving on 127.0.0.1; ``d1`` / ``d2`` are the days written ``"D1"`` / ``"D2"``."""

    d1: date
    d2: date
    requests: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = LoopbackServer(
            Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET", "POST"])]),
            name="golden Graph",
        )

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> GoldenGraph:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def calls(self, path_suffix: str) -> list[Call]:
        with self._lock:
            return [c for c in self.requests if c.path.endswith(path_suffix)]

    # --- serving ---------------------------------------------------------------------------

    def _dated(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        days = {"D1": self.d1.isoformat(), "D2": self.d2.isoformat()}
        out = []
        for row in rows:
            copied = copy.deepcopy(dict(row))
            for key in _KEYED:
                if key in copied:
                    copied[key] = days[copied[key]]
            out.append(copied)
        return out

    async def _answer(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        response = self._route(request, params)
        with self._lock:
            self.requests.append(
                Call(request.method, request.url.path, params, response.status_code)
            )
        return response

    def _route(self, request: Request, params: dict[str, str]) -> Response:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth else params.get("access_token")
        if token != TOKEN:
            return _error(190, "Invalid OAuth access token - Cannot parse access token")
        parts = request.url.path.strip("/").split("/")
        if len(parts) < 2 or not parts[0].startswith("v"):
            return _error(100, f"Unknown path components: /{'/'.join(parts)}", subcode=2500)
        node, edge = parts[1], "/".join(parts[2:])
        if request.method != "GET":
            return _error(100, f"Unsupported post request to {node}/{edge}", subcode=33)
        accounts = {a["id"]: a for a in ACCOUNTS}
        if node == "me" and edge == "adaccounts":
            return self._page(request, params, ACCOUNTS, summary=True)
        if node in accounts and edge in ("campaigns", "adsets", "ads"):
            objects = {"campaigns": CAMPAIGNS, "adsets": ADSETS, "ads": ADS}[edge]
            wanted = set(_listed(params.get("effective_status"))) or {"ACTIVE", "PAUSED"}
            mine = [
                o
                for o in objects
                if f"act_{o['account_id']}" == node and o["effective_status"] in wanted
            ]
            return self._page(request, params, mine, summary=True)
        if node in accounts and edge == "insights":
            return self._insights(request, params, node.removeprefix("act_"))
        return _error(
            100,
            f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation.",
            subcode=33,
        )

    def _insights(self, request: Request, params: dict[str, str], account_id: str) -> Response:
        level = params.get("level", "account")
        breakdowns = _listed(params.get("breakdowns"))
        if params.get("time_increment") != "1":
            return _error(100, "the golden fake answers daily rows only (time_increment=1)")
        if level == "ad" and breakdowns == ["region"]:
            rows = REGION_ROWS
        elif level == "ad" and not breakdowns:
            rows = AD_ROWS
        elif level == "campaign" and not breakdowns:
            rows = CAMPAIGN_ROWS
        elif level == "account" and not breakdowns:
            rows = ACCOUNT_ROWS
        else:
            return _error(100, f"the golden fake has no answer for level={level} {breakdowns}")
        try:
            window = json.loads(params["time_range"])
            since, until = date.fromisoformat(window["since"]), date.fromisoformat(window["until"])
        except (KeyError, ValueError, TypeError):
            return _error(100, "(#100) time_range must be {'since':YYYY-MM-DD,'until':YYYY-MM-DD}")
        statuses: set[str] = set()
        for condition in json.loads(params.get("filtering") or "[]"):
            if (
                condition.get("field") == "ad.effective_status"
                and condition.get("operator") == "IN"
            ):
                statuses.update(condition.get("value") or ())
        fields = _listed(params.get("fields"))
        answered = []
        for row in self._dated(r for r in rows if r["account_id"] == account_id):
            if not since <= date.fromisoformat(row["date_start"]) <= until:
                continue
            status = OBJECT_STATUS.get(row.get("ad_id") or row.get("campaign_id", ""), "ACTIVE")
            if level != "account" and status in HIDDEN and status not in statuses:
                continue  # Graph leaves archived and deleted ads out unless filtering asks
            out = {f: row[f] for f in fields if f in row}
            out["date_start"], out["date_stop"] = row["date_start"], row["date_stop"]
            if "region" in row:
                out["region"] = row["region"]
            answered.append(out)
        return self._page(request, params, answered)

    def _page(
        self,
        request: Request,
        params: dict[str, str],
        rows: list[dict[str, Any]],
        *,
        summary: bool = False,
    ) -> Response:
        fields = _listed(params.get("fields"))
        if rows and "date_start" not in rows[0] and fields:  # objects: the fields asked for
            rows = [{**{f: o[f] for f in fields if f in o}, "id": o["id"]} for o in rows]
        limit = min(int(params.get("limit") or 25), PAGE_ROWS)
        start = _index(params["after"]) + 1 if params.get("after") else 0
        stop = min(len(rows), start + limit)
        body: dict[str, Any] = {"data": rows[start:stop]}
        if start < stop:
            paging: dict[str, Any] = {
                "cursors": {"before": _cursor(start), "after": _cursor(stop - 1)}
            }
            if stop < len(rows):
                query = {k: v for k, v in params.items() if k not in ("access_token", "before")}
                query["after"] = _cursor(stop - 1)
                paging["next"] = f"{request.base_url}{request.url.path.lstrip('/')}?" + urlencode(
                    query
                )
            body["paging"] = paging
        if summary and params.get("summary") in ("true", "1", "True"):
            body["summary"] = {"total_count": len(rows)}
        return JSONResponse(
            body,
            headers={
                "x-app-usage": '{"call_count":1,"total_cputime":1,"total_time":1}',
                "x-fb-ads-insights-throttle": '{"app_id_util_pct":0.5,"acc_id_util_pct":1.2,'
                '"ads_api_access_tier":"standard_access"}',
            },
        )
