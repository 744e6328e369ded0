from dagster import (
    Definitions,
    job,
)

from adinsights_pipelines.defs.meta.assets import meta_ad_accounts, meta_insights
from adinsights_pipelines.defs.meta.backfill_job import meta_insights_backfill
from adinsights_pipelines.defs.meta.hierarchy import meta_hierarchy
from adinsights_pipelines.defs.meta.pages import meta_page_insights, meta_post_insights
from adinsights_pipelines.defs.meta.token_refresh import refresh_meta_tokens
from adinsights_pipelines.defs.tenants.partitions import (
    every_tenant_schedule,
    jamaica_schedule,
    tenant_job,
)

meta_sync_job = tenant_job(
    "meta_sync",
    [meta_ad_accounts, meta_insights],
    "Meta ad accounts then incremental insights, one run per tenant.",
    provider="meta",
)
meta_sync_hourly = every_tenant_schedule("meta_sync_hourly", meta_sync_job, "0 6-22 * * *")

meta_pages_job = tenant_job(
    "meta_pages",
    [meta_page_insights, meta_post_insights],
    "Facebook Page insights and post insights, one run per tenant.",
    provider="meta",
)
meta_pages_hourly = every_tenant_schedule("meta_pages_hourly", meta_pages_job, "30 6-22 * * *")

meta_hierarchy_job = tenant_job(
    "meta_hierarchy_sync",
    [meta_hierarchy],
    "Campaigns, ad sets and ads, one run per tenant.",
    provider="meta",
)
meta_hierarchy_daily = every_tenant_schedule(
    "meta_hierarchy_daily", meta_hierarchy_job, "15 2 * * *"
)


@job(
    description="Check every tenant's Meta token; refresh long-lived tokens before expiry.",
    tags={"provider": "meta"},
)
def meta_token_refresh() -> None:
    refresh_meta_tokens()


meta_token_refresh_hourly = jamaica_schedule(
    "meta_token_refresh_hourly", meta_token_refresh, "0 6-22 * * *"
)

defs = Definitions(
    assets=[
        meta_ad_accounts,
        meta_insights,
        meta_hierarchy,
        meta_page_insights,
        meta_post_insights,
    ],
    jobs=[
        meta_sync_job,
        meta_hierarchy_job,
        meta_pages_job,
        meta_token_refresh,
        meta_insights_backfill,
    ],
    schedules=[
        meta_sync_hourly,
        meta_hierarchy_daily,
        meta_pages_hourly,
        meta_token_refresh_hourly,
    ],
)
