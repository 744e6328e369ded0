"""Pure pieces of the web analytics sync: row shaping, windows, retry decisions, validation."""

from datetime import date
from decimal import Decimal

import pytest

from adinsights_pipelines.defs.google.assets import lookback_window
from adinsights_pipelines.defs.google.client import is_retryable, mark_data_state
from adinsights_pipelines.defs.google.onboarding import missing_scope
from adinsights_pipelines.defs.google.rows import (
    GA4_COLUMNS,
    SEARCH_CONSOLE_COLUMNS,
    RowShapeError,
    ga4_record,
    search_console_record,
)
from adinsights_pipelines.defs.google.sources import normalise_identifier
from adinsights_pipelines.errors import AdinsightsError

GA4_ROW = {
    "date": "20260301",
    "region": "Saint Andrew Parish",
    "sessionDefaultChannelGroup": "Organic Search",
    "sessions": "120",
    "totalUsers": "98",
    "newUsers": "40",
    "screenPageViews": "310",
    "engagedSessions": "77",
    "keyEvents": "4.5",
}


def test_ga4_row_becomes_a_record_in_column_order() -> None:
    record = ga4_record("acme", "123", GA4_ROW)
    assert dict(zip(GA4_COLUMNS, record, strict=True)) == {
        "tenant_id": "acme",
        "property_id": "123",
        "date": date(2026, 3, 1),
        "region": "Saint Andrew Parish",
        "session_default_channel_group": "Organic Search",
        "sessions": 120,
        "total_users": 98,
        "new_users": 40,
        "screen_page_views": 310,
        "engaged_sessions": 77,
        "key_events": Decimal("4.5"),
    }


def test_ga4_whole_numbers_sent_as_decimals_are_accepted() -> None:
    record = ga4_record("acme", "123", {**GA4_ROW, "sessions": "12.0"})
    assert record[GA4_COLUMNS.index("sessions")] == 12


@pytest.mark.parametrize(
    "change",
    [{"date": "2026-03-01"}, {"sessions": "many"}, {"totalUsers": "1.5"}, {"keyEvents": "x"}],
)
def test_malformed_ga4_values_are_refused(change: dict[str, str]) -> None:
    with pytest.raises(RowShapeError):
        ga4_record("acme", "123", {**GA4_ROW, **change})


def test_search_console_row_becomes_a_record() -> None:
    row = {
        "date": "2026-03-01",
        "query": "jerk chicken kingston",
        "page": "https://www.example.com/menu/",
        "country": "jam",
        "device": "MOBILE",
        "clicks": 3.0,
        "impressions": 40,
        "ctr": 0.075,
        "position": 4.25,
        "data_state": "all",
    }
    record = dict(zip(SEARCH_CONSOLE_COLUMNS, search_console_record("acme", "s", row), strict=True))
    assert record["date"] == date(2026, 3, 1) and record["site_url"] == "s"
    assert (record["clicks"], record["impressions"]) == (3, 40)
    assert (record["ctr"], record["position"], record["data_state"]) == (0.075, 4.25, "all")
    with pytest.raises(RowShapeError):
        search_console_record("acme", "s", {k: v for k, v in row.items() if k != "query"})


def test_days_from_the_first_incomplete_date_are_fresh() -> None:
    assert mark_data_state("2026-03-03", "2026-03-03") == "all"
    assert mark_data_state("2026-03-04", "2026-03-03") == "all"
    assert mark_data_state("2026-03-02", "2026-03-03") == "final"
    assert mark_data_state("2026-03-02", None) == "final"


def test_lookback_window_includes_today() -> None:
    assert lookback_window(date(2026, 3, 10), 3) == (date(2026, 3, 8), date(2026, 3, 10))
    assert lookback_window(date(2026, 3, 10), 1) == (date(2026, 3, 10), date(2026, 3, 10))


@pytest.mark.parametrize(
    ("http_status", "status", "reason", "expected"),
    [
        (429, "RESOURCE_EXHAUSTED", None, True),
        (500, "INTERNAL", None, True),
        (503, "UNAVAILABLE", None, True),
        (None, None, None, True),  # network error
        (403, "PERMISSION_DENIED", "userRateLimitExceeded", True),
        (403, "PERMISSION_DENIED", "dailyLimitExceeded", False),
        (403, "PERMISSION_DENIED", None, False),
        (401, "UNAUTHENTICATED", None, False),
        (400, "INVALID_ARGUMENT", None, False),
        (400, None, "invalid_grant", False),
    ],
)
def test_only_rate_limits_server_and_network_errors_are_retryable(
    http_status: int | None, status: str | None, reason: str | None, expected: bool
) -> None:
    assert is_retryable(http_status, status, reason) is expected


def test_source_identifiers_are_checked() -> None:
    assert normalise_identifier("ga4", "properties/123456") == "123456"
    assert (
        normalise_identifier("search_console", "sc-domain:example.com") == "sc-domain:example.com"
    )
    assert normalise_identifier("search_console", " https://www.x.jm/ ") == "https://www.x.jm/"
    for provider, bad in (
        ("ga4", "UA-1234-1"),
        ("search_console", "example.com"),
        ("search_console", "ftp://x/"),
    ):
        with pytest.raises(AdinsightsError):
            normalise_identifier(provider, bad)


def test_scope_gate_needs_the_apis_read_scope() -> None:
    ga4_scope = "https://www.googleapis.com/auth/analytics.readonly"
    sc_scope = "https://www.googleapis.com/auth/webmasters.readonly"
    assert missing_scope("ga4", (ga4_scope,)) is None
    assert missing_scope("search_console", (ga4_scope,)) == sc_scope
    assert missing_scope("search_console", ("https://www.googleapis.com/auth/webmasters",)) is None
