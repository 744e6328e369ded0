"""What counts as a conversion in Meta's ``actions``, counted once (pure functions).

Meta lists one conversion under several overlapping action types with the same value: a website
purchase appears as ``omni_purchase``, ``purchase``, ``offsite_conversion.fb_pixel_purchase``,
``onsite_web_purchase``, ``onsite_web_app_purchase``..., all with the same count. Summing them
counts one purchase five times. A tenant's *conversion definition* names the events that count
(``purchase``, ``lead``, ``complete_registration``, a custom conversion
``offsite_conversion.custom.<id>``, ...); for each event exactly one action type is read: the
first of its alias family present in the row, the deduplicated aggregates first (``omni_*``,
then the plain event name), a channel-specific type only when no aggregate is there.

``action_values`` (the value Meta attributes to those actions, in the account's currency) is
read under the same definition, with the same choice of action type per event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

#: The events counted when a tenant names none (``ADINSIGHTS_META_CONVERSION_EVENTS``).
DEFAULT_EVENTS = ("purchase", "lead", "complete_registration")

#: An event name: a standard event (``purchase``) or a full action type Meta lists as such
#: (``offsite_conversion.custom.1234``, ``onsite_conversion.messaging_conversation_started_7d``).
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")

#: Families whose members Meta names irregularly (Meta's action types reference and the
#: Ads Manager "Results" columns): the aggregate first, then the channel-specific types.
_IRREGULAR: Mapping[str, tuple[str, ...]] = {
    "lead": (
        "lead",
        "onsite_conversion.lead_grouped",
        "offsite_conversion.fb_pixel_lead",
        "onsite_web_lead",
        "leadgen_grouped",
        "onsite_conversion.lead",
    ),
}


def alias_family(event: str) -> tuple[str, ...]:
    """The action types Meta may list ``event`` under, in the order they are preferred.

    A dotted name (a custom conversion, an ``onsite_conversion.*`` type) is its own family: it
    is already one specific action type.
    """
    if "." in event:
        return (event,)
    if event in _IRREGULAR:
        return _IRREGULAR[event]
    return (
        f"omni_{event}",
        event,
        f"offsite_conversion.fb_pixel_{event}",
        f"onsite_web_{event}",
        f"onsite_web_app_{event}",
        f"onsite_conversion.{event}",
        f"app_custom_event.fb_mobile_{event}",
    )


#: Attribution windows Meta answers today. ``7d_view`` and ``28d_view`` stopped being returned
#: on 2026-01-12 (Meta's "Ads Insights API Metric Availability Updates", 2025-10-16).
CLICK_WINDOWS = ("1d_click", "7d_click", "28d_click")
VIEW_WINDOWS = ("1d_view", "1d_ev")
RETIRED_WINDOWS = ("7d_view", "28d_view")
REPORT_TIMES = ("impression", "conversion", "mixed")


class AttributionError(ValueError):
    """An attribution setting Meta cannot answer or that would count a conversion twice."""


@dataclass(frozen=True)
class Attribution:
    """How a tenant's conversions are attributed.

    ``windows`` None: Meta's unified attribution, each ad set's own setting (Meta's default
    today; the row's ``attribution_setting`` is Meta's label of it). Otherwise one click window
    and at most one view window, read from each action's per-window values and added (a
    conversion is attributed to a click or to a view, never both). ``report_time`` is Meta's
    ``action_report_time``: the day of the impression (default), of the conversion, or mixed.
    """

    windows: tuple[str, ...] | None = None
    report_time: str = "impression"

    @classmethod
    def parse(cls, windows: str | None, report_time: str | None = None) -> Attribution:
        """From ``"7d_click,1d_view"`` (``"unified"`` or None: the ad sets' own)."""
        time = (report_time or "impression").strip()
        if time not in REPORT_TIMES:
            raise AttributionError(
                f"action report time {time!r} is not one of {', '.join(REPORT_TIMES)}"
            )
        if windows is None or windows.strip() in ("", "unified"):
            return cls(None, time)
        names = tuple(dict.fromkeys(w.strip() for w in windows.split(",") if w.strip()))
        for name in names:
            if name in RETIRED_WINDOWS:
                raise AttributionError(
                    f"attribution window {name!r}: Meta stopped returning 7-day and 28-day view "
                    "windows on 2026-01-12; use 1d_view"
                )
            if name not in CLICK_WINDOWS + VIEW_WINDOWS:
                raise AttributionError(
                    f"attribution window {name!r} is not one of "
                    f"{', '.join(CLICK_WINDOWS + VIEW_WINDOWS)}"
                )
        clicks = [n for n in names if n in CLICK_WINDOWS]
        views = [n for n in names if n in VIEW_WINDOWS]
        if len(clicks) != 1 or len(views) > 1:
            raise AttributionError(
                "an attribution setting is one click window and at most one view window "
                "(e.g. 7d_click,1d_view): overlapping windows would count a conversion twice"
            )
        return cls((clicks[0], *views), time)

    @property
    def label(self) -> str:
        """``unified`` or ``7d_click,1d_view``; ``/conversion`` when not by impression time."""
        base = ",".join(self.windows) if self.windows else "unified"
        return base if self.report_time == "impression" else f"{base}/{self.report_time}"

    def params(self) -> dict[str, Any]:
        """The insights request parameters that ask Meta for this attribution."""
        asked: dict[str, Any] = {"action_report_time": self.report_time}
        if self.windows:
            asked["action_attribution_windows"] = self.windows
        else:
            asked["use_unified_attribution_setting"] = True
        return asked


UNIFIED = Attribution()


class ConversionDefinitionError(ValueError):
    """A conversion definition that names no event or an event that is not an action type."""


@dataclass(frozen=True)
class ConversionDefinition:
    """The events a tenant counts as conversions, in the order it named them."""

    events: tuple[str, ...]

    @classmethod
    def parse(cls, names: Iterable[str] | str) -> ConversionDefinition:
        """From a list or a comma-separated text; duplicates dropped, order kept."""
        raw = names.split(",") if isinstance(names, str) else list(names)
        events: list[str] = []
        for name in (n.strip() for n in raw):
            if not name:
                continue
            if not EVENT_NAME.match(name):
                raise ConversionDefinitionError(
                    f"conversion event {name!r} is not an action type name "
                    "(lower case, e.g. purchase, lead, offsite_conversion.custom.1234)"
                )
            if name not in events:
                events.append(name)
        if not events:
            raise ConversionDefinitionError("a conversion definition names at least one event")
        return cls(tuple(events))

    @property
    def text(self) -> str:
        """The definition as stored on each raw row (``purchase,lead``)."""
        return ",".join(self.events)


DEFAULT_DEFINITION = ConversionDefinition(DEFAULT_EVENTS)


@dataclass(frozen=True)
class Conversions:
    """One insight row's conversions under a definition."""

    #: Per event: the count of the action type read for it (events absent from the row: none).
    by_event: dict[str, Decimal]
    #: Per event: the value of the action type read for it in ``action_values``.
    value_by_event: dict[str, Decimal]
    #: Per event: which action type was read (what an analyst checks against Ads Manager).
    action_types: dict[str, str]

    @property
    def total(self) -> Decimal:
        return sum(self.by_event.values(), Decimal(0))

    @property
    def value(self) -> Decimal:
        return sum(self.value_by_event.values(), Decimal(0))

    def by_event_json(self) -> dict[str, dict[str, str | None]]:
        """``{"purchase": {"conversions": "5", "value": "150.00", "action_type": ...}}`` for
        every event with a count or a value (the raw row's ``conversions_by_event``)."""
        events = [e for e in self.action_types] + [
            e for e in self.value_by_event if e not in self.action_types
        ]
        return {
            event: {
                "conversions": str(self.by_event.get(event, Decimal(0))),
                "value": str(self.value_by_event[event]) if event in self.value_by_event else None,
                "action_type": self.action_types.get(event),
            }
            for event in events
        }


def _by_type(
    entries: Sequence[Mapping[str, Any]] | None, windows: tuple[str, ...] | None = None
) -> dict[str, Decimal]:
    """``[{"action_type": t, "value": "5"}, ...]`` as ``{t: 5}``; several entries of one type
    (an ``action_device`` breakdown) add up. With ``windows``, an entry's figure is the sum of
    those windows' values (``{"7d_click": "4", "1d_view": "1"}``) instead of ``value``."""
    out: dict[str, Decimal] = {}
    for entry in entries or ():
        action_type = entry.get("action_type")
        if not isinstance(action_type, str):
            continue
        try:
            if windows:
                value = sum((Decimal(str(entry.get(w, "0"))) for w in windows), Decimal(0))
            else:
                value = Decimal(str(entry.get("value", "0")))
        except InvalidOperation:
            raise ValueError(f"action {action_type!r} has a value that is not a number") from None
        out[action_type] = out.get(action_type, Decimal(0)) + value
    return out


def _pick(family: Sequence[str], present: Mapping[str, Decimal]) -> str | None:
    return next((t for t in family if t in present), None)


def count(
    definition: ConversionDefinition,
    actions: Sequence[Mapping[str, Any]] | None,
    action_values: Sequence[Mapping[str, Any]] | None = None,
    attribution: Attribution = UNIFIED,
) -> Conversions:
    """The row's conversions and their value, each event counted once, under
    ``attribution`` (the per-window values it asked for, else each entry's ``value``)."""
    counts = _by_type(actions, attribution.windows)
    values = _by_type(action_values, attribution.windows)
    by_event: dict[str, Decimal] = {}
    value_by_event: dict[str, Decimal] = {}
    action_types: dict[str, str] = {}
    for event in definition.events:
        family = alias_family(event)
        chosen = _pick(family, counts)
        if chosen is not None:
            by_event[event] = counts[chosen]
            action_types[event] = chosen
        # The value's type is chosen on its own: Meta may list a value under the aggregate
        # only, and a count without a value (a lead) is common.
        valued = chosen if chosen in values else _pick(family, values)
        if valued is not None:
            value_by_event[event] = values[valued]
    return Conversions(by_event, value_by_event, action_types)
