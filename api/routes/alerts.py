"""``POST /api/alerts/run/``: evaluate every alert rule now and deliver its transitions.

The runbook's "use ``/alerts/run`` to re-trigger evaluation after remediation". Operator keys
only; the evaluation is the sensor's own (``defs/alerts/run.py``), under the same lock and
state, so it never repeats an alert the sensor sent, nor the sensor one it sent.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.alerts.run import AlertsThrottled, run_alerts_now
from adinsights_pipelines.defs.resources import AlertChannelsResource
from api.auth import authenticate, tenant_scope
from api.problems import Problem
from api.state import AssetGraphNotServed, state_of


def run_alerts(request: Request) -> JSONResponse:
    """Evaluate every alert rule now, deliver any transitions, answer with the evaluation.

    ---
    summary: Run the alert evaluation now (operator keys)
    tags: [ops]
    parameters:
      - $ref: '#/components/parameters/TenantId'
    responses:
      200:
        description: The evaluation per tenant and rule, and what was delivered.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AlertsRun'}
    """
    principal = authenticate(request)
    if not principal.is_operator:
        raise Problem(403, "only operator keys may run the alert evaluation")
    tenant_id = tenant_scope(request, principal)
    state = state_of(request)
    try:
        graph = state.asset_graph
    except AssetGraphNotServed as exc:
        raise Problem(503, f"the alert evaluation is not available here: {exc}") from None
    resource = AlertChannelsResource()
    try:
        result = run_alerts_now(
            state.instance,
            state.engine,
            graph,
            resource.channels(),
            state.clock(),
            actor=f"api:{principal.key_prefix}",
            min_interval_seconds=state.settings.alerts_run_min_interval_seconds,
            tenant_id=tenant_id,
            metrics_urls=resource.metrics_urls(),
            ui_url=resource.ui_url(),
            webhook_silence_window=resource.webhook_silence_window(),
        )
    except AlertsThrottled as exc:
        raise Problem(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    return JSONResponse(result.as_json())
