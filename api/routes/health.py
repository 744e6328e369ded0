"""``GET /api/health/``: liveness of the API and what it depends on."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from api.state import state_of


def health(request: Request) -> JSONResponse:
    """Liveness: the database and the Dagster instance answer.

    ---
    summary: Liveness
    tags: [health]
    responses:
      200:
        description: Everything answers.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Health'}
      503:
        description: A dependency does not answer (`status` is `degraded`).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Health'}
    """
    state = state_of(request)
    checks: dict[str, dict[str, str]] = {}
    try:
        with state.engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        checks["database"] = {"status": "ok"}
    except Exception as exc:  # report, never raise: this is the liveness probe
        checks["database"] = {"status": "error", "detail": type(exc).__name__}
    try:
        state.instance.get_runs_count()
        checks["dagster_instance"] = {"status": "ok"}
    except Exception as exc:
        checks["dagster_instance"] = {"status": "error", "detail": type(exc).__name__}
    ok = all(c["status"] == "ok" for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )
