"""Pure row shaping: GA4 and Search Console API rows into ``raw.ga4_daily`` and
``raw.search_console_daily`` records (tuples in column order, what COPY takes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

GA4_TABLE = "raw.ga4_daily"
GA4_COLUMNS = (
    "tenant_id",
    "property_id",
    "date",
    "region",
    "session_default_channel_group",
    "sessions",
    "total_users",
    "new_users",
    "screen_page_views",
    "engaged_sessions",
    "key_events",
)
GA4_KEY = ("tenant_id", "property_id", "date", "region", "session_default_channel_group")
#: API metric name -> column, in column order.
GA4_METRIC_COLUMNS = {
    "sessions": "sessions",
    "totalUsers": "total_users",
    "newUsers": "new_users",
    "screenPageViews": "screen_page_views",
    "engagedSessions": "engaged_sessions",
}

SEARCH_CONSOLE_TABLE = "raw.search_console_daily"
SEARCH_CONSOLE_COLUMNS = (
    "tenant_id",
    "site_url",
    "date",
    "query",
    "page",
    "country",
    "device",
    "clicks",
    "impressions",
    "ctr",
    "position",
    "data_state",
)
SEARCH_CONSOLE_KEY = ("tenant_id", "site_url", "date", "query", "page", "country", "device")


class RowShapeError(ValueError):
    """An API row that cannot be stored (a missing key column or a malformed value)."""


def ga4_date(value: str) -> date:
    """GA4's ``date`` dimension (``YYYYMMDD``, the property's time zone) as a date."""
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except (TypeError, ValueError):
        raise RowShapeError(f"GA4 date {value!r} is not YYYYMMDD") from None


def _count(value: Any, name: str) -> int:
    """A GA4 integer metric (sent as a string); GA4 may send ``"12.0"`` for whole numbers."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RowShapeError(f"GA4 metric {name} is not a number: {value!r}") from None
    if number != number.to_integral_value():
        raise RowShapeError(f"GA4 metric {name} is not a whole number: {value!r}")
    return int(number)


def ga4_record(tenant_id: str, property_id: str, row: Mapping[str, str]) -> tuple[Any, ...]:
    """One ``raw.ga4_daily`` record from a report row keyed by header names."""
    region = row.get("region") or "(not set)"
    channel = row.get("sessionDefaultChannelGroup") or "Unassigned"
    counts = [_count(row.get(api, "0"), api) for api in GA4_METRIC_COLUMNS]
    try:
        key_events = Decimal(str(row.get("keyEvents", "0")))
    except InvalidOperation:
        raise RowShapeError(
            f"GA4 metric keyEvents is not a number: {row.get('keyEvents')!r}"
        ) from None
    return (
        tenant_id,
        property_id,
        ga4_date(row.get("date", "")),
        region,
        channel,
        *counts,
        key_events,
    )


def search_console_record(tenant_id: str, site_url: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """One ``raw.search_console_daily`` record from a client row (keys + metrics + state)."""
    try:
        day = date.fromisoformat(str(row["date"]))
        return (
            tenant_id,
            site_url,
            day,
            str(row["query"]),
            str(row["page"]),
            str(row["country"]),
            str(row["device"]),
            round(float(row.get("clicks", 0))),
            round(float(row.get("impressions", 0))),
            float(row.get("ctr", 0)),
            float(row.get("position", 0)),
            str(row.get("data_state", "final")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RowShapeError(f"Search Console row cannot be stored: {exc}") from None
