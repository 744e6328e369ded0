"""``adinsights run-dbt``: the ``dbt_build`` job now, as a Dagster run, with progress.

The run is recorded in the instance (it shows in the UI like any run) and tagged as the
operator's. Its scope is the schedule's: the incremental build (every model but the views and
seeds, with the checks on them), or every node when the views or seeds changed or ``full`` is
asked; ``select`` (dbt's selection syntax) narrows it to the matching dbt assets. Progress comes
from the run's own events, read from the instance while the run executes; dbt's console output
goes to a log file.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    Definitions,
)
from dagster_dbt import build_dbt_asset_selection

from adinsights_pipelines.defs.assembly import QUIET_CONSOLE, assemble
from adinsights_pipelines.defs.contracts import definitions as contracts
from adinsights_pipelines.defs.dbt import definitions as dbt
from adinsights_pipelines.defs.dbt.assets import SCOPE_TAG, dbt_models
from adinsights_pipelines.defs.dbt.definitions import incremental_selection, static_models_current
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.logs import redact

DBT_TRIGGER_TAG = "adinsights/trigger"
_WATCHED = (
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.STEP_FAILURE,
)


@cache
def dbt_definitions() -> Definitions:
    """What the ``dbt_build`` job spans, assembled as the code location assembles it
    (``defs/assembly.py``): dbt's models and tests, and the data contracts on the marts."""
    return assemble(dbt.defs, contracts.defs)


@dataclass
class DbtRunOutcome:
    run_id: str
    success: bool
    scope: str
    selected: int
    materialized: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    error: str | None = None
    log_path: Path | None = None


def plan_selection(
    select: str | None, full: bool, static_current: bool
) -> tuple[str, list[AssetKey]]:
    """(scope, asset keys) of the run: ``full``/``incremental`` as the schedule decides, then
    narrowed by dbt's ``select`` syntax. Raises when ``select`` matches no dbt node."""
    if full or not static_current:
        scope, keys = "full", sorted(dbt_models.keys, key=lambda k: k.to_user_string())
    else:
        scope, keys = "incremental", incremental_selection(frozenset())[0]
    if select:
        graph = dbt_definitions().resolve_asset_graph()
        matched = build_dbt_asset_selection([dbt_models], dbt_select=select).resolve(graph)
        if not matched:
            raise AdinsightsError(f"no dbt node matches --select {select!r}")
        if not full:
            scope = "selected"
            keys = sorted(matched, key=lambda k: k.to_user_string())
        else:
            keys = [k for k in keys if k in matched]
    return scope, keys


def _watch(
    instance: DagsterInstance,
    run_id: str,
    total: int,
    outcome: DbtRunOutcome,
    progress: Callable[[str], None],
    done: threading.Event,
) -> None:
    cursor: str | None = None

    def drain() -> None:
        nonlocal cursor
        connection = instance.get_records_for_run(run_id, cursor=cursor, of_type=set(_WATCHED))
        cursor = connection.cursor
        for record in connection.records:
            event = record.event_log_entry.dagster_event
            if event is not None:
                _announce(event, total, outcome, progress)

    while not done.wait(0.5):
        drain()
    drain()


def _announce(
    event: DagsterEvent, total: int, outcome: DbtRunOutcome, progress: Callable[[str], None]
) -> None:
    if event.event_type is DagsterEventType.ASSET_MATERIALIZATION:
        assert event.asset_key is not None
        key = event.asset_key.to_user_string()
        outcome.materialized.append(key)
        progress(f"[{len(outcome.materialized)}/{total}] built {key}")
    elif event.event_type is DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.event_specific_data
        if isinstance(evaluation, AssetCheckEvaluation) and not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            outcome.failed_checks.append(evaluation.check_name)
            progress(f"check failed: {name}")


def run_dbt(
    instance: DagsterInstance,
    *,
    select: str | None,
    full: bool,
    log_dir: Path,
    progress: Callable[[str], None],
) -> DbtRunOutcome:
    static_current = static_models_current(instance)
    scope, keys = plan_selection(select, full, static_current)
    if scope == "full" and not full:
        progress("views or seeds changed since their last build: building every node")
    run_id = str(uuid.uuid4())
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"run-dbt-{run_id}.log"
    outcome = DbtRunOutcome(run_id, False, scope, len(keys), log_path=log_path)
    progress(f"dbt_build run {run_id}: {len(keys)} dbt assets ({scope}); dbt output: {log_path}")
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(instance, run_id, len(keys), outcome, progress, done), daemon=True
    )
    watcher.start()
    try:
        with log_path.open("a") as log, redirect_stdout(log):
            job = dbt_definitions().resolve_job_def("dbt_build")
            result = job.execute_in_process(
                instance=instance,
                asset_selection=keys,
                raise_on_error=False,
                run_id=run_id,
                tags={SCOPE_TAG: scope, DBT_TRIGGER_TAG: "cli"},
                run_config=QUIET_CONSOLE,
            )
    finally:
        done.set()
        watcher.join(timeout=30)
    outcome.success = result.success
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        data = failure.step_failure_data if failure else None
        error = data.error if data else None
        while error is not None and error.cause is not None:
            error = error.cause
        user = data.user_failure_data if data else None
        message = (
            (user.description if user else None)
            or (error.message if error else None)
            or "the run failed (see the Dagster UI)"
        )
        outcome.error = redact(message.strip().splitlines()[0])[:500]
    return outcome
