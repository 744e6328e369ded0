"""The Starlette application: routes declared in one list, the edge middleware around them.

Middleware, outermost first (see docs/architecture.md, "API"):

1. ``ProxyHeadersMiddleware`` (uvicorn's), only when ``ADINSIGHTS_TRUSTED_PROXIES`` names the
   proxies: the client address then comes from their ``X-Forwarded-For``, and never otherwise;
2. observability: request id, access log, request metrics, last-resort 500 problem;
3. CORS for approved origins (outside the throttle, so a 429 still carries CORS headers);
4. throttles, before routing and before any database work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

import orjson
import sqlalchemy.exc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from adinsights_pipelines.dagster_internals import AssetGraph
from adinsights_pipelines.settings import Settings, load_settings
from adinsights_pipelines.warehouse.database import Database
from api.cors import ApprovedOriginsCORS
from api.observability import ObservabilityMiddleware, RouteNames
from api.openapi import build_document
from api.problems import (
    database_unavailable_handler,
    http_exception_handler,
    unhandled_exception_handler,
)
from api.routes import airbyte, meta, meta_connect, web_analytics
from api.routes.alerts import run_alerts
from api.routes.app_metrics import app_metrics
from api.routes.audit import audit_logs
from api.routes.dbt_health import dbt_health_status
from api.routes.health import health
from api.routes.metrics import combined_metrics
from api.routes.ops import health_overview, sync_health
from api.routes.social import social_status
from api.state import AppState
from api.telemetry import RequestMetrics, build_registry
from api.throttle import Budgets, Throttle, ThrottleMiddleware

OPENAPI_PATH = "/api/openapi.json"


async def openapi_document(request: Request) -> Response:
    body: bytes = request.app.state.openapi
    return Response(body, media_type="application/json")


routes = [
    Route("/api/health/", health, methods=["GET"]),
    Route("/api/health/airbyte/", airbyte.airbyte_health, methods=["GET"]),
    Route("/api/airbyte/webhook/", airbyte.webhook, methods=["POST"]),
    Route("/api/airbyte/telemetry/", airbyte.airbyte_telemetry, methods=["GET"]),
    Route("/api/health/dbt/", dbt_health_status, methods=["GET"]),
    Route("/api/metrics/combined/", combined_metrics, methods=["GET"]),
    Route("/api/audit-logs/", audit_logs, methods=["GET"]),
    Route("/api/meta/accounts/", meta.accounts, methods=["GET"]),
    Route("/api/meta/campaigns/", meta.campaigns, methods=["GET"]),
    Route("/api/meta/adsets/", meta.adsets, methods=["GET"]),
    Route("/api/meta/ads/", meta.ads, methods=["GET"]),
    Route("/api/meta/insights/", meta.insights, methods=["GET"]),
    Route("/api/integrations/social/status/", social_status, methods=["GET"]),
    Route("/api/analytics/web/ga4/", web_analytics.ga4, methods=["GET"]),
    Route("/api/analytics/web/search-console/", web_analytics.search_console, methods=["GET"]),
    Route("/api/ops/sync-health/", sync_health, methods=["GET"]),
    Route("/api/ops/health-overview/", health_overview, methods=["GET"]),
    Route("/metrics/app/", app_metrics, methods=["GET"]),
    Route("/api/alerts/run/", run_alerts, methods=["POST"]),
    *meta_connect.ROUTES,
    Route(OPENAPI_PATH, openapi_document, methods=["GET"], include_in_schema=False),
]

# Answer without an API key; they spend the public throttle budget. Every other route
# authenticates (and its OpenAPI operation says so).
PUBLIC_PATHS = frozenset(
    {"/api/health/", "/api/airbyte/webhook/", "/metrics/app/", OPENAPI_PATH}
    | meta_connect.PUBLIC_PATHS
)
# ... the webhook from a budget of its own (api/throttle.py).
WEBHOOK_PATHS = frozenset({"/api/airbyte/webhook/"})


def _package_version() -> str:
    try:
        return version("adinsights-pipelines")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def edge_middleware(
    settings: Settings, app_routes: Sequence[BaseRoute], request_metrics: RequestMetrics
) -> list[Middleware]:
    """The middleware around the routes, outermost first (the order is the module docstring's)."""
    throttle = Throttle(settings.throttle_storage_uri, Budgets.from_settings(settings))
    middleware = [
        Middleware(
            ObservabilityMiddleware,
            routes=RouteNames(app_routes),
            metrics=request_metrics,
            access_log=settings.api_access_log,
        ),
        Middleware(ApprovedOriginsCORS, settings=settings),
        Middleware(
            ThrottleMiddleware,
            throttle=throttle,
            public_paths=PUBLIC_PATHS,
            webhook_paths=WEBHOOK_PATHS,
        ),
    ]
    if settings.trusted_proxies:
        proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=proxies))
    return middleware


def create_app(
    db: Database,
    settings: Settings | None = None,
    *,
    asset_graph: Callable[[], AssetGraph] | None = None,
) -> Starlette:
    """The app. ``asset_graph`` loads the code location's whole asset graph, which only
    ``POST /api/alerts/run/`` needs (on first use); without it that endpoint answers 503."""
    settings = settings or load_settings()
    state = AppState(db=db, settings=settings, load_asset_graph=asset_graph)
    registry, request_metrics, _ = build_registry(
        lambda: state.engine,
        lambda: state.instance,
        settings.metrics_cache_seconds,
        tenant_labels=settings.metrics_tenant_labels,
    )
    app = Starlette(
        routes=routes,
        middleware=edge_middleware(settings, routes, request_metrics),
        exception_handlers={
            HTTPException: http_exception_handler,
            sqlalchemy.exc.OperationalError: database_unavailable_handler,
            Exception: unhandled_exception_handler,
        },
    )
    app.state.adinsights = state
    app.state.metrics_registry = registry
    app.state.openapi = orjson.dumps(
        build_document(routes, PUBLIC_PATHS, _package_version()), option=orjson.OPT_NON_STR_KEYS
    )
    return app
