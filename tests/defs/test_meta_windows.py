"""An ad account's today and lookback window in its own time zone (defs/meta/windows.py)."""

import logging
from datetime import UTC, date, datetime

import pytest

from adinsights_pipelines.defs.meta.windows import (
    AccountWindow,
    account_today,
    account_window,
    account_zone,
)

# 04:30 UTC on 5 December 2026: 23:30 on the 4th in Kingston (UTC-5, no DST), 13:30 on the
# 5th in Tokyo (UTC+9), 18:30 on the 4th in Honolulu (UTC-10), 18:30 on the 5th at Kiritimati
# (UTC+14), 17:30 on the 4th in Pago Pago (UTC-11).
NOW = datetime(2026, 12, 5, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "today"),
    [
        ("America/Jamaica", date(2026, 12, 4)),
        ("Asia/Tokyo", date(2026, 12, 5)),
        ("Pacific/Honolulu", date(2026, 12, 4)),
        ("Pacific/Kiritimati", date(2026, 12, 5)),
        ("UTC", date(2026, 12, 5)),
    ],
)
def test_today_is_the_accounts_own_calendar_day(zone: str, today: date) -> None:
    assert account_today(zone, NOW) == today


def test_the_window_ends_on_the_accounts_today_and_spans_the_lookback() -> None:
    assert account_window("Asia/Tokyo", 3, NOW) == AccountWindow(
        "Asia/Tokyo", date(2026, 12, 5), date(2026, 12, 3), date(2026, 12, 5)
    )
    assert account_window("America/Jamaica", 3, NOW) == AccountWindow(
        "America/Jamaica", date(2026, 12, 4), date(2026, 12, 2), date(2026, 12, 4)
    )
    # one day of lookback is today alone; the window crosses a month and a year
    new_year = datetime(2027, 1, 1, 2, 0, tzinfo=UTC)  # 21:00 on 31 Dec in Kingston
    assert account_window("Pacific/Pago_Pago", 1, new_year) == AccountWindow(
        "Pacific/Pago_Pago", date(2026, 12, 31), date(2026, 12, 31), date(2026, 12, 31)
    )
    assert account_window("Europe/London", 28, new_year) == AccountWindow(
        "Europe/London", date(2027, 1, 1), date(2026, 12, 5), date(2027, 1, 1)
    )


def test_daylight_saving_moves_the_accounts_midnight() -> None:
    # 04:30 UTC on 1 July is 00:30 in New York (EDT, UTC-4) but 23:30 on 30 June in Kingston
    summer = datetime(2026, 7, 1, 4, 30, tzinfo=UTC)
    assert account_today("America/New_York", summer) == date(2026, 7, 1)
    assert account_today("America/Jamaica", summer) == date(2026, 6, 30)
    # the same instant of the clock in December: 23:30 in New York (EST, UTC-5)
    assert account_today("America/New_York", NOW) == date(2026, 12, 4)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "", None])
def test_an_unknown_zone_falls_back_to_jamaica_with_a_warning(
    zone: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adinsights_pipelines.defs.meta.windows"):
        window = account_window(zone, 2, NOW)
    assert window == AccountWindow(
        "America/Jamaica", date(2026, 12, 4), date(2026, 12, 3), date(2026, 12, 4)
    )
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "America/Jamaica" in record.getMessage()
    if zone:
        assert repr(zone) in record.getMessage()
    assert account_zone(zone).key == "America/Jamaica"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        account_today("Asia/Tokyo", datetime(2026, 12, 5, 4, 30))
    with pytest.raises(ValueError, match="timezone-aware"):
        account_window("Asia/Tokyo", 3, datetime(2026, 12, 5, 4, 30))
    with pytest.raises(ValueError, match="lookback_days must be at least 1, not 0"):
        account_window("Asia/Tokyo", 0, NOW)
