from dagster import Definitions

from adinsights_pipelines.defs.contracts.checks import contract_checks

# The checks run with the marts they guard: the dbt_build job selects the dbt assets, which
# brings their checks along (defs/dbt/definitions.py).
defs = Definitions(asset_checks=contract_checks())
