"""The assembled code location for entry points that hand it to a use case on first use.

The API's ``POST /api/alerts/run/`` needs the whole asset graph, but the API must not load the
code location (dbt's manifest included) to start or to answer anything else: ``adinsights
serve-api`` and the demo pass :func:`asset_graph` to ``create_app``, which calls it on first
use. Like ``definitions.py``, this module is for entry points only: nothing under ``defs/`` or
``api/`` imports it (``tests/test_import_graph.py``).
"""

from __future__ import annotations

from adinsights_pipelines.dagster_internals import AssetGraph


def asset_graph() -> AssetGraph:
    """The code location's asset graph (imports and assembles it on the first call)."""
    from adinsights_pipelines.definitions import defs

    return defs.resolve_asset_graph()
