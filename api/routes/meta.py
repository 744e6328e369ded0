"""``GET /api/meta/accounts|campaigns|adsets|ads|insights/``: the tenant's Meta data.

Read from the warehouse's raw tables (what the last sync landed) through the listing service
(``services/listings.py``), tenant-scoped through :func:`api.auth.scoped_tenant`, in keyset
pages (``limit`` + opaque ``cursor``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.meta.client import AD_STATUSES, ADSET_STATUSES, CAMPAIGN_STATUSES
from adinsights_pipelines.services.listings import (
    META_ACCOUNTS,
    META_ADS,
    META_ADSETS,
    META_CAMPAIGNS,
    META_INSIGHTS,
    META_REGION_INSIGHTS,
    Listing,
)
from api import params
from api.auth import authenticate, scoped_tenant
from api.problems import Problem
from api.routes._listings import listing_operation, listing_page

ACCOUNT_ID = re.compile(r"^act_[0-9]{1,30}$")
OBJECT_ID = re.compile(r"^[0-9]{1,30}$")
MAX_INSIGHT_DAYS = 400
ACCOUNT_ID_DOC = "a Meta ad account id (act_<digits>)"
OBJECT_ID_DOC = "a Meta object id (digits)"


@dataclass(frozen=True)
class Level:
    """One level of the hierarchy: its listing, the parent it is listed under and the
    ``effective_status`` values Meta documents for it (``effective_status=``)."""

    listing: Listing
    parent: tuple[str, re.Pattern[str], str] | None = None
    statuses: Sequence[str] = ()


_STATUS_DOC = """      - name: effective_status
        in: query
        required: false
        description: >-
          Only objects with one of these effective statuses (comma-separated); every status
          by default, ARCHIVED and DELETED included. One of {values}.
        schema: {{type: string, pattern: '^[A-Z_]{{1,40}}(,[A-Z_]{{1,40}}){{0,20}}$'}}
"""
_PARENT_DOC = """      - name: {name}
        in: query
        required: true
        description: The parent object ({what}).
        schema: {{type: string, pattern: '{pattern}'}}
"""


def _listing_endpoint(
    name: str, summary: str, schema: str, level: Level
) -> Callable[[Request], JSONResponse]:
    def endpoint(request: Request) -> JSONResponse:
        tenant_id = scoped_tenant(request, authenticate(request))
        equal: dict[str, Any] = {}
        if level.parent is not None:
            column, pattern, what = level.parent
            equal[column] = params.required(request, column, pattern, what)
        one_of = {"effective_status": _statuses(request, level.statuses)}
        return listing_page(request, level.listing, tenant_id, equal=equal, one_of=one_of)

    parent = ""
    if level.parent is not None:
        column, pattern, what = level.parent
        parent = _PARENT_DOC.format(name=column, what=what, pattern=pattern.pattern)
    if level.statuses:
        parent += _STATUS_DOC.format(values=", ".join(level.statuses))
    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = summary
    return listing_operation(
        summary=summary,
        tag="meta",
        schema=schema,
        ordered="One page, in the natural order of the object's id.",
        parameters=parent,
    )(endpoint)


def _statuses(request: Request, allowed: Sequence[str]) -> list[str]:
    """``effective_status=A,B``: each one of the object's documented statuses (else 400)."""
    raw = request.query_params.get("effective_status")
    if not allowed or raw is None or raw == "":
        return []
    wanted = [part.strip() for part in raw.split(",")]
    if any(w not in allowed for w in wanted):
        raise Problem(
            400, f"effective_status must be a comma-separated list of: {', '.join(allowed)}"
        )
    return sorted(set(wanted))


accounts = _listing_endpoint(
    "meta_accounts", "The tenant's Meta ad accounts.", "MetaAccountPage", Level(META_ACCOUNTS)
)
campaigns = _listing_endpoint(
    "meta_campaigns",
    "Campaigns of one ad account.",
    "MetaCampaignPage",
    Level(META_CAMPAIGNS, ("account_id", ACCOUNT_ID, ACCOUNT_ID_DOC), CAMPAIGN_STATUSES),
)
adsets = _listing_endpoint(
    "meta_adsets",
    "Ad sets of one campaign.",
    "MetaAdSetPage",
    Level(META_ADSETS, ("campaign_id", OBJECT_ID, OBJECT_ID_DOC), ADSET_STATUSES),
)
ads = _listing_endpoint(
    "meta_ads",
    "Ads of one ad set.",
    "MetaAdPage",
    Level(META_ADS, ("adset_id", OBJECT_ID, OBJECT_ID_DOC), AD_STATUSES),
)

BREAKDOWNS = {"none": META_INSIGHTS, "region": META_REGION_INSIGHTS}


@listing_operation(
    summary="Daily ad-level insights of one ad account",
    tag="meta",
    schema="MetaInsightPage",
    ordered="One page of rows ordered by day, ad (and region).",
    days=True,
    description="`breakdown=none` (default): one row per ad and day, read from Meta without a "
    "breakdown: spend, impressions, clicks, conversions and conversion value as Ads Manager "
    "shows them (`region` is null). `breakdown=region`: one row per ad, day and region. Region "
    'is a "Type 1" breakdown: Meta returns no off-Meta actions with it, so these rows carry '
    "spend, impressions, clicks and reach, and null conversions. Money is a decimal string in "
    "the row's `currency`.",
    parameters="""      - name: account_id
        in: query
        required: true
        schema: {type: string, pattern: '^act_[0-9]{1,30}$'}
      - name: level
        in: query
        required: false
        description: Rows are stored at ad level; only `ad` is accepted.
        schema: {type: string, enum: [ad], default: ad}
      - name: breakdown
        in: query
        required: false
        description: '`none`: one row per ad and day; `region`: per ad, day and region.'
        schema: {type: string, enum: [none, region], default: none}
""",
)
def insights(request: Request) -> JSONResponse:
    """Daily ad-level insight rows of one account (``level=ad``): as Meta reports each ad's
    day (``breakdown=none``, the default), or split by region (``breakdown=region``)."""
    tenant_id = scoped_tenant(request, authenticate(request))
    account_id = params.required(request, "account_id", ACCOUNT_ID, ACCOUNT_ID_DOC)
    params.choice(request, "level", ("ad",), "ad")
    listing = BREAKDOWNS[params.choice(request, "breakdown", tuple(BREAKDOWNS), "none")]
    days = params.day_window(request, max_days=MAX_INSIGHT_DAYS)
    return listing_page(request, listing, tenant_id, equal={"account_id": account_id}, days=days)
