"""Airbyte: a tenant-partitioned asset per provider, their job, and the hourly schedule that
starts each connection's sync when it is due."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from dagster import (
    AssetKey,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
)

from adinsights_pipelines.defs.airbyte.assets import airbyte_assets
from adinsights_pipelines.defs.airbyte.providers import PROVIDERS_BY_NAME
from adinsights_pipelines.defs.airbyte.status import is_due
from adinsights_pipelines.defs.airbyte.store import ScheduledConnection, schedulable_connections
from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import (
    TENANT_PARTITIONS,
    partition_run_request,
    scheduled_in_jamaica,
    tenant_job,
)

airbyte_sync_job = tenant_job(
    "airbyte_sync",
    airbyte_assets,
    "Airbyte syncs (Google Ads, ...): one run per tenant and provider.",
    provider="airbyte",
)


def due_run_requests(
    connections: Iterable[ScheduledConnection],
    now: datetime,
    partitions: set[str],
) -> list[RunRequest]:
    """One run per (tenant, provider) with the connections that are due, and only those."""
    due: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in connections:
        provider = PROVIDERS_BY_NAME.get(c.provider)
        if provider is None or c.tenant_id not in partitions:
            continue
        if is_due(c.last_started_at, c.sync_interval_minutes, now):
            due[(c.tenant_id, c.provider)].append(c.connection_id)
    requests = []
    for (tenant_id, provider_name), connection_ids in sorted(due.items()):
        asset_name = PROVIDERS_BY_NAME[provider_name].asset_name
        requests.append(
            partition_run_request(
                tenant_id,
                run_key=f"{provider_name}:{tenant_id}:{now.astimezone(UTC):%Y%m%dT%H%M}",
                asset_selection=[AssetKey(asset_name)],
                run_config={"ops": {asset_name: {"config": {"connection_ids": connection_ids}}}},
                tags={"airbyte/provider": provider_name},
            )
        )
    return requests


@scheduled_in_jamaica(
    "airbyte_sync_hourly",
    airbyte_sync_job,
    "0 6-22 * * *",
    description="Every hour 06:00-22:00 Jamaica time: sync each connection that is due "
    "(sync_interval_minutes since its last job).",
)
def airbyte_sync_hourly(
    context: ScheduleEvaluationContext, warehouse: WarehouseResource
) -> list[RunRequest] | SkipReason:
    now = context.scheduled_execution_time or datetime.now(UTC)
    with warehouse.engine().connect() as conn:
        connections = schedulable_connections(conn)
    partitions = set(context.instance.get_dynamic_partitions(TENANT_PARTITIONS))
    requests = due_run_requests(connections, now, partitions)
    return requests or SkipReason("no Airbyte connection is due")


defs = Definitions(
    assets=airbyte_assets,
    jobs=[airbyte_sync_job],
    schedules=[airbyte_sync_hourly],
)
