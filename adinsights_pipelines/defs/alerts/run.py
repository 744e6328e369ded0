"""One alert evaluation under the shared state: the sensor's tick and an on-demand run alike.

The cursor (what each channel was last told per subject) lives in ``app.alert_state``. An
evaluation takes a transaction-scoped PostgreSQL advisory lock, reads the cursor, observes,
delivers and writes the new cursor before it commits: a second evaluation (another
``adinsights alerts run``, an API replica, the sensor's tick) waits for the lock and then reads
what the first one announced, so one transition is delivered once.

``run_alerts_now`` is the use case behind ``adinsights alerts run`` and ``POST
/api/alerts/run/``: throttled (one on-demand run per ``alerts_run_min_interval_seconds``,
counted in the same row, so the CLI and every API replica share it), audited, and answered with
the evaluation per tenant and rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from dagster import DagsterInstance
from sqlalchemy.engine import Engine

from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.dagster_internals import AssetGraph
from adinsights_pipelines.defs.alerts.delivery import Channel
from adinsights_pipelines.defs.alerts.evaluate import Evaluation, evaluate_alerts
from adinsights_pipelines.defs.alerts.rules import WEBHOOK_SILENCE_DEFAULT
from adinsights_pipelines.errors import AdinsightsError

#: The row of ``app.alert_state`` the sensor and on-demand runs share.
SENSOR_STATE = "adinsights_alerts"
#: ``pg_advisory_xact_lock`` key of alert evaluations ("alerts" in ASCII).
ALERT_LOCK_KEY = 0x616C65727473


class AlertsThrottled(AdinsightsError):
    """An on-demand run came too soon after the previous one."""

    def __init__(self, waited: float, retry_after: int) -> None:
        super().__init__(
            f"alerts were evaluated on demand {waited:.0f} s ago; "
            f"the next on-demand run is allowed in {retry_after} s"
        )
        self.retry_after = retry_after


def evaluate_locked(
    instance: DagsterInstance,
    engine: Engine,
    asset_graph: AssetGraph,
    channels: Sequence[Channel],
    now: datetime,
    *,
    metrics_urls: Sequence[str] = (),
    ui_url: str | None = None,
    fallback_cursor: str | None = None,
    min_interval_seconds: float | None = None,
    webhook_silence_window: timedelta = WEBHOOK_SILENCE_DEFAULT,
) -> Evaluation:
    """Evaluate and deliver with the shared cursor, one evaluation at a time.

    ``fallback_cursor`` (the sensor's Dagster cursor) is used once, when no state is stored
    yet. ``min_interval_seconds`` makes this an on-demand run: refused with
    :class:`AlertsThrottled` when the previous on-demand run was more recent.
    """
    with engine.begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": ALERT_LOCK_KEY})
        row = conn.execute(
            sa.text("select cursor, manual_run_at from app.alert_state where name = :n"),
            {"n": SENSOR_STATE},
        ).first()
        if min_interval_seconds is not None and row is not None and row.manual_run_at:
            waited = (now - row.manual_run_at).total_seconds()
            if 0 <= waited < min_interval_seconds:
                raise AlertsThrottled(waited, max(1, math.ceil(min_interval_seconds - waited)))
        evaluation = evaluate_alerts(
            instance,
            engine,
            asset_graph,
            row.cursor if row is not None else fallback_cursor,
            channels,
            now,
            metrics_urls=metrics_urls,
            ui_url=ui_url,
            webhook_silence_window=webhook_silence_window,
        )
        conn.execute(
            sa.text(
                """
                insert into app.alert_state (name, cursor, evaluated_at, manual_run_at)
                values (:n, :c, :now, case when :manual then cast(:now as timestamptz) end)
                on conflict (name) do update
                set cursor = excluded.cursor, evaluated_at = excluded.evaluated_at,
                    manual_run_at = coalesce(excluded.manual_run_at, app.alert_state.manual_run_at)
                """
            ),
            {
                "n": SENSOR_STATE,
                "c": evaluation.cursor,
                "now": now,
                "manual": min_interval_seconds is not None,
            },
        )
    return evaluation


@dataclass(frozen=True)
class RuleResult:
    """One subject of the evaluation, as the operator reads it."""

    subject: str
    rule: str
    tenant_id: str | None
    state: str
    reason: str
    transition: bool  # its state differs from what a channel was last told
    delivered: tuple[str, ...]  # channels that delivered its alert in this run

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "rule": self.rule,
            "state": self.state,
            "reason": self.reason,
            "transition": self.transition,
            "delivered": list(self.delivered),
        }


@dataclass(frozen=True)
class AlertsRun:
    evaluated_at: datetime
    channels: tuple[str, ...]
    results: list[RuleResult]
    delivery_failed: dict[str, str]
    summary: str

    def as_json(self) -> dict[str, Any]:
        tenants: dict[str | None, list[RuleResult]] = {}
        for result in self.results:
            tenants.setdefault(result.tenant_id, []).append(result)
        return {
            "evaluated_at": self.evaluated_at.isoformat(),
            "channels": list(self.channels),
            "summary": self.summary,
            "delivery_failed": self.delivery_failed,
            "tenants": [
                {"tenant_id": tenant, "rules": [r.as_json() for r in rows]}
                for tenant, rows in sorted(tenants.items(), key=lambda kv: kv[0] or "")
            ],
        }


def results_of(evaluation: Evaluation, tenant_id: str | None = None) -> list[RuleResult]:
    due = {subject for subjects in evaluation.pending.values() for subject in subjects}
    delivered: dict[str, list[str]] = {}
    for channel, alerts in evaluation.sent.items():
        for alert in alerts:
            delivered.setdefault(alert.subject, []).append(channel)
    results = []
    for obs in sorted(evaluation.observations, key=lambda o: (o.tenant_id or "", o.subject)):
        if tenant_id is not None and obs.tenant_id != tenant_id:
            continue
        results.append(
            RuleResult(
                subject=obs.subject,
                rule=obs.kind,
                tenant_id=obs.tenant_id,
                state=obs.state.value,
                reason="; ".join(filter(None, [obs.summary, obs.detail])),
                transition=obs.subject in due,
                delivered=tuple(delivered.get(obs.subject, ())),
            )
        )
    return results


def run_alerts_now(
    instance: DagsterInstance,
    engine: Engine,
    asset_graph: AssetGraph,
    channels: Sequence[Channel],
    now: datetime,
    *,
    actor: str,
    min_interval_seconds: float,
    tenant_id: str | None = None,
    metrics_urls: Sequence[str] = (),
    ui_url: str | None = None,
    webhook_silence_window: timedelta = WEBHOOK_SILENCE_DEFAULT,
) -> AlertsRun:
    """Evaluate every alert rule now and deliver its transitions; audited as ``alerts_run``.

    Every rule is evaluated whatever ``tenant_id`` says (a partial evaluation would lose the
    other tenants' state); ``tenant_id`` only narrows the answer.
    """
    evaluation = evaluate_locked(
        instance,
        engine,
        asset_graph,
        channels,
        now,
        metrics_urls=metrics_urls,
        ui_url=ui_url,
        min_interval_seconds=min_interval_seconds,
        webhook_silence_window=webhook_silence_window,
    )
    delivered = {name: [a.subject for a in alerts] for name, alerts in evaluation.sent.items()}
    with engine.begin() as conn:
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="alerts_run",
            resource_type="alerts",
            metadata={
                "subjects": len(evaluation.observations),
                "failing": sum(o.state.value in ("WARN", "FAIL") for o in evaluation.observations),
                "delivered": delivered,
                "delivery_failed": evaluation.delivery.failed,
            },
        )
    return AlertsRun(
        evaluated_at=now,
        channels=tuple(c.name for c in channels),
        results=results_of(evaluation, tenant_id),
        delivery_failed=dict(evaluation.delivery.failed),
        summary=evaluation.summary(),
    )


def render_results(run: AlertsRun) -> str:
    """The terminal table: failing subjects and every transition; a count of the rest."""
    shown = [r for r in run.results if r.state in ("WARN", "FAIL") or r.transition]
    rows = [("TENANT", "RULE", "STATE", "DELIVERED", "REASON")]
    for r in shown:
        delivered = ",".join(r.delivered) if r.delivered else ("not sent" if r.transition else "-")
        rows.append((r.tenant_id or "-", r.rule, r.state, delivered, r.reason[:100]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    quiet = len(run.results) - len(shown)
    lines.append(f"{quiet} other subject(s) unchanged and passing; {run.summary}")
    return "\n".join(lines)
