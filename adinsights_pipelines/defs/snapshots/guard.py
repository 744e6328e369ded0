"""Blocking checks upstream of a snapshot: a snapshot is not built from data they rejected.

Dagster's ``blocking`` stops downstream steps of the same run only; snapshots run on their own
schedule, after the dbt build that evaluated the checks. So the snapshot asset asks the instance
for the latest evaluation of every blocking check on the assets it is built from (dbt tests of
severity error and the blocking data contracts) and refuses to materialize while one has failed.
A failed check that names the tenants it is about (metadata ``tenant_ids``) blocks only them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance

from adinsights_pipelines.dagster_internals import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
    AssetGraph,
)

TENANT_IDS_METADATA = "tenant_ids"


@dataclass(frozen=True)
class FailedCheck:
    key: AssetCheckKey
    run_id: str
    tenant_ids: tuple[str, ...] | None  # None: the failure is not about particular tenants

    @property
    def label(self) -> str:
        return f"{self.key.asset_key.to_user_string()}:{self.key.name}"


def protecting_checks(asset_graph: AssetGraph, asset_key: AssetKey) -> set[AssetCheckKey]:
    """Blocking checks on every asset upstream of ``asset_key``."""
    upstream = AssetSelection.assets(asset_key).upstream().resolve(asset_graph) - {asset_key}
    return {
        key
        for key in asset_graph.get_check_keys_for_assets(upstream)
        if asset_graph.get(key).blocking
    }


def failed_checks(records: Mapping[AssetCheckKey, AssetCheckExecutionRecord]) -> list[FailedCheck]:
    """The checks whose latest evaluation failed, with the tenants they name, if any."""
    failed = []
    for key, record in records.items():
        if record.status != AssetCheckExecutionRecordStatus.FAILED:
            continue
        evaluation = record.evaluation
        named = evaluation.metadata.get(TENANT_IDS_METADATA) if evaluation else None
        tenants = getattr(named, "value", None)
        failed.append(
            FailedCheck(
                key=key,
                run_id=record.run_id,
                tenant_ids=tuple(tenants) if isinstance(tenants, list) and tenants else None,
            )
        )
    return sorted(failed, key=lambda f: f.label)


def blocking_failures(failed: Iterable[FailedCheck], tenant_id: str) -> list[FailedCheck]:
    """The failures that block ``tenant_id``'s snapshot."""
    return [f for f in failed if f.tenant_ids is None or tenant_id in f.tenant_ids]


def failures_blocking(
    instance: DagsterInstance, asset_graph: AssetGraph, asset_key: AssetKey, tenant_id: str
) -> list[FailedCheck]:
    """What keeps ``tenant_id``'s ``asset_key`` from materializing now (one batched query)."""
    keys = protecting_checks(asset_graph, asset_key)
    if not keys:
        return []
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(keys))
    return blocking_failures(failed_checks(records), tenant_id)
