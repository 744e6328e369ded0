"""Tenants as Dagster's dynamic partition dimension ``tenant``, and how jobs fan out over it."""

from collections.abc import Callable
from typing import Any

from dagster import (
    AssetsDefinition,
    AssetSelection,
    DagsterInstance,
    DefaultScheduleStatus,
    DynamicPartitionsDefinition,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

# "dagster/partition" is not exported at dagster's top level (dagster.yaml limits runs by it).
from adinsights_pipelines.dagster_internals import PARTITION_NAME_TAG, AssetJob

TENANT_PARTITIONS = "tenant"
tenant_partitions = DynamicPartitionsDefinition(name=TENANT_PARTITIONS)
JAMAICA_TZ = "America/Jamaica"
#: How every schedule of the product runs: in Jamaica time, and on from the start (an operator
#: never has to switch one on after a deploy).
_IN_JAMAICA: dict[str, Any] = {
    "execution_timezone": JAMAICA_TZ,
    "default_status": DefaultScheduleStatus.RUNNING,
}


def partition_changes(
    active_tenant_ids: list[str], existing_keys: list[str]
) -> tuple[list[str], list[str]]:
    """What to add and delete so the partitions equal the active tenants."""
    active, existing = set(active_tenant_ids), set(existing_keys)
    return sorted(active - existing), sorted(existing - active)


def partition_run_request(
    key: str, *, run_key: str, tags: dict[str, str] | None = None, **kwargs: Any
) -> RunRequest:
    """A run request for tenant partition ``key``, which the caller read from the instance.

    It carries the partition tag Dagster would add (``dagster/partition``), so a schedule tick
    does not look every key up in the instance again: without it Dagster checks each request's
    key with one query on two new connections, about 6 ms per tenant per tick, 6 s a tick for
    1,000 tenants (docs/performance.md).
    """
    return RunRequest(
        run_key=run_key,
        partition_key=key,
        tags={"tenant_id": key, **(tags or {}), PARTITION_NAME_TAG: key},
        **kwargs,
    )


def tenant_run_requests(
    instance: DagsterInstance, tags: dict[str, str] | None = None
) -> list[RunRequest]:
    """One run per tenant partition, tagged so the coordinator runs one per tenant at a time.

    Each request has a run key (the tenant): Dagster refuses a schedule tick that returns more
    than one request without one.
    """
    return [
        partition_run_request(key, run_key=key, tags=tags)
        for key in instance.get_dynamic_partitions(TENANT_PARTITIONS)
    ]


def tenant_job(
    name: str,
    assets: list[AssetsDefinition],
    description: str,
    *,
    provider: str | None = None,
) -> AssetJob:
    """A job over tenant-partitioned assets; ``provider`` tags its runs for the coordinator's
    per-provider limits (how many runs may call one outside API at once)."""
    return define_asset_job(
        name,
        selection=AssetSelection.assets(*assets),
        partitions_def=tenant_partitions,
        description=description,
        tags={"provider": provider} if provider else None,
    )


def jamaica_schedule(name: str, job: JobDefinition | AssetJob, cron: str) -> ScheduleDefinition:
    """A schedule (America/Jamaica, running by default) that starts ``job`` once."""
    return ScheduleDefinition(name=name, job=job, cron_schedule=cron, **_IN_JAMAICA)


def scheduled_in_jamaica(
    name: str, job: JobDefinition | AssetJob, cron: str, description: str | None = None
) -> Callable[[Callable[..., Any]], ScheduleDefinition]:
    """``dagster.schedule`` as every schedule of the product is: America/Jamaica time, running
    by default. For a schedule that decides its run requests; :func:`jamaica_schedule` for one
    that only starts ``job``."""
    return schedule(name=name, job=job, cron_schedule=cron, description=description, **_IN_JAMAICA)


def every_tenant_schedule(name: str, job: AssetJob, cron: str) -> ScheduleDefinition:
    """A schedule (America/Jamaica, running by default) that starts ``job`` for every tenant."""

    @scheduled_in_jamaica(name, job, cron)
    def _every_tenant(context: ScheduleEvaluationContext) -> list[RunRequest]:
        return tenant_run_requests(context.instance)

    return _every_tenant
