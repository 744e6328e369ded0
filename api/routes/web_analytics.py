"""``GET /api/analytics/web/ga4/`` and ``GET /api/analytics/web/search-console/``.

The tenant's GA4 and Search Console rows from the warehouse (what the last syncs landed),
tenant-scoped through :func:`api.auth.scoped_tenant`, filtered by ``since``/``until`` (default:
the last 28 days) and optionally one property or site, in keyset pages (``limit`` + opaque
``cursor``).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.google.sources import SITE_URL
from api import params
from api.auth import authenticate, scoped_tenant
from api.problems import Problem
from api.routes.meta import Listing, _page

DEFAULT_DAYS = 28
MAX_DAYS = 400
MAX_SITE_URL = 2048
PROPERTY_ID_DOC = "a GA4 property id (digits, or properties/<digits>)"
PROPERTY = re.compile(r"^(?:properties/)?[0-9]{1,20}$")
SITE_URL_DOC = "a Search Console site (https://host/ or sc-domain:host)"

GA4 = Listing(
    "raw.ga4_daily",
    (
        "property_id", "date", "region", "session_default_channel_group", "sessions",
        "total_users", "new_users", "screen_page_views", "engaged_sessions", "key_events",
    ),
    ("date", "property_id", "region", "session_default_channel_group"),
    date_keys=frozenset({"date"}),
)  # fmt: skip

SEARCH_CONSOLE = Listing(
    "raw.search_console_daily",
    (
        "site_url", "date", "query", "page", "country", "device", "clicks", "impressions",
        "ctr", "position", "data_state",
    ),
    ("date", "site_url", "query", "page", "country", "device"),
    date_keys=frozenset({"date"}),
)  # fmt: skip


def ga4(request: Request) -> JSONResponse:
    """Daily GA4 rows by region and default channel group (``property_id=`` to pick one).

    ---
    summary: Daily GA4 rows of the tenant
    tags: [web_analytics]
    parameters:
      - name: property_id
        in: query
        required: false
        description: One GA4 property (digits, or `properties/<digits>`).
        schema: {type: string, pattern: '^(properties/)?[0-9]{1,20}$'}
      - $ref: '#/components/parameters/Since'
      - $ref: '#/components/parameters/Until'
      - $ref: '#/components/parameters/TenantId'
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: One page of rows ordered by day, property, region and channel group.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Ga4Page'}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    tenant_id = scoped_tenant(request, authenticate(request))
    since, until = params.day_window(request, default_days=DEFAULT_DAYS, max_days=MAX_DAYS)
    where = ["tenant_id = :tenant_id", "date between :since and :until"]
    bound: dict[str, object] = {"tenant_id": tenant_id, "since": since, "until": until}
    property_id = params.matching(request, "property_id", PROPERTY, PROPERTY_ID_DOC)
    if property_id is not None:
        property_id = property_id.removeprefix("properties/")
        where.append("property_id = :property_id")
        bound["property_id"] = property_id
    return _page(request, GA4, where, bound)


def search_console(request: Request) -> JSONResponse:
    """Daily Search Console rows by query, page, country and device (``site_url=`` to pick one,
    ``data_state=final|all`` to keep only finalised or only fresh rows).

    ---
    summary: Daily Search Console rows of the tenant
    tags: [web_analytics]
    parameters:
      - name: site_url
        in: query
        required: false
        description: One site, as Search Console names it.
        schema: {type: string, maxLength: 2048}
      - name: data_state
        in: query
        required: false
        schema: {type: string, enum: [final, all]}
      - $ref: '#/components/parameters/Since'
      - $ref: '#/components/parameters/Until'
      - $ref: '#/components/parameters/TenantId'
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: One page of rows ordered by day, site, query, page, country and device.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/SearchConsolePage'}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    tenant_id = scoped_tenant(request, authenticate(request))
    since, until = params.day_window(request, default_days=DEFAULT_DAYS, max_days=MAX_DAYS)
    where = ["tenant_id = :tenant_id", "date between :since and :until"]
    bound: dict[str, object] = {"tenant_id": tenant_id, "since": since, "until": until}
    site_url = params.text(request, "site_url", MAX_SITE_URL)
    if site_url is not None:
        if not SITE_URL.fullmatch(site_url):
            raise Problem(400, f"site_url must be {SITE_URL_DOC}")
        where.append("site_url = :site_url")
        bound["site_url"] = site_url
    if request.query_params.get("data_state") is not None:
        data_state = params.choice(request, "data_state", ("final", "all"), "all")
        where.append("data_state = :data_state")
        bound["data_state"] = data_state
    return _page(request, SEARCH_CONSOLE, where, bound)
