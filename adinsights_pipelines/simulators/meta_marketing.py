"""Marketing API request parameters as Meta documents them, for the Meta simulator.

Pure functions over parameters and plain objects: list parameters (JSON arrays or comma
lists), ``fields`` with their documented names per node type, ``filtering``, ``summary`` and the
action options of insights (``action_breakdowns``, ``action_attribution_windows``,
``use_unified_attribution_setting``, ``action_report_time``). Errors are raised as
:class:`ParamError` and rendered by the simulator as Graph ``(#100)`` errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adinsights_pipelines.simulators.meta_fields import (
    ACTION_BREAKDOWNS,
    ACTION_REPORT_TIMES,
    ATTRIBUTION_WINDOWS,
)

__all__ = [
    "ActionOptions",
    "Filter",
    "ParamError",
    "action_entries",
    "action_options",
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
    unified: bool = False
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
    return ActionOptions(
        breakdowns or ("action_type",),
        windows,
        _bool_param(
            params.get("use_unified_attribution_setting"), "use_unified_attribution_setting"
        ),
        report_time,
    )


def _split(total: int, shares: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    out, left = [], total
    for index, (name, share) in enumerate(shares):
        part = left if index == len(shares) - 1 else min(left, round(total * share))
        left -= part
        out.append((name, part))
    return out


def action_entries(
    actions: Mapping[str, int], options: ActionOptions, *, adset_share: float = 1.0
) -> list[dict[str, Any]]:
    """``actions`` (default-attribution counts per action type) as Meta lists them.

    ``adset_share`` scales the counts to the ad set's own attribution setting when
    ``use_unified_attribution_setting`` is on; each requested window adds its own count; the
    ``action_device`` breakdown splits every action over devices.
    """
    entries: list[dict[str, Any]] = []
    for action_type, count in actions.items():
        value = round(count * adset_share) if options.unified else count
        if not value:
            continue
        parts: list[tuple[str | None, int]] = (
            list(_split(value, DEVICE_SHARE))
            if "action_device" in options.breakdowns
            else [(None, value)]
        )
        for device, part in parts:
            if not part:
                continue
            entry: dict[str, Any] = {}
            if "action_type" in options.breakdowns:
                entry["action_type"] = action_type
            if device is not None:
                entry["action_device"] = device
            entry["value"] = str(part)
            for window in options.windows:
                entry[window] = str(round(part * WINDOW_SHARE[window]))
            entries.append(entry)
    if "action_type" not in options.breakdowns:
        merged: dict[str, dict[str, Any]] = {}
        for entry in entries:
            key = entry["action_device"]
            into = merged.setdefault(key, {"action_device": key, "value": "0"})
            for name, value in entry.items():
                if name != "action_device":
                    into[name] = str(int(into.get(name, "0")) + int(value))
        entries = list(merged.values())
    return entries
