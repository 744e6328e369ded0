"""dbt health from the Dagster instance: what ``GET /api/health/dbt/`` answers.

- ``failing``: the latest finished dbt run failed or reports a node in error (a model
  ``error``, a test ``fail``/``error``): something did not build, or a blocking test stopped
  the marts;
- ``stale``: otherwise, no successful dbt run in the last 24 hours (or none at all);
- ``ok``: the latest run succeeded within 24 hours (every model ``success`` or ``skipped``).

Runs are found by their ``adinsights/dbt`` tag (defs/dbt/assets.py), so a dbt build started from
the UI counts as much as the scheduled one. Two run-record queries, whatever the history size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from adinsights_pipelines.defs.dbt.results import (
    DBT_RESULTS_TAG,
    DBT_RUN_TAG,
    DBT_RUN_TAG_VALUE,
    decode,
)

STALE_AFTER = timedelta(hours=24)
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]
ERROR_STATUSES = {"model": ("error",), "seed": ("error",), "snapshot": ("error",),
                  "test": ("fail", "error")}  # fmt: skip


@dataclass(frozen=True)
class DbtRun:
    run_id: str
    succeeded: bool
    started_at: datetime | None
    finished_at: datetime | None
    results: dict[str, Any] | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


def _at(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None


def read_dbt_runs(instance: DagsterInstance) -> tuple[DbtRun | None, DbtRun | None]:
    """(latest finished dbt run, latest successful dbt run)."""

    def latest(statuses: list[DagsterRunStatus]) -> DbtRun | None:
        records = instance.get_run_records(
            filters=RunsFilter(tags={DBT_RUN_TAG: DBT_RUN_TAG_VALUE}, statuses=statuses),
            limit=1,
        )
        if not records:
            return None
        record = records[0]
        return DbtRun(
            run_id=record.dagster_run.run_id,
            succeeded=record.dagster_run.status == DagsterRunStatus.SUCCESS,
            started_at=_at(record.start_time),
            finished_at=_at(record.end_time),
            results=decode(record.dagster_run.tags.get(DBT_RESULTS_TAG)),
        )

    return latest(FINISHED), latest([DagsterRunStatus.SUCCESS])


def _counts(results: dict[str, Any] | None, resource_type: str) -> dict[str, int]:
    counts = ((results or {}).get("counts") or {}).get(resource_type) or {}
    return {str(status): int(n) for status, n in sorted(counts.items())}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def dbt_health(
    latest: DbtRun | None,
    last_success: DbtRun | None,
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> dict[str, Any]:
    results = latest.results if latest else None
    errors = {
        kind: sum(n for status, n in _counts(results, kind).items() if status in statuses)
        for kind, statuses in ERROR_STATUSES.items()
    }
    if latest is not None and (not latest.succeeded or any(errors.values())):
        status = "failing"
    elif (
        last_success is None
        or last_success.finished_at is None
        or now - last_success.finished_at > stale_after
    ):
        status = "stale"
    else:
        status = "ok"
    return {
        "status": status,
        "last_run_at": _iso(latest.finished_at) if latest else None,
        "last_run_id": latest.run_id if latest else None,
        "last_run_status": ("success" if latest.succeeded else "failure") if latest else None,
        "duration_seconds": latest.duration_seconds if latest else None,
        "dbt_elapsed_seconds": (results or {}).get("elapsed_seconds"),
        "last_success_at": _iso(last_success.finished_at) if last_success else None,
        "stale_after_hours": stale_after.total_seconds() / 3600,
        "counts": _counts(results, "model"),
        "test_counts": _counts(results, "test"),
        "seed_counts": _counts(results, "seed"),
        "error": (results or {}).get("error"),
    }
