from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from adinsights_pipelines.defs.meta.assets import meta_ad_accounts, meta_insights
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions, tenant_run_requests

meta_sync_job = define_asset_job(
    "meta_sync",
    selection=AssetSelection.assets(meta_ad_accounts, meta_insights),
    partitions_def=tenant_partitions,
    description="Meta ad accounts then incremental insights, one run per tenant.",
)


@schedule(
    job=meta_sync_job,
    cron_schedule="0 6-22 * * *",
    execution_timezone="America/Jamaica",
    default_status=DefaultScheduleStatus.RUNNING,
)
def meta_sync_hourly(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return tenant_run_requests(context.instance)


defs = Definitions(
    assets=[meta_ad_accounts, meta_insights], jobs=[meta_sync_job], schedules=[meta_sync_hourly]
)
