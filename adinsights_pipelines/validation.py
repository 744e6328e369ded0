"""Types for values that cross an edge (API parameters, cursors, webhook bodies), as pydantic
types: each refuses what Python or PostgreSQL could not hold, so a bad value is a 400 naming
its field at the edge and never a 500 (or a stored row a later read cannot load).

- :data:`RepresentableTime`: a time that stays inside Python's and PostgreSQL's range once
  normalised to UTC (``9999-12-31T23:00:00-05:00`` is year 10000 in UTC: refused); a time
  without an offset is taken as UTC.
- :data:`SaneTime`: a representable time inside the window an event may plausibly have happened
  in: not before :data:`EARLIEST_TIME`, not more than :data:`FUTURE_TOLERANCE` after now (the
  validation context's ``now``, else the clock).
- :data:`PgText`: text PostgreSQL accepts: valid Unicode (no lone surrogate, which the UTF-8
  connection cannot encode) and no NUL (``text`` cannot hold one). Refused otherwise.
- :data:`ForeignText`: free text written by another system (an error message): NULs dropped and
  lone surrogates replaced by U+FFFD, so the report is stored rather than lost.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationError, ValidationInfo

#: No event we store predates this (Airbyte, Meta's Marketing API v2+ and GA4 are all younger).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
#: Clocks disagree a little; a day ahead is the most a real report can be.
FUTURE_TOLERANCE = timedelta(days=1)

_SURROGATE = re.compile("[\ud800-\udfff]")


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC (no offset: taken as UTC); ValueError when UTC cannot hold it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


def _sane(value: datetime, info: ValidationInfo) -> datetime:
    context = info.context if isinstance(info.context, dict) else {}
    now = context.get("now") or datetime.now(UTC)
    if value < EARLIEST_TIME:
        raise ValueError(f"is before {EARLIEST_TIME:%Y-%m-%d}")
    if value > now + FUTURE_TOLERANCE:
        raise ValueError("is more than a day in the future")
    return value


def pg_text(value: str) -> str:
    """``value`` unchanged when PostgreSQL can store it; ValueError naming what is wrong."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if _SURROGATE.search(value):
        raise ValueError("is not valid Unicode (it holds a lone surrogate)")
    return value


def foreign_text(value: str) -> str:
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


RepresentableTime = Annotated[datetime, AfterValidator(to_utc)]
SaneTime = Annotated[datetime, AfterValidator(to_utc), AfterValidator(_sane)]
PgText = Annotated[str, AfterValidator(pg_text)]
ForeignText = Annotated[str, AfterValidator(foreign_text)]


def first_error(exc: ValidationError, prefix: str = "") -> str:
    """One line for a 400: the first problem, naming the field (``data.startedAt: ...``)."""
    error: dict[str, Any] = dict(exc.errors(include_url=False)[0])
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "")
    message = str(error.get("msg", "is not valid"))
    message = message.removeprefix("Value error, ")
    field = f"{prefix}{where}" if where else prefix.rstrip(".") or "the body"
    return f"{field}: {message}"
