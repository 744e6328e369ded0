"""``GET /api/analytics/web/ga4/`` and ``GET /api/analytics/web/search-console/``.

The tenant's GA4 and Search Console rows from the warehouse (what the last syncs landed, through
the listing service ``services/listings.py``), tenant-scoped through
:func:`api.auth.scoped_tenant`, filtered by ``since``/``until`` (default: the last 28 days) and
optionally one property or site, in keyset pages (``limit`` + opaque ``cursor``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.google.sources import SITE_URL
from adinsights_pipelines.services.listings import GA4_DAILY, SEARCH_CONSOLE_DAILY
from api import params
from api.auth import authenticate, scoped_tenant
from api.problems import Problem
from api.routes._listings import listing_operation, listing_page

DEFAULT_DAYS = 28
MAX_DAYS = 400
MAX_SITE_URL = 2048
PROPERTY_ID_DOC = "a GA4 property id (digits, or properties/<digits>)"
PROPERTY = re.compile(r"^(?:properties/)?[0-9]{1,20}$")
SITE_URL_DOC = "a Search Console site (https://host/ or sc-domain:host)"


def _tenant_and_days(request: Request) -> tuple[str, tuple[date, date]]:
    tenant_id = scoped_tenant(request, authenticate(request))
    return tenant_id, params.day_window(request, default_days=DEFAULT_DAYS, max_days=MAX_DAYS)


@listing_operation(
    summary="Daily GA4 rows of the tenant",
    tag="web_analytics",
    schema="Ga4Page",
    ordered="One page of rows ordered by day, property, region and channel group.",
    days=True,
    parameters="""      - name: property_id
        in: query
        required: false
        description: One GA4 property (digits, or `properties/<digits>`).
        schema: {type: string, pattern: '^(properties/)?[0-9]{1,20}$'}
""",
)
def ga4(request: Request) -> JSONResponse:
    """Daily GA4 rows by region and default channel group (``property_id=`` to pick one)."""
    tenant_id, days = _tenant_and_days(request)
    equal: dict[str, Any] = {}
    property_id = params.matching(request, "property_id", PROPERTY, PROPERTY_ID_DOC)
    if property_id is not None:
        equal["property_id"] = property_id.removeprefix("properties/")
    return listing_page(request, GA4_DAILY, tenant_id, equal=equal, days=days)


@listing_operation(
    summary="Daily Search Console rows of the tenant",
    tag="web_analytics",
    schema="SearchConsolePage",
    ordered="One page of rows ordered by day, site, query, page, country and device.",
    days=True,
    parameters="""      - name: site_url
        in: query
        required: false
        description: One site, as Search Console names it.
        schema: {type: string, maxLength: 2048}
      - name: data_state
        in: query
        required: false
        schema: {type: string, enum: [final, all]}
""",
)
def search_console(request: Request) -> JSONResponse:
    """Daily Search Console rows by query, page, country and device (``site_url=`` to pick one,
    ``data_state=final|all`` to keep only finalised or only fresh rows)."""
    tenant_id, days = _tenant_and_days(request)
    equal: dict[str, Any] = {}
    site_url = params.text(request, "site_url", MAX_SITE_URL)
    if site_url is not None:
        if not SITE_URL.fullmatch(site_url):
            raise Problem(400, f"site_url must be {SITE_URL_DOC}")
        equal["site_url"] = site_url
    if request.query_params.get("data_state") is not None:
        equal["data_state"] = params.choice(request, "data_state", ("final", "all"), "all")
    return listing_page(request, SEARCH_CONSOLE_DAILY, tenant_id, equal=equal, days=days)
