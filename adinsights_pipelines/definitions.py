"""The Dagster code location: assembles each concern's definitions and the shared resources.

Each concern's module is imported, not its ``defs`` object: Dagster refuses a code-location
module with more than one ``Definitions`` at module scope.
"""

from dagster import Definitions

from adinsights_pipelines.defs.contracts import definitions as contracts
from adinsights_pipelines.defs.dbt import definitions as dbt
from adinsights_pipelines.defs.meta import definitions as meta
from adinsights_pipelines.defs.resources import (
    KeyringResource,
    MetaGraphResource,
    WarehouseResource,
)
from adinsights_pipelines.defs.retention import definitions as retention
from adinsights_pipelines.defs.security import definitions as security
from adinsights_pipelines.defs.snapshots import definitions as snapshots
from adinsights_pipelines.defs.tenants import definitions as tenants

defs = Definitions.merge(
    tenants.defs,
    meta.defs,
    dbt.defs,
    contracts.defs,
    snapshots.defs,
    security.defs,
    retention.defs,
    Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "meta": MetaGraphResource(),
            "keyring": KeyringResource(),
        }
    ),
)
