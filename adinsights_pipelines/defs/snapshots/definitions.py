from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from adinsights_pipelines.defs.snapshots.assets import metrics_snapshot
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions, tenant_run_requests

metrics_snapshot_job = define_asset_job(
    "metrics_snapshots",
    selection=AssetSelection.assets(metrics_snapshot),
    partitions_def=tenant_partitions,
    description="Rebuild one tenant's metrics snapshot from the marts.",
)


@schedule(
    job=metrics_snapshot_job,
    cron_schedule="*/30 * * * *",
    execution_timezone="America/Jamaica",
    default_status=DefaultScheduleStatus.RUNNING,
)
def metrics_snapshots_every_30_minutes(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return tenant_run_requests(context.instance)


defs = Definitions(
    assets=[metrics_snapshot],
    jobs=[metrics_snapshot_job],
    schedules=[metrics_snapshots_every_30_minutes],
)
