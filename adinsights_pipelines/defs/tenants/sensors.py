"""Keeps the ``tenant`` partitions equal to the active rows of ``app.tenants``."""

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import (
    TENANT_PARTITIONS,
    partition_changes,
    tenant_partitions,
)
from adinsights_pipelines.tenant_store import active_tenant_ids


def pending_partition_changes(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> tuple[list[str], list[str]]:
    """(tenant ids to add, partition keys to delete)."""
    with warehouse.engine().connect() as conn:
        active = active_tenant_ids(conn)
    return partition_changes(active, list(instance.get_dynamic_partitions(TENANT_PARTITIONS)))


def sync_tenant_partitions(
    instance: DagsterInstance, warehouse: WarehouseResource
) -> tuple[list[str], list[str]]:
    """Apply the changes at once (the CLI does this where no daemon may be running yet)."""
    added, removed = pending_partition_changes(instance, warehouse)
    if added:
        instance.add_dynamic_partitions(TENANT_PARTITIONS, added)
    for key in removed:
        instance.delete_dynamic_partition(TENANT_PARTITIONS, key)
    return added, removed


@sensor(minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def tenant_partitions_sensor(
    context: SensorEvaluationContext, warehouse: WarehouseResource
) -> SensorResult | SkipReason:
    added, removed = pending_partition_changes(context.instance, warehouse)
    if not added and not removed:
        return SkipReason("tenant partitions already match app.tenants")
    context.log.info("tenant partitions: adding %s, removing %s", added, removed)
    return SensorResult(
        dynamic_partitions_requests=[
            *([tenant_partitions.build_add_request(added)] if added else []),
            *([tenant_partitions.build_delete_request(removed)] if removed else []),
        ]
    )
