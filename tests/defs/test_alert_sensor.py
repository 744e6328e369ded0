"""The alert evaluation against a real Dagster instance and PostgreSQL, delivering to real
loopback servers: an HTTP webhook sink (Slack's role) and an aiosmtpd SMTP server.

The clock is a parameter of the evaluation: tests move ``now`` instead of waiting.
"""

import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    SensorResult,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
    job,
    op,
)

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.alerts.delivery import EmailChannel, SlackChannel
from adinsights_pipelines.defs.alerts.evaluate import evaluate_alerts
from adinsights_pipelines.defs.alerts.observe import REQUESTS_METRIC
from adinsights_pipelines.defs.alerts.sensor import alert_sensor
from adinsights_pipelines.defs.resources import AlertChannelsResource, WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS, tenant_partitions
from adinsights_pipelines.simulators.alert_sinks import SmtpSink, WebhookSink
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import engine

GRAPH = defs.resolve_asset_graph()


def channels(slack: WebhookSink, smtp: SmtpSink) -> list:
    return [
        SlackChannel(slack.url, retry_wait_seconds=0.01),
        EmailChannel(
            host=smtp.host,
            port=smtp.port,
            sender="alerts@adinsights.test",
            recipients=["oncall@adinsights.test"],
            starttls=False,
            retry_wait_seconds=0.01,
        ),
    ]


def add_tenants(instance: DagsterInstance, db, *tenant_ids: str) -> None:
    with engine(db).begin() as conn:
        for tenant_id in tenant_ids:
            add_tenant(conn, tenant_id, tenant_id)
    instance.add_dynamic_partitions(TENANT_PARTITIONS, list(tenant_ids))


def slack_for(sink: WebhookSink, subject: str) -> list[dict]:
    return [
        p.body
        for p in sink.posts
        if any(subject in e["text"] for e in p.body["blocks"][2]["elements"])
    ]


def fields_of(post: dict) -> dict[str, str]:
    return dict(f["text"].split("\n", 1) for f in post["blocks"][1]["fields"])


def mail_for(sink: SmtpSink, subject: str) -> list:
    return [m for m in sink.messages if m.header("X-Adinsights-Alert") == subject]


def materialize(instance: DagsterInstance, key: str, partition: str) -> datetime:
    instance.report_runless_asset_event(AssetMaterialization(key, partition=partition))
    record = instance.fetch_materializations(AssetKey(key), limit=1).records[0]
    return datetime.fromtimestamp(record.timestamp, UTC)


def test_pass_warn_fail_pass_sends_exactly_one_alert_per_transition(
    instance, product_env, slack, smtp
) -> None:
    add_tenants(instance, product_env, "acme")
    subject = "freshness:meta_insights:acme"
    t0 = materialize(instance, "meta_insights", "acme")
    cursor = None
    counts = []
    eng = engine(product_env)
    for offset in (
        timedelta(minutes=30),  # PASS
        timedelta(hours=2, minutes=1),  # WARN
        timedelta(hours=3),  # still WARN: no repeat
        timedelta(hours=4, minutes=1),  # FAIL
        timedelta(hours=5),  # still FAIL: no repeat
    ):
        result = evaluate_alerts(instance, eng, GRAPH, cursor, channels(slack, smtp), t0 + offset)
        cursor = result.cursor
        counts.append((len(slack_for(slack, subject)), len(mail_for(smtp, subject))))
    t1 = materialize(instance, "meta_insights", "acme")
    result = evaluate_alerts(
        instance, eng, GRAPH, cursor, channels(slack, smtp), t1 + timedelta(minutes=5)
    )
    counts.append((len(slack_for(slack, subject)), len(mail_for(smtp, subject))))
    assert counts == [(0, 0), (1, 1), (1, 1), (2, 2), (2, 2), (3, 3)]

    warn, fail, resolved = slack_for(slack, subject)
    assert warn["text"].endswith("[WARN] meta_insights is getting stale for acme")
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in warn["blocks"][1]["fields"]
    }
    assert fields["*Tenant*"] == "acme"
    assert fields["*Asset*"] == "meta_insights"
    assert fields["*State*"] == "PASS -> WARN"
    assert fields["*Age*"] == "2 h 01 min"
    assert fields["*Threshold*"] == "warn 2h / fail 4h"
    assert "re-run the tenant's meta_sync" in warn["blocks"][2]["elements"][0]["text"]
    assert fail["text"].endswith("[FAIL] meta_insights is stale for acme")
    assert resolved["text"].endswith("[RESOLVED] meta_insights is fresh again for acme")

    mails = mail_for(smtp, subject)
    assert [m.subject for m in mails] == [
        "ADinsights alert: [WARN] meta_insights is getting stale for acme",
        "ADinsights alert: [FAIL] meta_insights is stale for acme",
        "ADinsights alert: [RESOLVED] meta_insights is fresh again for acme",
    ]
    body = mails[1].body
    for line in (
        "Tenant:     acme",
        "Asset:      meta_insights",
        "Age:        4 h 01 min",
        "Threshold:  warn 2h / fail 4h",
        "Runbook action: Check /api/integrations",
    ):
        assert line in body
    assert mails[0].recipients == ["oncall@adinsights.test"]


def test_failed_delivery_is_logged_without_the_webhook_and_retried_next_evaluation(
    instance, product_env, slack, smtp, caplog
) -> None:
    add_tenants(instance, product_env, "acme")
    subject = "freshness:meta_insights:acme"
    t0 = materialize(instance, "meta_insights", "acme")
    eng = engine(product_env)
    baseline = evaluate_alerts(instance, eng, GRAPH, None, channels(slack, smtp), t0)
    slack.fail_next(3)  # every attempt of the first evaluation
    with caplog.at_level(logging.WARNING, logger="adinsights.alerts"):
        first = evaluate_alerts(
            instance, eng, GRAPH, baseline.cursor, channels(slack, smtp), t0 + timedelta(hours=5)
        )
    assert first.delivery.failed == {"slack": "slack: HTTP 500 after 3 attempts"}
    assert (len(slack_for(slack, subject)), len(mail_for(smtp, subject))) == (0, 1)
    assert "alert delivery failed" in caplog.text
    assert slack.url not in caplog.text and "T000/B000" not in caplog.text

    second = evaluate_alerts(
        instance,
        eng,
        GRAPH,
        first.cursor,
        channels(slack, smtp),
        t0 + timedelta(hours=5, minutes=1),
    )
    assert second.delivery.failed == {}
    assert (len(slack_for(slack, subject)), len(mail_for(smtp, subject))) == (1, 1)
    assert slack_for(slack, subject)[0]["text"].endswith("[FAIL] meta_insights is stale for acme")
    third = evaluate_alerts(
        instance,
        eng,
        GRAPH,
        second.cursor,
        channels(slack, smtp),
        t0 + timedelta(hours=5, minutes=2),
    )
    assert third.sent == {"slack": [], "email": []}


def test_an_unreachable_smtp_relay_never_breaks_the_evaluation(
    instance, product_env, slack
) -> None:
    add_tenants(instance, product_env, "acme")
    t0 = materialize(instance, "meta_insights", "acme")
    dead = EmailChannel(
        host="127.0.0.1", port=1, sender="a@b.test", recipients=["c@d.test"], starttls=False,
        retry_wait_seconds=0.01, timeout=1,
    )  # fmt: skip
    result = evaluate_alerts(
        instance, engine(product_env), GRAPH, None,
        [SlackChannel(slack.url, retry_wait_seconds=0.01), dead], t0 + timedelta(hours=5),
    )  # fmt: skip
    assert result.delivery.failed["email"] == "email: ConnectionRefusedError after 3 attempts"
    assert len(slack_for(slack, "freshness:meta_insights:acme")) == 1


# --- failed checks and failed runs ----------------------------------------------------------

CONTROL = {"check_passes": True, "asset_raises": False}


@asset(partitions_def=tenant_partitions, group_name="orders")
def orders(context: AssetExecutionContext) -> None:
    if CONTROL["asset_raises"]:
        raise RuntimeError("orders source answered 503")


@asset_check(asset=orders, description="no negative order totals")
def orders_non_negative() -> AssetCheckResult:
    return AssetCheckResult(
        passed=CONTROL["check_passes"],
        description=None if CONTROL["check_passes"] else "3 orders with negative totals",
    )


orders_job = define_asset_job("orders_job", selection=[orders])


@op
def build_models() -> None:
    pass


@job(name="dbt_build")
def stand_in_dbt_build() -> None:
    build_models()


CHECK_DEFS = Definitions(assets=[orders], asset_checks=[orders_non_negative], jobs=[orders_job])


def run_orders(instance: DagsterInstance) -> bool:
    result = CHECK_DEFS.resolve_job_def("orders_job").execute_in_process(
        instance=instance, partition_key="acme", raise_on_error=False, tags={"tenant_id": "acme"}
    )
    return result.success


def test_failed_check_and_failed_run_alert_once_and_resolve(
    instance, product_env, slack, smtp
) -> None:
    add_tenants(instance, product_env, "acme")
    graph = CHECK_DEFS.resolve_asset_graph()
    eng = engine(product_env)
    check_subject, run_subject = "check:orders:orders_non_negative", "run:orders_job:acme"

    def evaluate(cursor):
        return evaluate_alerts(
            instance, eng, graph, cursor, channels(slack, smtp), datetime.now(UTC)
        )

    CONTROL.update(check_passes=True, asset_raises=False)
    assert run_orders(instance)
    cursor = evaluate(None).cursor
    assert slack.posts == [] and smtp.messages == []

    CONTROL.update(check_passes=False)
    assert run_orders(instance)  # a failing check (warn-free, error severity) fails no run
    cursor = evaluate(cursor).cursor
    [check_alert] = slack_for(slack, check_subject)
    assert check_alert["text"].endswith("[FAIL] check orders_non_negative failed on orders")
    assert "3 orders with negative totals" in fields_of(check_alert)["*Detail*"]

    CONTROL.update(asset_raises=True)
    assert not run_orders(instance)
    cursor = evaluate(cursor).cursor
    [run_alert] = slack_for(slack, run_subject)
    assert run_alert["text"].endswith("[FAIL] job orders_job [acme] failed")
    assert fields_of(run_alert)["*Detail*"].startswith(
        "orders: RuntimeError: orders source answered 503; run "
    )
    assert fields_of(run_alert)["*Tenant*"] == "acme"
    assert not run_orders(instance)  # failing again: no repeat
    cursor = evaluate(cursor).cursor
    assert len(slack_for(slack, run_subject)) == 1 and len(slack_for(slack, check_subject)) == 1

    CONTROL.update(check_passes=True, asset_raises=False)
    assert run_orders(instance)
    evaluate(cursor)
    assert [p["text"].split("] ", 1)[0] for p in slack_for(slack, run_subject)] == [
        ":red_circle: [FAIL",
        ":white_check_mark: [RESOLVED",
    ]
    assert len(slack_for(slack, check_subject)) == 2
    assert len(mail_for(smtp, run_subject)) == 2 and len(mail_for(smtp, check_subject)) == 2


# --- snapshots, grace, escalation, through the sensor itself --------------------------------


def set_snapshot(db, tenant_id: str, generated_at: datetime) -> None:
    with engine(db).begin() as conn:
        conn.execute(
            sa.text(
                "insert into app.metrics_snapshots (tenant_id, payload, snapshot_generated_at) "
                "values (:t, '{}', :g) on conflict (tenant_id) do update "
                "set snapshot_generated_at = excluded.snapshot_generated_at"
            ),
            {"t": tenant_id, "g": generated_at},
        )


def with_snapshot_aged(instance: DagsterInstance, db, tenant_id: str, minutes: int) -> None:
    """``tenant_id`` (and its partition), its snapshot made ``minutes`` ago."""
    add_tenants(instance, db, tenant_id)
    set_snapshot(db, tenant_id, datetime.now(UTC) - timedelta(minutes=minutes))


@pytest.fixture
def alert_env(monkeypatch, slack, smtp) -> None:
    monkeypatch.setenv("ADINSIGHTS_ALERT_SLACK_WEBHOOK_URL", slack.url)
    monkeypatch.setenv("ADINSIGHTS_ALERT_SMTP_HOST", smtp.host)
    monkeypatch.setenv("ADINSIGHTS_ALERT_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("ADINSIGHTS_ALERT_SMTP_STARTTLS", "false")
    monkeypatch.setenv("ADINSIGHTS_ALERT_EMAIL_TO", "oncall@adinsights.test")


def run_sensor(instance: DagsterInstance, cursor: str | None) -> SensorResult:
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"warehouse": WarehouseResource(), "alert_channels": AlertChannelsResource()},
    ) as context:
        result = alert_sensor(context)
    assert isinstance(result, SensorResult)
    return result


def test_sensor_alerts_stale_snapshots_and_escalates_above_20_percent(
    instance, product_env, alert_env, slack, smtp
) -> None:
    tenants = ["t-one", "t-two", "t-three", "t-four", "t-five"]
    add_tenants(instance, product_env, *tenants)
    now = datetime.now(UTC)
    for tenant in tenants[:3]:
        set_snapshot(product_env, tenant, now - timedelta(minutes=10))
    set_snapshot(product_env, "t-four", now - timedelta(minutes=70))
    set_snapshot(product_env, "t-five", now - timedelta(minutes=130))

    first = run_sensor(instance, None)
    assert sorted(slack.texts()) == sorted(
        [
            ":large_yellow_circle: [WARN] metrics snapshot is stale for t-four",
            ":red_circle: [FAIL] metrics snapshot is critically stale for t-five",
            ":red_circle: [FAIL] ESCALATION: 2 of 5 tenants (40%) have stale metrics snapshots",
        ]
    )
    assert len(smtp.messages) == 3
    escalation_mail = mail_for(smtp, "escalation:stale-snapshots")[0]
    assert "Page Data Engineering" in escalation_mail.body
    assert "stale: t-five, t-four" in escalation_mail.body

    # the same states again: nothing new
    second = run_sensor(instance, first.cursor)
    assert len(slack.posts) == 3 and len(smtp.messages) == 3

    # t-five refreshed: resolved for it, and the escalation clears (1 of 5 is 20 %)
    set_snapshot(product_env, "t-five", datetime.now(UTC))
    run_sensor(instance, second.cursor)
    assert sorted(slack.texts()[3:]) == [
        ":white_check_mark: [RESOLVED] Stale snapshots back under 20% of tenants (1 of 5)",
        ":white_check_mark: [RESOLVED] metrics snapshot is fresh again for t-five",
    ]


def test_snapshot_staleness_is_held_within_15_minutes_of_a_dbt_run(
    instance, product_env, slack, smtp
) -> None:
    with_snapshot_aged(instance, product_env, "acme", 50)
    eng = engine(product_env)
    baseline = evaluate_alerts(instance, eng, GRAPH, None, channels(slack, smtp), datetime.now(UTC))
    assert slack.posts == []
    result = Definitions(jobs=[stand_in_dbt_build]).resolve_job_def("dbt_build")
    assert result.execute_in_process(instance=instance).success
    dbt_end = datetime.now(UTC)

    # 70 minutes old, 10 minutes after dbt finished: held back
    held = evaluate_alerts(
        instance,
        eng,
        GRAPH,
        baseline.cursor,
        channels(slack, smtp),
        dbt_end + timedelta(minutes=10),
    )
    snapshot = next(o for o in held.observations if o.subject == "snapshot:acme")
    assert snapshot.state.value == "PASS" and "held back" in (snapshot.detail or "")
    assert slack.posts == [] and smtp.messages == []
    # grace over: the warning goes out
    evaluate_alerts(
        instance, eng, GRAPH, held.cursor, channels(slack, smtp), dbt_end + timedelta(minutes=16)
    )
    assert slack.texts() == [
        ":large_yellow_circle: [WARN] metrics snapshot is stale for acme",
        ":red_circle: [FAIL] ESCALATION: 1 of 1 tenants (100%) have stale metrics snapshots",
    ]


def test_alert_sensor_runs_by_default_about_every_minute() -> None:
    sensor = defs.resolve_sensor_def("adinsights_alerts")
    assert sensor.minimum_interval_seconds == 60
    assert sensor.default_status.value == "RUNNING"


# --- API error rate ---------------------------------------------------------------------------


METRIC = REQUESTS_METRIC


class Counters:
    def __init__(self) -> None:
        self.ok, self.errors = 0, 0
        counters = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                text = (
                    f"# HELP {METRIC} Requests by route and status.\n"
                    f"# TYPE {METRIC} counter\n"
                    f'{METRIC}{{route="/api/health/",status="200"}} {counters.ok}\n'
                    f'{METRIC}{{route="/api/meta/ads/",status="500"}} {counters.errors}\n'
                    f'{METRIC}{{route="/api/meta/ads/",status="404"}} 7\n'
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics/app/"


def test_api_error_rate_above_2_percent_over_5_minutes(instance, product_env, slack, smtp) -> None:
    counters = Counters()
    eng = engine(product_env)
    start = datetime.now(UTC)

    def evaluate(cursor, minutes):
        return evaluate_alerts(
            instance, eng, GRAPH, cursor, channels(slack, smtp),
            start + timedelta(minutes=minutes), metrics_urls=[counters.url],
        )  # fmt: skip

    try:
        counters.ok = 1000
        cursor = evaluate(None, 0).cursor  # first sample: nothing to compare with
        counters.ok, counters.errors = 1097, 3  # 3 of 100 in 5 minutes
        cursor = evaluate(cursor, 5).cursor
        assert slack.texts() == [
            ":red_circle: [FAIL] API error rate 3.0% over the last 5 min "
            "(3 of 100 requests answered 5xx)"
        ]
        counters.ok = 1297  # 200 more requests, no new errors
        evaluate(cursor, 10)
        assert slack.texts()[1].startswith(":white_check_mark: [RESOLVED] API error rate back")
        assert len(mail_for(smtp, "error-rate:api")) == 2
    finally:
        counters.server.shutdown()


def test_meta_api_version_warns_once_then_errors_once_per_version(
    instance, product_env, slack, smtp, monkeypatch
) -> None:
    monkeypatch.setenv("ADINSIGHTS_META_API_VERSION", "v25.0")  # sunset 2027-02-23
    subject = "meta-api-version:v25.0"
    eng = engine(product_env)
    cursor, counts = None, []
    for moment in (
        datetime(2026, 11, 1, tzinfo=UTC),  # ok: silent
        datetime(2026, 12, 1, tzinfo=UTC),  # warning
        datetime(2027, 1, 15, tzinfo=UTC),  # still warning: no repeat
        datetime(2027, 2, 23, 1, tzinfo=UTC),  # retired: error
        datetime(2027, 3, 1, tzinfo=UTC),  # still retired: no repeat
    ):
        result = evaluate_alerts(instance, eng, GRAPH, cursor, channels(slack, smtp), moment)
        cursor = result.cursor
        counts.append((len(slack_for(slack, subject)), len(mail_for(smtp, subject))))
    assert counts == [(0, 0), (1, 1), (1, 1), (2, 2), (2, 2)]
    warn, error = slack_for(slack, subject)
    assert "v25.0 is retired on 2027-02-23, in 84 days" in warn["text"] + str(warn["blocks"])
    assert "was retired on 2027-02-23" in error["text"] + str(error["blocks"])

    # The next version is a new subject: fine, so nothing is sent.
    monkeypatch.setenv("ADINSIGHTS_META_API_VERSION", "v26.0")
    evaluate_alerts(
        instance, eng, GRAPH, cursor, channels(slack, smtp), datetime(2027, 3, 2, tzinfo=UTC)
    )
    assert len(slack_for(slack, "meta-api-version:")) == 2
