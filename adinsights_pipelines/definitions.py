"""The Dagster code location: assembles each concern's definitions and the shared resources.

Each concern's module is imported, not its ``defs`` object: Dagster refuses a code-location
module with more than one ``Definitions`` at module scope. Project-wide policy is applied here,
once: every asset gets its freshness policy from ``defs/freshness.py``.
"""

import warnings

from dagster import Definitions, PreviewWarning

from adinsights_pipelines.defs.airbyte import definitions as airbyte
from adinsights_pipelines.defs.airbyte.resource import AirbyteServerResource
from adinsights_pipelines.defs.alerts import definitions as alerts
from adinsights_pipelines.defs.contracts import definitions as contracts
from adinsights_pipelines.defs.dbt import definitions as dbt
from adinsights_pipelines.defs.freshness import with_freshness_policy
from adinsights_pipelines.defs.fx import definitions as fx
from adinsights_pipelines.defs.google import definitions as google
from adinsights_pipelines.defs.meta import definitions as meta
from adinsights_pipelines.defs.resources import (
    AlertChannelsResource,
    KeyringResource,
    MetaGraphResource,
    WarehouseResource,
)
from adinsights_pipelines.defs.retention import definitions as retention
from adinsights_pipelines.defs.security import definitions as security
from adinsights_pipelines.defs.snapshots import definitions as snapshots
from adinsights_pipelines.defs.tenants import definitions as tenants

# map_asset_specs is marked preview in Dagster 1.13; it is the documented way to apply a policy to
# every asset of a code location, so its warning is not repeated on every load.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PreviewWarning)
    defs = Definitions.merge(
        tenants.defs,
        meta.defs,
        airbyte.defs,
        google.defs,
        fx.defs,
        dbt.defs,
        contracts.defs,
        snapshots.defs,
        security.defs,
        retention.defs,
        alerts.defs,
        Definitions(
            resources={
                "warehouse": WarehouseResource(),
                "meta": MetaGraphResource(),
                "keyring": KeyringResource(),
                "airbyte": AirbyteServerResource(),
                "alert_channels": AlertChannelsResource(),
            }
        ),
    ).map_asset_specs(func=with_freshness_policy)
