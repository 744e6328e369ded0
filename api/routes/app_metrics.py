"""``GET /metrics/app/``: Prometheus exposition of request and freshness metrics (no auth)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response


def app_metrics(request: Request) -> Response:
    """Prometheus text exposition (see api/telemetry.py for every metric).

    ---
    summary: Prometheus metrics
    description: >
      Request counts and latency histograms by route template and status
      (`api_requests_total`, `api_request_duration_seconds`); per tenant
      `meta_sync_age_seconds`, `airbyte_sync_age_seconds`, `metrics_snapshot_age_seconds`;
      `dbt_run_duration_seconds` of the latest finished `dbt_build` run. Freshness gauges
      are read at scrape time with a short cache.
    tags: [operations]
    responses:
      200:
        description: Prometheus text format.
        content:
          text/plain:
            schema: {type: string}
    """
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
