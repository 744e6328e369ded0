"""One alert evaluation: observe, decide, deliver, and the next cursor.

Used by the sensor (every ~60 s), by ``adinsights simulate-alerts`` (scoped to its sandbox, with
a cursor of its own) and by the latency benchmark. ``now`` is a parameter, so tests move the
clock instead of waiting.

The cursor (JSON, stored by Dagster with the sensor) keeps, per delivery channel, the last state
each subject was *announced* in. A subject alerts when its state differs; the channel's entry
changes only once the channel delivered, so an alert that failed is sent on the next
evaluation. (If the subject recovers before then, there is nothing left to announce.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dagster import DagsterInstance
from sqlalchemy.engine import Engine

from adinsights_pipelines.dagster_internals import AssetGraph
from adinsights_pipelines.defs.alerts.delivery import Channel, DeliveryReport, deliver
from adinsights_pipelines.defs.alerts.observe import (
    AlertScope,
    check_observations,
    connection_observations,
    freshness_observations,
    latest_dbt_success_end,
    run_observations,
    scrape_request_counters,
    snapshot_observations,
    tenant_partition_keys,
    update_run_states,
    webhook_silence_observation,
)
from adinsights_pipelines.defs.alerts.rules import (
    WEBHOOK_SILENCE_DEFAULT,
    Alert,
    Observation,
    error_rate,
    error_rate_observation,
    escalation,
    hold_during_grace,
    meta_api_version_observation,
    pending_alerts,
    record_silent_states,
    staleness_onset,
    with_state,
)
from adinsights_pipelines.defs.freshness_policies import State
from adinsights_pipelines.settings import load_settings

log = logging.getLogger("adinsights.alerts")
CURSOR_VERSION = 1


@dataclass
class Evaluation:
    cursor: str
    observations: list[Observation]
    sent: dict[str, list[Alert]] = field(default_factory=dict)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    #: Per channel, the subjects whose transition was due (delivered or not).
    pending: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        failing = sum(o.state in (State.WARN, State.FAIL) for o in self.observations)
        parts = [f"{len(self.observations)} subjects, {failing} warn/fail"]
        parts += [f"{name}: {len(alerts)} sent" for name, alerts in self.sent.items()]
        parts += [
            f"{name}: delivery failed ({reason}), {self.delivery.deferred.get(name, 0)} deferred"
            for name, reason in self.delivery.failed.items()
        ]
        return "; ".join(parts)


def load_cursor(raw: str | None) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        data = {}
    return {
        "v": CURSOR_VERSION,
        "notified": data.get("notified", {}),
        "effective": data.get("effective", {}),
        "runs": data.get("runs", {}),
        "error_rate": data.get("error_rate", {}),
    }


def observe_all(
    instance: DagsterInstance,
    engine: Engine,
    asset_graph: AssetGraph,
    cursor: dict[str, Any],
    now: datetime,
    *,
    metrics_urls: Sequence[str] = (),
    scope: AlertScope | None = None,
    ui_url: str | None = None,
    webhook_silence_window: timedelta = WEBHOOK_SILENCE_DEFAULT,
) -> list[Observation]:
    """Every observation of this evaluation; updates the cursor's run and error-rate state."""
    tenants = tenant_partition_keys(instance, scope)
    observations = freshness_observations(
        instance, asset_graph, tenants, now, ui_url=ui_url, include_unpartitioned=scope is None
    )

    dbt_finished_at = latest_dbt_success_end(instance)
    with engine.connect() as conn:
        snapshots = []
        for obs in snapshot_observations(conn, tenants, now, ui_url=ui_url):
            previous = cursor["effective"].get(obs.subject)
            state, held = hold_during_grace(
                obs.state,
                State(previous) if previous else None,
                dbt_finished_at,
                now,
                staleness_onset(obs.state, obs.age_minutes, now),
            )
            if held:
                obs = with_state(
                    obs,
                    state,
                    f"{obs.state.value} held back: dbt_build finished "
                    f"{(now - dbt_finished_at).total_seconds() / 60:.0f} min ago"
                    if dbt_finished_at
                    else None,
                )
            snapshots.append(obs)
        connections = connection_observations(conn, tenants, now)
        webhooks = (
            [webhook_silence_observation(conn, now, webhook_silence_window)]
            if scope is None
            else []
        )
    cursor["effective"] = {o.subject: o.state.value for o in snapshots}
    observations += snapshots
    if scope is None and snapshots:
        observations.append(escalation(snapshots))
    observations += connections
    observations += webhooks

    observations += check_observations(instance, asset_graph, now, scope=scope, ui_url=ui_url)
    cursor["runs"] = update_run_states(instance, cursor["runs"], now, scope=scope)
    observations += run_observations(cursor["runs"], now, ui_url=ui_url)

    if scope is None:
        observations.append(meta_api_version_observation(load_settings().meta_api_version, now))

    if metrics_urls and scope is None:
        rate = error_rate(
            {url: [tuple(s) for s in samples] for url, samples in cursor["error_rate"].items()},
            scrape_request_counters(metrics_urls, now),
            now,
        )
        cursor["error_rate"] = (
            {url: [list(s) for s in samples] for url, samples in rate.samples.items()}
            if rate
            else {}
        )
        observations.append(error_rate_observation(rate))
    return observations


def evaluate_alerts(
    instance: DagsterInstance,
    engine: Engine,
    asset_graph: AssetGraph,
    raw_cursor: str | None,
    channels: Sequence[Channel],
    now: datetime,
    *,
    metrics_urls: Sequence[str] = (),
    scope: AlertScope | None = None,
    ui_url: str | None = None,
    webhook_silence_window: timedelta = WEBHOOK_SILENCE_DEFAULT,
) -> Evaluation:
    cursor = load_cursor(raw_cursor)
    observations = observe_all(
        instance,
        engine,
        asset_graph,
        cursor,
        now,
        metrics_urls=metrics_urls,
        scope=scope,
        ui_url=ui_url,
        webhook_silence_window=webhook_silence_window,
    )
    report = DeliveryReport()
    sent: dict[str, list[Alert]] = {}
    pending: dict[str, list[str]] = {}
    for channel in channels:
        notified = record_silent_states(cursor["notified"].get(channel.name, {}), observations)
        alerts = pending_alerts(notified, observations)
        pending[channel.name] = [a.subject for a in alerts]
        delivered = set(deliver(channel, alerts, report))
        for alert in alerts:
            if alert.subject in delivered:
                notified[alert.subject] = alert.observation.state.value
        sent[channel.name] = [a for a in alerts if a.subject in delivered]
        cursor["notified"][channel.name] = notified
    evaluation = Evaluation(json.dumps(cursor, sort_keys=True), observations, sent, report, pending)
    log.info("alert evaluation: %s", evaluation.summary())
    return evaluation
