"""``GET /metrics/app/``: Prometheus exposition of request and freshness metrics.

Public by default (the contract). ``ADINSIGHTS_METRICS_ACCESS=operator`` asks for an operator
API key; ``addresses`` admits only ``ADINSIGHTS_METRICS_ALLOWED_ADDRESSES`` (addresses or
networks; the client address is the proxy-resolved one when ``ADINSIGHTS_TRUSTED_PROXIES`` is
set). ``ADINSIGHTS_METRICS_TENANT_LABELS`` hashes or drops the ``tenant_id`` labels.
"""

from __future__ import annotations

import ipaddress
from functools import cache

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from adinsights_pipelines.errors import ConfigError
from api.auth import authenticate
from api.problems import Problem
from api.state import state_of

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(raw: str) -> tuple[Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ConfigError(f"ADINSIGHTS_METRICS_ALLOWED_ADDRESSES: {exc}") from None


def _admit(request: Request) -> None:
    settings = state_of(request).settings
    if settings.metrics_access == "operator":
        if not authenticate(request).is_operator:
            raise Problem(403, "/metrics/app/ is restricted to operator keys")
    elif settings.metrics_access == "addresses":
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        allowed = _networks(settings.metrics_allowed_addresses)
        if address is None or not any(address in network for network in allowed):
            raise Problem(403, "/metrics/app/ is restricted to listed client addresses")


def app_metrics(request: Request) -> Response:
    """Prometheus text exposition (see api/telemetry.py for every metric).

    ---
    summary: Prometheus metrics
    description: >
      Request counts and latency histograms by route template and status
      (`api_requests_total`, `api_request_duration_seconds`); per tenant
      `meta_sync_age_seconds`, `airbyte_sync_age_seconds`, `metrics_snapshot_age_seconds`;
      `dbt_run_duration_seconds` of the latest finished `dbt_build` run;
      `dagster_daemon_heartbeat_age_seconds` per daemon type. Freshness gauges
      are read at scrape time with a short cache. Public unless ADINSIGHTS_METRICS_ACCESS
      restricts it to operator keys or listed addresses.
    tags: [operations]
    responses:
      200:
        description: Prometheus text format.
        content:
          text/plain:
            schema: {type: string}
      403:
        description: Restricted (ADINSIGHTS_METRICS_ACCESS) and the caller is not admitted
          (a request without any key to an operator-only endpoint answers 401).
        content:
          application/problem+json:
            schema: {$ref: '#/components/schemas/Problem'}
    """
    _admit(request)
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
