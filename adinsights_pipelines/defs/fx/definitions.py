"""Exchange rates: the asset, its job and its daily schedule."""

from dagster import Definitions, define_asset_job

from adinsights_pipelines.defs.fx.assets import fx_rates_daily
from adinsights_pipelines.defs.tenants.partitions import jamaica_schedule

fx_rates_refresh_job = define_asset_job(
    "fx_rates_refresh",
    selection=[fx_rates_daily],
    description="Fetch the day's exchange rates (and any missing day), carry rates forward.",
    tags={"provider": "fx_rates"},
)

#: 00:30 Jamaica is 05:30 UTC: the provider's (UTC) day has begun, and the marts' 15-minute
#: dbt run converts with the new rates before the business day's syncs start at 06:00.
fx_rates_daily_schedule = jamaica_schedule(
    "fx_rates_daily_0030", fx_rates_refresh_job, "30 0 * * *"
)

defs = Definitions(
    assets=[fx_rates_daily],
    jobs=[fx_rates_refresh_job],
    schedules=[fx_rates_daily_schedule],
)
