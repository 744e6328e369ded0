"""Freshness policies: one rule table, every asset covered, Dagster's boundaries."""

from datetime import UTC, datetime, timedelta

import pytest
from dagster import AssetKey, AssetSpec, FreshnessPolicy

from adinsights_pipelines.dagster_internals import TimeWindowFreshnessPolicy
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.freshness_policies import (
    State,
    describe_policy,
    freshness_state,
    rule_for,
    with_freshness_policy,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def windows(key: str, group: str | None) -> tuple[timedelta, timedelta | None]:
    rule = rule_for(AssetKey(key), group)
    assert rule is not None, key
    policy = rule.policy()
    warn = policy.warn_window.to_timedelta() if policy.warn_window else None
    return policy.fail_window.to_timedelta(), warn


@pytest.mark.parametrize(
    ("key", "group", "fail", "warn"),
    [
        ("google_ads_campaign_performance", "airbyte", timedelta(minutes=60), None),
        ("any_future_airbyte_stream", "airbyte", timedelta(minutes=60), None),
        ("meta_insights", "meta", timedelta(hours=4), timedelta(hours=2)),
        ("meta_ad_accounts", "meta", timedelta(hours=4), timedelta(hours=2)),
        ("meta_page_insights", "meta", timedelta(hours=4), timedelta(hours=2)),
        ("meta_post_insights", "meta", timedelta(hours=4), timedelta(hours=2)),
        ("ga4_daily", "web_analytics", timedelta(hours=4), timedelta(hours=2)),
        ("search_console_daily", "web_analytics", timedelta(hours=4), timedelta(hours=2)),
        ("meta_hierarchy", "meta", timedelta(hours=28), timedelta(hours=26)),
        ("fct_ad_performance_daily", "dbt_marts", timedelta(hours=24), None),
        ("stg_meta__insights", "dbt_staging", timedelta(hours=24), None),
        ("metrics_snapshot", "snapshots", timedelta(minutes=120), timedelta(minutes=60)),
    ],
)
def test_rules_by_group_and_key(key, group, fail, warn) -> None:
    assert windows(key, group) == (fail, warn)


def test_an_asset_of_an_unknown_group_gets_no_policy() -> None:
    assert rule_for(AssetKey("something_else"), "misc") is None
    spec = AssetSpec("something_else", group_name="misc")
    assert with_freshness_policy(spec).freshness_policy is None


def test_every_materializable_asset_of_the_code_location_has_a_policy() -> None:
    graph = defs.resolve_asset_graph()
    nodes = [n for n in graph.asset_nodes if n.is_materializable]
    assert len(nodes) > 10
    missing = [n.key.to_user_string() for n in nodes if n.freshness_policy is None]
    assert missing == []
    snapshot = graph.get(AssetKey("metrics_snapshot")).freshness_policy
    assert isinstance(snapshot, TimeWindowFreshnessPolicy)
    assert describe_policy(snapshot) == "warn 1h / fail 2h"


def test_an_explicit_policy_on_an_asset_is_kept() -> None:
    own = FreshnessPolicy.time_window(fail_window=timedelta(hours=9))
    spec = AssetSpec("meta_insights", group_name="meta", freshness_policy=own)
    assert with_freshness_policy(spec).freshness_policy == own


def test_freshness_state_uses_dagsters_boundaries() -> None:
    policy = rule_for(AssetKey("meta_insights"), "meta").policy()  # type: ignore[union-attr]
    assert freshness_state(policy, None, NOW) is State.UNKNOWN
    assert freshness_state(policy, NOW - timedelta(hours=1, minutes=59), NOW) is State.PASS
    assert freshness_state(policy, NOW - timedelta(hours=2), NOW) is State.WARN
    assert freshness_state(policy, NOW - timedelta(hours=3, minutes=59), NOW) is State.WARN
    assert freshness_state(policy, NOW - timedelta(hours=4), NOW) is State.FAIL
    airbyte = rule_for(AssetKey("x"), "airbyte").policy()  # type: ignore[union-attr]
    assert freshness_state(airbyte, NOW - timedelta(minutes=59), NOW) is State.PASS
    assert freshness_state(airbyte, NOW - timedelta(minutes=60), NOW) is State.FAIL
    assert describe_policy(airbyte) == "fail 1h"


def test_a_spec_gets_its_rules_policy_by_group_or_key() -> None:
    from adinsights_pipelines.defs.freshness_policies import in_group, named

    airbyte = with_freshness_policy(AssetSpec("google_ads_raw", group_name="airbyte"))
    assert describe_policy(airbyte.freshness_policy) == "fail 1h"
    hourly = with_freshness_policy(AssetSpec("meta_insights"))
    assert describe_policy(hourly.freshness_policy) == "warn 2h / fail 4h"
    # RULES is built once, at import: the matchers themselves, called directly
    assert in_group("airbyte")(AssetKey("x"), "airbyte") is True
    assert in_group("airbyte")(AssetKey("airbyte"), "web_analytics") is False
    assert named("a", "b")(AssetKey("b"), "airbyte") is True
    assert named("a", "b")(AssetKey("c"), None) is False
