"""The Dagster code location: every concern's definitions, assembled once.

Each concern's module is imported, not its ``defs`` object: Dagster refuses a code-location
module with more than one ``Definitions`` at module scope. Project-wide policy (the shared
resources, every asset's freshness policy from ``defs/freshness_policies.py``, the snapshot guard's
checks) is applied by :func:`~adinsights_pipelines.defs.assembly.assemble`, once.

Only entry points import this module (Dagster's workspace, the CLI, the demo, tests): nothing
under ``defs/`` or ``api/`` does (``defs/assembly.py`` says how they reach the graph instead).
"""

from adinsights_pipelines.defs.airbyte import definitions as airbyte
from adinsights_pipelines.defs.alerts import definitions as alerts
from adinsights_pipelines.defs.assembly import assemble
from adinsights_pipelines.defs.contracts import definitions as contracts
from adinsights_pipelines.defs.dbt import definitions as dbt
from adinsights_pipelines.defs.fx import definitions as fx
from adinsights_pipelines.defs.google import definitions as google
from adinsights_pipelines.defs.meta import definitions as meta
from adinsights_pipelines.defs.retention import definitions as retention
from adinsights_pipelines.defs.security import definitions as security
from adinsights_pipelines.defs.snapshots import definitions as snapshots
from adinsights_pipelines.defs.tenants import definitions as tenants

defs = assemble(
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
)
