"""``GET /api/health/``: liveness of the API and what it depends on.

The rule (docs/operations.md, "Health: the exact rule"): 503 ``degraded`` when the database or
the Dagster instance does not answer, or when the Dagster daemon's heartbeat is stale (older
than ``ADINSIGHTS_DAEMON_HEARTBEAT_STALE_SECONDS``); 200 ``degraded`` when no daemon has ever
beaten; 200 ``ok`` otherwise. Everything else (stale feeds, snapshots, dbt) is the ops views'
business and never changes this answer.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.daemon_health import OK, STALE, read_heartbeats
from api.state import state_of


def health(request: Request) -> JSONResponse:
    """Liveness: the database and the Dagster instance answer, and the Dagster daemon beats.

    ---
    summary: Liveness
    tags: [health]
    responses:
      200:
        description: Everything answers (`ok`), or no Dagster daemon has ever beaten
          (`degraded`, `checks.dagster_daemon.status` is `missing`).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Health'}
      503:
        description: A dependency does not answer, or the Dagster daemon's heartbeat is older
          than ADINSIGHTS_DAEMON_HEARTBEAT_STALE_SECONDS (`status` is `degraded`).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Health'}
    """
    state = state_of(request)
    checks: dict[str, dict[str, Any]] = {}
    try:
        with state.engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        checks["database"] = {"status": "ok"}
    except Exception as exc:  # report, never raise: this is the liveness probe
        checks["database"] = {"status": "error", "detail": type(exc).__name__}
    try:
        state.instance.get_runs_count()
        checks["dagster_instance"] = {"status": "ok"}
        heartbeats = read_heartbeats(state.instance)
        now = time.time()
        status, detail = heartbeats.status(now, state.settings.daemon_heartbeat_stale_seconds)
        checks["dagster_daemon"] = {
            "status": status,
            "detail": detail,
            "heartbeat_age_seconds": {
                daemon: (None if age == float("inf") else round(age, 1))
                for daemon, age in heartbeats.ages(now).items()
            },
        }
    except Exception as exc:
        checks.setdefault("dagster_instance", {"status": "error", "detail": type(exc).__name__})
    ok = all(c["status"] == OK for c in checks.values())
    unavailable = any(
        c["status"] in ("error", STALE) for c in checks.values()
    )  # a missing daemon alone leaves it 200
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks},
        status_code=503 if unavailable else 200,
    )
