"""Freshness arithmetic for Airbyte health and telemetry (pure functions).

The runbook: a sync is healthy when the freshest job is under 60 minutes old and succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from adinsights_pipelines.defs.airbyte.jobs import FAILED_STATUSES

STALE_AFTER = timedelta(minutes=60)

OK, STALE, NO_RECENT_SYNC, FAILING = "ok", "stale", "no_recent_sync", "failing"
#: A connection whose stored state cannot be interpreted (warehouse/tolerant.py).
ERROR = "error"
#: Worst first: what a rollup of several connections reports.
SEVERITY = (ERROR, FAILING, NO_RECENT_SYNC, STALE, OK)

MISSING, FRESH = "missing", "fresh"


def age_minutes(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    return round(max((now - moment).total_seconds(), 0.0) / 60, 1)


def connection_status(
    *,
    last_job_status: str | None,
    last_job_at: datetime | None,
    last_synced_at: datetime | None,
    last_attempt_status: str | None,
    last_attempt_at: datetime | None,
    now: datetime,
) -> str:
    """``failing`` when the latest job failed (or the latest attempt could not reach Airbyte);
    else ``no_recent_sync`` without any successful job, ``stale`` when the newest successful
    job finished more than 60 minutes ago, ``ok`` otherwise. A running job keeps the
    freshness of the last success."""
    if last_job_status in FAILED_STATUSES:
        return FAILING
    attempt_newer = last_attempt_at is not None and (
        last_job_at is None or last_attempt_at > last_job_at
    )
    if last_attempt_status == "failed" and attempt_newer:
        return FAILING
    if last_synced_at is None:
        return NO_RECENT_SYNC
    if now - last_synced_at > STALE_AFTER:
        return STALE
    return OK


def rollup(statuses: Iterable[str]) -> str:
    """The worst status; ``no_recent_sync`` when there is nothing to judge."""
    present = set(statuses)
    for status in SEVERITY:
        if status in present:
            return status
    return NO_RECENT_SYNC


def sync_status_state(last_synced_at: datetime | None, now: datetime) -> tuple[str, float | None]:
    """Telemetry's ``sync_status_state`` and ``sync_status_age_minutes``."""
    if last_synced_at is None:
        return MISSING, None
    state = STALE if now - last_synced_at > STALE_AFTER else FRESH
    return state, age_minutes(last_synced_at, now)


def is_due(
    last_started_at: datetime | None,
    interval_minutes: int,
    now: datetime,
    slack: timedelta = timedelta(minutes=5),
) -> bool:
    """Whether a connection's next scheduled sync is due.

    ``slack`` absorbs the seconds between an hourly tick and the job it started, so a
    connection synced at 06:00:07 every 60 minutes is due again at the 07:00 tick.
    """
    if last_started_at is None:
        return True
    return now - last_started_at >= timedelta(minutes=interval_minutes) - slack
