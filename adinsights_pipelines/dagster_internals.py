"""The one place this product reaches Dagster's private modules (dagster is pinned to 1.13.*).

Everything else imports Dagster through its public top level (``from dagster import ...``);
``tests/test_no_private_imports.py`` enforces that. What is here has no public spelling:

* Types Dagster's public API hands out but does not export, needed for annotations and
  ``isinstance``: the asset graph (:meth:`dagster.Definitions.resolve_asset_graph`,
  ``context.repository_def.asset_graph``), the policy :meth:`dagster.FreshnessPolicy.time_window`
  returns, what :func:`dagster.define_asset_job` returns, and the asset-check execution record
  (and its status) of :meth:`dagster.DagsterInstance.get_latest_asset_check_evaluation_record`.
* ``dagster/partition``, the run tag Dagster itself puts on a partitioned run (the run queue's
  per-tenant limit in dagster.yaml counts by it).
* For the benchmarks: event-log entries of materializations at a chosen time, in batches.
  :meth:`dagster.DagsterInstance.report_runless_asset_event` writes one event at a time, stamped
  now; filling a day's history for thousands of partitions needs past timestamps and batches.
* For the scale benchmark: the repository snapshot a code server sends to the webserver.

``tests/test_dagster_internals.py`` fails loudly when an upgrade moves or reshapes any of these.
"""

from __future__ import annotations

from dagster import (
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    EventLogEntry,
    RepositoryDefinition,
    serialize_value,
)
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.tags import PARTITION_NAME_TAG

__all__ = [
    "PARTITION_NAME_TAG",
    "AssetCheckExecutionRecord",
    "AssetCheckExecutionRecordStatus",
    "AssetGraph",
    "AssetJob",
    "TimeWindowFreshnessPolicy",
    "materialization_entry",
    "repository_snapshot",
]

#: Any asset graph: a code location's, or a run's own (``context.repository_def.asset_graph``).
AssetGraph = BaseAssetGraph
#: What :func:`dagster.define_asset_job` returns (resolved against the assets when assembled).
AssetJob = UnresolvedAssetJobDefinition


def materialization_entry(
    materialization: AssetMaterialization,
    *,
    timestamp: float,
    job_name: str | None = None,
    run_id: str | None = None,
    step_key: str | None = None,
) -> EventLogEntry:
    """An event-log entry recording ``materialization`` at ``timestamp``, for
    ``instance.event_log_storage.store_event_batch``; runless unless ``job_name`` and
    ``run_id`` (and ``step_key``) say which run made it."""
    from dagster._core.events import StepMaterializationData
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    job = job_name or RUNLESS_JOB_NAME
    return EventLogEntry(
        user_message="",
        level=20,
        job_name=job,
        run_id=run_id or RUNLESS_RUN_ID,
        error_info=None,
        timestamp=timestamp,
        step_key=step_key,
        dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name=job,
            event_specific_data=StepMaterializationData(materialization),
        ),
    )


def repository_snapshot(repository: RepositoryDefinition) -> str:
    """The serialized snapshot of a ``RepositoryDefinition``, as a code server sends it."""
    from dagster._core.remote_representation.external_data import RepositorySnap

    return serialize_value(RepositorySnap.from_def(repository))
