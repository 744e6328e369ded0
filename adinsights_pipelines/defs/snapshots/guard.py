"""Blocking checks upstream of a snapshot: a snapshot is not built from data they rejected.

Dagster's ``blocking`` stops downstream steps of the same run only; snapshots run on their own
schedule, after the dbt build that evaluated the checks. So the snapshot asset asks the instance
for the latest evaluation of every blocking check on the assets it is built from (dbt tests of
severity error and the blocking data contracts) and refuses to materialize while one has failed.
A failed check that names the tenants it is about (metadata ``tenant_ids``) blocks only them.

Which checks protect the snapshot is a fact of the whole code location (dbt's tests, the data
contracts of ``defs/contracts/``, any concern's blocking check upstream), while a run of the
snapshot sees only its own job, and in-process runs (the CLI, the demo, tests) have no
repository on their context. So :func:`with_protecting_checks` computes them when definitions
are assembled (``defs/assembly.py``) and writes them into the asset's metadata
(``adinsights/protecting_checks``, shown in the UI); the asset reads them back with
:func:`protecting_checks_of` and asks the instance for their latest evaluations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    MetadataValue,
)

from adinsights_pipelines.dagster_internals import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
    AssetGraph,
)

TENANT_IDS_METADATA = "tenant_ids"
#: Asset metadata: the blocking checks upstream of the asset (``AssetCheckKey`` user strings).
PROTECTING_CHECKS_METADATA = "adinsights/protecting_checks"


class GuardNotAssembled(Exception):
    """The asset was built from definitions that did not go through ``assemble``."""


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


def with_protecting_checks(defs: Definitions, asset_key: AssetKey) -> Definitions:
    """``defs`` with ``asset_key``'s protecting checks in its metadata (unchanged without it)."""
    if not any(isinstance(a, AssetsDefinition) and asset_key in a.keys for a in defs.assets or []):
        return defs
    keys = protecting_checks(defs.resolve_asset_graph(), asset_key)
    labels = sorted(key.to_user_string() for key in keys)

    def protected(spec: AssetSpec) -> AssetSpec:
        if spec.key != asset_key:
            return spec
        return spec.merge_attributes(
            metadata={PROTECTING_CHECKS_METADATA: MetadataValue.json(labels)}
        )

    return defs.map_asset_specs(func=protected)


def protecting_checks_of(assets_def: AssetsDefinition, asset_key: AssetKey) -> set[AssetCheckKey]:
    """The checks :func:`with_protecting_checks` gave ``asset_key``; raises when it did not."""
    metadata = assets_def.specs_by_key[asset_key].metadata
    if PROTECTING_CHECKS_METADATA not in metadata:
        raise GuardNotAssembled(
            f"{asset_key.to_user_string()} carries no {PROTECTING_CHECKS_METADATA}: build its "
            "definitions with adinsights_pipelines.defs.assembly.assemble"
        )
    labels = metadata[PROTECTING_CHECKS_METADATA]
    return {AssetCheckKey.from_user_string(label) for label in getattr(labels, "value", labels)}


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
    """What keeps ``tenant_id``'s ``asset_key`` of ``asset_graph`` from materializing now."""
    return failures_among(instance, protecting_checks(asset_graph, asset_key), tenant_id)


def failures_among(
    instance: DagsterInstance, keys: Iterable[AssetCheckKey], tenant_id: str
) -> list[FailedCheck]:
    """The latest evaluations of ``keys`` that block ``tenant_id`` (one batched query)."""
    keys = list(keys)
    if not keys:
        return []
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    return blocking_failures(failed_checks(records), tenant_id)
