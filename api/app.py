"""The Starlette application: routes declared in one list."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from adinsights_pipelines.warehouse.database import Database
from api.problems import http_exception_handler, unhandled_exception_handler
from api.routes import airbyte, meta, web_analytics
from api.routes.audit import audit_logs
from api.routes.health import health
from api.routes.metrics import combined_metrics
from api.routes.ops import health_overview, sync_health
from api.routes.social import social_status
from api.state import AppState

routes = [
    Route("/api/health/", health, methods=["GET"]),
    Route("/api/health/airbyte/", airbyte.airbyte_health, methods=["GET"]),
    Route("/api/airbyte/webhook/", airbyte.webhook, methods=["POST"]),
    Route("/api/airbyte/telemetry/", airbyte.airbyte_telemetry, methods=["GET"]),
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
]


def create_app(db: Database) -> Starlette:
    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
    )
    app.state.adinsights = AppState(db=db)
    return app
