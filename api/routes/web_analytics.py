"""``GET /api/analytics/web/ga4/`` and ``GET /api/analytics/web/search-console/``.

The tenant's GA4 and Search Console rows from the warehouse (what the last syncs landed),
tenant-scoped through :func:`api.auth.scoped_tenant`, filtered by ``since``/``until`` (default:
the last 28 days) and optionally one property or site, in keyset pages (``limit`` + opaque
``cursor``).
"""

from __future__ import annotations

from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.google.sources import PROPERTY_ID, SITE_URL
from api import params
from api.auth import authenticate, scoped_tenant
from api.problems import Problem
from api.routes.meta import Listing, _page

DEFAULT_DAYS = 28
MAX_DAYS = 400
MAX_SITE_URL = 2048

GA4 = Listing(
    "raw.ga4_daily",
    (
        "property_id", "date", "region", "session_default_channel_group", "sessions",
        "total_users", "new_users", "screen_page_views", "engaged_sessions", "key_events",
    ),
    ("date", "property_id", "region", "session_default_channel_group"),
)  # fmt: skip

SEARCH_CONSOLE = Listing(
    "raw.search_console_daily",
    (
        "site_url", "date", "query", "page", "country", "device", "clicks", "impressions",
        "ctr", "position", "data_state",
    ),
    ("date", "site_url", "query", "page", "country", "device"),
)  # fmt: skip


def _window(request: Request) -> tuple[date, date]:
    lo, hi = params.date_range(request, "since", "until", MAX_DAYS)
    until = hi or date.today()
    since = lo or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise Problem(400, "since is after until")
    if (until - since).days >= MAX_DAYS:
        raise Problem(400, f"since..until spans more than {MAX_DAYS} days")
    return since, until


def ga4(request: Request) -> JSONResponse:
    """Daily GA4 rows by region and default channel group (``property_id=`` to pick one)."""
    tenant_id = scoped_tenant(request, authenticate(request))
    since, until = _window(request)
    where = ["tenant_id = :tenant_id", "date between :since and :until"]
    params: dict[str, object] = {"tenant_id": tenant_id, "since": since, "until": until}
    if (property_id := request.query_params.get("property_id")) is not None:
        property_id = property_id.removeprefix("properties/")
        if not PROPERTY_ID.match(property_id):
            raise Problem(400, "property_id must be a GA4 property id (digits)")
        where.append("property_id = :property_id")
        params["property_id"] = property_id
    return _page(request, GA4, where, params)


def search_console(request: Request) -> JSONResponse:
    """Daily Search Console rows by query, page, country and device (``site_url=`` to pick one,
    ``data_state=final|all`` to keep only finalised or only fresh rows)."""
    tenant_id = scoped_tenant(request, authenticate(request))
    since, until = _window(request)
    where = ["tenant_id = :tenant_id", "date between :since and :until"]
    params: dict[str, object] = {"tenant_id": tenant_id, "since": since, "until": until}
    if (site_url := request.query_params.get("site_url")) is not None:
        if len(site_url) > MAX_SITE_URL or not SITE_URL.match(site_url):
            raise Problem(
                400, "site_url must be a Search Console site (https://host/ or sc-domain:host)"
            )
        where.append("site_url = :site_url")
        params["site_url"] = site_url
    if (data_state := request.query_params.get("data_state")) is not None:
        if data_state not in ("final", "all"):
            raise Problem(400, "data_state must be final or all")
        where.append("data_state = :data_state")
        params["data_state"] = data_state
    return _page(request, SEARCH_CONSOLE, where, params)
