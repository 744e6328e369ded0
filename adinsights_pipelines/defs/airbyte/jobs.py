"""Start (or attach to) an Airbyte sync and follow it to the end, with dagster-airbyte's client.

Why not ``AirbyteClient.sync_and_poll``: it raises ``Job failed: <id>`` and drops the job's
details, while the platform must store every outcome (status, records, bytes, duration, times)
and fail with Airbyte's own reason; and it fails when a sync already runs, where we attach.
Every HTTP call still goes through the client (its auth, retries and timeouts).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from dagster import Failure
from dagster_airbyte.resources import AirbyteClient

log = logging.getLogger(__name__)

RUNNING_STATUSES = ("pending", "running", "incomplete")
FAILED_STATUSES = ("failed", "error", "cancelled")
SUCCEEDED = "succeeded"
#: How far back to look for a sync that is already running (dagster-airbyte looks 2 days back).
RUNNING_LOOKBACK = timedelta(days=2)

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class AirbyteUnavailable(Exception):
    """Airbyte could not answer (down, 5xx after the client's retries, unknown connection)."""


@dataclass(frozen=True)
class JobOutcome:
    """What one Airbyte job did, as stored in ``app.airbyte_jobs`` and the asset's metadata."""

    connection_id: str
    job_id: int
    status: str
    records_synced: int | None = None
    bytes_synced: int | None = None
    duration_seconds: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    attached: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def finished(self) -> bool:
        return self.status not in RUNNING_STATUSES


def parse_iso_duration(text: object) -> float | None:
    """Seconds of an ISO-8601 duration as Airbyte writes it (``PT1M2.5S``, ``P1DT2H``)."""
    if not isinstance(text, str) or not text:
        return None
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


def parse_time(value: object) -> datetime | None:
    """An Airbyte time: ISO-8601 text (``Z`` or an offset) or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def job_outcome(details: Mapping[str, Any], *, attached: bool = False) -> JobOutcome:
    """A public-API ``JobResponse`` as a :class:`JobOutcome`."""
    status = str(details.get("status") or "").lower()
    started = parse_time(details.get("startTime"))
    finished = None if status in RUNNING_STATUSES else parse_time(details.get("lastUpdatedAt"))
    duration = parse_iso_duration(details.get("duration"))
    if duration is None and started and finished:
        duration = (finished - started).total_seconds()
    return JobOutcome(
        connection_id=str(details.get("connectionId") or ""),
        job_id=int(details["jobId"]),
        status=status,
        records_synced=_int_or_none(details.get("rowsSynced")),
        bytes_synced=_int_or_none(details.get("bytesSynced")),
        duration_seconds=duration,
        started_at=started,
        finished_at=finished,
        attached=attached,
    )


def failure_reason(job_info: Mapping[str, Any]) -> str | None:
    """Airbyte's reason for a failed job, from the configuration API's ``JobInfoRead``."""
    for attempt in reversed(job_info.get("attempts") or []):
        summary = (attempt.get("attempt") or {}).get("failureSummary") or {}
        for failure in summary.get("failures") or []:
            message = failure.get("externalMessage") or failure.get("internalMessage")
            if message:
                origin = failure.get("failureOrigin")
                return f"{message} (failure origin: {origin})" if origin else str(message)
    return None


def _ask(what: str, call: Callable[[], Any]) -> Any:
    """One client call; the client's own retries are exhausted when it raises ``Failure``."""
    try:
        return call()
    except Failure as exc:
        raise AirbyteUnavailable(f"{what}: {exc.description}") from None


def _running_job(client: AirbyteClient, connection_id: str) -> Mapping[str, Any] | None:
    jobs = _ask(
        f"listing the jobs of connection {connection_id}",
        lambda: client.get_jobs_for_connection(
            connection_id, created_after=datetime.now(UTC) - RUNNING_LOOKBACK
        ),
    )
    running = [j for j in jobs if j.status in RUNNING_STATUSES]
    if not running:
        return None
    newest = max(running, key=lambda j: j.id)
    details: Mapping[str, Any] = _ask(
        f"reading job {newest.id}", lambda: client.get_job_details(newest.id)
    )
    return details


def start_or_attach(client: AirbyteClient, connection_id: str) -> tuple[Mapping[str, Any], bool]:
    """Start a sync, or attach to the one already running: (job details, attached)."""
    running = _running_job(client, connection_id)
    if running is not None:
        return running, True
    try:
        started: Mapping[str, Any] = client.start_sync_job(connection_id)
        return started, False
    except Failure as exc:
        # Airbyte answers 409 "A sync is already running" when one started meanwhile (its own
        # schedule, the UI): follow that one instead of failing.
        running = _running_job(client, connection_id)
        if running is not None:
            return running, True
        raise AirbyteUnavailable(
            f"starting a sync of connection {connection_id}: {exc.description}"
        ) from None


def _job_info(client: AirbyteClient, job_id: int) -> Mapping[str, Any]:
    """The configuration API's ``jobs/get`` answer (``JobInfoRead``) for ``job_id``.

    The public API's JobResponse carries no failure reason; jobs/get does. AirbyteClient has no
    method for it, so it is asked here as the client asks its own endpoints, through the
    client's public settings: the same headers (bearer token, refreshed when due; user agent),
    basic auth, timeout, number of retries and delay between them.
    """
    url = f"{client.configuration_api_base_url}/jobs/get"
    auth = (client.username, client.password) if client.username and client.password else None
    for attempt in range(client.request_max_retries + 1):
        if attempt:
            time.sleep(client.request_retry_delay)
        try:
            response = requests.post(
                url,
                json={"id": job_id},
                headers={"accept": "application/json", **client.all_additional_request_headers},
                auth=auth,
                timeout=client.request_timeout,
            )
            response.raise_for_status()
            info: Mapping[str, Any] = response.json()
            return info
        except requests.RequestException as exc:
            log.error("Airbyte jobs/get for job %s failed: %s", job_id, type(exc).__name__)
    raise Failure(f"Max retries ({client.request_max_retries}) exceeded with url: {url}.")


def sync_connection(
    client: AirbyteClient,
    connection_id: str,
    *,
    poll_interval: float,
    timeout: float,
    on_started: Callable[[JobOutcome], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> JobOutcome:
    """Run one sync of ``connection_id`` to its end (or attach to the running one).

    Raises :class:`AirbyteUnavailable` when Airbyte cannot be asked before a job exists. Once
    a job exists the outcome is returned whatever it is: ``failed`` with Airbyte's reason,
    ``cancelled`` when it outlived ``timeout`` (it is cancelled), or its last known status
    with an error when Airbyte stopped answering mid-way. When this process is interrupted
    (a Dagster run terminated) the job is cancelled, as dagster-airbyte does.
    """
    _ask(
        f"reading connection {connection_id} (is the id right and Airbyte reachable?)",
        lambda: client.get_connection_details(connection_id),
    )
    details, attached = start_or_attach(client, connection_id)
    outcome = job_outcome(details, attached=attached)
    if on_started is not None:
        on_started(outcome)
    job_id = outcome.job_id
    log.info(
        "Airbyte job %s %s for connection %s",
        job_id,
        "attached" if attached else "started",
        connection_id,
    )
    deadline = monotonic() + timeout
    settled = False
    try:
        while outcome.status in RUNNING_STATUSES:
            if monotonic() >= deadline:
                cancelled = _ask(f"cancelling job {job_id}", lambda: client.cancel_job(job_id))
                settled = True
                return replace(
                    job_outcome(cancelled, attached=attached),
                    error=f"still {outcome.status} after {timeout:g}s; Airbyte job {job_id} "
                    "was cancelled",
                )
            sleep(poll_interval)
            try:
                details = _ask(f"polling job {job_id}", lambda: client.get_job_details(job_id))
            except AirbyteUnavailable as exc:
                settled = True  # cannot cancel what we cannot reach; report what we know
                return replace(outcome, error=f"lost contact with Airbyte: {exc}")
            outcome = job_outcome(details, attached=attached)
        settled = True
    finally:
        if not settled:
            try:
                client.cancel_job(job_id)
            except Exception:  # best effort while being interrupted
                log.warning("could not cancel Airbyte job %s", job_id)
    if outcome.succeeded:
        return outcome
    try:
        reason = failure_reason(_job_info(client, job_id))
    except Failure:
        reason = None
    return replace(outcome, error=reason or f"Airbyte job {job_id} ended {outcome.status}")
