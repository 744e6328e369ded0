"""An ad account's "today" and lookback window, in the account's own time zone.

Meta reports an ad account's days in the account's ``timezone_name`` (an IANA zone), and so does
Google Ads for a customer's ``time_zone``: a day's rows start at the account's midnight, not at
the tenant's. The window re-read on each sync must therefore end on the account's today: an
account in Asia/Tokyo is already on tomorrow when Jamaica's evening begins, one in
Pacific/Honolulu still on yesterday when Jamaica's day starts.

Pure functions of their arguments (``now`` is passed in); a zone that is missing or that the
zone database does not know falls back to America/Jamaica, the product's reporting zone, with a
warning that names the zone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

#: The zone used when an account's zone is unknown (and the default reporting zone).
FALLBACK_ZONE = "America/Jamaica"


@dataclass(frozen=True)
class AccountWindow:
    """An account's today and the days ``since``..``until`` (today included) to re-read."""

    zone: str
    today: date
    since: date
    until: date


def account_zone(timezone_name: str | None) -> ZoneInfo:
    """The account's zone; America/Jamaica (with a warning) when it is missing or unknown."""
    if timezone_name:
        try:
            return ZoneInfo(timezone_name)
        except (ZoneInfoNotFoundError, ValueError):
            # ValueError: not a zone key at all (an absolute path, "..", an empty segment)
            log.warning(
                "ad account time zone %r is not a known IANA zone; using %s",
                timezone_name,
                FALLBACK_ZONE,
            )
    else:
        log.warning("ad account has no time zone; using %s", FALLBACK_ZONE)
    return ZoneInfo(FALLBACK_ZONE)


def account_today(timezone_name: str | None, now: datetime) -> date:
    """The calendar day it is at ``now`` (an aware datetime) in the account's zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(account_zone(timezone_name)).date()


def account_window(timezone_name: str | None, lookback_days: int, now: datetime) -> AccountWindow:
    """The last ``lookback_days`` days up to the account's today (included)."""
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be at least 1, not {lookback_days}")
    zone = account_zone(timezone_name)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(zone).date()
    return AccountWindow(zone.key, today, today - timedelta(days=lookback_days - 1), today)


def utc_now() -> datetime:
    """The current instant (the one impure helper, for the callers)."""
    return datetime.now(UTC)
