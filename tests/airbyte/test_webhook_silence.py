"""The webhook-silence alert, end to end: the Airbyte simulator runs jobs through our sync and
notifies the real API over HTTP; a secret rotated on one side only silences the webhooks, the
alert fires once the window has passed (the evaluation's virtual clock), and resolves when
webhooks arrive again. Slack and SMTP are loopback sinks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from adinsights_pipelines.defs.airbyte.manual import sync_all
from adinsights_pipelines.defs.alerts.evaluate import evaluate_alerts
from adinsights_pipelines.defs.alerts.rules import WEBHOOK_SILENCE_SUBJECT
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.airbyte import AirbyteSimulator
from adinsights_pipelines.simulators.alert_sinks import SmtpSink, WebhookSink
from adinsights_pipelines.simulators.server import LoopbackServer
from adinsights_pipelines.warehouse.database import engine
from api.app import create_app
from tests.airbyte.conftest import Tenant, World
from tests.defs.test_alert_sensor import (
    GRAPH,
    channels,
    mail_for,
    slack_for,
)
from tests.sql import query

SECRET = "webhook-secret-0123456789"


@pytest.fixture
def api(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    monkeypatch.setenv("ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ADINSIGHTS_METRICS_CACHE_SECONDS", "0")
    with LoopbackServer(create_app(world.db, Settings()), name="api") as server:
        yield server


def scrape(api: LoopbackServer) -> dict[str, float]:
    """The webhook samples of the API's own /metrics/app/ exposition."""
    text = requests.get(f"{api.url}/metrics/app/", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("airbyte_webhook_"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def sync_and_wait(world: World, sim: AirbyteSimulator, tenant: Tenant) -> datetime:
    """One sync through the product; waits for the simulator's webhook delivery. Returns the
    job's recorded end."""
    before = len(sim.state.webhook_deliveries)
    done = sync_all(world.db, world.instance, tenant.id, lambda message: None)
    assert [d.succeeded for d in done] == [True]
    deadline = time.monotonic() + 15
    while len(sim.state.webhook_deliveries) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sim.state.webhook_deliveries) == before + 1
    job_id = done[0].jobs[-1].job_id
    (finished,) = query(
        world.db,
        "select finished_at from app.airbyte_jobs where connection_id = :c and job_id = :j",
        c=tenant.connection_id,
        j=job_id,
    )
    return finished.finished_at


def test_silence_fires_after_the_window_and_resolves_when_webhooks_resume(
    world: World, airbyte: AirbyteSimulator, tenant: Tenant, api: LoopbackServer, slack, smtp
) -> None:
    hook = f"{api.url}/api/airbyte/webhook/"
    eng = engine(world.db)
    sinks = channels(slack, smtp)

    def evaluate(cursor: str | None, now: datetime):
        evaluation = evaluate_alerts(world.instance, eng, GRAPH, cursor, sinks, now)
        observation = next(
            o for o in evaluation.observations if o.subject == WEBHOOK_SILENCE_SUBJECT
        )
        return evaluation, observation

    # webhooks work: a job and its notification
    airbyte.state.configure(webhook_url=hook, webhook_secret=SECRET)
    sync_and_wait(world, airbyte, tenant)
    assert airbyte.state.webhook_deliveries[-1]["status"] == 200

    # the secret is rotated in Airbyte only: the API refuses, no audit event arrives
    airbyte.state.configure(webhook_secret="rotated-on-one-side-only")
    finished = sync_and_wait(world, airbyte, tenant)
    assert airbyte.state.webhook_deliveries[-1]["status"] == 403

    # the exposition says the same: a job without a webhook, silent since it finished
    exposed = scrape(api)
    assert exposed['airbyte_webhook_jobs_total{job_status="succeeded"}'] == 1
    assert exposed["airbyte_webhook_delay_seconds_count"] == 1
    assert exposed["airbyte_webhook_silence_seconds"] > 0
    # the last webhook received is the first job's, before the second job ended; Airbyte
    # reports that end to the whole second, so both can fall within the same second
    assert exposed["airbyte_webhook_last_received_timestamp_seconds"] < finished.timestamp() + 1

    first, silence = evaluate(None, finished + timedelta(minutes=29))
    assert silence.state.value == "PASS"
    assert slack_for(slack, WEBHOOK_SILENCE_SUBJECT) == []

    fired, silence = evaluate(first.cursor, finished + timedelta(minutes=31))
    assert silence.state.value == "FAIL"
    posts = slack_for(slack, WEBHOOK_SILENCE_SUBJECT)
    assert [p["text"] for p in posts] == [
        ":red_circle: [FAIL] Airbyte webhooks silent for 31 min while 1 job(s) finished"
    ]
    mails = mail_for(smtp, WEBHOOK_SILENCE_SUBJECT)
    assert len(mails) == 1
    assert "Runbook action: Airbyte webhooks stopped arriving." in mails[0].body
    assert "X-Airbyte-Webhook-Secret differs from ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET" in (
        mails[0].body
    )
    # still silent a minute later: nothing new
    still, _ = evaluate(fired.cursor, finished + timedelta(minutes=32))
    assert len(slack_for(slack, WEBHOOK_SILENCE_SUBJECT)) == 1

    # fixed: the secrets agree again; the next job's webhook arrives
    airbyte.state.configure(webhook_secret=SECRET)
    sync_and_wait(world, airbyte, tenant)
    assert airbyte.state.webhook_deliveries[-1]["status"] == 200
    exposed = scrape(api)
    assert exposed['airbyte_webhook_jobs_total{job_status="succeeded"}'] == 2
    assert exposed["airbyte_webhook_delay_seconds_count"] == 2
    assert exposed['airbyte_webhook_delay_seconds_bucket{le="+Inf"}'] == 2
    assert exposed["airbyte_webhook_silence_seconds"] == 0
    resolved, silence = evaluate(still.cursor, finished + timedelta(minutes=33))
    assert silence.state.value == "PASS"
    assert [p["text"] for p in slack_for(slack, WEBHOOK_SILENCE_SUBJECT)][1:] == [
        ":white_check_mark: [RESOLVED] Airbyte webhooks arrive again"
    ]
    assert [m.subject.strip() for m in mail_for(smtp, WEBHOOK_SILENCE_SUBJECT)] == [
        "ADinsights alert: [FAIL] Airbyte webhooks silent for 31 min while 1 job(s) finished",
        "ADinsights alert: [RESOLVED] Airbyte webhooks arrive again",
    ]
    evaluate(resolved.cursor, finished + timedelta(minutes=40))
    assert len(slack_for(slack, WEBHOOK_SILENCE_SUBJECT)) == 2


def silence_cycle_with_airbyte_clock_off_by(
    skew: timedelta,
    world: World,
    airbyte: AirbyteSimulator,
    api: LoopbackServer,
    tenant: Tenant,
    slack: WebhookSink,
    smtp: SmtpSink,
) -> None:
    """Airbyte's clock ``skew`` off ours: job times come from Airbyte's host in whole seconds,
    webhook receipts from our database. Whether a job ended before or after the newest webhook
    must not depend on the two clocks agreeing (they disagree by up to a second through
    truncation alone, which made the end-to-end test above flaky)."""
    airbyte.state.set_now(datetime.now(UTC) + skew)  # the shifted clock keeps running
    eng = engine(world.db)

    def silence(cursor: str | None, now: datetime):
        evaluation = evaluate_alerts(world.instance, eng, GRAPH, cursor, channels(slack, smtp), now)
        return evaluation, next(
            o for o in evaluation.observations if o.subject == WEBHOOK_SILENCE_SUBJECT
        )

    airbyte.state.configure(webhook_url=f"{api.url}/api/airbyte/webhook/", webhook_secret=SECRET)
    sync_and_wait(world, airbyte, tenant)
    assert airbyte.state.webhook_deliveries[-1]["status"] == 200
    airbyte.state.configure(webhook_secret="rotated-on-one-side-only")
    finished = sync_and_wait(world, airbyte, tenant)
    assert airbyte.state.webhook_deliveries[-1]["status"] == 403
    if skew < timedelta(0):  # measured from Airbyte's end of the job, so at least the skew
        assert scrape(api)["airbyte_webhook_silence_seconds"] >= -skew.total_seconds()

    first, observation = silence(None, finished + timedelta(minutes=29))
    assert observation.state.value == "PASS"
    fired, observation = silence(first.cursor, finished + timedelta(minutes=31))
    assert observation.state.value == "FAIL"
    assert observation.summary.endswith("while 1 job(s) finished")

    airbyte.state.configure(webhook_secret=SECRET)
    sync_and_wait(world, airbyte, tenant)
    assert airbyte.state.webhook_deliveries[-1]["status"] == 200
    assert scrape(api)["airbyte_webhook_silence_seconds"] == 0
    _, observation = silence(fired.cursor, finished + timedelta(minutes=33))
    assert observation.state.value == "PASS"
    assert [p["text"] for p in slack_for(slack, WEBHOOK_SILENCE_SUBJECT)] == [
        ":red_circle: [FAIL] Airbyte webhooks silent for 31 min while 1 job(s) finished",
        ":white_check_mark: [RESOLVED] Airbyte webhooks arrive again",
    ]


def test_airbyte_clock_behind_ours_hides_no_silent_job(
    world: World, airbyte: AirbyteSimulator, tenant: Tenant, api: LoopbackServer, slack, smtp
) -> None:
    # a job that ended after the webhook, stamped by Airbyte before it: still unannounced
    silence_cycle_with_airbyte_clock_off_by(
        -timedelta(seconds=10), world, airbyte, api, tenant, slack, smtp
    )


def test_airbyte_clock_ahead_of_ours_keeps_no_announced_period_silent(
    world: World, airbyte: AirbyteSimulator, tenant: Tenant, api: LoopbackServer, slack, smtp
) -> None:
    # the silent job ended before webhooks resumed, stamped by Airbyte after: resolved
    silence_cycle_with_airbyte_clock_off_by(
        timedelta(seconds=10), world, airbyte, api, tenant, slack, smtp
    )


def test_hours_without_jobs_are_not_silence(
    world: World, airbyte: AirbyteSimulator, tenant: Tenant, api: LoopbackServer, slack, smtp
) -> None:
    airbyte.state.configure(webhook_url=f"{api.url}/api/airbyte/webhook/", webhook_secret=SECRET)
    finished = sync_and_wait(world, airbyte, tenant)
    evaluation = evaluate_alerts(
        world.instance,
        engine(world.db),
        GRAPH,
        None,
        channels(slack, smtp),
        finished + timedelta(hours=3),
    )
    silence = next(o for o in evaluation.observations if o.subject == WEBHOOK_SILENCE_SUBJECT)
    assert silence.state.value == "PASS"
    assert slack_for(slack, WEBHOOK_SILENCE_SUBJECT) == []
