"""The Airbyte webhook payload policy as ``POST /api/airbyte/webhook/`` applies it (pure parsing).

Airbyte posts its ``SyncSummary`` under ``data`` (``connection.id``, ``jobId``, ``success``,
``startedAt``/``finishedAt``, ``recordsCommitted``/``recordsEmitted``, ``bytesCommitted``/
``bytesEmitted``, ``durationInSeconds``, ``errorMessage``); a flat replay (``connectionId``,
``jobId``, ``status``) is accepted too. A bad payload is refused with one line naming the field,
``data.``-prefixed when it came under ``data`` (the 400's detail). Expected values are written
out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adinsights_pipelines.defs.airbyte.jobs import JobOutcome
from adinsights_pipelines.defs.airbyte.webhook import WebhookJob, WebhookPayloadError, parse_webhook
from adinsights_pipelines.simulators.airbyte import AirbyteSimState

CONNECTION = "8a1f3c2e-0b6d-4c59-9d7e-2f4a6b8c0d1e"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def flat(**fields: Any) -> dict[str, Any]:
    return {"connectionId": CONNECTION, "jobId": 7, **fields}


def nested(**fields: Any) -> dict[str, Any]:
    return {"text": "...", "data": {"connection": {"id": CONNECTION}, "jobId": 7, **fields}}


def refused(payload: Any) -> str:
    with pytest.raises(WebhookPayloadError) as raised:
        parse_webhook(payload, now=NOW)
    return str(raised.value)


# --- what Airbyte sends ----------------------------------------------------------------------


def test_airbyte_s_notification_as_the_simulator_sends_it() -> None:
    state = AirbyteSimState(seed=3)
    connection = state.add_connection("5550001111")
    job = state.start_job(connection.connection_id)
    job.cancel.set()  # the worker thread stops; the test sets the outcome
    job.status, job.rows, job.bytes, job.failure = "failed", 840, 65536, "Token revoked"
    job.ended_at = job.created_at + timedelta(seconds=125)
    payload = state.notification(job)
    payload["data"]["recordsEmitted"] = 900  # committed is what reached the warehouse
    payload["data"]["bytesEmitted"] = 70000
    parsed = parse_webhook(payload)
    assert parsed == WebhookJob(
        connection_id=connection.connection_id,
        job_id=job.job_id,
        status="failed",
        records_synced=840,
        bytes_synced=65536,
        duration_seconds=125.0,
        started_at=job.created_at.astimezone(UTC).replace(microsecond=0),
        finished_at=job.ended_at.astimezone(UTC).replace(microsecond=0),
        error="Token revoked",
    )


def test_the_stored_outcome_carries_every_field() -> None:
    parsed = parse_webhook(
        nested(
            success=True,
            startedAt="2026-05-01T10:00:00Z",
            finishedAt="2026-05-01T10:01:15Z",
            recordsCommitted=42,
            bytesCommitted=4096,
            durationInSeconds=80.5,
            errorMessage="warning only",
        ),
        now=NOW,
    )
    assert parsed.outcome() == JobOutcome(
        connection_id=CONNECTION,
        job_id=7,
        status="succeeded",
        records_synced=42,
        bytes_synced=4096,
        duration_seconds=80.5,  # Airbyte's own figure wins over the times' difference
        started_at=datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
        finished_at=datetime(2026, 5, 1, 10, 1, 15, tzinfo=UTC),
        error="warning only",
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (flat(jobId=12, status="FAILED"), (12, "failed")),
        (flat(status="Succeeded"), (7, "succeeded")),
        ({"connection_id": CONNECTION, "job_id": "31", "jobStatus": "running"}, (31, "running")),
        (nested(success=True), (7, "succeeded")),
        (nested(success=False), (7, "failed")),
        (nested(isSuccess=False), (7, "failed")),
        # a status, when there is one, decides: success is only the fallback
        (nested(success=True, status="cancelled"), (7, "cancelled")),
        (flat(connection_id=CONNECTION.upper(), status="error"), (7, "error")),
    ],
)
def test_status_and_success(payload: dict[str, Any], expected: tuple[int, str]) -> None:
    parsed = parse_webhook(payload, now=NOW)
    assert (parsed.connection_id, parsed.job_id, parsed.status) == (CONNECTION, *expected)


@pytest.mark.parametrize(
    "status",
    ["pending", "running", "incomplete", "failed", "error", "cancelled", "succeeded"],
)
def test_every_known_status_is_kept_lower_case(status: str) -> None:
    assert parse_webhook(flat(status=status.upper()), now=NOW).status == status


def test_counts_prefer_committed_over_emitted_and_take_whole_floats() -> None:
    parsed = parse_webhook(
        nested(success=True, recordsEmitted=900, recordsCommitted=840.0, bytesEmitted=2048.0),
        now=NOW,
    )
    assert (parsed.records_synced, parsed.bytes_synced) == (840, 2048)
    assert type(parsed.records_synced) is int and type(parsed.bytes_synced) is int
    replay = parse_webhook(flat(status="succeeded", records_synced=5, bytes_synced=0), now=NOW)
    assert (replay.records_synced, replay.bytes_synced) == (5, 0)
    biggest = parse_webhook(flat(status="succeeded", recordsCommitted=2**63 - 1), now=NOW)
    assert biggest.records_synced == 2**63 - 1


def test_duration_from_the_times_when_airbyte_gives_none() -> None:
    def duration(**times: Any) -> float | None:
        return parse_webhook(flat(status="succeeded", **times), now=NOW).duration_seconds

    assert duration(startedAt="2026-05-01T10:00:00Z", finishedAt="2026-05-01T10:01:15Z") == 75.0
    assert duration(startTime="2026-05-01T10:00:00Z", endTime="2026-05-01T10:00:01.5Z") == 1.5
    # a clock that went backwards gives zero, never a negative duration
    assert duration(startedAt="2026-05-01T10:00:00Z", finishedAt="2026-05-01T09:00:00Z") == 0.0
    assert duration(startedAt="2026-05-01T10:00:00Z") is None
    assert duration(finishedAt="2026-05-01T10:00:00Z") is None
    assert duration(duration_seconds=3) == 3.0
    assert duration(durationInSeconds=0) == 0.0


def test_times_are_utc_and_inside_the_sane_window() -> None:
    parsed = parse_webhook(
        flat(status="succeeded", startedAt="2026-05-01T05:00:00-05:00", finishedAt=None),
        now=NOW,
    )
    assert parsed.started_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert parsed.started_at.utcoffset() == timedelta(0)
    assert parsed.finished_at is None
    # up to a day ahead of the given clock is accepted, more is not
    ahead = parse_webhook(flat(status="succeeded", finishedAt="2026-05-02T12:00:00Z"), now=NOW)
    assert ahead.finished_at == NOW + timedelta(days=1)
    assert refused(flat(status="succeeded", finishedAt="2026-05-02T12:00:01Z")) == (
        "finishedAt: is more than a day in the future"
    )
    assert refused(nested(success=True, startedAt="1999-12-31T23:59:59Z")) == (
        "data.startedAt: is before 2000-01-01"
    )


def test_without_a_clock_the_window_ends_a_day_from_now() -> None:
    soon = datetime.now(UTC) + timedelta(hours=20)
    assert parse_webhook(flat(status="running", startedAt=soon.isoformat())).started_at == soon
    later = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(WebhookPayloadError, match="startedAt: is more than a day in the future"):
        parse_webhook(flat(status="running", startedAt=later.isoformat()))


def test_the_error_message_is_kept_readable_and_bounded() -> None:
    def error(message: Any) -> str | None:
        return parse_webhook(flat(status="failed", errorMessage=message), now=NOW).error

    assert error("a\x00b\ud800c") == "ab\ufffdc"
    assert error("x" * 10_000) == "x" * 10_000
    assert error("y" * 10_001) == "y" * 10_000
    assert error("") is None
    assert error(None) is None
    assert parse_webhook(flat(status="failed", error="boom"), now=NOW).error == "boom"


# --- what is refused, and how the refusal reads ------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "the payload must be a JSON object"),
        ("succeeded", "the payload must be a JSON object"),
        (None, "the payload must be a JSON object"),
        ({"data": {"jobId": 1, "success": True}}, "data.connection.id: Field required"),
        ({"jobId": 1, "success": True}, "connection.id: Field required"),
        (nested(jobId=None, success=True), "data.jobId: Input should be a valid integer"),
        (flat(status="exploded"), "the body: unknown job status 'exploded'"),
        (nested(status="Exploded"), "data: unknown job status 'Exploded'"),
        (flat(), "the body: the payload says neither success nor status"),
        (nested(), "data: the payload says neither success nor status"),
        (flat(jobId=True, status="failed"), "jobId: must be a number, not a boolean"),
        (flat(jobId=-1, status="failed"), "jobId: Input should be greater than or equal to 0"),
        (
            flat(jobId=2**63, status="failed"),
            "jobId: Input should be less than or equal to 9223372036854775807",
        ),
        (nested(success="true"), "data.success: Input should be a valid boolean"),
        (nested(success=1), "data.success: Input should be a valid boolean"),
        (
            nested(success=True, recordsCommitted=True),
            "data.recordsCommitted: must be a number, not a boolean",
        ),
        (
            nested(success=True, bytesCommitted=False),
            "data.bytesCommitted: must be a number, not a boolean",
        ),
        (
            nested(success=True, recordsCommitted=840.5),
            "data.recordsCommitted: Input should be a valid integer, got a number with a "
            "fractional part",
        ),
        (
            flat(status="failed", recordsCommitted=-1),
            "recordsCommitted: Input should be greater than or equal to 0",
        ),
        (
            flat(status="failed", durationInSeconds=True),
            "durationInSeconds: must be a number, not a boolean",
        ),
        (
            flat(status="failed", durationInSeconds=-0.5),
            "durationInSeconds: Input should be greater than or equal to 0",
        ),
        (
            flat(status="failed", durationInSeconds=float("nan")),
            "durationInSeconds: Input should be a finite number",
        ),
        (
            flat(connectionId=CONNECTION[:-1] + "\ud800", status="failed"),
            "connectionId: Input should be a valid string, unable to parse raw data as a unicode "
            "string",
        ),
        (flat(status="fa\x00iled"), "status: contains a NUL character"),
        (
            flat(status="x" * 33),
            "status: Value should have at most 32 items after validation, not 33",
        ),
    ],
)
def test_refusals_name_the_field(payload: Any, message: str) -> None:
    assert refused(payload).startswith(message)


@pytest.mark.parametrize("huge", [1e19, 1e300, 2.0**63])
def test_a_whole_float_beyond_bigint_is_refused(huge: float) -> None:
    assert refused(flat(status="succeeded", bytesCommitted=huge)).startswith("bytesCommitted: ")


@given(st.integers(min_value=0, max_value=2**53))
def test_whole_float_counts_are_the_same_as_integers(n: int) -> None:
    as_float = parse_webhook(flat(status="succeeded", recordsCommitted=float(n)), now=NOW)
    as_int = parse_webhook(flat(status="succeeded", recordsCommitted=n), now=NOW)
    assert as_float.records_synced == as_int.records_synced == n


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
def test_a_fractional_count_is_always_refused(value: float) -> None:
    assert refused(nested(success=True, recordsCommitted=value)).startswith(
        "data.recordsCommitted: "
    )
