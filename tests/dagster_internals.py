"""The Dagster internals the tests reach, in one place (dagster is pinned to 1.13.*).

The product's own reach into Dagster's private modules is
``adinsights_pipelines.dagster_internals``; these are what only tests need: the instance-config
validation Dagster runs on ``dagster.yaml``, a queued run's code-location origin (runs launched
from the UI carry one), the queue's own selection step (what the daemon dequeues next, without
launching anything), a daemon heartbeat (what the ops endpoint reads), and what Dagster holds as
the instance in effect (the tests' guard against an instance left there). None has a public
spelling. ``tests/test_dagster_internals.py`` fails loudly when an upgrade moves or reshapes them.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from dagster import DagsterInstance, DagsterRun
from dagster._core.instance.config import dagster_instance_config
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.defs_state.base import DefsStateStorage
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._daemon.types import DaemonHeartbeat

__all__ = [
    "DaemonHeartbeat",
    "code_location_job_origin",
    "instance_storage_in_effect",
    "runs_to_dequeue",
    "runs_to_dequeue_parameters",
    "validated_instance_config",
]


def validated_instance_config(directory: str) -> Mapping[str, Any]:
    """``<directory>/dagster.yaml`` as Dagster validates and fills it in."""
    config, _ = dagster_instance_config(directory)
    return config


def code_location_job_origin(
    module_name: str, location_name: str, job_name: str
) -> RemoteJobOrigin:
    """The origin of ``job_name`` in the code location loaded from ``module_name``."""
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name=module_name), location_name=location_name
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)


def runs_to_dequeue_parameters() -> list[str]:
    """The parameters of the queue's selection step, as :func:`runs_to_dequeue` passes them."""
    return list(inspect.signature(QueuedRunCoordinatorDaemon._get_runs_to_dequeue).parameters)


def runs_to_dequeue(instance: DagsterInstance) -> list[DagsterRun]:
    """The queued runs the run-queue daemon would start next, under the instance's limits."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    return daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)


def instance_storage_in_effect() -> object | None:
    """What Dagster holds as the instance in effect, or None.

    ``with instance:`` (and a schedule or sensor context's ``context.instance``, until the context
    is left) sets a context variable to the instance's definitions-state storage, which Dagster
    reads when it loads definitions. The storage holds its instance by a weak reference: left set
    after the instance has gone, the next definitions load fails with "Attempted to resolve
    undefined DagsterInstance weakref".
    """
    return DefsStateStorage.get()
