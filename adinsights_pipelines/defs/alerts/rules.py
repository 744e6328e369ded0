"""Alert logic as pure functions: what changed, what to hold back, when to escalate.

Everything here takes plain values (and ``now``) and returns plain values, so tests drive it
with any clock. The sensor (``sensor.py``) only gathers observations and delivers.

An *observation* is one subject's state in this evaluation (an asset partition's freshness, a
tenant's snapshot, an asset check, a job's latest run, a connection, the API error rate). An
*alert* is an observation whose state differs from the last state a channel was told about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from adinsights_pipelines.defs.freshness_policies import (
    SNAPSHOT_FAIL,
    SNAPSHOT_GRACE_AFTER_DBT,
    SNAPSHOT_WARN,
    State,
)
from adinsights_pipelines.defs.meta.graph_versions import version_health

#: More than this share of tenants with stale snapshots in one evaluation pages Data Engineering.
ESCALATION_SHARE = 0.20
#: API request error rate: above 2 % of requests answered 5xx over 5 minutes (runbook).
ERROR_RATE_THRESHOLD = 0.02
ERROR_RATE_WINDOW = timedelta(minutes=5)
ESCALATION_SUBJECT = "escalation:stale-snapshots"
ERROR_RATE_SUBJECT = "error-rate:api"
WEBHOOK_SILENCE_SUBJECT = "webhook:airbyte"
#: The runbook: alert when webhooks stop arriving for more than 30 minutes while jobs run.
WEBHOOK_SILENCE_DEFAULT = timedelta(minutes=30)

_RANK = {State.PASS: 0, State.WARN: 1, State.FAIL: 2}

#: The runbook's operator action for each kind of alert ("what do I do now?").
RUNBOOK_ACTIONS: dict[str, str] = {
    "freshness:meta": (
        "Check /api/integrations/social/status/ (reason credential_reauth_required means "
        "reconnect via Meta OAuth) and app.api_error_log for provider meta; then re-run the "
        "tenant's meta_sync (or meta_pages / meta_hierarchy_sync) partition in Dagster."
    ),
    "freshness:airbyte": (
        "Check /api/health/airbyte/ and /api/airbyte/telemetry/ for the tenant; trigger "
        "`adinsights sync-airbyte --tenant <tenant>` and re-check the telemetry."
    ),
    "freshness:web_analytics": (
        "Check the tenant's GA4 / Search Console credential in "
        "/api/integrations/social/status/, then re-run the tenant's partition in Dagster."
    ),
    "freshness:dbt": (
        "Check /api/health/dbt/; re-run the dbt_build job in Dagster. Escalate to Data "
        "Engineering (data-eng@example.com) if source pipelines lag more than 60 minutes."
    ),
    "freshness:fx_rates": (
        "Exchange rates are late: check `adinsights fx-rates show` and the fx_rates_refresh run "
        "in Dagster; run `adinsights fx-rates refresh`, or import the contractual rates with "
        "`adinsights fx-rates import FILE.csv`."
    ),
    "freshness": "Open the asset in Dagster and re-materialize the stale partition.",
    "snapshot": (
        "Snapshot lag: run `adinsights snapshot-metrics --tenant-id <tenant>`, check that the "
        "metrics_snapshots_every_30_minutes schedule is running, and check upstream Airbyte/dbt "
        "health (/api/health/airbyte/, /api/health/dbt/)."
    ),
    "escalation": (
        "Page Data Engineering (data-eng@example.com): more than 20% of tenants have stale "
        "snapshots. Check the dbt_build and metrics_snapshots runs and the Dagster daemon "
        "(/api/ops/health-overview/) first."
    ),
    "check": (
        "Open the failed check in Dagster (its description names the failing rows); fix the "
        "source data or the upstream sync, then re-run dbt_build. Blocking checks stop "
        "downstream snapshots until they pass."
    ),
    "run": (
        "Open the run in Dagster, read the failing step's error, fix the cause and re-execute "
        "from failure."
    ),
    "connection:airbyte_connection": (
        "Check the connection's job history in Airbyte; after the fix run "
        "`adinsights sync-airbyte --tenant <tenant>` and replay missed webhooks."
    ),
    "connection:meta_account": (
        "Ad account access denied or failing: verify the user has access to the ad account in "
        "Business Manager, then re-run meta_sync and meta_hierarchy_sync for the tenant."
    ),
    "meta_api_version": (
        "Move ADINSIGHTS_META_API_VERSION to the version the alert names before the sunset: "
        "docs/operations.md, 'Moving to the next Graph API version'."
    ),
    "webhook": (
        "Airbyte webhooks stopped arriving. Check what /api/airbyte/webhook/ answers Airbyte "
        "(403: X-Airbyte-Webhook-Secret differs from ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET, e.g. a "
        "secret rotated on one side only; 503: the secret is required but not configured; "
        "404 connection not found: the connection id differs), the webhook URL in Airbyte's "
        "notification settings and any proxy in between; look for `Airbyte webhook processed` "
        "log lines. After the fix replay the missed webhooks from Airbyte (Connections -> Job "
        "History, copy as cURL with the header) and backfill with "
        "`adinsights sync-airbyte --tenant <tenant>`."
    ),
    "error_rate": (
        "Page Platform Engineering (platform-eng@example.com): check the API's JSON access logs "
        "for 5xx by route, /api/health/ and /api/ops/health-overview/."
    ),
}


@dataclass(frozen=True)
class Observation:
    """One subject's state in one evaluation, with what an engineer needs to act on it."""

    subject: str
    # freshness | snapshot | check | run | connection | error_rate | escalation | webhook |
    # meta_api_version
    kind: str
    state: State
    summary: str  # one line: what is wrong (or fine again)
    tenant_id: str | None = None
    target: str | None = None  # asset key, check, job, connection, metric
    age_minutes: float | None = None
    threshold: str | None = None
    detail: str | None = None
    action_key: str | None = None
    link: str | None = None
    run_id: str | None = None

    @property
    def action(self) -> str:
        return RUNBOOK_ACTIONS.get(self.action_key or self.kind) or RUNBOOK_ACTIONS.get(
            self.kind, ""
        )


@dataclass(frozen=True)
class Alert:
    observation: Observation
    previous: State

    @property
    def resolved(self) -> bool:
        return self.observation.state is State.PASS and self.previous in (State.WARN, State.FAIL)

    @property
    def subject(self) -> str:
        return self.observation.subject


def should_alert(previous: State | None, current: State) -> bool:
    """One alert per state change; nothing for UNKNOWN or for a first sighting that is fine."""
    if current is State.UNKNOWN:
        return False
    if previous is None:
        return current is not State.PASS
    return previous is not current


def pending_alerts(notified: Mapping[str, str], observations: Iterable[Observation]) -> list[Alert]:
    """Alerts a channel has not received yet, given what it was last told per subject."""
    alerts = []
    for obs in observations:
        previous = State(notified[obs.subject]) if obs.subject in notified else None
        if should_alert(previous, obs.state):
            alerts.append(Alert(obs, previous or State.UNKNOWN))
    return alerts


def record_silent_states(
    notified: Mapping[str, str], observations: Iterable[Observation]
) -> dict[str, str]:
    """``notified`` updated for observations that need no alert (first sighting of PASS), and
    without subjects that no longer exist. Alerted subjects change only once delivered."""
    observed = {o.subject: o for o in observations}
    updated = {s: v for s, v in notified.items() if s in observed}
    for subject, obs in observed.items():
        if subject not in updated and obs.state is State.PASS:
            updated[subject] = State.PASS.value
    return updated


def staleness_onset(state: State, age_minutes: float | None, now: datetime) -> datetime | None:
    """When a snapshot's ``state`` began: its age crossed 60 (WARN) or 120 minutes (FAIL).
    ``None`` when that cannot be told (no timestamp)."""
    threshold = {State.WARN: SNAPSHOT_WARN, State.FAIL: SNAPSHOT_FAIL}.get(state)
    if threshold is None or age_minutes is None:
        return None
    return now - (timedelta(minutes=age_minutes) - threshold)


def hold_during_grace(
    computed: State,
    previous_effective: State | None,
    dbt_finished_at: datetime | None,
    now: datetime,
    worse_since: datetime | None,
) -> tuple[State, bool]:
    """A snapshot's effective state: within 15 minutes of a successful dbt run's end, a snapshot
    that *just* got worse (``worse_since``, less than 15 minutes ago) keeps its previous state,
    since the next snapshot run picks up the new marts; it may always recover. The hold delays
    an alert by at most 15 minutes: with dbt every 15 minutes a run has nearly always just
    ended, and an unbounded hold would never let staleness show.

    Returns (state, suppressed).
    """
    if dbt_finished_at is None or not (
        timedelta(0) <= now - dbt_finished_at < SNAPSHOT_GRACE_AFTER_DBT
    ):
        return computed, False
    if computed is State.UNKNOWN or worse_since is None:
        return computed, False
    if now - worse_since >= SNAPSHOT_GRACE_AFTER_DBT:
        return computed, False
    held = previous_effective if previous_effective in _RANK else State.PASS
    assert held is not None
    if _RANK[computed] > _RANK[held]:
        return held, True
    return computed, False


def escalation(snapshots: Sequence[Observation]) -> Observation:
    """FAIL when more than 20 % of the evaluated tenants have a stale (WARN/FAIL) snapshot."""
    stale = sorted(o.tenant_id or "?" for o in snapshots if o.state in (State.WARN, State.FAIL))
    share = len(stale) / len(snapshots) if snapshots else 0.0
    escalated = share > ESCALATION_SHARE
    summary = (
        f"ESCALATION: {len(stale)} of {len(snapshots)} tenants ({share:.0%}) have stale "
        "metrics snapshots"
        if escalated
        else f"Stale snapshots back under 20% of tenants ({len(stale)} of {len(snapshots)})"
    )
    return Observation(
        subject=ESCALATION_SUBJECT,
        kind="escalation",
        state=State.FAIL if escalated else State.PASS,
        summary=summary,
        target="metrics_snapshot",
        threshold="more than 20% of tenants stale in one evaluation",
        detail=("stale: " + ", ".join(stale[:20]) + (" …" if len(stale) > 20 else ""))
        if stale
        else None,
    )


# --- API error rate ---------------------------------------------------------------------------

Sample = tuple[float, float, float]  # (unix time, requests total, 5xx total)


@dataclass
class ErrorRate:
    requests: float
    errors: float
    window_seconds: float
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def error_rate(
    history: Mapping[str, Sequence[Sample]],
    current: Mapping[str, Sample | None],
    now: datetime,
    window: timedelta = ERROR_RATE_WINDOW,
) -> ErrorRate | None:
    """The 5xx share of requests over the last ``window``, from counter samples per endpoint.

    ``history`` holds earlier samples per URL (from the sensor cursor), ``current`` this
    evaluation's scrape (``None`` for an endpoint that did not answer). The baseline per URL is
    the newest sample at least ``window`` old, or the oldest one while less history exists. A
    counter that went down (the process restarted) starts its history again. Returns ``None``
    when no endpoint has a baseline yet; the returned ``samples`` is the history to keep.
    """
    now_ts = now.timestamp()
    keep_after = now_ts - window.total_seconds() - 120
    kept: dict[str, list[Sample]] = {}
    requests = errors = 0.0
    spans: list[float] = []
    for url in sorted(set(history) | set(current)):
        past = [s for s in history.get(url, ()) if s[0] < now_ts]
        sample = current.get(url)
        if sample is None:
            kept[url] = [s for s in past if s[0] >= keep_after]
            continue
        if past and (sample[1] < past[-1][1] or sample[2] < past[-1][2]):
            past = []  # counter reset
        base_candidates = [s for s in past if s[0] <= now_ts - window.total_seconds()]
        base = base_candidates[-1] if base_candidates else (past[0] if past else None)
        if base is not None:
            requests += sample[1] - base[1]
            errors += sample[2] - base[2]
            spans.append(now_ts - base[0])
        kept[url] = [s for s in past if s[0] >= keep_after or s is base] + [sample]
    if not spans:
        return ErrorRate(0.0, 0.0, 0.0, kept) if kept else None
    return ErrorRate(requests, errors, max(spans), kept)


def error_rate_observation(rate: ErrorRate | None) -> Observation:
    if rate is None or rate.window_seconds == 0:
        return Observation(
            ERROR_RATE_SUBJECT, "error_rate", State.UNKNOWN, "API error rate not measured yet"
        )
    failing = rate.rate > ERROR_RATE_THRESHOLD
    minutes = rate.window_seconds / 60
    summary = (
        f"API error rate {rate.rate:.1%} over the last {minutes:.0f} min "
        f"({rate.errors:.0f} of {rate.requests:.0f} requests answered 5xx)"
    )
    return Observation(
        subject=ERROR_RATE_SUBJECT,
        kind="error_rate",
        state=State.FAIL if failing else State.PASS,
        summary=summary if failing else "API error rate back to normal: " + summary,
        target="/metrics/app/ api_requests_total",
        threshold="5xx above 2% of requests over 5 min",
    )


# --- Airbyte webhook silence -------------------------------------------------------------------


def webhook_silence(
    last_webhook_at: datetime | None,
    first_unannounced_finish: datetime | None,
    unannounced_jobs: int,
    now: datetime,
    window: timedelta = WEBHOOK_SILENCE_DEFAULT,
) -> Observation:
    """FAIL when Airbyte jobs finished more than ``window`` ago and no ``airbyte_job_webhook``
    has arrived since: Airbyte ran jobs and their notifications did not reach us.

    ``first_unannounced_finish`` is the earliest end of a job that finished after the newest
    webhook (``unannounced_jobs`` of them). Measuring from that end rather than from the last
    webhook keeps hourly syncs quiet: an hour without webhooks is normal when no job ran.
    UNKNOWN when no webhook ever arrived (webhooks are not in use here).
    """
    minutes = window.total_seconds() / 60
    threshold = f"a webhook within {minutes:.0f} min of every finished Airbyte job"
    base = Observation(
        subject=WEBHOOK_SILENCE_SUBJECT,
        kind="webhook",
        state=State.UNKNOWN,
        summary="no Airbyte webhook received yet (webhooks not in use)",
        target="airbyte_job_webhook audit events",
        threshold=threshold,
        action_key="webhook",
    )
    if last_webhook_at is None:
        return base
    silent_for = (now - last_webhook_at).total_seconds() / 60
    last = f"last webhook {last_webhook_at:%Y-%m-%d %H:%M} UTC ({silent_for:.0f} min ago)"
    if first_unannounced_finish is not None and now - first_unannounced_finish > window:
        return replace(
            base,
            state=State.FAIL,
            summary=(
                f"Airbyte webhooks silent for {silent_for:.0f} min while {unannounced_jobs} "
                "job(s) finished"
            ),
            age_minutes=round(silent_for, 1),
            detail=f"{last}; first job without a webhook finished "
            f"{first_unannounced_finish:%Y-%m-%d %H:%M} UTC",
        )
    return replace(
        base,
        state=State.PASS,
        summary="Airbyte webhooks arrive again",
        age_minutes=round(silent_for, 1),
        detail=last,
    )


def with_state(obs: Observation, state: State, note: str | None = None) -> Observation:
    detail = "; ".join(filter(None, [obs.detail, note])) or None
    return replace(obs, state=state, detail=detail)


def meta_api_version_observation(version: str, now: datetime) -> Observation:
    """The configured Graph API version against its sunset: one subject per version, so the
    warning (90 days before) and the error (past it) are each sent once per version."""
    health = version_health(version, now)
    state = {"ok": State.PASS, "warning": State.WARN, "error": State.FAIL}[health.status]
    return Observation(
        subject=f"meta-api-version:{version}",
        kind="meta_api_version",
        state=state,
        summary=f"Meta Graph API version: {health.detail}",
        target="ADINSIGHTS_META_API_VERSION",
        threshold="warning 90 days before the Marketing API sunset, error from the sunset on",
    )
