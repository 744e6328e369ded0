from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)
from dagster_dbt import DbtCliResource

from adinsights_pipelines.defs.dbt.assets import dbt_models
from adinsights_pipelines.defs.dbt.project import dbt_project

# The dbt assets and every check on them: dbt tests, and the data contracts of defs/contracts/.
dbt_build_job = define_asset_job(
    "dbt_build",
    selection=AssetSelection.assets(dbt_models),
    description="dbt build (all models and tests), then the data-contract checks on the marts.",
)

# Production runs every 15 minutes (the contract's cadence).
dbt_build_schedule = ScheduleDefinition(
    name="dbt_build_every_15_minutes",
    job=dbt_build_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="America/Jamaica",
    default_status=DefaultScheduleStatus.RUNNING,
)

defs = Definitions(
    assets=[dbt_models],
    jobs=[dbt_build_job],
    schedules=[dbt_build_schedule],
    resources={"dbt": DbtCliResource(project_dir=dbt_project)},
)
