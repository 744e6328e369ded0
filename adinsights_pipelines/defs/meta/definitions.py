from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    job,
    schedule,
)

from adinsights_pipelines.defs.meta.assets import meta_ad_accounts, meta_insights
from adinsights_pipelines.defs.meta.hierarchy import meta_hierarchy
from adinsights_pipelines.defs.meta.pages import meta_page_insights, meta_post_insights
from adinsights_pipelines.defs.meta.token_refresh import refresh_meta_tokens
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


meta_pages_job = define_asset_job(
    "meta_pages",
    selection=AssetSelection.assets(meta_page_insights, meta_post_insights),
    partitions_def=tenant_partitions,
    description="Facebook Page insights and post insights, one run per tenant.",
)


@schedule(
    job=meta_pages_job,
    cron_schedule="30 6-22 * * *",
    execution_timezone="America/Jamaica",
    default_status=DefaultScheduleStatus.RUNNING,
)
def meta_pages_hourly(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return tenant_run_requests(context.instance)


meta_hierarchy_job = define_asset_job(
    "meta_hierarchy_sync",
    selection=AssetSelection.assets(meta_hierarchy),
    partitions_def=tenant_partitions,
    description="Campaigns, ad sets and ads, one run per tenant.",
)


@schedule(
    job=meta_hierarchy_job,
    cron_schedule="15 2 * * *",
    execution_timezone="America/Jamaica",
    default_status=DefaultScheduleStatus.RUNNING,
)
def meta_hierarchy_daily(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return tenant_run_requests(context.instance)


@job(description="Check every tenant's Meta token; refresh long-lived tokens before expiry.")
def meta_token_refresh() -> None:
    refresh_meta_tokens()


meta_token_refresh_hourly = ScheduleDefinition(
    name="meta_token_refresh_hourly",
    job=meta_token_refresh,
    cron_schedule="0 6-22 * * *",
    execution_timezone="America/Jamaica",
    default_status=DefaultScheduleStatus.RUNNING,
)

defs = Definitions(
    assets=[
        meta_ad_accounts,
        meta_insights,
        meta_hierarchy,
        meta_page_insights,
        meta_post_insights,
    ],
    jobs=[meta_sync_job, meta_hierarchy_job, meta_pages_job, meta_token_refresh],
    schedules=[
        meta_sync_hourly,
        meta_hierarchy_daily,
        meta_pages_hourly,
        meta_token_refresh_hourly,
    ],
)
