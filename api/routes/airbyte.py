"""Airbyte: the job-completion webhook, ``GET /api/health/airbyte/`` and
``GET /api/airbyte/telemetry/``.

The webhook checks the secret, the media type and the size and parses the payload; recording
the job (lock, dedupe, audit, the Dagster event) is ``services/webhooks.py``.

Health and telemetry read ``app.airbyte_jobs`` (written by the sync assets and this webhook)
in one statement for every tenant in scope, so their cost does not grow with tenants' job
histories. Health answers 200 when ``ok``, 503 when ``stale``/``no_recent_sync`` and 502 when
``failing`` (as the runbook's service did), so a plain HTTP probe can alert on it.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.defs.airbyte.jobs import FAILED_STATUSES
from adinsights_pipelines.defs.airbyte.status import (
    ERROR,
    FAILING,
    OK,
    STALE_AFTER,
    age_minutes,
    connection_status,
    rollup,
    sync_status_state,
)
from adinsights_pipelines.defs.airbyte.store import (
    ConnectionNotFound,
    connection_health_rows,
    tenant_telemetry_rows,
)
from adinsights_pipelines.defs.airbyte.webhook import WebhookJob, WebhookPayloadError, parse_webhook
from adinsights_pipelines.services.webhooks import (
    CONFLICT,
    STORED,
    WebhookReceipt,
    record_webhook_job,
)
from adinsights_pipelines.settings import Settings, load_settings
from adinsights_pipelines.warehouse.tolerant import (
    UnreadableValue,
    log_unreadable_once,
    unreadable_columns,
    unreadable_reason,
)
from api.auth import authenticate, tenant_scope
from api.pagination import TenantCursor, decode_cursor, encode_cursor, parse_limit
from api.problems import Problem
from api.state import AppState, state_of

log = logging.getLogger("api.airbyte")

SECRET_HEADER = "X-Airbyte-Webhook-Secret"  # noqa: S105 - a header name


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- webhook ---------------------------------------------------------------------------------


def _check_secret(request: Request) -> Settings:
    # Settings are read on every request: a rotated secret applies to the very next call.
    settings = load_settings()
    secret = settings.airbyte_webhook_secret
    expected = secret.get_secret_value() if secret is not None else ""
    if not expected:
        if settings.airbyte_webhook_secret_required:
            log.error("Airbyte webhook secret required but not configured")
            raise Problem(503, "the Airbyte webhook secret is required but not configured")
        return settings
    provided = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(provided.encode(), expected.encode()):
        log.warning("Airbyte webhook refused: %s", "wrong secret" if provided else "no secret")
        raise Problem(403, f"missing or wrong {SECRET_HEADER}")
    return settings


def _check_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Problem(415, "the webhook body must be Content-Type: application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes (from
    ``Content-Length`` before reading, else while streaming): a large body is never held."""
    too_large = Problem(413, f"the webhook body is larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _record(state: AppState, job: WebhookJob) -> WebhookReceipt:
    """The webhook use case in one transaction (nothing stored when Dagster cannot be told)."""
    try:
        with state.engine.begin() as conn:
            return record_webhook_job(conn, state.instance, job)
    except ConnectionNotFound:
        raise Problem(404, "connection not found") from None


async def webhook(request: Request) -> JSONResponse:
    """Airbyte's job-completion notification: stores the job, audits it and reports it to
    Dagster, once per job and status (a replay answers ``duplicate: true``). A job's state only
    moves forward: a terminal status is final, and a later disagreeing terminal status is
    audited as ``airbyte_job_webhook_conflict`` and answered ``conflict: true``, not applied.

    ---
    summary: Airbyte job-completion webhook
    tags: [airbyte]
    parameters:
      - name: X-Airbyte-Webhook-Secret
        in: header
        required: false
        description: The shared secret (ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET), when one is set.
        schema: {type: string}
    requestBody:
      required: true
      description: Airbyte's notification; the job (SyncSummary) under `data`, or flat.
      content:
        application/json:
          schema: {$ref: '#/components/schemas/AirbyteWebhookPayload'}
    responses:
      200:
        description: The job as stored.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AirbyteWebhookReceipt'}
      400: {$ref: '#/components/responses/BadRequest'}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      413:
        description: The body is larger than ADINSIGHTS_AIRBYTE_WEBHOOK_MAX_BODY_BYTES.
        content:
          application/problem+json:
            schema: {$ref: '#/components/schemas/Problem'}
      415:
        description: The body is not Content-Type application/json.
        content:
          application/problem+json:
            schema: {$ref: '#/components/schemas/Problem'}
      503:
        description: The secret is required but not configured, or the database or the Dagster
          instance is unavailable (nothing was stored; Airbyte may retry).
        content:
          application/problem+json:
            schema: {$ref: '#/components/schemas/Problem'}
    """
    settings = _check_secret(request)
    _check_media_type(request)
    body = await _read_body(request, settings.airbyte_webhook_max_body_bytes)
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Problem(400, "the body is not valid JSON") from None
    state = state_of(request)
    try:
        job = parse_webhook(payload, now=state.clock())
    except WebhookPayloadError as exc:
        raise Problem(400, str(exc)) from None
    receipt = await run_in_threadpool(_record, state, job)
    outcome = receipt.outcome
    fields = {
        "tenant_id": receipt.connection.tenant_id,
        "connection_id": receipt.connection.connection_id,
        "job_id": job.job_id,
        "status": receipt.status,
        "duplicate": outcome != STORED,
        "conflict": outcome == CONFLICT,
    }
    if outcome == CONFLICT:
        log.warning(
            "Airbyte webhook conflict: terminal status not applied",
            extra={**fields, "received_status": job.status},
        )
    log.info("Airbyte webhook processed", extra={**fields, "outcome": outcome})
    return JSONResponse({**fields, "received_at": state.clock().isoformat()})


# --- health and telemetry --------------------------------------------------------------------


def _unreadable(where: str, row: dict[str, Any]) -> str | None:
    columns = unreadable_columns(row)
    if not columns:
        return None
    reason = unreadable_reason(columns)
    log_unreadable_once(where, row["tenant_id"], reason)
    return reason


def _connection_health(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    reason = _unreadable("airbyte_health", row)
    if reason is not None:
        readable = {k: (None if isinstance(v, UnreadableValue) else v) for k, v in row.items()}
        return {
            **_connection_health(readable, now),
            "status": ERROR,
            "age_minutes": None,
            "error": reason,
        }
    status = connection_status(
        last_job_status=row["last_job_status"],
        last_job_at=row["last_job_at"],
        last_synced_at=row["last_synced_at"],
        last_attempt_status=row["last_attempt_status"],
        last_attempt_at=row["last_attempt_at"],
        now=now,
    )
    error = None
    if status == FAILING:
        error = (
            row["last_job_error"]
            if row["last_job_status"] in FAILED_STATUSES
            else row["last_attempt_error"]
        )
    return {
        "tenant_id": row["tenant_id"],
        "connection_id": row["connection_id"],
        "provider": row["provider"],
        "source_account_id": row["source_account_id"],
        "status": status,
        "last_synced_at": _iso(row["last_synced_at"]),
        "age_minutes": age_minutes(row["last_synced_at"], now),
        "records": row["records_synced"],
        "bytes": row["bytes_synced"],
        "last_job_id": row["last_job_id"],
        "last_job_status": row["last_job_status"],
        "last_job_at": _iso(row["last_job_at"]),
        "error": error,
    }


def airbyte_health(request: Request) -> JSONResponse:
    """Per-connection Airbyte sync health, rolled up to the worst status.

    ---
    summary: Airbyte sync health (an HTTP probe can alert on the status code)
    tags: [airbyte]
    parameters:
      - $ref: '#/components/parameters/TenantId'
    responses:
      200:
        description: Every connection is `ok`.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AirbyteHealth'}
      502:
        description: A connection is `failing` (same body as 200).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AirbyteHealth'}
      503:
        description: A connection is `stale` or has `no_recent_sync`, or there are no
          connections (same body as 200); a problem when the database is unavailable.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AirbyteHealth'}
          application/problem+json:
            schema: {$ref: '#/components/schemas/Problem'}
    """
    tenant_id = tenant_scope(request, authenticate(request))
    state = state_of(request)
    now = state.clock()
    with state.engine.connect() as conn:
        rows = connection_health_rows(conn, tenant_id)
    connections = [_connection_health(r, now) for r in rows]
    status = rollup(c["status"] for c in connections)
    body = {
        "status": status,
        "tenant_id": tenant_id,
        "checked_at": now.isoformat(),
        "stale_after_minutes": int(STALE_AFTER.total_seconds() // 60),
        "connections": connections,
    }
    code = 200 if status == OK else 502 if status == FAILING else 503
    return JSONResponse(body, status_code=code)


def _latest_job(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["job_id"] is None:
        return None
    return {
        "connection_id": row["connection_id"],
        "provider": row["provider"],
        "job_id": row["job_id"],
        "status": row["status"],
        "records_synced": row["records_synced"],
        "bytes_synced": row["bytes_synced"],
        "duration_seconds": row["duration_seconds"],
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        "error": row["error"],
    }


def airbyte_telemetry(request: Request) -> JSONResponse:
    """Per-tenant Airbyte sync state and latest job, in pages of tenants.

    ---
    summary: Airbyte sync telemetry
    tags: [airbyte]
    parameters:
      - $ref: '#/components/parameters/TenantId'
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: One entry per active tenant in scope, ordered by tenant id.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AirbyteTelemetry'}
    """
    tenant_id = tenant_scope(request, authenticate(request))
    limit = parse_limit(request)
    after = None
    raw_cursor = request.query_params.get("cursor")
    if raw_cursor:
        after = decode_cursor(raw_cursor, TenantCursor).after
    state = state_of(request)
    now = state.clock()
    with state.engine.connect() as conn:
        rows = tenant_telemetry_rows(conn, tenant_id, after=after, limit=limit + 1)
    page = rows[:limit]
    results = []
    for row in page:
        reason = _unreadable("airbyte_telemetry", row)
        if reason is not None:
            row = {k: (None if isinstance(v, UnreadableValue) else v) for k, v in row.items()}
            row["error"] = reason if row["job_id"] is not None else row["error"]
        sync_state, age = sync_status_state(row["last_synced_at"], now)
        if reason is not None:
            sync_state, age = ERROR, None
        results.append(
            {
                "tenant_id": row["tenant_id"],
                "connections": row["connections"],
                "sync_status_state": sync_state,
                "sync_status_age_minutes": age,
                "last_synced_at": _iso(row["last_synced_at"]),
                "latest_job": _latest_job(row),
            }
        )
    next_cursor = encode_cursor({"after": page[-1]["tenant_id"]}) if len(rows) > limit else None
    return JSONResponse(
        {"results": results, "next_cursor": next_cursor, "generated_at": now.isoformat()}
    )
