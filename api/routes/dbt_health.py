"""``GET /api/health/dbt/``: the latest dbt run's results, from the Dagster instance.

``status`` is ``ok``, ``stale`` (no successful dbt run in 24 hours) or ``failing`` (the latest
run failed, or has a model in error or a failed test); with ``last_run_at``,
``duration_seconds`` and counts by model status (``counts``; tests in ``test_counts``). It holds
no tenant data, but like every non-public endpoint it needs an API key (tenant or operator).
See adinsights_pipelines/defs/dbt/health.py for how runs are found.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.dbt.health import dbt_health, read_dbt_runs
from api.auth import authenticate, tenant_scope
from api.state import state_of


def dbt_health_status(request: Request) -> JSONResponse:
    """The latest dbt run's results from the Dagster instance.

    ---
    summary: dbt health (latest run, staleness, counts by model and test status)
    tags: [health]
    parameters:
      - $ref: '#/components/parameters/TenantId'
    responses:
      200:
        description: The status and the latest run's figures.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/DbtHealth'}
    """
    # No tenant data here, but a tenant key naming another tenant is refused like everywhere.
    tenant_scope(request, authenticate(request))
    state = state_of(request)
    latest, last_success = read_dbt_runs(state.instance)
    return JSONResponse(dbt_health(latest, last_success, now=state.clock()))
