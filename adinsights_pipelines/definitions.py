"""The Dagster code location: assembles each concern's definitions and the shared resources."""

from dagster import Definitions

from adinsights_pipelines.defs.dbt.definitions import defs as dbt_defs
from adinsights_pipelines.defs.meta.definitions import defs as meta_defs
from adinsights_pipelines.defs.resources import MetaGraphResource, WarehouseResource
from adinsights_pipelines.defs.snapshots.definitions import defs as snapshot_defs
from adinsights_pipelines.defs.tenants.definitions import defs as tenant_defs

defs = Definitions.merge(
    tenant_defs,
    meta_defs,
    dbt_defs,
    snapshot_defs,
    Definitions(resources={"warehouse": WarehouseResource(), "meta": MetaGraphResource()}),
)
