"""The Grafana dashboards are generated (grafana-foundation-sdk) into deploy/grafana/, the
committed JSON is current, and every panel's query names a metric that a real app's
/metrics/app/ exposition declares. The Prometheus config scrapes that path and loads the rules.
"""

from __future__ import annotations

import json
import re
import runpy
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from adinsights_pipelines.settings import PROJECT_ROOT, Settings
from api.app import create_app

DEPLOY = PROJECT_ROOT / "deploy"
GENERATOR = runpy.run_path(str(PROJECT_ROOT / "scripts" / "grafana_dashboards.py"))
#: PromQL words that are not metric names (functions, aggregations, keywords).
PROMQL_WORDS = {
    "sum", "count", "max", "min", "avg", "rate", "increase", "histogram_quantile", "time",
    "vector", "by", "without", "or", "and", "unless", "on", "ignoring", "bool",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges, strings and
    grouping clauses removed first)."""
    stripped = re.sub(r'"[^"]*"', "", expr)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", stripped)
    stripped = re.sub(r"\b(by|without)\s*\([^)]*\)", "", stripped)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", stripped))
    return {w for w in words if w not in PROMQL_WORDS and not w.startswith("__")}


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in model["panels"] if p.get("type") != "row"]


def test_dashboards_generate_and_the_committed_json_is_current() -> None:
    built = GENERATOR["build_all"]()
    assert set(built) == {
        "airbyte-webhook-health",
        "warehouse-snapshot-health",
        "orchestration-health",
    }
    titles = {name: model["title"] for name, model in built.items()}
    assert titles["airbyte-webhook-health"] == "Airbyte Webhook Health"
    assert titles["warehouse-snapshot-health"] == "Warehouse Snapshot Health"
    for name, model in built.items():
        committed = (DEPLOY / "grafana" / "dashboards" / f"{name}.json").read_text()
        assert committed == GENERATOR["render"](model), (
            f"{name}.json is stale: run .venv/bin/python scripts/grafana_dashboards.py"
        )
        assert panels(model), name
        for panel in panels(model):
            assert panel["targets"], panel["title"]


def test_every_panel_queries_metrics_the_api_exports(instance, product_env) -> None:
    app = create_app(product_env, Settings())
    with TestClient(app) as client:
        assert client.get("/api/health/").status_code == 200
        exposition = client.get("/metrics/app/").text
    exported: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        exported.add(family.name)
        exported |= {sample.name for sample in family.samples}
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ())
        exported |= {family.name + suffix for suffix in suffixes}
    assert "airbyte_webhook_delay_seconds_bucket" in exported
    assert "dagster_daemon_heartbeat_age_seconds" in exported

    for name, model in GENERATOR["build_all"]().items():
        for panel in panels(model):
            for target in panel["targets"]:
                names = metric_names(target["expr"])
                assert names, (name, panel["title"])
                missing = names - exported
                assert not missing, f"{name} / {panel['title']}: {sorted(missing)} not exported"


def test_the_orchestration_dashboard_shows_the_daemon_heartbeat_at_the_alert_threshold() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alert-rules.yml").read_text())
    [rule] = [
        r
        for group in rules["groups"]
        for r in group["rules"]
        if r.get("alert") == "DagsterDaemonHeartbeatStale"
    ]
    metric, operator, limit = rule["expr"].split()
    assert (metric, operator) == ("dagster_daemon_heartbeat_age_seconds", ">")

    model = GENERATOR["build_all"]()["orchestration-health"]
    shown = [
        p for p in panels(model) if any(metric in metric_names(t["expr"]) for t in p["targets"])
    ]
    assert {p["type"] for p in shown} == {"stat", "timeseries"}
    for panel in shown:
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"] == "s", panel["title"]
        # one series per daemon type, and the panel turns red where the alert fires
        assert [t["legendFormat"] for t in panel["targets"]] == ["{{daemon_type}}"]
        assert defaults.get("thresholds") == {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": float(limit)}],
        }, panel["title"]


def test_metric_names_are_read_from_expressions() -> None:
    expr = (
        "histogram_quantile(0.5, sum by (le) (rate(airbyte_webhook_delay_seconds_bucket"
        '{route="/x"}[1h]))) / count(metrics_snapshot_age_seconds > 3600) or vector(0)'
    )
    assert metric_names(expr) == {
        "airbyte_webhook_delay_seconds_bucket",
        "metrics_snapshot_age_seconds",
    }


def test_prometheus_scrapes_the_api_and_loads_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics/app/"
    assert job["static_configs"] == [{"targets": ["api:8000"]}]
    assert config["rule_files"] == ["/etc/prometheus/alert-rules.yml"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())["services"]
    assert "./prometheus:/etc/prometheus:ro" in compose["prometheus"]["volumes"]
    assert (
        "./grafana/dashboards:/var/lib/grafana/dashboards/adinsights:ro"
        in (compose["grafana"]["volumes"])
    )
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "adinsights.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/adinsights"
    datasource = json.loads(
        json.dumps(
            yaml.safe_load(
                (
                    DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
                ).read_text()
            )
        )
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
