"""Airbyte's job-completion webhook payload (pure parsing).

Airbyte posts a Slack-style JSON: ``text`` and ``blocks`` for people, and ``data`` (the
platform's ``SyncSummary``) for machines: ``connection.id``, ``jobId``, ``success``,
``startedAt``/``finishedAt``, ``recordsEmitted``/``recordsCommitted``, ``bytesEmitted``/
``bytesCommitted``, ``durationInSeconds`` and ``errorMessage``. A flat replay
(``connectionId``, ``jobId``, ``status``, ...) is accepted too.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adinsights_pipelines.defs.airbyte.jobs import (
    FAILED_STATUSES,
    RUNNING_STATUSES,
    SUCCEEDED,
    JobOutcome,
    parse_time,
)

KNOWN_STATUSES = (*RUNNING_STATUSES, *FAILED_STATUSES, SUCCEEDED)
#: Job ids and counts are stored as PostgreSQL bigint.
MAX_BIGINT = 2**63 - 1
MAX_ERROR_LENGTH = 10_000


class WebhookPayloadError(ValueError):
    """The payload is not a job notification we can use (answered 400)."""


@dataclass(frozen=True)
class WebhookJob:
    connection_id: str
    job_id: int
    status: str
    records_synced: int | None
    bytes_synced: int | None
    duration_seconds: float | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    def outcome(self) -> JobOutcome:
        return JobOutcome(
            connection_id=self.connection_id,
            job_id=self.job_id,
            status=self.status,
            records_synced=self.records_synced,
            bytes_synced=self.bytes_synced,
            duration_seconds=self.duration_seconds,
            started_at=self.started_at,
            finished_at=self.finished_at,
            error=self.error,
        )


def _first(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


def _count(data: Mapping[str, Any], *names: str) -> int | None:
    value = _first(data, *names)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_BIGINT
    ):
        raise WebhookPayloadError(f"{names[0]} must be a non-negative number")
    return int(value)


def _time(data: Mapping[str, Any], *names: str) -> datetime | None:
    value = _first(data, *names)
    try:
        return parse_time(value)
    except (OverflowError, OSError, ValueError):
        raise WebhookPayloadError(f"{names[0]} is not a time") from None


def parse_webhook(payload: Any) -> WebhookJob:
    if not isinstance(payload, dict):
        raise WebhookPayloadError("the payload must be a JSON object")
    nested = payload.get("data")
    data: dict[str, Any] = nested if isinstance(nested, dict) else payload
    connection = data.get("connection")
    raw_connection = (connection.get("id") if isinstance(connection, dict) else None) or _first(
        data, "connectionId", "connection_id"
    )
    if raw_connection is None:
        raise WebhookPayloadError("the payload names no connection (data.connection.id)")
    try:
        connection_id = str(uuid.UUID(str(raw_connection)))
    except ValueError:
        raise WebhookPayloadError("the connection id is not a UUID") from None
    raw_job = _first(data, "jobId", "job_id")
    if isinstance(raw_job, bool) or not isinstance(raw_job, int | str):
        raise WebhookPayloadError("the payload names no job (data.jobId)")
    try:
        job_id = int(raw_job)
    except ValueError:
        raise WebhookPayloadError("the job id must be an integer") from None
    if not 0 <= job_id <= MAX_BIGINT:
        raise WebhookPayloadError("the job id is out of range")

    raw_status = _first(data, "status", "jobStatus")
    if raw_status is not None:
        status = str(raw_status).lower()
        if status not in KNOWN_STATUSES:
            raise WebhookPayloadError(f"unknown job status {raw_status!r}")
    else:
        success = _first(data, "success", "isSuccess")
        if not isinstance(success, bool):
            raise WebhookPayloadError("the payload says neither success nor status")
        status = SUCCEEDED if success else "failed"

    started = _time(data, "startedAt", "startTime")
    finished = _time(data, "finishedAt", "endTime")
    duration = _first(data, "durationInSeconds", "duration_seconds")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not 0 <= duration < math.inf  # also refuses NaN (JSON allows it, jsonb does not)
    ):
        raise WebhookPayloadError("durationInSeconds must be a non-negative number")
    if duration is None and started and finished:
        duration = (finished - started).total_seconds()
    error = _first(data, "errorMessage", "error")
    return WebhookJob(
        connection_id=connection_id,
        job_id=job_id,
        status=status,
        records_synced=_count(data, "recordsCommitted", "recordsEmitted", "records_synced"),
        bytes_synced=_count(data, "bytesCommitted", "bytesEmitted", "bytes_synced"),
        duration_seconds=float(duration) if duration is not None else None,
        started_at=started,
        finished_at=finished,
        # PostgreSQL text cannot hold NUL.
        error=str(error).replace("\x00", "")[:MAX_ERROR_LENGTH] if error else None,
    )
