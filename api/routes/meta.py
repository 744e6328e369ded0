"""``GET /api/meta/accounts|campaigns|adsets|ads|insights/``: the tenant's Meta data.

Read from the warehouse's raw tables (what the last sync landed), tenant-scoped through
:func:`api.auth.scoped_tenant`, in keyset pages (``limit`` + opaque ``cursor``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.meta.client import AD_STATUSES, ADSET_STATUSES, CAMPAIGN_STATUSES
from api import params
from api.auth import authenticate, scoped_tenant
from api.pagination import KeysetCursor, decode_cursor, encode_cursor, parse_limit
from api.problems import Problem
from api.state import state_of

ACCOUNT_ID = re.compile(r"^act_[0-9]{1,30}$")
OBJECT_ID = re.compile(r"^[0-9]{1,30}$")
MAX_INSIGHT_DAYS = 400
MAX_KEY_LENGTH = 200
ACCOUNT_ID_DOC = "a Meta ad account id (act_<digits>)"
OBJECT_ID_DOC = "a Meta object id (digits)"


@dataclass(frozen=True)
class Listing:
    """One list endpoint: its columns, table, natural order (the keyset) and parent filter."""

    table: str
    columns: Sequence[str]
    order: Sequence[str]
    parent: tuple[str, re.Pattern[str], str] | None = None
    date_keys: frozenset[str] = field(default_factory=frozenset)
    #: The ``effective_status`` values Meta documents for the object (``effective_status=``).
    statuses: Sequence[str] = ()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # Meta sends numbers as strings; keep exactness
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _after(request: Request, listing: Listing) -> list[Any] | None:
    """The keyset position from ``cursor=``, each value checked so SQL can never reject it."""
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    after = decode_cursor(raw, KeysetCursor).after
    if len(after) != len(listing.order):
        raise Problem(400, "cursor is not valid")
    values: list[Any] = []
    for column, value in zip(listing.order, after, strict=True):
        if not isinstance(value, str):
            raise Problem(400, "cursor is not valid")
        try:
            if column in listing.date_keys:
                values.append(params.parse_date("cursor", value))
            else:
                values.append(params.clean_text("cursor", value, MAX_KEY_LENGTH))
        except Problem:
            raise Problem(400, "cursor is not valid") from None
    return values


def _page(
    request: Request,
    listing: Listing,
    where: list[str],
    bound: dict[str, Any],
) -> JSONResponse:
    limit = parse_limit(request)
    after = _after(request, listing)
    if after is not None:
        keys = ", ".join(listing.order)
        marks = ", ".join(f":after_{i}" for i in range(len(after)))
        where.append(f"({keys}) > ({marks})")
        bound.update({f"after_{i}": v for i, v in enumerate(after)})
    sql = (
        f"select {', '.join(listing.columns)} from {listing.table} where {' and '.join(where)} "
        f"order by {', '.join(listing.order)} limit :limit"
    )
    with state_of(request).engine.connect() as conn:
        rows = conn.execute(sa.text(sql), {**bound, "limit": limit + 1}).mappings().all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        # Keyset values travel as text; PostgreSQL compares them in their column types.
        last = page[-1]
        next_cursor = encode_cursor({"after": [str(_jsonable(last[k])) for k in listing.order]})
    results = [{k: _jsonable(v) for k, v in row.items()} for row in page]
    return JSONResponse({"results": results, "next_cursor": next_cursor})


_LIST_DOC = """{summary}

    ---
    summary: {summary}
    tags: [meta]
    parameters:
{parent}      - $ref: '#/components/parameters/TenantId'
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: One page, in the natural order of the object's id.
        content:
          application/json:
            schema: {{$ref: '#/components/schemas/{schema}'}}
      400: {{$ref: '#/components/responses/BadRequest'}}
      404: {{$ref: '#/components/responses/NotFound'}}
"""
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
    name: str, summary: str, schema: str, listing: Listing
) -> Callable[[Request], JSONResponse]:
    def endpoint(request: Request) -> JSONResponse:
        tenant_id = scoped_tenant(request, authenticate(request))
        where, bound = ["tenant_id = :tenant_id"], dict[str, Any](tenant_id=tenant_id)
        if listing.parent is not None:
            column, pattern, what = listing.parent
            bound[column] = params.required(request, column, pattern, what)
            where.append(f"{column} = :{column}")
        if listing.statuses and (wanted := _statuses(request, listing.statuses)):
            bound["statuses"] = wanted
            where.append("effective_status = any(:statuses)")
        return _page(request, listing, where, bound)

    parent = ""
    if listing.parent is not None:
        column, pattern, what = listing.parent
        parent = _PARENT_DOC.format(name=column, what=what, pattern=pattern.pattern)
    if listing.statuses:
        parent += _STATUS_DOC.format(values=", ".join(listing.statuses))
    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = _LIST_DOC.format(summary=summary, parent=parent, schema=schema)
    return endpoint


HIERARCHY_COLUMNS = ("name", "status", "effective_status", "created_time", "updated_time")


def _statuses(request: Request, allowed: Sequence[str]) -> list[str]:
    """``effective_status=A,B``: each one of the object's documented statuses (else 400)."""
    raw = request.query_params.get("effective_status")
    if raw is None or raw == "":
        return []
    wanted = [part.strip() for part in raw.split(",")]
    if any(w not in allowed for w in wanted):
        raise Problem(
            400, f"effective_status must be a comma-separated list of: {', '.join(allowed)}"
        )
    return sorted(set(wanted))


accounts = _listing_endpoint(
    "meta_accounts",
    "The tenant's Meta ad accounts.",
    "MetaAccountPage",
    Listing(
        "raw.meta_ad_accounts",
        ("account_id", "name", "currency", "timezone_name", "account_status"),
        ("account_id",),
    ),
)
campaigns = _listing_endpoint(
    "meta_campaigns",
    "Campaigns of one ad account.",
    "MetaCampaignPage",
    Listing(
        "raw.meta_campaigns",
        ("campaign_id", "account_id", *HIERARCHY_COLUMNS, "objective", "daily_budget"),
        ("campaign_id",),
        ("account_id", ACCOUNT_ID, ACCOUNT_ID_DOC),
        statuses=CAMPAIGN_STATUSES,
    ),
)
adsets = _listing_endpoint(
    "meta_adsets",
    "Ad sets of one campaign.",
    "MetaAdSetPage",
    Listing(
        "raw.meta_adsets",
        ("adset_id", "campaign_id", "account_id", *HIERARCHY_COLUMNS, "daily_budget"),
        ("adset_id",),
        ("campaign_id", OBJECT_ID, OBJECT_ID_DOC),
        statuses=ADSET_STATUSES,
    ),
)
ads = _listing_endpoint(
    "meta_ads",
    "Ads of one ad set.",
    "MetaAdPage",
    Listing(
        "raw.meta_ads",
        ("ad_id", "adset_id", "campaign_id", "account_id", *HIERARCHY_COLUMNS),
        ("ad_id",),
        ("adset_id", OBJECT_ID, OBJECT_ID_DOC),
        statuses=AD_STATUSES,
    ),
)

INSIGHTS = Listing(
    "raw.meta_insights_ad",
    (
        "account_id", "campaign_id", "adset_id", "ad_id", "date_start", "date_stop",
        "null::text as region", "spend", "impressions", "clicks", "reach", "conversions",
        "conversion_value", "actions", "currency",
    ),
    ("date_start", "ad_id"),
    date_keys=frozenset({"date_start"}),
)  # fmt: skip
REGION_INSIGHTS = Listing(
    "raw.meta_insights",
    (
        "account_id", "campaign_id", "adset_id", "ad_id", "date_start", "date_stop", "region",
        "spend", "impressions", "clicks", "reach", "conversions", "conversion_value",
        "'[]'::jsonb as actions", "currency",
    ),
    ("date_start", "ad_id", "region"),
    date_keys=frozenset({"date_start"}),
)  # fmt: skip
BREAKDOWNS = {"none": INSIGHTS, "region": REGION_INSIGHTS}


def insights(request: Request) -> JSONResponse:
    """Daily ad-level insight rows of one account (``level=ad``): as Meta reports each ad's
    day (``breakdown=none``, the default), or split by region (``breakdown=region``).

    ---
    summary: Daily ad-level insights of one ad account
    description: >-
      `breakdown=none` (default): one row per ad and day, read from Meta without a breakdown:
      spend, impressions, clicks, conversions and conversion value as Ads Manager shows them
      (`region` is null). `breakdown=region`: one row per ad, day and region. Region is a
      "Type 1" breakdown: Meta returns no off-Meta actions with it, so these rows carry spend,
      impressions, clicks and reach, and null conversions.
    tags: [meta]
    parameters:
      - name: account_id
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
      - $ref: '#/components/parameters/Since'
      - $ref: '#/components/parameters/Until'
      - $ref: '#/components/parameters/TenantId'
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: One page of rows ordered by day, ad (and region).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/MetaInsightPage'}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    tenant_id = scoped_tenant(request, authenticate(request))
    account_id = params.required(request, "account_id", ACCOUNT_ID, ACCOUNT_ID_DOC)
    params.choice(request, "level", ("ad",), "ad")
    listing = BREAKDOWNS[params.choice(request, "breakdown", tuple(BREAKDOWNS), "none")]
    since, until = params.day_window(request, max_days=MAX_INSIGHT_DAYS)
    where = [
        "tenant_id = :tenant_id",
        "account_id = :account_id",
        "date_start between :since and :until",
    ]
    bound = {"tenant_id": tenant_id, "account_id": account_id, "since": since, "until": until}
    return _page(request, listing, where, bound)
