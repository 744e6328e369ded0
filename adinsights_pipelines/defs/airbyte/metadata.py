"""What a materialization (or observation) of an Airbyte asset says about its jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import MetadataValue

from adinsights_pipelines.defs.airbyte.jobs import JobOutcome


def _timestamp(outcome: JobOutcome, name: str) -> MetadataValue:
    moment = getattr(outcome, name)
    return MetadataValue.timestamp(moment) if moment is not None else MetadataValue.null()


def _job_record(outcome: JobOutcome) -> dict[str, Any]:
    return {
        "connection_id": outcome.connection_id,
        "job_id": outcome.job_id,
        "job_status": outcome.status,
        "records_synced": outcome.records_synced,
        "bytes_synced": outcome.bytes_synced,
        "duration_seconds": outcome.duration_seconds,
        "started_at": outcome.started_at.isoformat() if outcome.started_at else None,
        "finished_at": outcome.finished_at.isoformat() if outcome.finished_at else None,
        "attached_to_running_job": outcome.attached,
        "error": outcome.error,
    }


def outcome_metadata(
    tenant_id: str, provider: str, outcomes: Sequence[JobOutcome]
) -> dict[str, Any]:
    """The materialization's metadata: the job's fields, or the sum over several connections."""
    base: dict[str, Any] = {"tenant_id": tenant_id, "provider": provider}
    if not outcomes:
        return base
    if len(outcomes) == 1:
        (only,) = outcomes
        return {
            **base,
            "connection_id": only.connection_id,
            "job_id": only.job_id,
            "job_status": only.status,
            "records_synced": only.records_synced,
            "bytes_synced": only.bytes_synced,
            "duration_seconds": only.duration_seconds,
            "started_at": _timestamp(only, "started_at"),
            "finished_at": _timestamp(only, "finished_at"),
            "attached_to_running_job": only.attached,
        }
    starts = [o.started_at for o in outcomes if o.started_at]
    ends = [o.finished_at for o in outcomes if o.finished_at]
    durations = [o.duration_seconds for o in outcomes if o.duration_seconds is not None]
    failed = [o.status for o in outcomes if not o.succeeded]
    return {
        **base,
        "connection_id": ", ".join(o.connection_id for o in outcomes),
        "job_id": ", ".join(str(o.job_id) for o in outcomes),
        "job_status": failed[0] if failed else "succeeded",
        "records_synced": sum(o.records_synced or 0 for o in outcomes),
        "bytes_synced": sum(o.bytes_synced or 0 for o in outcomes),
        "duration_seconds": max(durations) if durations else None,
        "started_at": MetadataValue.timestamp(min(starts)) if starts else MetadataValue.null(),
        "finished_at": MetadataValue.timestamp(max(ends)) if ends else MetadataValue.null(),
        "jobs": MetadataValue.json([_job_record(o) for o in outcomes]),
    }
