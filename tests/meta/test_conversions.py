"""Conversions counted once: one action type per event of the definition, values alike.

The action lists are shaped as Meta lists one website purchase, lead or registration: the same
count under every overlapping action type of its family (Meta's action types reference; the
Ads Manager "Purchases" column reads omni_purchase). Expected figures are counted by hand.
"""

from decimal import Decimal

import pytest

from adinsights_pipelines.defs.meta.conversions import (
    DEFAULT_DEFINITION,
    Attribution,
    ConversionDefinition,
    alias_family,
    count,
)
from adinsights_pipelines.defs.meta.rows import conversions, insight_row


def _acts(**by_type: str) -> list[dict[str, str]]:
    return [{"action_type": t.replace("__", "."), "value": v} for t, v in by_type.items()]


#: 5 website purchases and 2 leads (1 pixel, 1 instant form), as Meta lists them.
ACTIONS = [
    {"action_type": "link_click", "value": "40"},
    {"action_type": "omni_purchase", "value": "5"},
    {"action_type": "purchase", "value": "5"},
    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "5"},
    {"action_type": "onsite_web_purchase", "value": "5"},
    {"action_type": "onsite_web_app_purchase", "value": "5"},
    {"action_type": "web_in_store_purchase", "value": "5"},
    {"action_type": "lead", "value": "2"},
    {"action_type": "offsite_conversion.fb_pixel_lead", "value": "1"},
    {"action_type": "onsite_conversion.lead_grouped", "value": "1"},
    {"action_type": "leadgen_grouped", "value": "1"},
]
VALUES = [
    {"action_type": "omni_purchase", "value": "150.00"},
    {"action_type": "purchase", "value": "150.00"},
    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "150.00"},
    {"action_type": "onsite_web_purchase", "value": "150.00"},
]


def test_overlapping_aliases_count_each_event_once() -> None:
    found = count(DEFAULT_DEFINITION, ACTIONS, VALUES)
    assert found.by_event == {"purchase": Decimal(5), "lead": Decimal(2)}
    assert found.total == Decimal(7)  # the old sum over every alias gave 14
    assert found.action_types == {"purchase": "omni_purchase", "lead": "lead"}
    assert found.value == Decimal("150.00")
    assert conversions(ACTIONS) == Decimal(7)


def test_a_channel_type_is_read_only_when_no_aggregate_is_listed() -> None:
    found = count(
        ConversionDefinition.parse("purchase,complete_registration"),
        _acts(offsite_conversion__fb_pixel_purchase="3", onsite_web_purchase="3"),
        _acts(onsite_web_purchase="90.5"),
    )
    assert found.by_event == {"purchase": Decimal(3)}
    assert found.action_types == {"purchase": "offsite_conversion.fb_pixel_purchase"}
    # the value is listed under another member of the family only: that one is read, once
    assert found.value_by_event == {"purchase": Decimal("90.5")}


def test_custom_conversions_are_their_own_action_type() -> None:
    definition = ConversionDefinition.parse("offsite_conversion.custom.812, lead")
    actions = _acts(
        offsite_conversion__custom__812="4", offsite_conversion__custom__999="9", lead="1"
    )
    found = count(definition, actions)
    assert found.by_event == {"offsite_conversion.custom.812": Decimal(4), "lead": Decimal(1)}
    assert alias_family("offsite_conversion.custom.812") == ("offsite_conversion.custom.812",)


def test_action_device_entries_of_one_type_add_up() -> None:
    actions = [
        {"action_type": "omni_purchase", "action_device": "iphone", "value": "2"},
        {"action_type": "omni_purchase", "action_device": "desktop", "value": "1"},
        {"action_type": "purchase", "action_device": "iphone", "value": "2"},
    ]
    assert count(DEFAULT_DEFINITION, actions).by_event == {"purchase": Decimal(3)}


def test_events_not_in_the_definition_do_not_count() -> None:
    found = count(ConversionDefinition.parse("lead"), ACTIONS, VALUES)
    assert found.total == Decimal(2)
    assert found.value == Decimal(0)
    assert found.by_event_json() == {
        "lead": {"conversions": "2", "value": None, "action_type": "lead"}
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one event"),
        (" , ", "at least one event"),
        ("Purchase", "'Purchase' is not an action type name"),
        ("purchase;drop table", "is not an action type name"),
    ],
)
def test_a_bad_definition_is_refused_with_its_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConversionDefinition.parse(text)


def test_a_definition_keeps_order_and_drops_repeats() -> None:
    assert ConversionDefinition.parse("lead, purchase,lead").text == "lead,purchase"


def test_a_definition_skips_empty_names_anywhere_and_an_empty_one_is_refused_in_words() -> None:
    assert ConversionDefinition.parse("lead,, ,purchase,").events == ("lead", "purchase")
    with pytest.raises(ValueError) as refused:
        ConversionDefinition.parse(" , ")
    assert str(refused.value) == "a conversion definition names at least one event"


def test_a_value_that_is_not_a_number_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="'omni_purchase' has a value that is not a number"):
        count(DEFAULT_DEFINITION, _acts(omni_purchase="n/a"))


def test_the_insight_row_carries_the_definition_its_counts_and_values() -> None:
    api_row = {
        "account_id": "123",
        "campaign_id": "c1",
        "adset_id": "s1",
        "ad_id": "a1",
        "date_start": "2026-11-30",
        "date_stop": "2026-11-30",
        "spend": "75.10",
        "impressions": "1000",
        "clicks": "40",
        "reach": "800",
        "actions": ACTIONS,
        "action_values": VALUES,
        "attribution_setting": "7d_click_1d_view",
    }
    row = insight_row("t1", "USD", api_row)
    assert row["conversions"] == "7"
    assert row["conversion_value"] == "150.00"
    assert row["conversions_by_event"] == {
        "purchase": {"conversions": "5", "value": "150.00", "action_type": "omni_purchase"},
        "lead": {"conversions": "2", "value": None, "action_type": "lead"},
    }
    assert row["conversion_events"] == "purchase,lead,complete_registration"
    assert row["attribution_setting"] == "7d_click_1d_view"
    assert row["action_values"] == VALUES


# --- attribution ---------------------------------------------------------------------------


def test_unified_attribution_is_the_default_and_asks_meta_for_the_ad_sets_own() -> None:
    unified = Attribution.parse(None)
    assert unified == Attribution.parse("unified") == Attribution.parse(" ")
    assert unified.label == "unified"
    assert unified.params() == {
        "action_report_time": "impression",
        "use_unified_attribution_setting": True,
    }


def test_windows_are_one_click_and_at_most_one_view_in_a_fixed_order() -> None:
    chosen = Attribution.parse("1d_view, 7d_click", "conversion")
    assert chosen.windows == ("7d_click", "1d_view")
    assert chosen.label == "7d_click,1d_view/conversion"
    assert chosen.params() == {
        "action_report_time": "conversion",
        "action_attribution_windows": ("7d_click", "1d_view"),
    }
    assert Attribution.parse("28d_click").label == "28d_click"
    assert Attribution.parse("1d_click,1d_ev").windows == ("1d_click", "1d_ev")


@pytest.mark.parametrize(
    ("windows", "time", "message"),
    [
        ("7d_click,7d_view", None, "Meta stopped returning 7-day and 28-day view windows"),
        ("28d_view", None, "'28d_view': Meta stopped returning"),
        ("1d_click,7d_click", None, "would count a conversion twice"),
        ("1d_view", None, "one click window and at most one view window"),
        ("7d_click,1d_view,1d_ev", None, "at most one view window"),
        ("14d_click", None, "'14d_click' is not one of 1d_click, 7d_click, 28d_click"),
        ("7d_click", "daily", "action report time 'daily' is not one of impression"),
    ],
)
def test_an_attribution_meta_cannot_answer_is_refused(
    windows: str, time: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Attribution.parse(windows, time)


def test_under_explicit_windows_each_action_counts_its_windows_not_its_default_value() -> None:
    actions = [
        {"action_type": "omni_purchase", "value": "9", "7d_click": "5", "1d_view": "2"},
        {"action_type": "lead", "value": "4", "7d_click": "3"},
    ]
    values = [{"action_type": "omni_purchase", "value": "90", "7d_click": "50", "1d_view": "20"}]
    windows = Attribution.parse("7d_click,1d_view")
    found = count(DEFAULT_DEFINITION, actions, values, windows)
    assert found.by_event == {"purchase": Decimal(7), "lead": Decimal(3)}
    assert found.value == Decimal(70)
    assert count(DEFAULT_DEFINITION, actions, values).by_event == {
        "purchase": Decimal(9),
        "lead": Decimal(4),
    }


def test_the_value_is_read_from_the_same_action_type_as_the_count_when_listed() -> None:
    # two members of the family with different values: the counted type's own value is read
    actions = _acts(omni_purchase="3", purchase="3")
    values = _acts(omni_purchase="150.00", purchase="140.00")
    found = count(DEFAULT_DEFINITION, actions, values)
    assert found.value_by_event == {"purchase": Decimal("150.00")}
    # the aggregate valued but not counted: the value still follows the counted type
    found = count(DEFAULT_DEFINITION, _acts(purchase="3"), values)
    assert (found.action_types, found.value_by_event) == (
        {"purchase": "purchase"},
        {"purchase": Decimal("140.00")},
    )


def test_entries_without_an_action_type_or_a_value_are_skipped_or_zero() -> None:
    actions = [
        {"value": "9"},  # no action_type (an action_device-only entry): skipped, not the end
        {"action_type": "lead"},  # no value: zero
        {"action_type": "omni_purchase", "value": "2"},
    ]
    found = count(DEFAULT_DEFINITION, actions)
    assert found.by_event == {"lead": Decimal(0), "purchase": Decimal(2)}
    windows = Attribution.parse("7d_click")
    assert (
        count(DEFAULT_DEFINITION, [{"action_type": "lead", "value": "4"}], None, windows).total == 0
    )


def test_an_event_with_a_value_and_no_count_is_listed_with_zero_conversions() -> None:
    found = count(DEFAULT_DEFINITION, [], _acts(omni_purchase="12.50"))
    assert found.by_event_json() == {
        "purchase": {"conversions": "0", "value": "12.50", "action_type": None}
    }


def test_a_definition_parses_from_a_list_and_names_the_rule_when_refused() -> None:
    assert ConversionDefinition.parse(["lead", "purchase"]).events == ("lead", "purchase")
    with pytest.raises(ValueError) as refused:
        ConversionDefinition.parse(["lead", "Purchase"])
    assert str(refused.value) == (
        "conversion event 'Purchase' is not an action type name "
        "(lower case, e.g. purchase, lead, offsite_conversion.custom.1234)"
    )


def test_attribution_refusals_say_what_meta_accepts() -> None:
    with pytest.raises(ValueError) as time:
        Attribution.parse(None, "daily")
    assert str(time.value) == (
        "action report time 'daily' is not one of impression, conversion, mixed"
    )
    with pytest.raises(ValueError) as twice:
        Attribution.parse("1d_click,7d_click")
    assert str(twice.value) == (
        "an attribution setting is one click window and at most one view window "
        "(e.g. 7d_click,1d_view): overlapping windows would count a conversion twice"
    )
    assert Attribution.parse("unified", "conversion").label == "unified/conversion"
    assert Attribution.parse(None, "mixed").params()["action_report_time"] == "mixed"
