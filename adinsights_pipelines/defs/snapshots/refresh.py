"""Rebuild tenants' snapshots on demand (``adinsights snapshot-metrics``), as Dagster runs.

Each tenant's snapshot is materialized through the ``metrics_snapshots`` job, in process, so the
instance records the materialization (freshness, run history, metadata) exactly as for a
scheduled run; a failing tenant does not stop the others. The job comes from the snapshot
assembled with the concerns that declare the checks guarding it (dbt's tests, the data
contracts), as the code location assembles them (``defs/assembly.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from dagster import DagsterInstance, Definitions

from adinsights_pipelines.defs.assembly import QUIET_CONSOLE, assemble
from adinsights_pipelines.defs.contracts import definitions as contracts
from adinsights_pipelines.defs.dbt import definitions as dbt
from adinsights_pipelines.defs.snapshots import definitions as snapshots


@cache
def snapshot_definitions() -> Definitions:
    """The snapshot with what guards it: the checks upstream come from dbt and the contracts."""
    return assemble(snapshots.defs, dbt.defs, contracts.defs)


@dataclass(frozen=True)
class SnapshotOutcome:
    tenant_id: str
    run_id: str
    ok: bool
    row_totals: dict[str, Any] | None = None
    duration_ms: int | None = None
    snapshot_generated_at: str | None = None
    error: str | None = None


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "unknown error"


def refresh_snapshots(
    instance: DagsterInstance,
    tenant_ids: Sequence[str],
    progress: Callable[[str], None] = lambda _: None,
) -> list[SnapshotOutcome]:
    from adinsights_pipelines.logs import redact

    job = snapshot_definitions().resolve_job_def("metrics_snapshots")
    outcomes = []
    for number, tenant_id in enumerate(tenant_ids, 1):
        result = job.execute_in_process(
            instance=instance,
            partition_key=tenant_id,
            raise_on_error=False,
            tags={"tenant_id": tenant_id, "adinsights/trigger": "cli"},
            run_config=QUIET_CONSOLE,
        )
        if result.success:
            [materialization] = result.asset_materializations_for_node("metrics_snapshot")
            metadata = {k: v.value for k, v in materialization.metadata.items()}
            outcome = SnapshotOutcome(
                tenant_id=tenant_id,
                run_id=result.run_id,
                ok=True,
                row_totals=metadata.get("row_totals"),  # type: ignore[arg-type]
                duration_ms=metadata.get("duration_ms"),  # type: ignore[arg-type]
                snapshot_generated_at=metadata.get("snapshot_generated_at"),  # type: ignore[arg-type]
            )
            rows = sum((outcome.row_totals or {}).values())
            progress(
                f"snapshot {number}/{len(tenant_ids)} {tenant_id}: {rows:,} rows in "
                f"{outcome.duration_ms} ms, snapshot_generated_at {outcome.snapshot_generated_at}"
            )
        else:
            failure = next((e for e in result.all_events if e.is_step_failure), None)
            error = failure.step_failure_data.error if failure else None
            while error is not None and error.cause is not None:
                error = error.cause
            reason = redact(_first_line(error.message if error else None))[:300]
            outcome = SnapshotOutcome(tenant_id, result.run_id, ok=False, error=reason)
            progress(f"snapshot {number}/{len(tenant_ids)} {tenant_id}: FAILED: {reason}")
        outcomes.append(outcome)
    return outcomes
