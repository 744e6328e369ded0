"""The Starlette application: routes declared in one list."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from adinsights_pipelines.warehouse.database import Database
from api.problems import http_exception_handler, unhandled_exception_handler
from api.routes import meta
from api.routes.audit import audit_logs
from api.routes.dbt_health import dbt_health_status
from api.routes.health import health
from api.routes.metrics import combined_metrics
from api.routes.social import social_status
from api.state import AppState

routes = [
    Route("/api/health/", health, methods=["GET"]),
    Route("/api/health/dbt/", dbt_health_status, methods=["GET"]),
    Route("/api/metrics/combined/", combined_metrics, methods=["GET"]),
    Route("/api/audit-logs/", audit_logs, methods=["GET"]),
    Route("/api/meta/accounts/", meta.accounts, methods=["GET"]),
    Route("/api/meta/campaigns/", meta.campaigns, methods=["GET"]),
    Route("/api/meta/adsets/", meta.adsets, methods=["GET"]),
    Route("/api/meta/ads/", meta.ads, methods=["GET"]),
    Route("/api/meta/insights/", meta.insights, methods=["GET"]),
    Route("/api/integrations/social/status/", social_status, methods=["GET"]),
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
