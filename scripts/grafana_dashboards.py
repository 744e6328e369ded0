"""The runbook's Grafana dashboards as code, written to deploy/grafana/dashboards/*.json.

Built with Grafana's own grafana-foundation-sdk (a dev dependency). Regenerate after a change:

    .venv/bin/python scripts/grafana_dashboards.py

tests/deploy/test_grafana_dashboards.py checks the JSON files are current and that every
panel's query names a metric the API exports at /metrics/app/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueColorMode, GraphTresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
OUT = DEPLOY / "grafana" / "dashboards"
ALERT_RULES = DEPLOY / "prometheus" / "alert-rules.yml"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
WEBHOOK_ROUTE = 'route="/api/airbyte/webhook/"'


def _query(expr: str, legend: str = "", ref: str = "A") -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _series(title: str, unit: str, *queries: Dataquery, description: str = "") -> Timeseries:
    panel = Timeseries().title(title).unit(unit).height(8).span(12).datasource(DATASOURCE)
    if description:
        panel = panel.description(description)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _stat(title: str, unit: str, query: Dataquery, description: str = "") -> Stat:
    panel = Stat().title(title).unit(unit).height(4).span(6).datasource(DATASOURCE)
    if description:
        panel = panel.description(description)
    return panel.with_target(query)


def _alert_threshold(alert: str, metric: str) -> float:
    """The number ``metric`` is compared with (``metric > N``) in the Prometheus alert rule
    ``alert`` of deploy/prometheus/alert-rules.yml: a panel colours at the threshold the alert
    fires at, and the two cannot drift apart."""
    config = yaml.safe_load(ALERT_RULES.read_text())
    for group in config["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                match = re.search(rf"\b{re.escape(metric)}\s*>\s*([0-9.]+)", rule["expr"])
                if match is None:
                    raise ValueError(f"alert {alert}: no `{metric} > N` in {rule['expr']!r}")
                return float(match.group(1))
    raise ValueError(f"{ALERT_RULES} has no alert {alert}")


def _red_above(value: float) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green"), Threshold(value=value, color="red")])
    )


def _dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["adinsights", "generated"])
        .refresh("1m")
        .time("now-6h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )


def airbyte_webhook_health() -> Dashboard:
    success = (
        f'sum(rate(api_requests_total{{{WEBHOOK_ROUTE},status=~"2.."}}[$__rate_interval]))'
        f" / sum(rate(api_requests_total{{{WEBHOOK_ROUTE}}}[$__rate_interval]))"
    )
    return (
        _dashboard(
            "adinsights-airbyte-webhooks",
            "Airbyte Webhook Health",
            "Webhook count, success rate and the delay from sync completion to webhook "
            "ingestion (runbook: Airbyte Webhook Operations).",
        )
        .with_row(Row("Now"))
        .with_panel(
            _stat(
                "Webhook silence",
                "s",
                _query("airbyte_webhook_silence_seconds"),
                "Seconds since the first job that finished without a webhook; alert above 30 min.",
            )
        )
        .with_panel(_stat("Success rate (5 min)", "percentunit", _query(success)))
        .with_panel(
            _stat(
                "Median delay, sync end to webhook (1 h)",
                "s",
                _query(
                    "histogram_quantile(0.5, sum by (le) "
                    "(rate(airbyte_webhook_delay_seconds_bucket[1h])))"
                ),
            )
        )
        .with_panel(
            _stat(
                "Last webhook",
                "dateTimeFromNow",
                _query("airbyte_webhook_last_received_timestamp_seconds * 1000"),
            )
        )
        .with_row(Row("Over time"))
        .with_panel(
            _series(
                "Webhooks received, by job status",
                "short",
                _query(
                    "sum by (job_status) (increase(airbyte_webhook_jobs_total[$__rate_interval]))",
                    "{{job_status}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Webhook responses, by HTTP status",
                "reqps",
                _query(
                    f"sum by (status) (rate(api_requests_total{{{WEBHOOK_ROUTE}}}"
                    "[$__rate_interval]))",
                    "{{status}}",
                ),
                description="403: secret mismatch; 503: secret required but unset; "
                "404: unknown connection.",
            )
        )
        .with_panel(
            _series(
                "Delay from sync completion to webhook ingestion",
                "s",
                _query(
                    "histogram_quantile(0.5, sum by (le) "
                    "(rate(airbyte_webhook_delay_seconds_bucket[$__rate_interval])))",
                    "median",
                ),
                _query(
                    "histogram_quantile(0.95, sum by (le) "
                    "(rate(airbyte_webhook_delay_seconds_bucket[$__rate_interval])))",
                    "p95",
                    "B",
                ),
            )
        )
        .with_panel(
            _series("Webhook silence", "s", _query("airbyte_webhook_silence_seconds", "silence"))
        )
    )


def warehouse_snapshot_health() -> Dashboard:
    return (
        _dashboard(
            "adinsights-snapshots",
            "Warehouse Snapshot Health",
            "Metrics snapshot recency per tenant: warn at 60 min, critical at 120 min; more "
            "than 20 % of tenants stale escalates.",
        )
        .with_row(Row("Now"))
        .with_panel(
            _stat(
                "Tenants with a stale snapshot",
                "percentunit",
                _query(
                    "count(metrics_snapshot_age_seconds > 3600) "
                    "/ count(metrics_snapshot_age_seconds) or vector(0)"
                ),
            )
        )
        .with_panel(
            _stat(
                "Oldest snapshot",
                "s",
                _query("max(metrics_snapshot_age_seconds)"),
            )
        )
        .with_row(Row("Per tenant"))
        .with_panel(
            _series(
                "Snapshot age per tenant",
                "s",
                _query("metrics_snapshot_age_seconds", "{{tenant_id}}"),
                description="Seconds since snapshot_generated_at; the alert thresholds are "
                "3600 (warning) and 7200 (critical).",
            )
        )
        .with_panel(
            _series(
                "Upstream: sync age per tenant",
                "s",
                _query("airbyte_sync_age_seconds", "airbyte {{tenant_id}}"),
                _query("meta_sync_age_seconds", "meta {{tenant_id}}", "B"),
            )
        )
    )


HEARTBEAT = "dagster_daemon_heartbeat_age_seconds"
HEARTBEAT_ALERT = "DagsterDaemonHeartbeatStale"


def orchestration_health() -> Dashboard:
    heartbeat_limit = _alert_threshold(HEARTBEAT_ALERT, HEARTBEAT)
    heartbeat_help = (
        f"Seconds since each required Dagster daemon type's newest heartbeat (the daemon beats "
        f"every 30 s); the {HEARTBEAT_ALERT} alert fires above {heartbeat_limit:g} s. "
        "Infinity: that type has no heartbeat at all."
    )
    return (
        _dashboard(
            "adinsights-orchestration",
            "Orchestration Health",
            "The health endpoints' signals beside run durations (runbook: plot "
            "/api/health/airbyte/ and /api/health/dbt/ alongside task durations).",
        )
        .with_row(Row("Dagster daemon"))
        .with_panel(
            _stat(
                "Dagster daemon heartbeat age",
                "s",
                _query(HEARTBEAT, "{{daemon_type}}"),
                heartbeat_help,
            )
            .span(12)
            .height(6)
            .thresholds(_red_above(heartbeat_limit))
            .color_mode(BigValueColorMode.BACKGROUND)
        )
        .with_panel(
            _series(
                "Dagster daemon heartbeat age over time",
                "s",
                _query(HEARTBEAT, "{{daemon_type}}"),
                description=heartbeat_help,
            )
            .height(6)
            .thresholds(_red_above(heartbeat_limit))
            .thresholds_style(GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.DASHED))
        )
        .with_row(Row("dbt"))
        .with_panel(_stat("Latest dbt_build succeeded", "bool_yes_no", _query("dbt_run_success")))
        .with_panel(
            _stat(
                "Since the latest dbt_build ended",
                "s",
                _query("time() - dbt_run_finished_timestamp_seconds"),
            )
        )
        .with_panel(
            _series(
                "dbt_build run duration",
                "s",
                _query("dbt_run_duration_seconds", "duration"),
            )
        )
        .with_panel(
            _series(
                "dbt_build outcome",
                "short",
                _query("dbt_run_success", "succeeded (1) / failed (0)"),
            )
        )
        .with_row(Row("Syncs"))
        .with_panel(
            _series(
                "Airbyte sync age per tenant",
                "s",
                _query("airbyte_sync_age_seconds", "{{tenant_id}}"),
            )
        )
        .with_panel(
            _series(
                "Meta sync age per tenant",
                "s",
                _query("meta_sync_age_seconds", "{{tenant_id}}"),
            )
        )
        .with_row(Row("API"))
        .with_panel(
            _series(
                "API error rate (5xx share)",
                "percentunit",
                _query(
                    'sum(rate(api_requests_total{status=~"5.."}[$__rate_interval])) '
                    "/ sum(rate(api_requests_total[$__rate_interval]))",
                    "5xx share",
                ),
            )
        )
        .with_panel(
            _series(
                "API latency p95 by route",
                "s",
                _query(
                    "histogram_quantile(0.95, sum by (le, route) "
                    "(rate(api_request_duration_seconds_bucket[$__rate_interval])))",
                    "{{route}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Metrics sources up",
                "short",
                _query("app_metrics_source_up", "{{source}}"),
            )
        )
    )


DASHBOARDS = {
    "airbyte-webhook-health": airbyte_webhook_health,
    "warehouse-snapshot-health": warehouse_snapshot_health,
    "orchestration-health": orchestration_health,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Each dashboard's JSON model, by file stem."""
    encoder = JSONEncoder(sort_keys=True)
    return {name: json.loads(encoder.encode(make().build())) for name, make in DASHBOARDS.items()}


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, model in build_all().items():
        (OUT / f"{name}.json").write_text(render(model))
        print(f"wrote {OUT / name}.json")


if __name__ == "__main__":
    main()
