"""The alert policy at its boundaries, as the runbook states it.

- snapshot staleness: WARN from 60 minutes, FAIL from 120 (onset = when the age crossed it);
- 15 minutes of grace after a successful dbt run, for staleness less than 15 minutes old;
- escalation when more than 20 % of the evaluated tenants have a stale snapshot;
- API error rate: above 2 % of requests answered 5xx over 5 minutes, summed over replicas, a
  counter that went down (a restart) starting its history again;
- one alert per state change.

Expected values are written out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adinsights_pipelines.defs.alerts.rules import (
    RUNBOOK_ACTIONS,
    Alert,
    ErrorRate,
    Observation,
    error_rate,
    error_rate_observation,
    escalation,
    hold_during_grace,
    meta_api_version_observation,
    pending_alerts,
    record_silent_states,
    should_alert,
    staleness_onset,
    with_state,
)
from adinsights_pipelines.defs.freshness_policies import State

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PASS, WARN, FAIL, UNKNOWN = State.PASS, State.WARN, State.FAIL, State.UNKNOWN


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def ts(minutes_ago: float) -> float:
    return ago(minutes_ago).timestamp()


def obs(subject: str, state: State, **extra: object) -> Observation:
    return Observation(subject=subject, kind="snapshot", state=state, summary=subject, **extra)


# --- one alert per state change ----------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, PASS, False),
        (None, WARN, True),
        (None, FAIL, True),
        (None, UNKNOWN, False),
        (PASS, PASS, False),
        (PASS, WARN, True),
        (PASS, FAIL, True),
        (PASS, UNKNOWN, False),
        (WARN, PASS, True),
        (WARN, WARN, False),
        (WARN, FAIL, True),
        (FAIL, PASS, True),
        (FAIL, WARN, True),
        (FAIL, FAIL, False),
        (FAIL, UNKNOWN, False),
        (UNKNOWN, PASS, True),
        (UNKNOWN, FAIL, True),
    ],
)
def test_should_alert(previous: State | None, current: State, expected: bool) -> None:
    assert should_alert(previous, current) is expected


def test_pending_alerts_name_the_state_the_channel_was_last_told() -> None:
    notified = {"a": "WARN", "b": "FAIL", "d": "PASS"}
    observations = [obs("a", FAIL), obs("b", FAIL), obs("c", WARN), obs("d", PASS), obs("e", PASS)]
    alerts = pending_alerts(notified, observations)
    assert [(a.subject, a.previous, a.observation.state) for a in alerts] == [
        ("a", WARN, FAIL),
        ("c", UNKNOWN, WARN),
    ]


@pytest.mark.parametrize(
    ("state", "previous", "resolved"),
    [
        (PASS, WARN, True),
        (PASS, FAIL, True),
        (PASS, UNKNOWN, False),
        (PASS, PASS, False),
        (WARN, FAIL, False),
        (FAIL, WARN, False),
    ],
)
def test_resolved_is_back_to_pass_from_warn_or_fail(
    state: State, previous: State, resolved: bool
) -> None:
    assert Alert(obs("s", state), previous).resolved is resolved


def test_silent_states_record_first_passes_and_forget_vanished_subjects() -> None:
    notified = {"a": "FAIL", "gone": "PASS"}
    observations = [obs("a", PASS), obs("b", PASS), obs("c", WARN), obs("d", UNKNOWN)]
    # "a" changes only once its alert is delivered; "c" and "d" are not silent
    assert record_silent_states(notified, observations) == {"a": "FAIL", "b": "PASS"}
    assert notified == {"a": "FAIL", "gone": "PASS"}  # not modified in place


def test_runbook_action_by_key_then_kind() -> None:
    assert obs("s", FAIL, action_key="freshness:meta").action == RUNBOOK_ACTIONS["freshness:meta"]
    assert obs("s", FAIL).action.startswith("Snapshot lag: run `adinsights snapshot-metrics")
    assert obs("s", FAIL, action_key="no-such-key").action == RUNBOOK_ACTIONS["snapshot"]
    odd = Observation(subject="s", kind="odd", state=FAIL, summary="s")
    assert odd.action == ""


def test_with_state_keeps_the_detail_and_adds_the_note() -> None:
    assert with_state(obs("s", FAIL, detail="a"), WARN, "b").detail == "a; b"
    assert with_state(obs("s", FAIL, detail="a"), WARN).detail == "a"
    assert with_state(obs("s", FAIL), WARN, "n").detail == "n"
    held = with_state(obs("s", FAIL), PASS)
    assert (held.state, held.detail, held.subject) == (PASS, None, "s")


# --- staleness onset and grace ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "age", "onset"),
    [
        (WARN, 60.0, NOW),
        (WARN, 61.5, ago(1.5)),
        (WARN, 119.0, ago(59)),
        (FAIL, 120.0, NOW),
        (FAIL, 125.0, ago(5)),
        (FAIL, 300.0, ago(180)),
        (PASS, 30.0, None),
        (UNKNOWN, 500.0, None),
        (WARN, None, None),
    ],
)
def test_staleness_onset_at_60_and_120_minutes(
    state: State, age: float | None, onset: datetime | None
) -> None:
    assert staleness_onset(state, age, NOW) == onset


@pytest.mark.parametrize(
    ("computed", "previous", "dbt_ended", "worse_since", "expected"),
    [
        # within 15 minutes of dbt, staleness newer than 15 minutes is held back
        (WARN, PASS, 10.0, 2.0, (PASS, True)),
        (FAIL, PASS, 10.0, 2.0, (PASS, True)),
        (FAIL, WARN, 10.0, 2.0, (WARN, True)),
        (FAIL, None, 10.0, 2.0, (PASS, True)),
        (FAIL, UNKNOWN, 10.0, 2.0, (PASS, True)),
        # dbt's end: from 0 up to (not including) 15 minutes ago
        (WARN, PASS, 0.0, 2.0, (PASS, True)),
        (WARN, PASS, 14.99, 2.0, (PASS, True)),
        (WARN, PASS, 15.0, 2.0, (WARN, False)),
        (WARN, PASS, -1.0, 2.0, (WARN, False)),  # a dbt end in the future is no grace
        (WARN, PASS, None, 2.0, (WARN, False)),
        # the staleness itself: held while less than 15 minutes old
        (WARN, PASS, 3.0, 14.99, (PASS, True)),
        (WARN, PASS, 3.0, 15.0, (WARN, False)),
        (WARN, PASS, 3.0, None, (WARN, False)),
        # never held: recovery, no change, UNKNOWN
        (PASS, FAIL, 10.0, 2.0, (PASS, False)),
        (WARN, FAIL, 10.0, 2.0, (WARN, False)),
        (WARN, WARN, 10.0, 2.0, (WARN, False)),
        (UNKNOWN, PASS, 10.0, 2.0, (UNKNOWN, False)),
    ],
)
def test_the_15_minute_grace_after_dbt(
    computed: State,
    previous: State | None,
    dbt_ended: float | None,
    worse_since: float | None,
    expected: tuple[State, bool],
) -> None:
    dbt_end = None if dbt_ended is None else ago(dbt_ended)
    since = None if worse_since is None else ago(worse_since)
    assert hold_during_grace(computed, previous, dbt_end, NOW, since) == expected


_RANK = {PASS: 0, WARN: 1, FAIL: 2}


@given(
    st.sampled_from([PASS, WARN, FAIL, UNKNOWN]),
    st.none() | st.sampled_from([PASS, WARN, FAIL, UNKNOWN]),
    st.none() | st.integers(min_value=-60, max_value=3600),
    st.none() | st.integers(min_value=0, max_value=3600),
)
def test_grace_property(
    computed: State, previous: State | None, dbt_ended_s: int | None, worse_since_s: int | None
) -> None:
    dbt_end = None if dbt_ended_s is None else NOW - timedelta(seconds=dbt_ended_s)
    since = None if worse_since_s is None else NOW - timedelta(seconds=worse_since_s)
    state, suppressed = hold_during_grace(computed, previous, dbt_end, NOW, since)
    held = previous if previous in _RANK else PASS
    in_grace = (
        dbt_ended_s is not None
        and 0 <= dbt_ended_s < 900
        and worse_since_s is not None
        and worse_since_s < 900
        and computed is not UNKNOWN
        and _RANK[computed] > _RANK[held]
    )
    assert (state, suppressed) == ((held, True) if in_grace else (computed, False))


# --- escalation ------------------------------------------------------------------------------


def snapshots(states: list[State], tenants: list[str | None] | None = None) -> list[Observation]:
    names = tenants or [f"t{i:02d}" for i in range(len(states))]
    return [
        Observation(subject=f"snapshot:{t}", kind="snapshot", state=s, summary="", tenant_id=t)
        for s, t in zip(states, names, strict=True)
    ]


def test_escalation_fields() -> None:
    result = escalation(snapshots([FAIL, PASS, PASS, PASS]))
    assert (result.subject, result.kind, result.state, result.target) == (
        "escalation:stale-snapshots",
        "escalation",
        FAIL,
        "metrics_snapshot",
    )
    assert result.summary == "ESCALATION: 1 of 4 tenants (25%) have stale metrics snapshots"
    assert result.threshold == "more than 20% of tenants stale in one evaluation"
    assert result.detail == "stale: t00"


@pytest.mark.parametrize(
    ("states", "state", "summary"),
    [
        ([], PASS, "Stale snapshots back under 20% of tenants (0 of 0)"),
        ([PASS] * 5, PASS, "Stale snapshots back under 20% of tenants (0 of 5)"),
        ([WARN] + [PASS] * 4, PASS, "Stale snapshots back under 20% of tenants (1 of 5)"),
        ([WARN, FAIL] + [PASS] * 8, PASS, "Stale snapshots back under 20% of tenants (2 of 10)"),
        (
            [WARN, FAIL] + [PASS] * 7,
            FAIL,
            "ESCALATION: 2 of 9 tenants (22%) have stale metrics snapshots",
        ),
        (
            [UNKNOWN, UNKNOWN, FAIL, PASS, PASS],
            PASS,
            "Stale snapshots back under 20% of tenants (1 of 5)",
        ),
        ([WARN], FAIL, "ESCALATION: 1 of 1 tenants (100%) have stale metrics snapshots"),
    ],
)
def test_escalation_is_more_than_20_percent(
    states: list[State], state: State, summary: str
) -> None:
    result = escalation(snapshots(states))
    assert (result.state, result.summary) == (state, summary)


def test_escalation_names_at_most_20_stale_tenants_sorted() -> None:
    tenants: list[str | None] = [f"t{i:02d}" for i in reversed(range(22))]
    result = escalation(snapshots([FAIL] * 22, tenants))
    assert result.detail == "stale: " + ", ".join(f"t{i:02d}" for i in range(20)) + " …"
    exactly_20 = escalation(snapshots([WARN] * 20))
    assert exactly_20.detail == "stale: " + ", ".join(f"t{i:02d}" for i in range(20))
    assert escalation(snapshots([FAIL, PASS], ["b", None])).detail == "stale: b"
    assert escalation(snapshots([FAIL, FAIL], ["b", None])).detail == "stale: ?, b"
    assert escalation(snapshots([PASS, PASS])).detail is None


@given(st.lists(st.sampled_from([PASS, WARN, FAIL, UNKNOWN]), max_size=40))
def test_escalation_property(states: list[State]) -> None:
    stale = sum(1 for s in states if s in (WARN, FAIL))
    expected = FAIL if 5 * stale > len(states) else PASS
    assert escalation(snapshots(states)).state is expected


# --- API error rate --------------------------------------------------------------------------

A, B = "http://api-a/metrics/app/", "http://api-b/metrics/app/"
T = NOW.timestamp()


def test_replicas_are_summed() -> None:
    history = {A: [(ts(5), 100.0, 0.0)], B: [(ts(5), 500.0, 5.0)]}
    rate = error_rate(history, {A: (T, 200.0, 1.0), B: (T, 900.0, 10.0)}, NOW)
    assert rate is not None
    assert (rate.requests, rate.errors, rate.window_seconds) == (500.0, 6.0, 300.0)
    assert rate.rate == pytest.approx(0.012)


def test_the_window_is_the_longest_span_of_the_replicas() -> None:
    history = {A: [(ts(2), 100.0, 0.0)], B: [(ts(6), 500.0, 5.0)]}
    rate = error_rate(history, {A: (T, 200.0, 1.0), B: (T, 900.0, 10.0)}, NOW)
    assert rate is not None and rate.window_seconds == 360.0


def test_the_baseline_is_the_newest_sample_at_least_5_minutes_old() -> None:
    history = {A: [(ts(10), 10.0, 0.0), (ts(6), 40.0, 1.0), (ts(5), 50.0, 2.0), (ts(4), 70.0, 3.0)]}
    rate = error_rate(history, {A: (T, 150.0, 7.0)}, NOW)
    assert rate is not None
    assert (rate.requests, rate.errors, rate.window_seconds) == (100.0, 5.0, 300.0)
    # the samples kept: within 7 minutes, plus the baseline, plus this one
    assert rate.samples == {
        A: [(ts(6), 40.0, 1.0), (ts(5), 50.0, 2.0), (ts(4), 70.0, 3.0), (T, 150.0, 7.0)]
    }


def test_an_old_baseline_is_kept_while_it_is_the_newest_5_minutes_old() -> None:
    history = {A: [(ts(12), 10.0, 0.0), (ts(9), 20.0, 1.0), (ts(3), 60.0, 2.0)]}
    rate = error_rate(history, {A: (T, 120.0, 3.0)}, NOW)
    assert rate is not None
    assert (rate.requests, rate.errors, rate.window_seconds) == (100.0, 2.0, 540.0)
    assert rate.samples == {A: [(ts(9), 20.0, 1.0), (ts(3), 60.0, 2.0), (T, 120.0, 3.0)]}


def test_with_less_history_the_oldest_sample_is_the_baseline() -> None:
    history = {A: [(ts(2), 100.0, 1.0), (ts(1), 150.0, 2.0)]}
    rate = error_rate(history, {A: (T, 300.0, 4.0)}, NOW)
    assert rate is not None
    assert (rate.requests, rate.errors, rate.window_seconds) == (200.0, 3.0, 120.0)


def test_samples_from_now_on_are_not_history() -> None:
    history = {A: [(ts(5), 100.0, 0.0), (T, 300.0, 0.0), (T + 60, 400.0, 0.0)]}
    rate = error_rate(history, {A: (T, 200.0, 1.0)}, NOW)
    assert rate is not None and (rate.requests, rate.errors) == (100.0, 1.0)


@pytest.mark.parametrize(
    ("current", "restarted"),
    [
        ((T, 90.0, 5.0), True),  # requests went down
        ((T, 150.0, 4.0), True),  # errors went down
        ((T, 100.0, 5.0), False),  # nothing moved: not a restart
        ((T, 100.0, 6.0), False),
        ((T, 101.0, 5.0), False),
    ],
)
def test_a_counter_that_went_down_is_a_restart(
    current: tuple[float, float, float], restarted: bool
) -> None:
    history = {A: [(ts(6), 50.0, 1.0), (ts(5), 100.0, 5.0)]}
    rate = error_rate(history, {A: current}, NOW)
    assert rate is not None
    if restarted:
        assert (rate.requests, rate.errors, rate.window_seconds) == (0.0, 0.0, 0.0)
        assert rate.samples == {A: [current]}
    else:
        assert rate.window_seconds == 300.0
        assert (rate.requests, rate.errors) == (current[1] - 100.0, current[2] - 5.0)
        assert rate.samples == {A: [(ts(6), 50.0, 1.0), (ts(5), 100.0, 5.0), current]}


def test_a_replica_that_restarted_contributes_nothing_this_time() -> None:
    history = {A: [(ts(5), 100.0, 0.0)], B: [(ts(5), 500.0, 50.0)]}
    rate = error_rate(history, {A: (T, 200.0, 1.0), B: (T, 5.0, 0.0)}, NOW)
    assert rate is not None
    assert (rate.requests, rate.errors, rate.window_seconds) == (100.0, 1.0, 300.0)


def test_a_replica_that_did_not_answer_keeps_its_recent_history() -> None:
    history = {A: [(ts(8), 10.0, 0.0), (ts(7), 20.0, 0.0), (ts(3), 30.0, 0.0), (T, 40.0, 0.0)]}
    rate = error_rate(history, {A: None, B: (T, 5.0, 0.0)}, NOW)
    # B has no baseline, A did not answer: nothing measured, history kept from 7 minutes on
    assert rate == ErrorRate(
        0.0, 0.0, 0.0, {A: [(ts(7), 20.0, 0.0), (ts(3), 30.0, 0.0)], B: [(T, 5.0, 0.0)]}
    )
    assert error_rate({}, {}, NOW) is None
    assert error_rate({}, {A: None}, NOW) == ErrorRate(0.0, 0.0, 0.0, {A: []})


def test_a_custom_window() -> None:
    history = {A: [(ts(3), 10.0, 0.0), (ts(1), 20.0, 0.0)]}
    rate = error_rate(history, {A: (T, 30.0, 1.0)}, NOW, window=timedelta(minutes=2))
    assert rate is not None and (rate.requests, rate.window_seconds) == (20.0, 180.0)


@pytest.mark.parametrize(
    ("requests", "errors", "state", "summary"),
    [
        (
            1000.0,
            20.0,
            PASS,
            "API error rate back to normal: API error rate 2.0% over the last 5 min "
            "(20 of 1000 requests answered 5xx)",
        ),
        (
            1000.0,
            21.0,
            FAIL,
            "API error rate 2.1% over the last 5 min (21 of 1000 requests answered 5xx)",
        ),
        (
            0.0,
            0.0,
            PASS,
            "API error rate back to normal: API error rate 0.0% over the last 5 min "
            "(0 of 0 requests answered 5xx)",
        ),
        (
            50.0,
            50.0,
            FAIL,
            "API error rate 100.0% over the last 5 min (50 of 50 requests answered 5xx)",
        ),
    ],
)
def test_error_rate_above_2_percent_fails(
    requests: float, errors: float, state: State, summary: str
) -> None:
    observation = error_rate_observation(ErrorRate(requests, errors, 300.0))
    assert (observation.state, observation.summary) == (state, summary)
    assert (observation.subject, observation.kind) == ("error-rate:api", "error_rate")
    assert observation.target == "/metrics/app/ api_requests_total"
    assert observation.threshold == "5xx above 2% of requests over 5 min"


def test_error_rate_not_measured_is_unknown() -> None:
    for rate in (None, ErrorRate(100.0, 50.0, 0.0)):
        observation = error_rate_observation(rate)
        assert (observation.state, observation.summary) == (
            UNKNOWN,
            "API error rate not measured yet",
        )
        assert (observation.subject, observation.kind) == ("error-rate:api", "error_rate")


def test_history_is_kept_for_the_window_plus_two_minutes() -> None:
    # 5 + 2 minutes: a sample exactly 7 minutes old stays, one half a second older goes
    edge, older = ts(7), ts(7) - 0.5
    history = {
        A: [(older, 1.0, 0.0), (edge, 2.0, 0.0)],
        B: [(older, 1.0, 0.0), (edge, 2.0, 0.0), (ts(5), 3.0, 0.0)],
    }
    rate = error_rate(history, {A: None, B: (T, 4.0, 0.0)}, NOW)
    assert rate is not None
    assert rate.samples == {
        A: [(edge, 2.0, 0.0)],
        B: [(edge, 2.0, 0.0), (ts(5), 3.0, 0.0), (T, 4.0, 0.0)],
    }


def test_the_summary_names_the_measured_minutes() -> None:
    observation = error_rate_observation(ErrorRate(100.0, 3.0, 3600.0))
    assert observation.summary == (
        "API error rate 3.0% over the last 60 min (3 of 100 requests answered 5xx)"
    )


def test_escalation_marks_more_than_20_names_as_cut() -> None:
    result = escalation(snapshots([FAIL] * 21))
    assert result.detail == "stale: " + ", ".join(f"t{i:02d}" for i in range(20)) + " …"


# The Graph API version card (graph_versions.toml: v25.0's Marketing API sunset is 2027-02-23,
# v27.0 is the newest version released by November 2026): one subject per version, WARN from
# 90 days before the sunset, FAIL from the sunset on.
MOVE = "; move to v27.0 (docs/operations.md, 'Moving to the next Graph API version')"


@pytest.mark.parametrize(
    ("day", "state", "detail"),
    [
        (
            datetime(2026, 11, 24, 23, tzinfo=UTC),
            PASS,
            "v25.0 is served until 2027-02-23 (91 days)",
        ),
        (
            datetime(2026, 11, 25, tzinfo=UTC),
            WARN,
            "v25.0 is retired on 2027-02-23, in 90 days" + MOVE,
        ),
        (
            datetime(2027, 2, 22, 23, 59, tzinfo=UTC),
            WARN,
            "v25.0 is retired on 2027-02-23, in 1 days" + MOVE,
        ),
        (
            datetime(2027, 2, 23, tzinfo=UTC),
            FAIL,
            "v25.0 was retired on 2027-02-23: ads calls fail (#2635)" + MOVE,
        ),
    ],
)
def test_the_graph_api_version_warns_90_days_before_its_sunset_and_fails_from_it(
    day: datetime, state: State, detail: str
) -> None:
    observation = meta_api_version_observation("v25.0", day)
    assert observation == Observation(
        subject="meta-api-version:v25.0",
        kind="meta_api_version",
        state=state,
        summary=f"Meta Graph API version: {detail}",
        target="ADINSIGHTS_META_API_VERSION",
        threshold="warning 90 days before the Marketing API sunset, error from the sunset on",
    )


def test_a_graph_api_version_of_unannounced_sunset_passes_and_an_unknown_one_warns() -> None:
    day = datetime(2026, 12, 4, tzinfo=UTC)
    newest = meta_api_version_observation("v27.0", day)
    assert (newest.state, newest.summary) == (
        PASS,
        "Meta Graph API version: v27.0: Meta has not announced its sunset yet (newest: v27.0)",
    )
    unknown = meta_api_version_observation("v99.0", day)
    assert (unknown.subject, unknown.state, unknown.summary) == (
        "meta-api-version:v99.0",
        WARN,
        "Meta Graph API version: v99.0 is not in the known-versions table "
        "(graph_versions.toml); Meta's newest is v27.0",
    )
