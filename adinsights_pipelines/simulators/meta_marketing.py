"""Marketing API request parameters as Meta documents them, for the Meta simulator.

Pure functions over parameters and plain objects: list parameters (JSON arrays or comma
lists), ``fields`` with their documented names per node type, ``filtering``, ``summary`` and the
action options of insights (``action_breakdowns``, ``action_attribution_windows``,
``use_unified_attribution_setting``, ``action_report_time``). Errors are raised as
:class:`ParamError` and rendered by the simulator as Graph ``(#100)`` errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adinsights_pipelines.simulators.meta_fields import (
    ACTION_BREAKDOWNS,
    ACTION_REPORT_TIMES,
    ATTRIBUTION_WINDOWS,
)

__all__ = [
    "AGGREGATE_TYPES",
    "ON_META_TYPES",
    "PIXEL_TYPES",
    "RETIRED_WINDOWS",
    "TYPE1_BREAKDOWNS",
    "ActionOptions",
    "Events",
    "Filter",
    "ParamError",
    "action_entries",
    "action_options",
    "attributed",
    "check_fields",
    "field_names",
    "list_param",
    "matches",
    "parse_filtering",
    "wants_summary",
]

#: Statuses an edge leaves out unless ``effective_status`` or ``filtering`` asks for them.
HIDDEN_STATUSES = frozenset({"ARCHIVED", "DELETED"})


class ParamError(Exception):
    """A request parameter Meta would refuse: ``(#100)`` with ``message`` (and a user message)."""

    def __init__(self, message: str, user_msg: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.user_msg = user_msg


def list_param(raw: str | None, name: str = "list") -> list[str]:
    """A list parameter as Meta takes it: a JSON array (``["a","b"]``, what the SDKs send) or a
    comma-separated list (``a,b``)."""
    if raw is None:
        return []
    text = raw.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ParamError("Invalid parameter", f"{name}: could not parse {raw!r}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ParamError("Invalid parameter", f"{name} must be a list of strings")
        return [i.strip() for i in items if i.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def field_names(raw: str | None) -> list[str]:
    """The top-level names of a ``fields`` value; ``creative{id,name}`` counts as ``creative``."""
    if raw is None:
        return []
    text = raw.strip()
    if text.startswith("["):
        return list_param(text, "fields")
    names, depth, current = [], 0, ""
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current)
            current = ""
            continue
        if depth == 0 and char not in "{}":
            current += char
    names.append(current)
    return [n.strip() for n in names if n.strip()]


def check_fields(names: Sequence[str], documented: frozenset[str], node_type: str) -> None:
    for name in names:
        if name not in documented:
            raise ParamError(
                f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})"
            )


def wants_summary(params: Mapping[str, str]) -> bool:
    """``summary=true`` or ``summary=["total_count"]`` / ``summary=total_count``."""
    raw = params.get("summary")
    if raw is None:
        return False
    if raw.strip().lower() in ("true", "1"):
        return True
    return "total_count" in list_param(raw, "summary")


# --- filtering -------------------------------------------------------------------------------

_OPERATORS = frozenset(
    {
        "EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN",
        "LESS_THAN_OR_EQUAL", "IN_RANGE", "NOT_IN_RANGE", "CONTAIN", "NOT_CONTAIN", "IN",
        "NOT_IN", "STARTS_WITH", "ENDS_WITH", "ANY", "ALL", "AFTER", "BEFORE", "ON_OR_AFTER",
        "ON_OR_BEFORE", "NONE", "TOP",
    }
)  # fmt: skip
_MODELLED = frozenset(
    {
        "EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN",
        "LESS_THAN_OR_EQUAL", "IN", "NOT_IN", "CONTAIN", "NOT_CONTAIN", "STARTS_WITH", "ENDS_WITH",
        "IN_RANGE", "NOT_IN_RANGE",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Filter:
    field: str
    operator: str
    value: Any


def parse_filtering(raw: str | None, fields: frozenset[str]) -> list[Filter]:
    """``filtering=[{"field": ..., "operator": ..., "value": ...}]`` over the named ``fields``."""
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        raise ParamError("(#100) param filtering must be an array.") from None
    if not isinstance(items, list):
        raise ParamError("(#100) param filtering must be an array.")
    filters = []
    for item in items:
        if not isinstance(item, dict) or not {"field", "operator"} <= set(item):
            raise ParamError(
                "(#100) param filtering[0] must be an object with keys field, operator, value"
            )
        field, operator = str(item["field"]), str(item["operator"]).upper()
        if operator not in _OPERATORS:
            raise ParamError(f"(#100) param filtering[0][operator] must be one of {{{operator}}}")
        if field not in fields or operator not in _MODELLED:
            raise ParamError(
                f"(#100) Filtering field '{field}' with operation '{operator}' is not supported"
            )
        filters.append(Filter(field, operator, item.get("value")))
    return filters


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:  # Graph times: 2024-03-12T15:02:47-0700
                return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
            except ValueError:
                return None
    return None


def _holds(actual: Any, f: Filter) -> bool:
    op, value = f.operator, f.value
    if op in ("IN", "NOT_IN"):
        values = value if isinstance(value, list) else [value]
        inside = str(actual) in {str(v) for v in values}
        return inside if op == "IN" else not inside
    if op in ("EQUAL", "NOT_EQUAL"):
        left, right = _number(actual), _number(value)
        same = (
            left == right if left is not None and right is not None else str(actual) == str(value)
        )
        return same if op == "EQUAL" else not same
    if op in ("CONTAIN", "NOT_CONTAIN"):
        inside = str(value).lower() in str(actual).lower()
        return inside if op == "CONTAIN" else not inside
    if op == "STARTS_WITH":
        return str(actual).lower().startswith(str(value).lower())
    if op == "ENDS_WITH":
        return str(actual).lower().endswith(str(value).lower())
    if op in ("IN_RANGE", "NOT_IN_RANGE"):
        bounds = value if isinstance(value, list) and len(value) == 2 else None
        number = _number(actual)
        if bounds is None or number is None:
            return False
        low, high = _number(bounds[0]), _number(bounds[1])
        inside = low is not None and high is not None and low <= number <= high
        return inside if op == "IN_RANGE" else not inside
    left, right = _number(actual), _number(value)
    if left is None or right is None:
        return False
    return {
        "GREATER_THAN": left > right,
        "GREATER_THAN_OR_EQUAL": left >= right,
        "LESS_THAN": left < right,
        "LESS_THAN_OR_EQUAL": left <= right,
    }[op]


def matches(get: Callable[[str], Any], filters: Sequence[Filter]) -> bool:
    """Whether an object (its value of a filter field by ``get(field)``) passes every filter."""
    return all(_holds(get(f.field), f) for f in filters)


def asks_for_hidden(params: Mapping[str, str], filters: Sequence[Filter]) -> set[str]:
    """The hidden statuses (ARCHIVED, DELETED) an edge call asks for, by ``effective_status``
    or a ``filtering`` on ``effective_status``."""
    wanted = set(list_param(params.get("effective_status"), "effective_status"))
    for f in filters:
        if f.field.endswith("effective_status") and f.operator in ("IN", "EQUAL"):
            values = f.value if isinstance(f.value, list) else [f.value]
            wanted |= {str(v) for v in values}
    return wanted & HIDDEN_STATUSES


# --- insights action options -----------------------------------------------------------------

#: Share of the default (7-day click, 1-day view) count each attribution window reports.
WINDOW_SHARE: dict[str, float] = {
    "1d_click": 0.62,
    "7d_click": 0.86,
    "28d_click": 0.97,
    "1d_view": 0.14,
    "7d_view": 0.21,
    "28d_view": 0.26,
    "1d_ev": 0.05,
    "default": 1.0,
}
#: Devices the ``action_device`` breakdown splits actions over, with their shares.
DEVICE_SHARE = (("iphone", 0.44), ("android_smartphone", 0.38), ("desktop", 0.14), ("ipad", 0.04))
MODELLED_ACTION_BREAKDOWNS = ("action_type", "action_device")


@dataclass(frozen=True)
class ActionOptions:
    breakdowns: tuple[str, ...] = ("action_type",)
    windows: tuple[str, ...] = ()
    unified: bool = True
    report_time: str = "impression"


def _bool_param(raw: str | None, name: str) -> bool:
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ParamError("Invalid parameter", f"{name} must be a boolean")
    return value in ("true", "1")


def action_options(params: Mapping[str, str]) -> ActionOptions:
    breakdowns = tuple(list_param(params.get("action_breakdowns"), "action_breakdowns"))
    for name in breakdowns:
        if name not in ACTION_BREAKDOWNS:
            raise ParamError(
                f"(#100) action_breakdowns[0] must be one of the following values: "
                f"{', '.join(sorted(ACTION_BREAKDOWNS))}"
            )
        if name not in MODELLED_ACTION_BREAKDOWNS:
            raise ParamError(
                "Invalid parameter",
                f"the simulator models action_breakdowns {', '.join(MODELLED_ACTION_BREAKDOWNS)}",
            )
    windows = tuple(
        list_param(params.get("action_attribution_windows"), "action_attribution_windows")
    )
    for name in windows:
        if name not in ATTRIBUTION_WINDOWS:
            raise ParamError(
                "(#100) action_attribution_windows[0] must be one of the following values: "
                f"{', '.join(sorted(ATTRIBUTION_WINDOWS))}"
            )
        if name not in WINDOW_SHARE:
            raise ParamError(
                "Invalid parameter",
                f"the simulator models action_attribution_windows {', '.join(WINDOW_SHARE)}",
            )
    report_time = params.get("action_report_time", "impression")
    if report_time not in ACTION_REPORT_TIMES:
        raise ParamError(
            "(#100) action_report_time must be one of the following values: "
            f"{', '.join(sorted(ACTION_REPORT_TIMES))}"
        )
    # Since 2025-06-10 Meta always applies the ad sets' unified attribution setting: the
    # parameter is still accepted, ``false`` no longer changes the answer (Supermetrics,
    # "Facebook Ads reach and attribution changes - June 10, 2025": "Unified attribution will
    # always be enabled"); ``7d_view``/``28d_view`` are accepted but not returned (see
    # RETIRED_WINDOWS).
    _bool_param(params.get("use_unified_attribution_setting"), "use_unified_attribution_setting")
    return ActionOptions(breakdowns or ("action_type",), windows, True, report_time)


def _split(total: int, shares: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    out, left = [], total
    for index, (name, share) in enumerate(shares):
        part = left if index == len(shares) - 1 else min(left, round(total * share))
        left -= part
        out.append((name, part))
    return out


# --- conversion events and their overlapping action types ------------------------------------
#
# Meta lists one conversion under several overlapping action types, each with the same value
# (real answers show a pixel purchase as ``purchase``, ``omni_purchase``,
# ``offsite_conversion.fb_pixel_purchase``, ``onsite_web_purchase``,
# ``onsite_web_app_purchase``, ``web_in_store_purchase`` and ``web_app_in_store_purchase``;
# PostHog/posthog#44949 (2026) fixed exactly this double count, "prefer omni_purchase").
# An event comes from one of two sources: the website pixel (off-Meta) or Meta itself (a
# shop checkout, an instant form). The aggregates (``purchase``/``omni_purchase``, ``lead``,
# ``complete_registration``/``omni_complete_registration``) are pixel + on-Meta; the
# channel-specific types carry only their own source. Custom conversions
# (``offsite_conversion.custom.<id>``) are pixel events with no aggregate.

#: Pixel (off-Meta) action types of each event, all with the event's pixel count.
PIXEL_TYPES: dict[str, tuple[str, ...]] = {
    "purchase": (
        "offsite_conversion.fb_pixel_purchase",
        "onsite_web_purchase",
        "onsite_web_app_purchase",
        "web_in_store_purchase",
        "web_app_in_store_purchase",
    ),
    "lead": ("offsite_conversion.fb_pixel_lead",),
    "complete_registration": ("offsite_conversion.fb_pixel_complete_registration",),
}
#: On-Meta action types of each event (shop checkout, instant form), with its on-Meta count.
ON_META_TYPES: dict[str, tuple[str, ...]] = {
    "purchase": ("onsite_conversion.purchase",),
    "lead": ("onsite_conversion.lead_grouped", "leadgen_grouped"),
    "complete_registration": (),
}
#: Aggregate action types of each event: pixel + on-Meta.
AGGREGATE_TYPES: dict[str, tuple[str, ...]] = {
    "purchase": ("omni_purchase", "purchase"),
    "lead": ("lead",),
    "complete_registration": ("complete_registration", "omni_complete_registration"),
}
#: Breakdowns for which Meta returns no off-Meta action metrics ("Type 1" in Meta's Insights
#: API Breakdowns doc, "Restrictions for off-Meta action metrics"): with them ``actions`` and
#: ``action_values`` hold only on-Meta actions, and an aggregate counts only its on-Meta part.
TYPE1_BREAKDOWNS = frozenset(
    {
        "region",
        "dma",
        "hourly_stats_aggregated_by_audience_time_zone",
        "hourly_stats_aggregated_by_advertiser_time_zone",
    }
)
#: Windows Meta stopped returning on 2026-01-12 (developers.facebook.com/blog, 2025-10-16,
#: "Ads Insights API Metric Availability Updates"): still accepted in
#: ``action_attribution_windows``, but no value is returned for them.
RETIRED_WINDOWS = frozenset({"7d_view", "28d_view"})


@dataclass(frozen=True)
class Events:
    """Counts (or values, in cents) of one ad, day and region before Meta lists them.

    ``pixel`` and ``on_meta``: per event (``purchase``, ``lead``, ``complete_registration``);
    ``custom``: per ``offsite_conversion.custom.<id>`` (pixel); ``plain``: on-Meta action
    types with no alias family (``link_click``, ``page_engagement``)."""

    pixel: Mapping[str, int]
    on_meta: Mapping[str, int]
    custom: Mapping[str, int]
    plain: Mapping[str, int]

    def scaled(self, factor: float) -> Events:
        def scale(counts: Mapping[str, int]) -> dict[str, int]:
            return {k: round(v * factor) for k, v in counts.items()}

        if factor == 1.0:
            return self
        # Attribution concerns conversions; on-Meta engagement (clicks) is what it is.
        return Events(scale(self.pixel), scale(self.on_meta), scale(self.custom), self.plain)

    def shifted(self, before: Events, share: float) -> Events:
        """``share`` of each count moves to the next day (``before``: the day before)."""

        def shift(now: Mapping[str, int], then: Mapping[str, int]) -> dict[str, int]:
            return {k: v - round(v * share) + round(then.get(k, 0) * share) for k, v in now.items()}

        return Events(
            shift(self.pixel, before.pixel),
            shift(self.on_meta, before.on_meta),
            shift(self.custom, before.custom),
            shift(self.plain, before.plain),
        )

    def listed(self, *, off_meta: bool) -> dict[str, int]:
        """The action types Meta lists, each with its count; ``off_meta=False`` (a Type 1
        breakdown): only on-Meta actions, aggregates counting only their on-Meta part."""
        out: dict[str, int] = dict(self.plain)
        for event in AGGREGATE_TYPES:
            pixel = self.pixel.get(event, 0) if off_meta else 0
            on_meta = self.on_meta.get(event, 0)
            if off_meta:
                for name in PIXEL_TYPES[event]:
                    out[name] = pixel
            for name in ON_META_TYPES[event]:
                out[name] = on_meta
            for name in AGGREGATE_TYPES[event]:
                out[name] = pixel + on_meta
        if off_meta:
            out.update(self.custom)
        return {k: v for k, v in out.items() if v}


NO_EVENTS = Events({}, {}, {}, {})

#: An action type's measures: ``value`` (under the attribution setting) and one per window.
Measures = dict[str, dict[str, int]]


def _summed(parts: Iterable[Events]) -> Events:
    pixel: dict[str, int] = {}
    on_meta: dict[str, int] = {}
    custom: dict[str, int] = {}
    plain: dict[str, int] = {}
    for part in parts:
        for into, counts in (
            (pixel, part.pixel),
            (on_meta, part.on_meta),
            (custom, part.custom),
            (plain, part.plain),
        ):
            for key, count in counts.items():
                into[key] = into.get(key, 0) + count
    return Events(pixel, on_meta, custom, plain)


def attributed(
    parts: Sequence[tuple[Events, float]], options: ActionOptions, *, off_meta: bool
) -> Measures:
    """The action types of a row over ``parts`` (each part's events with its ad set's
    attribution ``share``), with their ``value`` and the requested windows' counts.

    Each part is scaled on its own (so a row's numbers are the sum of its parts' under any
    grouping), and before the action types are listed (so aliases stay equal and aggregates =
    pixel + on-Meta). Listing is linear, so the parts are summed first and listed once."""
    out: Measures = {}
    measures: dict[str, float | None] = {"value": None}
    for window in options.windows:
        if window not in RETIRED_WINDOWS:
            measures[window] = WINDOW_SHARE[window]
    for measure, factor in measures.items():
        total = _summed(
            events.scaled(share if factor is None else factor) for events, share in parts
        )
        for action_type, count in total.listed(off_meta=off_meta).items():
            out.setdefault(action_type, {})[measure] = count
    return out


def _money(cents: int) -> str:
    return f"{cents / 100:.2f}"


def action_entries(
    totals: Measures, options: ActionOptions, *, money: bool = False
) -> list[dict[str, Any]]:
    """``actions`` (or ``action_values`` with ``money``: amounts in cents, listed in the
    account's currency) as Meta lists them: one entry per action type with its ``value`` and
    each requested (still served) window; ``action_device`` splits every entry over devices.
    """
    fmt = _money if money else str
    windows = [w for w in options.windows if w not in RETIRED_WINDOWS]
    if options.breakdowns == ("action_type",):  # the common case, without device splits
        return [
            {
                "action_type": action_type,
                "value": fmt(measures["value"]),
                **{w: fmt(measures.get(w, 0)) for w in windows},
            }
            for action_type, measures in totals.items()
            if measures.get("value")
        ]
    entries: list[dict[str, Any]] = []
    for action_type, measures in totals.items():
        value = measures.get("value", 0)
        if not value:
            continue
        devices: list[tuple[str | None, float]] = (
            [(name, share) for name, share in DEVICE_SHARE]
            if "action_device" in options.breakdowns
            else [(None, 1.0)]
        )
        split = {
            name: dict(_split(measures.get(name, 0), [(d or "", s) for d, s in devices]))
            for name in ("value", *windows)
        }
        for device, _ in devices:
            part = split["value"][device or ""]
            if not part:
                continue
            entry: dict[str, Any] = {}
            if "action_type" in options.breakdowns:
                entry["action_type"] = action_type
            if device is not None:
                entry["action_device"] = device
            entry["value"] = part
            for window in windows:
                entry[window] = split[window][device or ""]
            entries.append(entry)
    if "action_type" not in options.breakdowns:
        merged: dict[str, dict[str, Any]] = {}
        for entry in entries:
            key = entry["action_device"]
            into = merged.setdefault(key, {"action_device": key, "value": 0})
            for name, count in entry.items():
                if name != "action_device":
                    into[name] = into.get(name, 0) + count
        entries = list(merged.values())
    return [
        {k: v if k in ("action_type", "action_device") else fmt(v) for k, v in e.items()}
        for e in entries
    ]
