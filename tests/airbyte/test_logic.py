"""Pure Airbyte logic: job parsing, freshness, due connections, webhook payloads."""

from datetime import UTC, datetime, timedelta

import pytest

from adinsights_pipelines.defs.airbyte.definitions import due_run_requests
from adinsights_pipelines.defs.airbyte.jobs import (
    failure_reason,
    job_outcome,
    parse_iso_duration,
)
from adinsights_pipelines.defs.airbyte.status import (
    connection_status,
    is_due,
    rollup,
    sync_status_state,
)
from adinsights_pipelines.defs.airbyte.store import ScheduledConnection
from adinsights_pipelines.defs.airbyte.webhook import WebhookPayloadError, parse_webhook
from adinsights_pipelines.simulators.airbyte import AirbyteSimState

NOW = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)
CONNECTION = "0b3c7a52-8c8e-4a1e-9f4e-2a2b0c1d9e11"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.633S", 0.633), ("PT1M2.5S", 62.5), ("PT2H", 7200), ("P1DT1S", 86401), ("PT0S", 0)],
)
def test_iso_durations_as_airbyte_writes_them(text: str, seconds: float) -> None:
    assert parse_iso_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "1 minute", None, 5])
def test_unreadable_durations_are_none(text: object) -> None:
    assert parse_iso_duration(text) is None


def test_job_outcome_from_a_finished_job_response() -> None:
    outcome = job_outcome(
        {
            "jobId": 7,
            "status": "succeeded",
            "jobType": "sync",
            "startTime": "2025-06-02T14:00:00Z",
            "connectionId": CONNECTION,
            "lastUpdatedAt": "2025-06-02T14:01:30Z",
            "duration": "PT1M30S",
            "bytesSynced": 2048,
            "rowsSynced": 12,
        }
    )
    assert (outcome.job_id, outcome.status, outcome.records_synced, outcome.bytes_synced) == (
        7,
        "succeeded",
        12,
        2048,
    )
    assert outcome.duration_seconds == 90
    assert outcome.finished_at == datetime(2025, 6, 2, 14, 1, 30, tzinfo=UTC)


def test_a_running_job_has_no_finish_time() -> None:
    outcome = job_outcome(
        {"jobId": 8, "status": "running", "startTime": "2025-06-02T14:00:00Z",
         "lastUpdatedAt": "2025-06-02T14:00:05Z", "connectionId": CONNECTION}
    )  # fmt: skip
    assert outcome.finished_at is None and not outcome.finished


def test_failure_reason_comes_from_the_last_attempt() -> None:
    info = {
        "attempts": [
            {"attempt": {"failureSummary": {"failures": [{"externalMessage": "old"}]}}},
            {"attempt": {"failureSummary": {"failures": [
                {"externalMessage": "Token revoked", "failureOrigin": "source"}]}}},
        ]
    }  # fmt: skip
    assert failure_reason(info) == "Token revoked (failure origin: source)"
    assert failure_reason({"attempts": []}) is None


def status(**kw: object) -> str:
    base: dict[str, object] = {
        "last_job_status": "succeeded",
        "last_job_at": NOW - timedelta(minutes=10),
        "last_synced_at": NOW - timedelta(minutes=10),
        "last_attempt_status": "succeeded",
        "last_attempt_at": NOW - timedelta(minutes=10),
        "now": NOW,
    }
    return connection_status(**{**base, **kw})  # type: ignore[arg-type]


def test_connection_status_values() -> None:
    assert status() == "ok"
    assert status(last_synced_at=NOW - timedelta(minutes=61)) == "stale"
    assert status(last_synced_at=NOW - timedelta(minutes=60)) == "ok"
    assert status(last_job_status="failed") == "failing"
    assert status(last_job_status="cancelled") == "failing"
    assert status(last_job_status=None, last_job_at=None, last_synced_at=None) == "no_recent_sync"
    # running: the last success decides
    assert status(last_job_status="running", last_synced_at=None) == "no_recent_sync"
    assert status(last_job_status="running") == "ok"
    # Airbyte unreachable after the last job: failing; an older failed attempt does not count
    assert status(last_attempt_status="failed", last_attempt_at=NOW) == "failing"
    assert status(last_attempt_status="failed", last_attempt_at=NOW - timedelta(hours=2)) == "ok"


def test_rollup_reports_the_worst() -> None:
    assert rollup(["ok", "stale", "ok"]) == "stale"
    assert rollup(["stale", "no_recent_sync"]) == "no_recent_sync"
    assert rollup(["ok", "failing", "stale"]) == "failing"
    assert rollup([]) == "no_recent_sync"


def test_sync_status_state_across_the_clock() -> None:
    synced = NOW - timedelta(minutes=30)
    assert sync_status_state(None, NOW) == ("missing", None)
    assert sync_status_state(synced, NOW) == ("fresh", 30.0)
    assert sync_status_state(synced, NOW + timedelta(minutes=31)) == ("stale", 61.0)


def test_due_after_the_interval_with_slack_for_the_tick() -> None:
    assert is_due(None, 60, NOW)
    assert is_due(NOW - timedelta(minutes=59, seconds=50), 60, NOW)  # started just after a tick
    assert not is_due(NOW - timedelta(minutes=30), 60, NOW)
    assert not is_due(NOW - timedelta(minutes=100), 240, NOW)


def test_due_run_requests_one_run_per_tenant_and_provider_with_due_connections() -> None:
    def c(conn: str, tenant: str, last: datetime | None, interval: int = 60) -> ScheduledConnection:
        return ScheduledConnection(conn, tenant, "google_ads", interval, last)

    requests = due_run_requests(
        [
            c("c1", "acme", None),
            c("c2", "acme", NOW - timedelta(minutes=10)),
            c("c3", "globex", NOW - timedelta(hours=2)),
            c("c4", "initech", None),  # no partition yet
            ScheduledConnection("c5", "acme", "meta", 60, None),  # not an Airbyte provider
        ],
        NOW,
        {"acme", "globex"},
    )

    def config(*ids: str) -> dict[str, object]:
        return {"ops": {"google_ads_campaign_performance": {"config": {"connection_ids": [*ids]}}}}

    assert [(r.partition_key, r.run_config) for r in requests] == [
        ("acme", config("c1")),
        ("globex", config("c3")),
    ]
    assert all(r.tags["tenant_id"] == r.partition_key for r in requests)
    assert len({r.run_key for r in requests}) == 2


def test_webhook_payload_as_airbyte_sends_it() -> None:
    state = AirbyteSimState(seed=1)
    connection = state.add_connection("1234567890")
    job = state.start_job(connection.connection_id)
    job.cancel.set()  # the worker thread stops; the test sets the outcome
    job.status, job.rows, job.bytes = "succeeded", 42, 4096
    job.ended_at = job.created_at + timedelta(seconds=75)
    parsed = parse_webhook(state.notification(job))
    assert (parsed.connection_id, parsed.job_id, parsed.status) == (
        connection.connection_id,
        job.job_id,
        "succeeded",
    )
    assert (parsed.records_synced, parsed.bytes_synced, parsed.duration_seconds) == (42, 4096, 75)
    assert parsed.started_at is not None and parsed.finished_at is not None

    job.status, job.failure = "failed", "Token revoked"
    failed = parse_webhook(state.notification(job))
    assert (failed.status, failed.error) == ("failed", "Token revoked")


def test_flat_replays_are_accepted() -> None:
    parsed = parse_webhook({"connectionId": CONNECTION.upper(), "jobId": "12", "status": "FAILED"})
    assert (parsed.connection_id, parsed.job_id, parsed.status) == (CONNECTION, 12, "failed")


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"data": {"jobId": 1, "success": True}},
        {"data": {"connection": {"id": "not-a-uuid"}, "jobId": 1, "success": True}},
        {"data": {"connection": {"id": CONNECTION}, "success": True}},
        {"data": {"connection": {"id": CONNECTION}, "jobId": "x", "success": True}},
        {"data": {"connection": {"id": CONNECTION}, "jobId": 1}},
        {"connectionId": CONNECTION, "jobId": 1, "status": "exploded"},
        {"data": {"connection": {"id": CONNECTION}, "jobId": 1, "success": True,
                  "recordsCommitted": -1}},
        # what PostgreSQL would refuse (a 500 before): beyond bigint, NaN, a time out of range
        {"connectionId": CONNECTION, "jobId": 2**63, "status": "succeeded"},
        {"connectionId": CONNECTION, "jobId": "-1", "status": "succeeded"},
        {"connectionId": CONNECTION, "jobId": 1, "status": "succeeded", "bytesCommitted": 1e19},
        {"connectionId": CONNECTION, "jobId": 1, "status": "succeeded",
         "durationInSeconds": float("nan")},
        {"connectionId": CONNECTION, "jobId": 1, "status": "succeeded", "startedAt": 1e300},
    ],
)  # fmt: skip
def test_unusable_payloads_are_refused(payload: object) -> None:
    with pytest.raises(WebhookPayloadError):
        parse_webhook(payload)


def test_an_error_message_loses_nul_bytes_postgresql_text_cannot_hold() -> None:
    parsed = parse_webhook(
        {"connectionId": CONNECTION, "jobId": 3, "status": "failed", "errorMessage": "a\x00b"}
    )
    assert parsed.error == "ab"
