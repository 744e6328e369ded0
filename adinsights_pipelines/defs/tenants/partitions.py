"""Tenants as Dagster's dynamic partition dimension ``tenant``."""

from dagster import DagsterInstance, DynamicPartitionsDefinition, RunRequest

TENANT_PARTITIONS = "tenant"
tenant_partitions = DynamicPartitionsDefinition(name=TENANT_PARTITIONS)


def partition_changes(
    active_tenant_ids: list[str], existing_keys: list[str]
) -> tuple[list[str], list[str]]:
    """What to add and delete so the partitions equal the active tenants."""
    active, existing = set(active_tenant_ids), set(existing_keys)
    return sorted(active - existing), sorted(existing - active)


def tenant_run_requests(
    instance: DagsterInstance, tags: dict[str, str] | None = None
) -> list[RunRequest]:
    """One run per tenant partition: how tenant-partitioned schedules fan out."""
    return [
        RunRequest(partition_key=key, tags={"tenant_id": key, **(tags or {})})
        for key in instance.get_dynamic_partitions(TENANT_PARTITIONS)
    ]
