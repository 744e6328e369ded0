"""Alerts on demand: ``adinsights alerts run`` and ``POST /api/alerts/run/`` evaluate with the
sensor's code and state, deliver transitions once, and answer with the evaluation.

Real PostgreSQL and Dagster; Slack and SMTP are loopback sinks.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.defs.alerts.run import AlertsRun, AlertsThrottled, run_alerts_now
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.alert_sinks import SmtpSink, WebhookSink
from adinsights_pipelines.warehouse.database import engine
from api.app import create_app
from tests.cli import adinsights
from tests.defs.test_alert_sensor import (
    GRAPH,
    add_tenants,
    channels,
    mail_for,
    run_sensor,
    set_snapshot,
    slack_for,
    with_snapshot_aged,
)


@pytest.fixture
def alert_env(monkeypatch: pytest.MonkeyPatch, slack: WebhookSink, smtp: SmtpSink) -> None:
    monkeypatch.setenv("ADINSIGHTS_ALERT_SLACK_WEBHOOK_URL", slack.url)
    monkeypatch.setenv("ADINSIGHTS_ALERT_SMTP_HOST", smtp.host)
    monkeypatch.setenv("ADINSIGHTS_ALERT_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("ADINSIGHTS_ALERT_SMTP_STARTTLS", "false")
    monkeypatch.setenv("ADINSIGHTS_ALERT_EMAIL_TO", "oncall@adinsights.test")


def test_resolved_alert_is_delivered_at_once_and_exactly_once_with_the_sensor_ticking(
    instance, product_env, alert_env, slack, smtp, monkeypatch
) -> None:
    monkeypatch.setenv("ADINSIGHTS_ALERTS_RUN_MIN_INTERVAL_SECONDS", "0")
    add_tenants(instance, product_env, "acme", "beta")
    now = datetime.now(UTC)
    set_snapshot(product_env, "beta", now - timedelta(minutes=5))
    # broken: acme's snapshot is 130 minutes old; the sensor announces it
    set_snapshot(product_env, "acme", now - timedelta(minutes=130))
    run_sensor(instance, None)
    assert slack.texts() == [
        ":red_circle: [FAIL] metrics snapshot is critically stale for acme",
        ":red_circle: [FAIL] ESCALATION: 1 of 2 tenants (50%) have stale metrics snapshots",
    ]

    # fixed: a fresh snapshot; the sensor keeps ticking while the operator runs the alerts
    set_snapshot(product_env, "acme", datetime.now(UTC))
    stop = threading.Event()
    ticks: list[int] = []

    def tick() -> None:
        while not stop.is_set():
            run_sensor(instance, None)
            ticks.append(1)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        done = adinsights("alerts", "run", "--json")
        again = adinsights("alerts", "run", "--json")
    finally:
        stop.set()
        ticker.join(timeout=120)
    assert done.returncode == 0, done.stderr
    assert again.returncode == 0, again.stderr
    assert ticks, "the sensor ticked during the on-demand runs"

    resolved = ":white_check_mark: [RESOLVED] metrics snapshot is fresh again for acme"
    assert slack.texts().count(resolved) == 1
    assert [p["text"] for p in slack_for(slack, "snapshot:acme")] == [
        ":red_circle: [FAIL] metrics snapshot is critically stale for acme",
        resolved,
    ]
    assert [m.subject.strip() for m in mail_for(smtp, "snapshot:acme")] == [
        "ADinsights alert: [FAIL] metrics snapshot is critically stale for acme",
        "ADinsights alert: [RESOLVED] metrics snapshot is fresh again for acme",
    ]
    # whoever evaluated first delivered it; the answers say what each run did
    answers = [json.loads(done.stdout), json.loads(again.stdout)]
    acme = [
        rule
        for answer in answers
        for tenant in answer["tenants"]
        if tenant["tenant_id"] == "acme"
        for rule in tenant["rules"]
        if rule["subject"] == "snapshot:acme"
    ]
    assert [r["state"] for r in acme] == ["PASS", "PASS"]
    assert all(r["rule"] == "snapshot" for r in acme)
    assert answers[1]["channels"] == ["slack", "email"]
    assert acme[1] == {
        "subject": "snapshot:acme",
        "rule": "snapshot",
        "state": "PASS",
        "reason": acme[1]["reason"],
        "transition": False,
        "delivered": [],
    }
    assert acme[1]["reason"].startswith("metrics snapshot is fresh again for acme")

    with engine(product_env).connect() as conn:
        audited = conn.execute(
            sa.text("select actor, metadata from app.audit_log where action = 'alerts_run'")
        ).all()
    assert [a.actor for a in audited] == ["cli", "cli"]


def test_the_cli_run_delivers_at_once_and_prints_the_transition(
    instance, product_env, alert_env, slack, smtp, monkeypatch
) -> None:
    monkeypatch.setenv("ADINSIGHTS_ALERTS_RUN_MIN_INTERVAL_SECONDS", "0")
    with_snapshot_aged(instance, product_env, "acme", 130)
    run_sensor(instance, None)
    set_snapshot(product_env, "acme", datetime.now(UTC))

    done = adinsights("alerts", "run", "--tenant-id", "acme")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["TENANT", "RULE", "STATE", "DELIVERED", "REASON"]
    assert lines[1].split()[:4] == ["acme", "snapshot", "PASS", "slack,email"]
    assert "metrics snapshot is fresh again for acme" in lines[1]
    assert slack_for(slack, "snapshot:acme")[-1]["text"] == (
        ":white_check_mark: [RESOLVED] metrics snapshot is fresh again for acme"
    )

    unknown = adinsights("alerts", "run", "--tenant-id", "nobody")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == (
        "adinsights: error: tenant 'nobody' does not exist (adinsights tenants list)"
    )


def test_concurrent_on_demand_runs_deliver_one_transition_once(
    instance, product_env, slack, smtp
) -> None:
    with_snapshot_aged(instance, product_env, "acme", 70)
    eng = engine(product_env)
    now = datetime.now(UTC)
    results = []

    def run() -> None:
        results.append(
            run_alerts_now(
                instance,
                eng,
                GRAPH,
                channels(slack, smtp),
                now,
                actor="test",
                min_interval_seconds=0,
            )
        )

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 4
    assert [p["text"] for p in slack_for(slack, "snapshot:acme")] == [
        ":large_yellow_circle: [WARN] metrics snapshot is stale for acme"
    ]
    assert len(mail_for(smtp, "snapshot:acme")) == 1
    delivered = [
        r.delivered for run in results for r in run.results if r.subject == "snapshot:acme"
    ]
    assert sorted(delivered) == [(), (), (), ("slack", "email")]


def test_on_demand_runs_are_throttled(instance, product_env, slack, smtp) -> None:
    add_tenants(instance, product_env, "acme")
    eng = engine(product_env)
    now = datetime.now(UTC)

    def run_at(at: datetime) -> AlertsRun:
        return run_alerts_now(
            instance, eng, GRAPH, channels(slack, smtp), at, actor="t", min_interval_seconds=15
        )

    run_at(now)
    try:
        run_at(now + timedelta(seconds=5))
    except AlertsThrottled as exc:
        assert exc.retry_after == 10
        assert str(exc) == (
            "alerts were evaluated on demand 5 s ago; the next on-demand run is allowed in 10 s"
        )
    else:
        raise AssertionError("a second run 5 s later was not throttled")
    # a sensor tick in between does not count; 15 s later runs again
    run_sensor(instance, None)
    later = run_at(now + timedelta(seconds=15))
    assert later.evaluated_at == now + timedelta(seconds=15)


def test_api_runs_the_evaluation_for_operator_keys_only(
    instance, product_env, alert_env, slack, smtp
) -> None:
    with_snapshot_aged(instance, product_env, "acme", 130)
    with engine(product_env).begin() as conn:
        operator_key = create_api_key(conn, tenant_id=None, operator=True, label="oncall")
        tenant_key = create_api_key(conn, tenant_id="acme", label="acme")
    # as `adinsights serve-api` serves it: with a loader of the code location's graph
    app = create_app(product_env, Settings(), asset_graph=lambda: GRAPH)
    with TestClient(app) as client:
        refused = client.post("/api/alerts/run/", headers={"Authorization": f"Bearer {tenant_key}"})
        assert refused.status_code == 403
        assert refused.json()["detail"] == "only operator keys may run the alert evaluation"

        answer = client.post(
            "/api/alerts/run/?tenant_id=acme",
            headers={"Authorization": f"Bearer {operator_key}"},
        )
        assert answer.status_code == 200
        body = answer.json()
        assert [t["tenant_id"] for t in body["tenants"]] == ["acme"]
        snapshot = next(r for r in body["tenants"][0]["rules"] if r["subject"] == "snapshot:acme")
        assert snapshot["state"] == "FAIL"
        assert snapshot["transition"] is True
        assert snapshot["delivered"] == ["slack", "email"]
        assert slack_for(slack, "snapshot:acme")[0]["text"] == (
            ":red_circle: [FAIL] metrics snapshot is critically stale for acme"
        )

        throttled = client.post(
            "/api/alerts/run/", headers={"Authorization": f"Bearer {operator_key}"}
        )
        assert throttled.status_code == 429
        assert throttled.headers["content-type"] == "application/problem+json"
        assert 1 <= int(throttled.headers["retry-after"]) <= 15
    with engine(product_env).connect() as conn:
        audited = conn.execute(
            sa.text(
                "select tenant_id, actor from app.audit_log where action = 'alerts_run' order by id"
            )
        ).all()
    prefix = operator_key.split("_")[1]
    assert [(a.tenant_id, a.actor) for a in audited] == [("acme", f"api:{prefix}")]


def test_api_created_without_the_code_location_answers_503_and_evaluates_nothing(
    instance, product_env
) -> None:
    add_tenants(instance, product_env, "acme")
    with engine(product_env).begin() as conn:
        operator_key = create_api_key(conn, tenant_id=None, operator=True, label="oncall")
    with TestClient(create_app(product_env, Settings())) as client:
        answer = client.post(
            "/api/alerts/run/", headers={"Authorization": f"Bearer {operator_key}"}
        )
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "not available here" in answer.json()["detail"]
    with engine(product_env).connect() as conn:
        audited = conn.execute(
            sa.text("select count(*) from app.audit_log where action = 'alerts_run'")
        ).scalar_one()
    assert audited == 0
