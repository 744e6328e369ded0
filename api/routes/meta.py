"""``GET /api/meta/accounts|campaigns|adsets|ads|insights/``: the tenant's Meta data.

Read from the warehouse's raw tables (what the last sync landed), tenant-scoped through
:func:`api.auth.scoped_tenant`, in keyset pages (``limit`` + opaque ``cursor``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from api.auth import authenticate, scoped_tenant
from api.pagination import decode_cursor, encode_cursor, parse_limit
from api.problems import Problem
from api.state import state_of

ACCOUNT_ID = re.compile(r"^act_[0-9]{1,30}$")
OBJECT_ID = re.compile(r"^[0-9]{1,30}$")
MAX_INSIGHT_DAYS = 400


@dataclass(frozen=True)
class Listing:
    """One list endpoint: its columns, table, natural order (the keyset) and parent filter."""

    table: str
    columns: Sequence[str]
    order: Sequence[str]
    parent: tuple[str, re.Pattern[str]] | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # Meta sends numbers as strings; keep exactness
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _page(
    request: Request,
    listing: Listing,
    where: list[str],
    params: dict[str, Any],
) -> JSONResponse:
    limit = parse_limit(request)
    raw_cursor = request.query_params.get("cursor")
    if raw_cursor:
        after = decode_cursor(raw_cursor).get("after")
        if not isinstance(after, list) or len(after) != len(listing.order):
            raise Problem(400, "cursor is not valid")
        if not all(isinstance(v, str) for v in after):
            raise Problem(400, "cursor is not valid")
        keys = ", ".join(listing.order)
        marks = ", ".join(f":after_{i}" for i in range(len(after)))
        where.append(f"({keys}) > ({marks})")
        params.update({f"after_{i}": v for i, v in enumerate(after)})
    sql = (
        f"select {', '.join(listing.columns)} from {listing.table} where {' and '.join(where)} "
        f"order by {', '.join(listing.order)} limit :limit"
    )
    with state_of(request).engine.connect() as conn:
        rows = conn.execute(sa.text(sql), {**params, "limit": limit + 1}).mappings().all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        # Keyset values travel as text; PostgreSQL compares them in their column types.
        next_cursor = encode_cursor({"after": [str(page[-1][k]) for k in listing.order]})
    results = [{k: _jsonable(v) for k, v in row.items()} for row in page]
    return JSONResponse({"results": results, "next_cursor": next_cursor})


def _required(request: Request, name: str, pattern: re.Pattern[str]) -> str:
    value = request.query_params.get(name)
    if not value:
        raise Problem(400, f"{name} is required")
    if not pattern.match(value):
        raise Problem(400, f"{name} is not a valid Meta id")
    return value


def _listing_endpoint(listing: Listing) -> Callable[[Request], JSONResponse]:
    def endpoint(request: Request) -> JSONResponse:
        tenant_id = scoped_tenant(request, authenticate(request))
        where, params = ["tenant_id = :tenant_id"], {"tenant_id": tenant_id}
        if listing.parent is not None:
            name, pattern = listing.parent
            params[name] = _required(request, name, pattern)
            where.append(f"{name} = :{name}")
        return _page(request, listing, where, params)

    return endpoint


HIERARCHY_COLUMNS = ("name", "status", "effective_status", "created_time", "updated_time")

accounts = _listing_endpoint(
    Listing(
        "raw.meta_ad_accounts",
        ("account_id", "name", "currency", "timezone_name", "account_status"),
        ("account_id",),
    )
)
campaigns = _listing_endpoint(
    Listing(
        "raw.meta_campaigns",
        ("campaign_id", "account_id", *HIERARCHY_COLUMNS, "objective", "daily_budget"),
        ("campaign_id",),
        ("account_id", ACCOUNT_ID),
    )
)
adsets = _listing_endpoint(
    Listing(
        "raw.meta_adsets",
        ("adset_id", "campaign_id", "account_id", *HIERARCHY_COLUMNS, "daily_budget"),
        ("adset_id",),
        ("campaign_id", OBJECT_ID),
    )
)
ads = _listing_endpoint(
    Listing(
        "raw.meta_ads",
        ("ad_id", "adset_id", "campaign_id", "account_id", *HIERARCHY_COLUMNS),
        ("ad_id",),
        ("adset_id", OBJECT_ID),
    )
)

INSIGHTS = Listing(
    "raw.meta_insights",
    (
        "account_id", "campaign_id", "adset_id", "ad_id", "date_start", "date_stop", "region",
        "spend", "impressions", "clicks", "reach", "conversions", "actions", "currency",
    ),
    ("date_start", "ad_id", "region"),
)  # fmt: skip


def _date(request: Request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Problem(400, f"{name} must be a date (YYYY-MM-DD)") from None


def insights(request: Request) -> JSONResponse:
    """Daily ad-level insight rows of one account (``level=ad``), region breakdown included."""
    tenant_id = scoped_tenant(request, authenticate(request))
    account_id = _required(request, "account_id", ACCOUNT_ID)
    level = request.query_params.get("level", "ad")
    if level != "ad":
        raise Problem(400, "level must be ad (rows are stored at ad level)")
    until = _date(request, "until", date.today())
    since = _date(request, "since", until - timedelta(days=27))
    if since > until:
        raise Problem(400, "since is after until")
    if (until - since).days >= MAX_INSIGHT_DAYS:
        raise Problem(400, f"since..until spans more than {MAX_INSIGHT_DAYS} days")
    where = [
        "tenant_id = :tenant_id",
        "account_id = :account_id",
        "date_start between :since and :until",
    ]
    params = {"tenant_id": tenant_id, "account_id": account_id, "since": since, "until": until}
    return _page(request, INSIGHTS, where, params)
