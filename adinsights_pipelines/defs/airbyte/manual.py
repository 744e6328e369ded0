"""Manual Airbyte syncs (``adinsights sync-airbyte``): the same assets, run in this process
against the Dagster instance, so each sync is a materialization like a scheduled one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult

from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.defs.airbyte import definitions as airbyte
from adinsights_pipelines.defs.airbyte.providers import PROVIDERS_BY_NAME
from adinsights_pipelines.defs.assembly import QUIET_CONSOLE, assemble
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.warehouse.database import Database, engine


@cache
def airbyte_definitions() -> Definitions:
    """The Airbyte concern as the code location assembles it (``defs/assembly.py``)."""
    return assemble(airbyte.defs)


@dataclass
class ManualSync:
    tenant_id: str
    provider: str
    connection_ids: list[str]
    run_id: str | None = None
    succeeded: bool = False
    error: str | None = None
    jobs: list[sa.Row] = field(default_factory=list)


def plan_manual_syncs(db: Database, tenant_id: str | None) -> list[ManualSync]:
    """(tenant, provider) pairs with their active connections; a named tenant must have one."""
    with engine(db).connect() as conn:
        if tenant_id is not None:
            status = conn.execute(
                sa.text("select status from app.tenants where id = :t"), {"t": tenant_id}
            ).scalar()
            if status is None:
                raise AdinsightsError(
                    f"tenant {tenant_id!r} does not exist (adinsights tenants list)"
                )
            if status != "active":
                raise AdinsightsError(f"tenant {tenant_id!r} is inactive")
        rows = conn.execute(
            sa.text(
                """
                select c.tenant_id, c.provider, c.connection_id
                  from app.airbyte_connections c
                  join app.tenants t on t.id = c.tenant_id and t.status = 'active'
                 where c.is_active and (cast(:t as text) is null or c.tenant_id = :t)
                 order by c.tenant_id, c.provider, c.connection_id
                """
            ),
            {"t": tenant_id},
        ).all()
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row.provider in PROVIDERS_BY_NAME:
            grouped[(row.tenant_id, row.provider)].append(row.connection_id)
    if not grouped:
        where = f"tenant {tenant_id!r} has" if tenant_id else "no active tenant has"
        raise AdinsightsError(
            f"{where} no active Airbyte connection; register one with "
            "`adinsights airbyte-connections add`"
        )
    return [ManualSync(t, p, ids) for (t, p), ids in grouped.items()]


def _failure(result: ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            data = event.step_failure_data
            text = data.user_failure_data.description if data.user_failure_data else None
            return (text or data.error.message if data.error else text or "").strip()
    return "see the run in Dagster"


def run_manual_sync(
    db: Database,
    instance: DagsterInstance,
    sync: ManualSync,
    *,
    actor: str = "cli",
) -> ManualSync:
    """Materialize the provider's asset for the tenant now; audit the trigger and its end."""
    provider = PROVIDERS_BY_NAME[sync.provider]
    started = datetime.now(UTC)
    job = airbyte_definitions().resolve_job_def("airbyte_sync")
    result = job.execute_in_process(
        instance=instance,
        partition_key=sync.tenant_id,
        asset_selection=[AssetKey(provider.asset_name)],
        raise_on_error=False,
        tags={"tenant_id": sync.tenant_id, "airbyte/trigger": actor},
        run_config=QUIET_CONSOLE,
    )
    sync.run_id, sync.succeeded = result.run_id, result.success
    sync.error = None if result.success else _failure(result).splitlines()[0]
    with engine(db).begin() as conn:
        sync.jobs = list(
            conn.execute(
                sa.text(
                    "select connection_id, job_id, status, records_synced, bytes_synced, "
                    "duration_seconds from app.airbyte_jobs "
                    "where connection_id = any(cast(:c as text[])) and recorded_at >= :since "
                    "order by job_id"
                ),
                {"c": sync.connection_ids, "since": started},
            ).all()
        )
        record_audit(
            conn,
            tenant_id=sync.tenant_id,
            actor=actor,
            action="airbyte_sync_triggered",
            resource_type="airbyte_connection",
            resource_id=",".join(sync.connection_ids),
            metadata={
                "provider": sync.provider,
                "connection_ids": sync.connection_ids,
                "run_id": sync.run_id,
                "status": "succeeded" if sync.succeeded else "failed",
                "job_ids": [j.job_id for j in sync.jobs],
                "error": sync.error,
            },
        )
    return sync


def describe_job(job: sa.Row) -> str:
    size = f"{job.bytes_synced / 1024:,.0f} kB" if job.bytes_synced is not None else "? kB"
    took = f" in {job.duration_seconds:.1f}s" if job.duration_seconds is not None else ""
    records = f"{job.records_synced:,}" if job.records_synced is not None else "?"
    return f"job {job.job_id} {job.status}: {records} records, {size}{took}"


def sync_all(
    db: Database, instance: DagsterInstance, tenant_id: str | None, progress: Callable[[str], None]
) -> list[ManualSync]:
    plans = plan_manual_syncs(db, tenant_id)
    done = []
    for number, plan in enumerate(plans, 1):
        count = len(plan.connection_ids)
        progress(
            f"{number}/{len(plans)} {plan.tenant_id}: syncing {plan.provider} "
            f"({count} connection{'s' if count != 1 else ''})"
        )
        outcome = run_manual_sync(db, instance, plan)
        for job in outcome.jobs:
            progress(f"  {describe_job(job)}")
        if not outcome.succeeded:
            progress(f"  failed: {outcome.error}")
        done.append(outcome)
    return done
