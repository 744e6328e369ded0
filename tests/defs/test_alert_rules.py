"""The alert decisions as plain functions, driven by a hand-moved clock."""

from datetime import UTC, datetime, timedelta

from adinsights_pipelines.defs.alerts.messages import email_message, plain_text, slack_payload
from adinsights_pipelines.defs.alerts.rules import (
    Alert,
    Observation,
    error_rate,
    error_rate_observation,
    escalation,
    hold_during_grace,
    pending_alerts,
    record_silent_states,
    staleness_onset,
)
from adinsights_pipelines.defs.freshness_policies import State

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def obs(subject: str, state: State, tenant: str | None = "acme", **extra) -> Observation:
    return Observation(
        subject=subject,
        kind=extra.pop("kind", "freshness"),
        state=state,
        summary=f"{subject} is {state.value}",
        tenant_id=tenant,
        **extra,
    )


def announce(notified: dict[str, str], observations: list[Observation]) -> list[Alert]:
    """What a channel does each evaluation when delivery succeeds."""
    notified.update(record_silent_states(notified, observations))
    for key in list(notified):
        if key not in {o.subject for o in observations}:
            del notified[key]
    alerts = pending_alerts(notified, observations)
    for alert in alerts:
        notified[alert.subject] = alert.observation.state.value
    return alerts


def test_one_alert_per_state_change_and_a_resolved_one() -> None:
    notified: dict[str, str] = {}
    sequence = [State.PASS, State.PASS, State.WARN, State.WARN, State.FAIL, State.FAIL, State.PASS]
    sent = [announce(notified, [obs("freshness:meta_insights:acme", s)]) for s in sequence]
    assert [len(a) for a in sent] == [0, 0, 1, 0, 1, 0, 1]
    assert [(a[0].previous, a[0].observation.state) for a in sent if a] == [
        (State.PASS, State.WARN),
        (State.WARN, State.FAIL),
        (State.FAIL, State.PASS),
    ]
    assert sent[-1][0].resolved and not sent[2][0].resolved


def test_first_sighting_alerts_only_when_already_failing() -> None:
    notified: dict[str, str] = {}
    alerts = announce(notified, [obs("a", State.PASS), obs("b", State.FAIL), obs("c", State.WARN)])
    assert sorted(a.subject for a in alerts) == ["b", "c"]
    assert all(a.previous is State.UNKNOWN for a in alerts)


def test_unknown_keeps_the_last_announced_state() -> None:
    notified = {"check:x": "FAIL"}
    assert announce(notified, [obs("check:x", State.UNKNOWN)]) == []
    assert notified == {"check:x": "FAIL"}
    assert announce(notified, [obs("check:x", State.FAIL)]) == []


def test_undelivered_alert_stays_pending() -> None:
    notified = record_silent_states({}, [obs("a", State.PASS)])
    failing = [obs("a", State.FAIL)]
    assert len(pending_alerts(notified, failing)) == 1
    # nothing was marked: the next evaluation still owes the alert
    assert len(pending_alerts(notified, failing)) == 1


def test_vanished_subjects_are_forgotten() -> None:
    assert record_silent_states({"gone": "FAIL", "kept": "PASS"}, [obs("kept", State.PASS)]) == {
        "kept": "PASS"
    }


def test_snapshot_grace_holds_new_staleness_for_15_minutes_after_dbt() -> None:
    dbt_end = NOW - timedelta(minutes=10)
    just = NOW - timedelta(minutes=2)  # the snapshot crossed its threshold 2 minutes ago
    assert hold_during_grace(State.WARN, State.PASS, dbt_end, NOW, just) == (State.PASS, True)
    assert hold_during_grace(State.FAIL, State.WARN, dbt_end, NOW, just) == (State.WARN, True)
    assert hold_during_grace(State.FAIL, None, dbt_end, NOW, just) == (State.PASS, True)
    # recovery is never held
    assert hold_during_grace(State.PASS, State.FAIL, dbt_end, NOW, None) == (State.PASS, False)
    # 15 minutes after dbt ended, staleness shows
    late = NOW - timedelta(minutes=15)
    assert hold_during_grace(State.WARN, State.PASS, late, NOW, just) == (State.WARN, False)
    assert hold_during_grace(State.WARN, State.PASS, None, NOW, just) == (State.WARN, False)


def test_grace_delays_an_alert_at_most_15_minutes_even_with_dbt_every_15_minutes() -> None:
    """dbt succeeds every 15 minutes, so some run has always just ended: a snapshot that has
    been stale for 15 minutes or more alerts anyway."""
    dbt_end = NOW - timedelta(minutes=3)
    long_ago = NOW - timedelta(minutes=15)
    assert hold_during_grace(State.WARN, State.PASS, dbt_end, NOW, long_ago) == (State.WARN, False)
    # a missing snapshot has no onset to bound the hold by: never held
    assert hold_during_grace(State.FAIL, State.PASS, dbt_end, NOW, None) == (State.FAIL, False)


def test_staleness_onset_is_when_the_age_crossed_the_threshold() -> None:
    assert staleness_onset(State.WARN, 70.0, NOW) == NOW - timedelta(minutes=10)
    assert staleness_onset(State.FAIL, 125.0, NOW) == NOW - timedelta(minutes=5)
    assert staleness_onset(State.FAIL, None, NOW) is None
    assert staleness_onset(State.PASS, 30.0, NOW) is None


def test_escalation_above_20_percent_of_tenants() -> None:
    five = [obs(f"snapshot:t{i}", State.PASS, tenant=f"t{i}", kind="snapshot") for i in range(5)]
    one_stale = [obs("snapshot:t0", State.FAIL, tenant="t0", kind="snapshot"), *five[1:]]
    assert escalation(five).state is State.PASS
    assert escalation(one_stale).state is State.PASS  # exactly 20 % is not "more than"
    two_stale = [obs("snapshot:t1", State.WARN, tenant="t1", kind="snapshot"), *one_stale[:1]]
    two_stale += five[2:]
    result = escalation(two_stale)
    assert result.state is State.FAIL
    assert "2 of 5 tenants (40%)" in result.summary
    assert result.detail == "stale: t0, t1"


def ts(minutes_ago: float) -> float:
    return (NOW - timedelta(minutes=minutes_ago)).timestamp()


def test_error_rate_over_five_minutes_from_counter_deltas() -> None:
    url = "http://api-1/metrics/app/"
    history = {url: [(ts(7), 1000.0, 10.0), (ts(5), 1100.0, 10.0), (ts(2), 1150.0, 11.0)]}
    rate = error_rate(history, {url: (NOW.timestamp(), 1200.0, 13.0)}, NOW)
    assert rate is not None
    # baseline: the newest sample at least 5 minutes old (1100 / 10)
    assert (rate.requests, rate.errors) == (100.0, 3.0)
    assert error_rate_observation(rate).state is State.FAIL
    assert "3.0%" in error_rate_observation(rate).summary
    two_percent = error_rate(history, {url: (NOW.timestamp(), 1200.0, 12.0)}, NOW)
    assert error_rate_observation(two_percent).state is State.PASS


def test_error_rate_sums_replicas_and_survives_restarts() -> None:
    a, b = "http://a/metrics/app/", "http://b/metrics/app/"
    history = {a: [(ts(5), 100.0, 0.0)], b: [(ts(5), 500.0, 50.0)]}
    # b restarted: its counters went down, so only a counts this time
    rate = error_rate(
        history, {a: (NOW.timestamp(), 200.0, 1.0), b: (NOW.timestamp(), 5.0, 0)}, NOW
    )
    assert rate is not None and (rate.requests, rate.errors) == (100.0, 1.0)
    assert rate.samples[b] == [(NOW.timestamp(), 5.0, 0)]
    # no history yet: nothing to measure
    fresh = error_rate({}, {a: (NOW.timestamp(), 10.0, 0.0)}, NOW)
    assert error_rate_observation(fresh).state is State.UNKNOWN


def test_messages_carry_tenant_asset_age_threshold_and_action() -> None:
    observation = Observation(
        subject="freshness:meta_insights:acme",
        kind="freshness",
        state=State.FAIL,
        summary="meta_insights is stale for acme",
        tenant_id="acme",
        target="meta_insights",
        age_minutes=250,
        threshold="warn 2h / fail 4h",
        action_key="freshness:meta",
    )
    alert = Alert(observation, State.WARN)
    payload = slack_payload(alert)
    assert payload["text"].endswith("[FAIL] meta_insights is stale for acme")
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][1]["fields"]
    }
    assert fields == {
        "*Tenant*": "acme",
        "*Asset*": "meta_insights",
        "*State*": "WARN -> FAIL",
        "*Age*": "4 h 10 min",
        "*Threshold*": "warn 2h / fail 4h",
    }
    assert "meta_sync" in payload["blocks"][2]["elements"][0]["text"]
    mail = email_message(alert, "alerts@example.com", ["oncall@example.com"])
    assert mail["Subject"] == "ADinsights alert: [FAIL] meta_insights is stale for acme"
    body = plain_text(alert)
    assert "Tenant:     acme" in body and "Runbook action:" in body
    resolved = Alert(Observation(**{**observation.__dict__, "state": State.PASS}), State.FAIL)
    assert slack_payload(resolved)["text"].startswith(":white_check_mark: [RESOLVED]")
