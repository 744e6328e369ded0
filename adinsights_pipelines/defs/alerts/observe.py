"""What the alert sensor observes, read in batches from the Dagster instance and the warehouse.

Each function returns :class:`Observation` s; the decisions (alert or not, grace, escalation)
are in ``rules.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
import sqlalchemy as sa
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Connection

from adinsights_pipelines.dagster_internals import (
    AssetCheckExecutionRecordStatus,
    AssetGraph,
    TimeWindowFreshnessPolicy,
)
from adinsights_pipelines.defs.alerts.rules import (
    WEBHOOK_SILENCE_DEFAULT,
    Observation,
    Sample,
    webhook_silence,
)
from adinsights_pipelines.defs.freshness_policies import (
    DBT_JOB,
    SNAPSHOT_ASSET,
    State,
    describe_policy,
    freshness_state,
)
from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS
from adinsights_pipelines.logs import redact
from adinsights_pipelines.sync_health import (
    ERROR,
    FAILING,
    FRESH,
    SANDBOX_TENANT_PREFIX,
    STALE,
    airbyte_connection_health,
    meta_account_health,
    snapshot_health,
)

log = logging.getLogger("adinsights.alerts")

#: Runs of `adinsights simulate-alerts` carry this tag; the real sensor ignores them.
SIMULATION_TAG = "adinsights/simulation"
#: The request counter the API exports at /metrics/app/ (``api/telemetry.py``, label
#: ``status``); tests/api/test_app_metrics.py checks the real exposition carries it.
REQUESTS_METRIC = "api_requests_total"
#: On its first evaluation the sensor looks this far back for finished runs.
FIRST_RUN_LOOKBACK = timedelta(hours=1)
MAX_TRACKED_RUN_SUBJECTS = 2000


@dataclass(frozen=True)
class AlertScope:
    """Restricts an evaluation to some tenants and runs (the alert simulation's sandbox)."""

    tenant_ids: frozenset[str]
    run_ids: frozenset[str]


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


def _link(ui_url: str | None, path: str) -> str | None:
    return f"{ui_url.rstrip('/')}{path}" if ui_url else None


def tenant_partition_keys(instance: DagsterInstance, scope: AlertScope | None) -> list[str]:
    if scope is not None:
        return sorted(scope.tenant_ids)
    return [
        key
        for key in instance.get_dynamic_partitions(TENANT_PARTITIONS)
        if not key.startswith(SANDBOX_TENANT_PREFIX)
    ]


def partition_materialized_at(
    instance: DagsterInstance, key: AssetKey, partitions: Sequence[str]
) -> dict[str, datetime]:
    """The newest materialization time of each partition (two queries per asset)."""
    if not partitions:
        return {}
    storage_ids = instance.event_log_storage.get_latest_storage_id_by_partition(
        key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(partitions)
    )
    if not storage_ids:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, storage_ids=list(storage_ids.values())),
        limit=len(storage_ids),
    ).records
    return {
        r.partition_key: datetime.fromtimestamp(r.timestamp, UTC)
        for r in records
        if r.partition_key is not None
    }


def _action_key(group: str | None) -> str:
    if group in ("meta", "airbyte", "web_analytics", "fx_rates"):
        return f"freshness:{group}"
    if (group or "").startswith("dbt_"):
        return "freshness:dbt"
    return "freshness"


def _freshness_summary(key: str, tenant: str | None, state: State) -> str:
    where = f" for {tenant}" if tenant else ""
    return {
        State.PASS: f"{key} is fresh again{where}",
        State.WARN: f"{key} is getting stale{where}",
        State.FAIL: f"{key} is stale{where}",
    }.get(state, f"{key} freshness unknown{where}")


def freshness_observations(
    instance: DagsterInstance,
    asset_graph: AssetGraph,
    tenants: Sequence[str],
    now: datetime,
    *,
    ui_url: str | None = None,
    include_unpartitioned: bool = True,
) -> list[Observation]:
    """Every asset with a time-window policy, per tenant partition where it is partitioned.

    Dagster's daemon evaluates policies per asset (its newest materialization of any partition),
    which would hide one tenant's stale feed behind another's fresh one; this evaluates each
    tenant partition with the same policy. The daemon's asset-level state (what the UI shows)
    is added to the detail.
    """
    nodes = [
        node
        for node in asset_graph.asset_nodes
        if node.is_materializable
        and isinstance(node.freshness_policy, TimeWindowFreshnessPolicy)
        and node.key != SNAPSHOT_ASSET
    ]
    dagster_states = instance.get_freshness_state_records([n.key for n in nodes])
    unpartitioned = [n.key for n in nodes if n.partitions_def is None]
    asset_records = (
        {r.asset_entry.asset_key: r for r in instance.get_asset_records(unpartitioned)}
        if unpartitioned and include_unpartitioned
        else {}
    )
    observations: list[Observation] = []
    for node in nodes:
        policy = node.freshness_policy
        assert isinstance(policy, TimeWindowFreshnessPolicy)
        key = node.key.to_user_string()
        dagster_state = dagster_states.get(node.key)
        dagster_note = (
            f"Dagster asset-level state: {dagster_state.freshness_state.value}"
            if dagster_state
            else None
        )
        partitions_def = node.partitions_def
        if partitions_def is None:
            if not include_unpartitioned:
                continue
            record = asset_records.get(node.key)
            last = record.asset_entry.last_materialization if record else None
            by_partition: dict[str | None, datetime | None] = {
                None: datetime.fromtimestamp(last.timestamp, UTC) if last else None
            }
        elif getattr(partitions_def, "name", None) == TENANT_PARTITIONS:
            materialized = partition_materialized_at(instance, node.key, tenants)
            by_partition = {tenant: materialized.get(tenant) for tenant in tenants}
        else:
            continue  # no other partitioning in this project; the daemon's state covers it
        for tenant, last_at in by_partition.items():
            state = freshness_state(policy, last_at, now)
            observations.append(
                Observation(
                    subject=f"freshness:{key}:{tenant or '-'}",
                    kind="freshness",
                    state=state,
                    summary=_freshness_summary(key, tenant, state),
                    tenant_id=tenant,
                    target=key,
                    age_minutes=_minutes(now - last_at) if last_at else None,
                    threshold=describe_policy(policy),
                    detail="; ".join(
                        filter(
                            None,
                            [
                                f"last materialized {last_at:%Y-%m-%d %H:%M} UTC"
                                if last_at
                                else None,
                                dagster_note,
                            ],
                        )
                    )
                    or None,
                    action_key=_action_key(node.group_name),
                    link=_link(ui_url, f"/assets/{quote(key)}"),
                )
            )
    return observations


def latest_dbt_success_end(instance: DagsterInstance) -> datetime | None:
    records = instance.get_run_records(
        RunsFilter(job_name=DBT_JOB, statuses=[DagsterRunStatus.SUCCESS]),
        limit=1,
        order_by="update_timestamp",
    )
    if not records or records[0].end_time is None:
        return None
    return datetime.fromtimestamp(records[0].end_time, UTC)


def snapshot_observations(
    conn: Connection,
    tenants: Sequence[str],
    now: datetime,
    *,
    ui_url: str | None = None,
) -> list[Observation]:
    """Each tenant's stored snapshot (``snapshot_generated_at``, as the contract defines
    staleness, so an API ``cache=false`` refresh counts too). Grace is applied by the caller."""
    observations = []
    for health in snapshot_health(conn, list(tenants), now):
        if health.error is not None:  # that tenant's row only; the others are judged as usual
            observations.append(
                Observation(
                    subject=f"snapshot:{health.tenant_id}",
                    kind="snapshot",
                    state=State.FAIL,
                    summary=f"metrics snapshot cannot be read for {health.tenant_id}",
                    tenant_id=health.tenant_id,
                    target="metrics_snapshot",
                    threshold="a stored snapshot time the platform can read",
                    detail=health.error,
                    link=_link(ui_url, "/assets/metrics_snapshot"),
                )
            )
            continue
        state = health.state
        summary = {
            State.PASS: f"metrics snapshot is fresh again for {health.tenant_id}",
            State.WARN: f"metrics snapshot is stale for {health.tenant_id}",
            State.FAIL: (
                f"metrics snapshot is critically stale for {health.tenant_id}"
                if health.snapshot_generated_at
                else f"metrics snapshot is missing for {health.tenant_id}"
            ),
        }.get(state, f"metrics snapshot not yet expected for {health.tenant_id}")
        observations.append(
            Observation(
                subject=f"snapshot:{health.tenant_id}",
                kind="snapshot",
                state=state,
                summary=summary,
                tenant_id=health.tenant_id,
                target="metrics_snapshot",
                age_minutes=health.age_minutes,
                threshold="warn 60min / critical 120min or missing (15 min grace after dbt)",
                detail=(
                    f"snapshot_generated_at {health.snapshot_generated_at.isoformat()}"
                    if health.snapshot_generated_at
                    else "no snapshot_generated_at"
                ),
                link=_link(ui_url, "/assets/metrics_snapshot"),
            )
        )
    return observations


def _simulation_runs(instance: DagsterInstance, run_ids: Iterable[str]) -> set[str]:
    ids = sorted(set(run_ids))
    if not ids:
        return set()
    return {
        run.run_id
        for run in instance.get_runs(RunsFilter(run_ids=ids))
        if SIMULATION_TAG in run.tags
    }


def check_observations(
    instance: DagsterInstance,
    asset_graph: AssetGraph,
    now: datetime,
    *,
    scope: AlertScope | None = None,
    ui_url: str | None = None,
) -> list[Observation]:
    """The latest execution of every asset check: FAIL (error severity) / WARN (warn severity).

    While a check is planned (its run in progress) the previous state stands (UNKNOWN here).
    """
    keys: list[AssetCheckKey] = sorted(asset_graph.asset_check_keys, key=str)
    if not keys:
        return []
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    simulated = _simulation_runs(instance, (r.run_id for r in latest.values()))
    observations = []
    for key, record in latest.items():
        if scope is not None:
            if record.run_id not in scope.run_ids:
                continue
        elif record.run_id in simulated:
            continue
        target = key.asset_key.to_user_string()
        subject = f"check:{target}:{key.name}"
        evaluation = None
        if record.event is not None and record.event.dagster_event is not None:
            evaluation = record.event.dagster_event.event_specific_data
        if record.status is AssetCheckExecutionRecordStatus.PLANNED or evaluation is None:
            state = State.UNKNOWN
        elif getattr(evaluation, "passed", True):
            state = State.PASS
        elif getattr(evaluation, "severity", None) is AssetCheckSeverity.WARN:
            state = State.WARN
        else:
            state = State.FAIL
        description = getattr(evaluation, "description", None)
        failed = getattr(evaluation, "metadata", {}).get("dagster_dbt/failed_row_count")
        observations.append(
            Observation(
                subject=subject,
                kind="check",
                state=state,
                summary=(
                    f"check {key.name} passes again on {target}"
                    if state is State.PASS
                    else f"check {key.name} failed on {target}"
                ),
                target=f"{target} (check {key.name})",
                age_minutes=_minutes(now - datetime.fromtimestamp(record.create_timestamp, UTC)),
                threshold="must pass",
                detail="; ".join(
                    filter(
                        None,
                        [
                            redact(description)[:300] if description else None,
                            f"failing rows: {failed.value}" if failed is not None else None,
                            f"run {record.run_id}",
                        ],
                    )
                ),
                action_key="check",
                link=_link(ui_url, f"/runs/{record.run_id}"),
                run_id=record.run_id,
            )
        )
    return observations


def _run_error(instance: DagsterInstance, run_id: str) -> str | None:
    for entry in instance.all_logs(
        run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    ):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type is DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:
                error = error.cause  # Dagster wraps the user's exception; report the root cause
            if error is not None:
                first_line = error.message.strip().splitlines()[0] if error.message else ""
                return redact(f"{event.step_key}: {first_line}")[:300]
        elif event.message:
            return redact(event.message.strip().splitlines()[0])[:300]
    return None


def update_run_states(
    instance: DagsterInstance,
    state: Mapping[str, Any],
    now: datetime,
    *,
    scope: AlertScope | None = None,
) -> dict[str, Any]:
    """Fold runs that finished since the watermark into the latest state per job and partition."""
    latest: dict[str, dict[str, Any]] = dict(state.get("latest", {}))
    watermark = state.get("watermark")
    after = datetime.fromtimestamp(watermark, UTC) if watermark else now - FIRST_RUN_LOOKBACK
    if scope is not None:
        filters = RunsFilter(
            run_ids=sorted(scope.run_ids),
            statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
        )
        records = instance.get_run_records(filters, order_by="update_timestamp", ascending=True)
    else:
        records = instance.get_run_records(
            RunsFilter(
                statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
                updated_after=after,
            ),
            limit=1000,
            order_by="update_timestamp",
            ascending=True,
        )
    for record in records:
        run = record.dagster_run
        watermark = max(watermark or 0.0, record.update_timestamp.timestamp())
        if scope is None and SIMULATION_TAG in run.tags:
            continue
        partition = run.tags.get("dagster/partition")
        failed = run.status is DagsterRunStatus.FAILURE
        latest[f"run:{run.job_name}:{partition or '-'}"] = {
            "state": (State.FAIL if failed else State.PASS).value,
            "run_id": run.run_id,
            "job": run.job_name,
            "partition": partition,
            "tenant_id": run.tags.get("tenant_id") or partition,
            "ended_at": record.end_time,
            "error": _run_error(instance, run.run_id) if failed else None,
        }
    if len(latest) > MAX_TRACKED_RUN_SUBJECTS:
        oldest_first = sorted(latest, key=lambda s: latest[s].get("ended_at") or 0.0)
        for subject in oldest_first[: len(latest) - MAX_TRACKED_RUN_SUBJECTS]:
            del latest[subject]
    return {"watermark": watermark, "latest": latest}


def run_observations(
    run_state: Mapping[str, Any], now: datetime, *, ui_url: str | None = None
) -> list[Observation]:
    observations = []
    for subject, info in sorted(run_state.get("latest", {}).items()):
        state = State(info["state"])
        where = f" [{info['partition']}]" if info.get("partition") else ""
        ended = info.get("ended_at")
        observations.append(
            Observation(
                subject=subject,
                kind="run",
                state=state,
                summary=(
                    f"job {info['job']}{where} succeeded again"
                    if state is State.PASS
                    else f"job {info['job']}{where} failed"
                ),
                tenant_id=info.get("tenant_id"),
                target=f"job {info['job']}",
                age_minutes=(_minutes(now - datetime.fromtimestamp(ended, UTC)) if ended else None),
                threshold="runs must succeed",
                detail="; ".join(filter(None, [info.get("error"), f"run {info['run_id']}"])),
                action_key="run",
                link=_link(ui_url, f"/runs/{info['run_id']}"),
                run_id=info["run_id"],
            )
        )
    return observations


def connection_observations(
    conn: Connection, tenants: Sequence[str], now: datetime
) -> list[Observation]:
    """Airbyte connections (failing, or no successful job for 60 min) and Meta ad accounts
    whose last sync failed (their staleness is the Meta assets' freshness alert)."""
    observations = []
    for health in airbyte_connection_health(conn, list(tenants), now):
        state = {FAILING: State.FAIL, STALE: State.FAIL, ERROR: State.FAIL, FRESH: State.PASS}.get(
            health.state, State.UNKNOWN
        )
        what = {FAILING: "failing", ERROR: "cannot be read"}.get(health.state, "stale")
        observations.append(
            Observation(
                subject=f"connection:airbyte:{health.connection}",
                kind="connection",
                state=state,
                summary=(
                    f"Airbyte {health.platform} connection syncs again for {health.tenant_id}"
                    if state is State.PASS
                    else f"Airbyte {health.platform} connection {what} for {health.tenant_id}"
                ),
                tenant_id=health.tenant_id,
                target=f"airbyte connection {health.connection} ({health.platform})",
                age_minutes=health.age_minutes,
                threshold="latest job succeeded, newest success under 60min",
                detail=health.detail or f"last job status: {health.last_job_status}",
                action_key="connection:airbyte_connection",
            )
        )
    for health in meta_account_health(conn, list(tenants), now):
        if health.kind != "meta_account" or health.connection == "-":
            continue
        state = State.FAIL if health.state in (FAILING, ERROR) else State.PASS
        what = "cannot be read" if health.state == ERROR else "sync failing"
        observations.append(
            Observation(
                subject=f"connection:meta:{health.tenant_id}:{health.connection}",
                kind="connection",
                state=state,
                summary=(
                    f"Meta ad account {health.connection} syncs again for {health.tenant_id}"
                    if state is State.PASS
                    else f"Meta ad account {health.connection} {what} for {health.tenant_id}"
                ),
                tenant_id=health.tenant_id,
                target=f"meta ad account {health.connection}",
                age_minutes=health.age_minutes,
                threshold="last sync succeeded",
                detail=redact(health.detail)[:300] if health.detail else None,
                action_key="connection:meta_account",
            )
        )
    return observations


@dataclass(frozen=True)
class WebhookFacts:
    last_webhook_at: datetime | None
    first_unannounced_finish: datetime | None
    unannounced_jobs: int


def webhook_facts(conn: Connection, now: datetime) -> WebhookFacts:
    """The newest webhook (a job's ``webhook_received_at``, or an ``airbyte_job_webhook`` audit
    event), and the Airbyte jobs (recorded by our own syncs) that finished after it without
    one; the alert simulation's sandbox tenants left out. Index lookups only (migrations 0006
    and 0009).

    "After it" is decided on one clock, the database's: a job counts when our sync recorded
    its end (``recorded_at``, ``now()``) after the newest webhook was received (``now()``
    too). Airbyte's own end time (``finished_at``) is another host's clock, in whole seconds,
    so comparing it with a receipt time flipped the order of events less than a second (or a
    clock skew) apart: a job that ended just after a webhook was missed (the silence gauge
    read 0), or with ``date_trunc`` one that ended just before the webhooks resumed was
    counted (a false alert 30 minutes later). The silence is still measured from Airbyte's
    end of the first such job."""
    row = conn.execute(
        sa.text(
            """
            with last_webhook as (
                select greatest(
                    (select max(webhook_received_at) from app.airbyte_jobs
                     where tenant_id not like :sandbox),
                    (select max(created_at) from app.audit_log
                     where action = 'airbyte_job_webhook'
                       and (tenant_id is null or tenant_id not like :sandbox))
                ) as at
            )
            select (select at from last_webhook) as last_webhook_at,
                   min(j.finished_at) as first_finish,
                   count(*) as jobs
            from app.airbyte_jobs j
            -- the database's clock on both sides (see the docstring)
            where j.recorded_at > (select at from last_webhook)
              and j.finished_at <= :now
              and j.webhook_received_at is null
              and j.tenant_id not like :sandbox
            """
        ),
        {"sandbox": SANDBOX_TENANT_PREFIX + "%", "now": now},
    ).one()
    return WebhookFacts(row.last_webhook_at, row.first_finish, int(row.jobs))


def webhook_silence_observation(
    conn: Connection, now: datetime, window: timedelta = WEBHOOK_SILENCE_DEFAULT
) -> Observation:
    """The webhook-silence rule (``rules.webhook_silence``) on the stored rows."""
    facts = webhook_facts(conn, now)
    return webhook_silence(
        facts.last_webhook_at, facts.first_unannounced_finish, facts.unannounced_jobs, now, window
    )


def scrape_request_counters(
    urls: Sequence[str], now: datetime, timeout: float = 5.0
) -> dict[str, Sample | None]:
    """(time, requests, 5xx responses) per endpoint from its Prometheus text; ``None`` for an
    endpoint that did not answer or does not export the counter."""
    samples: dict[str, Sample | None] = {}
    for url in urls:
        try:
            response = requests.get(url, timeout=timeout)
            response.raise_for_status()
            total = errors = 0.0
            found = False
            for family in text_string_to_metric_families(response.text):
                for sample in family.samples:
                    if sample.name != REQUESTS_METRIC:
                        continue
                    found = True
                    total += sample.value
                    if str(sample.labels.get("status", "")).startswith("5"):
                        errors += sample.value
            samples[url] = (now.timestamp(), total, errors) if found else None
        except (requests.RequestException, ValueError) as exc:
            log.warning(
                "could not scrape API request counters",
                extra={"url": redact(url), "error": type(exc).__name__},
            )
            samples[url] = None
    return samples
