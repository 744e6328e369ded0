"""Freshness policies for every asset, decided in one place.

``definitions.py`` maps :func:`with_freshness_policy` over every asset spec of the code location,
so a new asset is covered by its group or key without touching its own module (the Airbyte and
web-analytics groups pick up their policy the moment their assets are merged). The daemon's
freshness loop evaluates these policies per asset (the UI shows the state); the alert sensor
evaluates the same policies per tenant partition with :func:`freshness_state`.

Thresholds (runbook / contract):

- ``airbyte``: fail 60 min (an Airbyte sync is healthy while its newest job is under an hour).
- Hourly Meta feeds and hourly web-analytics feeds: warn 2 h, fail 4 h.
- ``meta_hierarchy`` runs once a day (02:15 Jamaica): warn 26 h, fail 28 h — one run late by the
  same 2 h / 4 h the hourly feeds tolerate, so a missed night run fails by 06:15, before the
  hourly syncs of the business day start.
- ``fx_rates_daily`` (daily 00:30 Jamaica): warn 26 h, fail 28 h, like ``meta_hierarchy``.
- dbt (staging views, marts, seeds; all rebuilt by every ``dbt_build``): fail 24 h.
- ``metrics_snapshot``: warn 60 min, fail 120 min (15 minutes of grace after a dbt run is
  applied by the alert sensor, which knows when dbt last finished).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dagster import AssetKey, AssetSpec, FreshnessPolicy

from adinsights_pipelines.dagster_internals import TimeWindowFreshnessPolicy

SNAPSHOT_ASSET = AssetKey("metrics_snapshot")
SNAPSHOT_WARN = timedelta(minutes=60)
SNAPSHOT_FAIL = timedelta(minutes=120)
#: Snapshot staleness alerts are held back this long after a successful ``dbt_build`` ends.
SNAPSHOT_GRACE_AFTER_DBT = timedelta(minutes=15)
DBT_JOB = "dbt_build"

HOURLY_META_FEEDS = frozenset(
    {"meta_ad_accounts", "meta_insights", "meta_page_insights", "meta_post_insights"}
)


class State(StrEnum):
    """Dagster's freshness vocabulary, used for every alert subject."""

    PASS = "PASS"  # noqa: S105 - a state, not a password
    WARN = "WARN"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class FreshnessRule:
    name: str
    applies: Callable[[AssetKey, str | None], bool]
    fail_after: timedelta
    warn_after: timedelta | None = None

    def policy(self) -> TimeWindowFreshnessPolicy:
        return FreshnessPolicy.time_window(fail_window=self.fail_after, warn_window=self.warn_after)


def in_group(name: str) -> Callable[[AssetKey, str | None], bool]:
    return lambda key, group: group == name


def named(*names: str) -> Callable[[AssetKey, str | None], bool]:
    return lambda key, group: key.to_user_string() in names


#: First match wins; keys before groups.
RULES: tuple[FreshnessRule, ...] = (
    FreshnessRule("metrics snapshot", named("metrics_snapshot"), SNAPSHOT_FAIL, SNAPSHOT_WARN),
    FreshnessRule(
        "Meta hierarchy (daily)", named("meta_hierarchy"), timedelta(hours=28), timedelta(hours=26)
    ),
    FreshnessRule(
        "hourly Meta feed", named(*HOURLY_META_FEEDS), timedelta(hours=4), timedelta(hours=2)
    ),
    FreshnessRule("Airbyte sync", in_group("airbyte"), timedelta(minutes=60)),
    FreshnessRule(
        "exchange rates (daily)", named("fx_rates_daily"), timedelta(hours=28), timedelta(hours=26)
    ),
    FreshnessRule(
        "hourly web-analytics feed",
        in_group("web_analytics"),
        timedelta(hours=4),
        timedelta(hours=2),
    ),
    FreshnessRule(
        "dbt model", lambda key, group: (group or "").startswith("dbt_"), timedelta(hours=24)
    ),
)


def rule_for(key: AssetKey, group: str | None) -> FreshnessRule | None:
    return next((rule for rule in RULES if rule.applies(key, group)), None)


def with_freshness_policy(spec: AssetSpec) -> AssetSpec:
    """The spec with its group's / key's policy (an asset's own explicit policy is kept)."""
    rule = rule_for(spec.key, spec.group_name)
    if rule is None or spec.freshness_policy is not None:
        return spec
    return spec.replace_attributes(freshness_policy=rule.policy())


def freshness_state(
    policy: TimeWindowFreshnessPolicy, last_updated_at: datetime | None, now: datetime
) -> State:
    """Dagster's time-window evaluation, for one asset partition at ``now``.

    Same boundaries as the daemon's evaluator: FAIL from ``fail_window`` on, WARN from
    ``warn_window`` on, UNKNOWN when never materialized.
    """
    if last_updated_at is None:
        return State.UNKNOWN
    age = now - last_updated_at
    if age >= policy.fail_window.to_timedelta():
        return State.FAIL
    if policy.warn_window is not None and age >= policy.warn_window.to_timedelta():
        return State.WARN
    return State.PASS


def describe_policy(policy: TimeWindowFreshnessPolicy) -> str:
    """``warn 2h / fail 4h`` — the threshold as alerts and ops answers print it."""
    fail = _span(policy.fail_window.to_timedelta())
    if policy.warn_window is None:
        return f"fail {fail}"
    return f"warn {_span(policy.warn_window.to_timedelta())} / fail {fail}"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}min"
