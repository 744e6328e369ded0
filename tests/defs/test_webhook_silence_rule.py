"""The webhook-silence rule as a pure function: the clock and the stored facts are arguments."""

from datetime import UTC, datetime, timedelta

from adinsights_pipelines.defs.alerts.rules import Observation, webhook_silence
from adinsights_pipelines.defs.freshness_policies import State

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_no_webhook_ever_is_unknown() -> None:
    observation = webhook_silence(None, NOW - timedelta(hours=2), 5, NOW)
    assert observation.state is State.UNKNOWN
    assert observation.summary == "no Airbyte webhook received yet (webhooks not in use)"


def test_a_job_without_webhook_fires_only_after_the_window() -> None:
    last = NOW - timedelta(minutes=90)
    within = webhook_silence(last, NOW - timedelta(minutes=30), 1, NOW)
    assert within.state is State.PASS
    past = webhook_silence(last, NOW - timedelta(minutes=31), 2, NOW)
    assert past.state is State.FAIL
    assert past.summary == "Airbyte webhooks silent for 90 min while 2 job(s) finished"
    assert past.detail == (
        "last webhook 2026-12-04 10:30 UTC (90 min ago); first job without a webhook finished "
        "2026-12-04 11:29 UTC"
    )
    assert "replay the missed webhooks" in past.action


def test_hours_without_jobs_are_not_silence_and_the_window_is_a_setting() -> None:
    quiet = webhook_silence(NOW - timedelta(hours=5), None, 0, NOW)
    assert quiet.state is State.PASS and quiet.summary == "Airbyte webhooks arrive again"
    short = webhook_silence(
        NOW - timedelta(hours=1), NOW - timedelta(minutes=11), 1, NOW, timedelta(minutes=10)
    )
    assert short.state is State.FAIL
    assert short.threshold == "a webhook within 10 min of every finished Airbyte job"


def test_each_state_is_the_whole_observation_the_alert_and_the_ops_card_read() -> None:
    common = {
        "subject": "webhook:airbyte",
        "kind": "webhook",
        "target": "airbyte_job_webhook audit events",
        "threshold": "a webhook within 90 min of every finished Airbyte job",
        "action_key": "webhook",
    }
    window = timedelta(minutes=90)
    assert webhook_silence(None, NOW, 3, NOW, window) == Observation(
        state=State.UNKNOWN,
        summary="no Airbyte webhook received yet (webhooks not in use)",
        **common,
    )
    last = NOW - timedelta(minutes=100, seconds=15)  # 100.25 min ago: 100.2 to a tenth
    assert webhook_silence(last, NOW - timedelta(minutes=60), 1, NOW, window) == Observation(
        state=State.PASS,
        summary="Airbyte webhooks arrive again",
        age_minutes=100.2,
        detail="last webhook 2026-12-04 10:19 UTC (100 min ago)",
        **common,
    )
    assert webhook_silence(last, NOW - timedelta(minutes=91), 4, NOW, window) == Observation(
        state=State.FAIL,
        summary="Airbyte webhooks silent for 100 min while 4 job(s) finished",
        age_minutes=100.2,
        detail="last webhook 2026-12-04 10:19 UTC (100 min ago); first job without a webhook "
        "finished 2026-12-04 10:29 UTC",
        **common,
    )
