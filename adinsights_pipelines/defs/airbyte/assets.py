"""Tenant-partitioned Airbyte assets, one per provider in :data:`AIRBYTE_PROVIDERS`.

Each materialization of a tenant's partition syncs that tenant's active connections of the
provider through Airbyte (starting a job, or attaching to the one already running), stores
every job's outcome in ``app.airbyte_jobs`` and in the materialization's metadata, and fails
with Airbyte's reason when a job fails.
"""

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from adinsights_pipelines.defs.airbyte.jobs import AirbyteUnavailable, JobOutcome, sync_connection
from adinsights_pipelines.defs.airbyte.providers import AIRBYTE_PROVIDERS, AirbyteProvider
from adinsights_pipelines.defs.airbyte.resource import AirbyteServerResource
from adinsights_pipelines.defs.airbyte.store import (
    active_connections,
    record_attempt,
    record_job,
)
from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions
from adinsights_pipelines.logs import log_context


class AirbyteSyncConfig(Config):
    connection_ids: list[str] = Field(
        default_factory=list,
        description="Sync only these of the tenant's connections (the schedule passes the due "
        "ones); empty: every active connection of the provider.",
    )


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


def sync_tenant(
    context: AssetExecutionContext,
    provider: AirbyteProvider,
    config: AirbyteSyncConfig,
    airbyte: AirbyteServerResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    tenant_id = context.partition_key
    engine = warehouse.engine()
    with engine.connect() as conn:
        connections = active_connections(conn, tenant_id, provider.provider, config.connection_ids)
    if not connections:
        raise Failure(
            f"tenant {tenant_id} has no active {provider.provider} Airbyte connection"
            + (f" among {', '.join(config.connection_ids)}" if config.connection_ids else "")
            + "; register one with `adinsights airbyte-connections add`"
        )
    target = airbyte.target()
    client = airbyte.client()
    outcomes: list[JobOutcome] = []
    problems: list[str] = []
    for connection in connections:
        connection_id = connection.connection_id
        with engine.begin() as conn:
            record_attempt(conn, connection_id, "started")

        def started(outcome: JobOutcome, connection_id: str = connection_id) -> None:
            with engine.begin() as conn:
                record_job(conn, tenant_id, outcome)
            verb = "attached to running" if outcome.attached else "started"
            context.log.info(f"{verb} Airbyte job {outcome.job_id} of {connection_id}")

        try:
            outcome = sync_connection(
                client,
                connection_id,
                poll_interval=target.poll_interval_seconds,
                timeout=target.sync_timeout_seconds,
                on_started=started,
            )
        except AirbyteUnavailable as exc:
            reason = f"Airbyte at {target.url} did not answer: {exc}"
            with engine.begin() as conn:
                record_attempt(conn, connection_id, "failed", reason)
            problems.append(f"connection {connection_id}: {reason}")
            continue
        with engine.begin() as conn:
            record_job(conn, tenant_id, outcome)
            record_attempt(
                conn, connection_id, "succeeded" if outcome.succeeded else "failed", outcome.error
            )
        outcomes.append(outcome)
        if outcome.succeeded:
            context.log.info(
                f"Airbyte job {outcome.job_id} of {connection_id} succeeded: "
                f"{outcome.records_synced} records, {outcome.bytes_synced} bytes"
            )
        else:
            problems.append(
                f"Airbyte job {outcome.job_id} of connection {connection_id} "
                f"{outcome.status}: {outcome.error}"
            )
    metadata = outcome_metadata(tenant_id, provider.provider, outcomes)
    if problems:
        raise Failure(description=f"tenant {tenant_id}: " + "; ".join(problems), metadata=metadata)
    return MaterializeResult(metadata=metadata)


def build_airbyte_asset(provider: AirbyteProvider) -> AssetsDefinition:
    @asset(
        name=provider.asset_name,
        partitions_def=tenant_partitions,
        group_name="airbyte",
        kinds={"airbyte", "postgres"},
        description=provider.description,
        metadata={"provider": provider.provider, "raw_table": provider.raw_table},
    )
    def _airbyte_asset(
        context: AssetExecutionContext,
        config: AirbyteSyncConfig,
        airbyte: AirbyteServerResource,
        warehouse: WarehouseResource,
    ) -> MaterializeResult:
        with log_context(tenant_id=context.partition_key, run_id=context.run_id):
            return sync_tenant(context, provider, config, airbyte, warehouse)

    return _airbyte_asset


airbyte_assets: list[AssetsDefinition] = [build_airbyte_asset(p) for p in AIRBYTE_PROVIDERS]
