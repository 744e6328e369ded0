"""Tenant-partitioned Airbyte assets, one per provider in :data:`AIRBYTE_PROVIDERS`.

Each materialization of a tenant's partition syncs that tenant's active connections of the
provider through Airbyte (starting a job, or attaching to the one already running), stores
every job's outcome in ``app.airbyte_jobs`` and in the materialization's metadata, and fails
with Airbyte's reason when a job fails.
"""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    asset,
)
from pydantic import Field

from adinsights_pipelines.defs.airbyte.jobs import AirbyteUnavailable, JobOutcome, sync_connection
from adinsights_pipelines.defs.airbyte.metadata import outcome_metadata
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
