"""Part of the code location, assembled for a use case, is the code location's part.

A use case that runs one concern's jobs in process (``defs/assembly.py``) assembles only the
concerns its job spans; the API reads the ingestion assets' freshness policies the same way.
Each of those assets must look there exactly as in the whole code location: group, partitions,
freshness policy, metadata (the snapshot guard's checks among it) and the checks on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dagster import AssetCheckKey, AssetKey, Definitions, asset

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.airbyte.manual import airbyte_definitions
from adinsights_pipelines.defs.dbt.manual import dbt_definitions
from adinsights_pipelines.defs.fx.commands import fx_definitions
from adinsights_pipelines.defs.meta.connect import chain_definitions
from adinsights_pipelines.defs.snapshots.guard import (
    PROTECTING_CHECKS_METADATA,
    GuardNotAssembled,
    protecting_checks,
    protecting_checks_of,
)
from adinsights_pipelines.defs.snapshots.refresh import snapshot_definitions
from api.state import ingestion_definitions

SNAPSHOT = AssetKey("metrics_snapshot")
#: Each partial assembly, and the jobs its use case runs from it.
PARTS: dict[str, tuple[Callable[[], Definitions], tuple[str, ...]]] = {
    "airbyte (sync-airbyte)": (airbyte_definitions, ("airbyte_sync",)),
    "meta, dbt, snapshot (onboarding chain)": (
        chain_definitions,
        ("meta_sync", "meta_pages", "dbt_build", "metrics_snapshots"),
    ),
    "fx (fx-rates refresh)": (fx_definitions, ("fx_rates_refresh",)),
    "dbt (run-dbt, simulate-alerts)": (dbt_definitions, ("dbt_build",)),
    "snapshots (snapshot-metrics)": (snapshot_definitions, ("metrics_snapshots",)),
    "ingestion (API ops)": (ingestion_definitions, ()),
}


def described(graph: Any, key: AssetKey) -> dict[str, Any]:
    node = graph.get(key)
    checks = graph.get_check_keys_for_assets({key})
    return {
        "group": node.group_name,
        "partitions": getattr(node.partitions_def, "name", None),
        "freshness": node.freshness_policy,
        "metadata": dict(node.metadata),
        "checks": {(c.name, graph.get(c).blocking) for c in checks},
    }


@pytest.mark.parametrize("part", sorted(PARTS))
def test_a_partial_assembly_sees_its_assets_as_the_code_location_does(part: str) -> None:
    location, jobs = PARTS[part]
    whole, partial = defs.resolve_asset_graph(), location().resolve_asset_graph()
    own = [n.key for n in partial.asset_nodes if n.is_materializable]
    assert own
    for key in own:
        assert described(partial, key) == described(whole, key), key.to_user_string()
    for job in jobs:
        assert location().resolve_job_def(job).name == job


def test_the_code_location_gives_the_snapshot_every_blocking_check_upstream() -> None:
    graph = defs.resolve_asset_graph()
    [snapshot] = [a for a in defs.assets or [] if getattr(a, "keys", ()) == {SNAPSHOT}]
    guarding = protecting_checks_of(snapshot, SNAPSHOT)  # type: ignore[arg-type]
    assert guarding == protecting_checks(graph, SNAPSHOT)
    fact = AssetKey("fct_ad_performance_daily")
    assert AssetCheckKey(fact, "marts_reconcile_with_raw_spend") in guarding  # a data contract
    stg = AssetKey("stg_meta__insights")
    assert AssetCheckKey(stg, "non_negative_stg_meta__insights_spend") in guarding  # a dbt test


def test_an_asset_assembled_without_the_guard_refuses_to_guess() -> None:
    @asset
    def metrics_snapshot() -> None: ...

    with pytest.raises(GuardNotAssembled, match=PROTECTING_CHECKS_METADATA):
        protecting_checks_of(metrics_snapshot, SNAPSHOT)
