"""How definitions are assembled: the concerns' own, with the shared resources and policies.

``adinsights_pipelines/definitions.py`` assembles every concern into the code location; a use case
that runs jobs in process (the Meta onboarding chain, ``adinsights sync-airbyte``, ``adinsights
fx-rates refresh``, ``adinsights run-dbt``, ``adinsights snapshot-metrics``) assembles just the
concerns its jobs span, the same way, so a run is the same run from a command, the API or the
daemon, and loads no more than it needs (``tests/defs/test_assembly.py`` checks each part
against the whole); the API reads its ingestion assets' freshness policies the same way.

Nothing under ``defs/`` or ``api/`` imports the assembled code location (``tests/
test_import_graph.py``). What needs the whole graph gets it from Dagster or from its caller:

- schedules and sensors read ``context.repository_def``, which the daemon always sets;
- the snapshot guard's checks (every blocking check upstream of ``metrics_snapshot``, whichever
  concern declares it) are computed here, when the graph is assembled, and given to the asset
  as metadata (``defs/snapshots/guard.py``): a run's own job holds only its assets, and
  in-process runs have no repository on their context;
- the alert evaluation on demand (``adinsights alerts run``, ``POST /api/alerts/run/``,
  ``adinsights simulate-alerts``) takes the asset graph as a parameter from its entry point.
"""

from __future__ import annotations

import warnings

from dagster import Definitions, PreviewWarning

from adinsights_pipelines.defs.airbyte.resource import AirbyteServerResource
from adinsights_pipelines.defs.freshness_policies import SNAPSHOT_ASSET, with_freshness_policy
from adinsights_pipelines.defs.resources import (
    AlertChannelsResource,
    KeyringResource,
    MetaGraphResource,
    WarehouseResource,
)
from adinsights_pipelines.defs.snapshots.guard import with_protecting_checks

#: Run config of in-process runs started by a command: the run's events go to the instance (and
#: the UI); the terminal shows only the command's own progress.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def shared_resources() -> Definitions:
    """The resources every concern's assets, sensors and jobs may ask for."""
    return Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "meta": MetaGraphResource(),
            "keyring": KeyringResource(),
            "airbyte": AirbyteServerResource(),
            "alert_channels": AlertChannelsResource(),
        }
    )


def assemble(*parts: Definitions) -> Definitions:
    """``parts`` merged with the shared resources, every asset with its freshness policy
    (``defs/freshness_policies.py``), and the snapshot (when among them) with its protecting
    checks."""
    # map_asset_specs is marked preview in Dagster 1.13; it is the documented way to apply a
    # policy to every asset of a code location, so its warning is not repeated on every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        merged = Definitions.merge(*parts, shared_resources()).map_asset_specs(
            func=with_freshness_policy
        )
        return with_protecting_checks(merged, SNAPSHOT_ASSET)
