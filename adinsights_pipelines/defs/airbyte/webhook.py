"""Airbyte's job-completion webhook payload (pure parsing, by a pydantic schema).

Airbyte posts a Slack-style JSON: ``text`` and ``blocks`` for people, and ``data`` (the
platform's ``SyncSummary``) for machines: ``connection.id``, ``jobId``, ``success``,
``startedAt``/``finishedAt``, ``recordsEmitted``/``recordsCommitted``, ``bytesEmitted``/
``bytesCommitted``, ``durationInSeconds`` and ``errorMessage``. A flat replay
(``connectionId``, ``jobId``, ``status``, ...) is accepted too.

Every field is validated by type (``adinsights_pipelines/validation.py``): times must be
representable in UTC and inside the sane window, counts fit PostgreSQL's bigint, the error
message is stored as valid Unicode. Anything else is a :class:`WebhookPayloadError` naming the
field, never a silently dropped value.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from adinsights_pipelines.defs.airbyte.jobs import (
    FAILED_STATUSES,
    RUNNING_STATUSES,
    SUCCEEDED,
    JobOutcome,
)
from adinsights_pipelines.validation import ForeignText, PgText, SaneTime, first_error

KNOWN_STATUSES = (*RUNNING_STATUSES, *FAILED_STATUSES, SUCCEEDED)
#: Job ids and counts are stored as PostgreSQL bigint.
MAX_BIGINT = 2**63 - 1
MAX_ERROR_LENGTH = 10_000


class WebhookPayloadError(ValueError):
    """The payload is not a job notification we can use (answered 400)."""


def _no_bool(value: Any) -> Any:
    # JSON true is not a number; pydantic's lax mode would take it as 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _whole(value: Any) -> Any:
    # Counts arrive as JSON integers, sometimes as 840.0; 1e19 must still be refused.
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_BIGINT:
        return int(value)
    return value


Count = Annotated[
    int, BeforeValidator(_whole), BeforeValidator(_no_bool), Field(ge=0, le=MAX_BIGINT)
]
JobId = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_BIGINT)]


def _choices(*names: str | AliasPath) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class AirbyteJobNotice(BaseModel):
    """The machine-readable part of Airbyte's notification (``data``, or a flat replay)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    connection_id: uuid.UUID = Field(
        validation_alias=AliasChoices(
            AliasPath("connection", "id"), "connectionId", "connection_id"
        )
    )
    job_id: JobId = Field(validation_alias=AliasChoices("jobId", "job_id"))
    status: Annotated[PgText | None, Field(max_length=32)] = _choices("status", "jobStatus")
    success: bool | None = Field(
        default=None, validation_alias=AliasChoices("success", "isSuccess"), strict=True
    )
    started_at: SaneTime | None = _choices("startedAt", "startTime")
    finished_at: SaneTime | None = _choices("finishedAt", "endTime")
    records_synced: Count | None = _choices("recordsCommitted", "recordsEmitted", "records_synced")
    bytes_synced: Count | None = _choices("bytesCommitted", "bytesEmitted", "bytes_synced")
    duration_seconds: Annotated[float, BeforeValidator(_no_bool), Field(ge=0)] | None = _choices(
        "durationInSeconds", "duration_seconds"
    )
    error: ForeignText | None = _choices("errorMessage", "error")

    @model_validator(mode="after")
    def _known_status(self) -> AirbyteJobNotice:
        if self.status is not None:
            status = self.status.lower()
            if status not in KNOWN_STATUSES:
                raise ValueError(f"unknown job status {self.status!r}")
            self.status = status
        elif self.success is None:
            raise ValueError("the payload says neither success nor status")
        else:
            self.status = SUCCEEDED if self.success else "failed"
        return self


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
        """The job as a :class:`JobOutcome` (the same fields; ``attached`` left false)."""
        return JobOutcome(**asdict(self))


def parse_webhook(payload: Any, now: datetime | None = None) -> WebhookJob:
    """The job in ``payload``; :class:`WebhookPayloadError` naming the first bad field.

    ``now`` bounds how far in the future a time may be (default: the clock)."""
    if not isinstance(payload, dict):
        raise WebhookPayloadError("the payload must be a JSON object")
    nested = payload.get("data")
    data, prefix = (nested, "data.") if isinstance(nested, dict) else (payload, "")
    try:
        notice = AirbyteJobNotice.model_validate(data, context={"now": now or datetime.now(UTC)})
    except ValidationError as exc:
        raise WebhookPayloadError(first_error(exc, prefix)) from None
    assert notice.status is not None
    duration = notice.duration_seconds
    if duration is None and notice.started_at and notice.finished_at:
        duration = max(0.0, (notice.finished_at - notice.started_at).total_seconds())
    return WebhookJob(
        connection_id=str(notice.connection_id),
        job_id=notice.job_id,
        status=notice.status,
        records_synced=notice.records_synced,
        bytes_synced=notice.bytes_synced,
        duration_seconds=duration,
        started_at=notice.started_at,
        finished_at=notice.finished_at,
        error=notice.error[:MAX_ERROR_LENGTH] if notice.error else None,
    )
