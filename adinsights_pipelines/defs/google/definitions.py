"""GA4 and Search Console: assets, one job and one hourly schedule each, and the resource."""

from dagster import (
    Definitions,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
)

from adinsights_pipelines.dagster_internals import AssetJob
from adinsights_pipelines.defs.google.assets import ga4_daily, search_console_daily
from adinsights_pipelines.defs.google.resources import GoogleApiResource
from adinsights_pipelines.defs.google.sources import tenants_with_sources
from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import (
    scheduled_in_jamaica,
    tenant_job,
    tenant_run_requests,
)

HOURLY_DAYTIME = "0 6-22 * * *"

ga4_sync_job = tenant_job(
    "ga4_sync",
    [ga4_daily],
    "GA4 daily report (lookback window), one run per tenant.",
    provider="google",
)
search_console_sync_job = tenant_job(
    "search_console_sync",
    [search_console_daily],
    "Search Console search analytics (lookback window), one run per tenant.",
    provider="google",
)
#: Both feeds in one run, for a tenant that has both (manual runs, the demo).
web_analytics_sync_job = tenant_job(
    "web_analytics_sync",
    [ga4_daily, search_console_daily],
    "GA4 and Search Console of one tenant in one run (the schedules run them separately).",
    provider="google",
)


def configured_tenant_schedule(name: str, job: AssetJob, provider: str) -> ScheduleDefinition:
    """Hourly 06:00-22:00 (America/Jamaica): one run for each tenant with an active source.

    Tenants without a property or site of ``provider`` get no run, rather than a failed one.
    """

    @scheduled_in_jamaica(name, job, HOURLY_DAYTIME)
    def _configured_tenants(
        context: ScheduleEvaluationContext, warehouse: WarehouseResource
    ) -> list[RunRequest] | SkipReason:
        with warehouse.engine().connect() as conn:
            configured = set(tenants_with_sources(conn, provider))
        requests = [
            r for r in tenant_run_requests(context.instance) if r.partition_key in configured
        ]
        return requests or SkipReason(f"no tenant partition has an active {provider} source")

    return _configured_tenants


ga4_sync_hourly = configured_tenant_schedule("ga4_sync_hourly", ga4_sync_job, "ga4")
search_console_sync_hourly = configured_tenant_schedule(
    "search_console_sync_hourly", search_console_sync_job, "search_console"
)

defs = Definitions(
    assets=[ga4_daily, search_console_daily],
    jobs=[ga4_sync_job, search_console_sync_job, web_analytics_sync_job],
    schedules=[ga4_sync_hourly, search_console_sync_hourly],
    resources={"google": GoogleApiResource()},
)
