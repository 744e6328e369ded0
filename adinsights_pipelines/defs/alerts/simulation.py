"""``adinsights simulate-alerts``: the runbook's observability simulation.

In a sandbox tenant (``alert-sim-<random>``, which the real alert sensor ignores) it makes a
metrics snapshot stale, makes a dbt model's test fail (a negative spend row under the sandbox
tenant, then ``dbt build`` of ``stg_meta__insights`` through the ``dbt_build`` job) and records a
failed Airbyte job, runs one alert evaluation scoped to the sandbox, and checks that each alert
reached Slack and email. Without configured channels it starts a loopback webhook sink and SMTP
sink and verifies the messages arrived there. The sandbox (rows, partition, simulation runs) is
removed afterwards, whatever happened.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance
from sqlalchemy.engine import Engine

from adinsights_pipelines.dagster_internals import AssetGraph
from adinsights_pipelines.defs.alerts.delivery import (
    Channel,
    EmailChannel,
    SlackChannel,
    email_from_settings,
    slack_from_settings,
)
from adinsights_pipelines.defs.alerts.evaluate import evaluate_alerts
from adinsights_pipelines.defs.alerts.observe import SIMULATION_TAG, AlertScope
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.alert_sinks import SmtpSink, WebhookSink
from adinsights_pipelines.sync_health import SANDBOX_TENANT_PREFIX

Progress = Callable[[str], None]
DBT_MODEL = "stg_meta__insights"


@dataclass(frozen=True)
class Expectation:
    label: str
    matches: Callable[[str], bool]  # alert subject -> is it this scenario's alert?


@dataclass
class Row:
    label: str
    slack: str
    email: str

    @property
    def passed(self) -> bool:
        return self.slack in ("pass", "sent") and self.email in ("pass", "sent")


def sandbox_tenant_id() -> str:
    return f"{SANDBOX_TENANT_PREFIX}{secrets.token_hex(3)}"


def _stage(conn: sa.Connection, tenant: str, now: datetime) -> None:
    conn.execute(
        sa.text("insert into app.tenants (id, name) values (:t, 'alert simulation sandbox')"),
        {"t": tenant},
    )
    # a snapshot three hours old: past the 120-minute critical threshold
    conn.execute(
        sa.text(
            "insert into app.metrics_snapshots (tenant_id, payload, snapshot_generated_at) "
            "values (:t, '{}', :at)"
        ),
        {"t": tenant, "at": now - timedelta(hours=3)},
    )
    # a row dbt's non_negative test on stg_meta__insights.spend rejects
    conn.execute(
        sa.text(
            "insert into raw.meta_insights (tenant_id, account_id, campaign_id, adset_id, ad_id, "
            "date_start, date_stop, region, spend, currency) values "
            "(:t, 'act_sim', 'c_sim', 's_sim', 'ad_sim', :d, :d, 'Kingston', -1, 'JMD')"
        ),
        {"t": tenant, "d": now.date()},
    )
    conn.execute(
        sa.text(
            "insert into app.airbyte_connections (connection_id, tenant_id, provider) "
            "values (:c, :t, 'google_ads')"
        ),
        {"c": f"{tenant}-google-ads", "t": tenant},
    )
    conn.execute(
        sa.text(
            "insert into app.airbyte_jobs (connection_id, job_id, tenant_id, status, "
            "records_synced, started_at, finished_at, error) values "
            "(:c, 1, :t, 'failed', 0, :started, :now, 'simulated: source returned HTTP 500')"
        ),
        {
            "c": f"{tenant}-google-ads",
            "t": tenant,
            "started": now - timedelta(minutes=3),
            "now": now,
        },
    )


def _clean(eng: Engine, instance: DagsterInstance, tenant: str, run_ids: list[str]) -> None:
    with eng.begin() as conn:
        conn.execute(sa.text("delete from raw.meta_insights where tenant_id = :t"), {"t": tenant})
        # cascades to the snapshot, the Airbyte connection and its jobs
        conn.execute(sa.text("delete from app.tenants where id = :t"), {"t": tenant})
    for run_id in run_ids:
        instance.delete_run(run_id)


def _build_dbt_model(instance: DagsterInstance, tenant: str, log_path: Path) -> tuple[str, bool]:
    """``dbt_build`` of the drill's model and its tests, tagged as the simulation's."""
    from adinsights_pipelines.defs.assembly import QUIET_CONSOLE
    from adinsights_pipelines.defs.dbt.manual import dbt_definitions

    log_path.parent.mkdir(parents=True, exist_ok=True)
    # dbt's console output goes to the log file; the terminal keeps the table.
    with log_path.open("a") as log, redirect_stdout(log):
        job = dbt_definitions().resolve_job_def("dbt_build")
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[AssetKey(DBT_MODEL)],
            raise_on_error=False,
            tags={SIMULATION_TAG: tenant},
            run_config=QUIET_CONSOLE,
        )
    return result.run_id, result.success


@contextmanager
def _channels(settings: Settings, progress: Progress) -> Iterator[tuple[list[Channel], dict]]:
    """The configured channels, or loopback sinks standing in for the ones not configured."""
    with ExitStack() as stack:
        channels: list[Channel] = []
        sinks: dict[str, WebhookSink | SmtpSink] = {}
        slack = slack_from_settings(settings)
        if slack is not None:
            channels.append(slack)
            progress("Slack: the configured incoming webhook")
        else:
            webhook = stack.enter_context(WebhookSink())
            sinks["slack"] = webhook
            channels.append(SlackChannel(webhook.url, retry_wait_seconds=0.05))
            progress(f"Slack: no webhook configured, local sink at {webhook.url}")
        email = email_from_settings(settings)
        if email is not None:
            channels.append(email)
            progress(f"email: the configured relay {settings.alert_smtp_host}")
        else:
            smtp = stack.enter_context(SmtpSink())
            sinks["email"] = smtp
            channels.append(
                EmailChannel(
                    host=smtp.host,
                    port=smtp.port,
                    sender="adinsights-alerts@localhost",
                    recipients=["oncall@localhost"],
                    starttls=False,
                    retry_wait_seconds=0.05,
                )
            )
            progress(f"email: no SMTP relay configured, local sink at {smtp.host}:{smtp.port}")
        yield channels, sinks


def _received(sink: WebhookSink | SmtpSink | None, subject: str) -> bool | None:
    """Whether a sink got the alert; ``None`` for a real channel (nothing to look into)."""
    if isinstance(sink, WebhookSink):
        return any(subject in str(p.body.get("blocks", [{}, {}, {}])[-1]) for p in sink.posts)
    if isinstance(sink, SmtpSink):
        return any(m.header("X-Adinsights-Alert") == subject for m in sink.messages)
    return None


def simulate_alerts(
    eng: Engine,
    instance: DagsterInstance,
    settings: Settings,
    progress: Progress,
    asset_graph: AssetGraph,
) -> list[Row]:
    """Run the drill; ``asset_graph`` is the code location's (the alert sensor evaluates every
    asset's freshness and every check of it), passed in by the entry point."""
    tenant = sandbox_tenant_id()
    now = datetime.now(UTC)
    run_ids: list[str] = []
    log_path = settings.data_dir / "logs" / "simulate-alerts.log"
    progress(f"sandbox tenant {tenant}")
    try:
        with eng.begin() as conn:
            _stage(conn, tenant, now)
        progress("staged: snapshot 3 h old, negative-spend insight row, failed Airbyte job")
        progress(
            f"running dbt build of {DBT_MODEL}, its non_negative test must fail (log: {log_path})"
        )
        run_id, succeeded = _build_dbt_model(instance, tenant, log_path)
        run_ids.append(run_id)
        progress(
            f"dbt_build run {run_id[:8]} {'succeeded (unexpected)' if succeeded else 'failed'}"
        )
        expectations = [
            Expectation("stale metrics snapshot", lambda s: s == f"snapshot:{tenant}"),
            Expectation(
                "dbt model test failure (asset check)",
                lambda s: s.startswith(f"check:{DBT_MODEL}:") and "non_negative" in s,
            ),
            Expectation("dbt run failure", lambda s: s == "run:dbt_build:-"),
            Expectation(
                "Airbyte job failure", lambda s: s == f"connection:airbyte:{tenant}-google-ads"
            ),
        ]
        with _channels(settings, progress) as (channels, sinks):
            evaluation = evaluate_alerts(
                instance,
                eng,
                asset_graph,
                None,
                channels,
                datetime.now(UTC),
                scope=AlertScope(frozenset({tenant}), frozenset(run_ids)),
                ui_url=settings.dagster_ui_url,
            )
            rows = []
            for expectation in expectations:
                verdicts = {}
                for channel in channels:
                    sent = [
                        a.subject
                        for a in evaluation.sent.get(channel.name, [])
                        if expectation.matches(a.subject)
                    ]
                    if not sent:
                        verdicts[channel.name] = "fail"
                        continue
                    got = _received(sinks.get(channel.name), sent[0])
                    verdicts[channel.name] = "sent" if got is None else ("pass" if got else "fail")
                rows.append(
                    Row(
                        expectation.label,
                        verdicts.get("slack", "fail"),
                        verdicts.get("email", "fail"),
                    )
                )
            for name, reason in evaluation.delivery.failed.items():
                progress(f"{name} delivery failed: {reason}")
        return rows
    finally:
        _clean(eng, instance, tenant, run_ids)
        progress(f"sandbox {tenant} removed")
        if run_ids:  # the drill's dbt run failed a blocking check on purpose
            # The drill's failed test is now the latest evaluation of a blocking check, which
            # would keep every tenant's snapshot from building (defs/snapshots/guard.py) until
            # the next dbt build. Evaluate the model's tests again on the real rows (the run
            # is kept: its evaluations are the latest).
            run_id, succeeded = _build_dbt_model(instance, tenant, log_path)
            progress(
                f"dbt_build run {run_id[:8]} re-evaluated {DBT_MODEL}'s tests without the "
                f"sandbox rows: {'passed' if succeeded else 'FAILED (see the log)'}"
            )


def render_table(rows: list[Row]) -> str:
    width = max(len(r.label) for r in rows) + 2
    lines = [f"{'ALERT':<{width}}{'SLACK':<7}{'EMAIL':<7}RESULT"]
    for row in rows:
        lines.append(
            f"{row.label:<{width}}{row.slack:<7}{row.email:<7}{'PASS' if row.passed else 'FAIL'}"
        )
    return "\n".join(lines)
