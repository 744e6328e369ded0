"""Query parameters, validated: every bad value is a 400 problem naming the parameter.

Values reach SQL only as bound parameters, but PostgreSQL still refuses some (a NUL byte in
text, a malformed date) with an error that would otherwise surface as a 500; these helpers
refuse them first. Unknown parameters are ignored. An empty value counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta

from starlette.requests import Request

from api.problems import Problem

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
TRUE, FALSE = ("true", "1"), ("false", "0")


def clean_text(name: str, value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise Problem(400, f"{name} is too long (at most {max_length} characters)")
    if _CONTROL.search(value):
        raise Problem(400, f"{name} contains control characters")
    return value


def text(request: Request, name: str, max_length: int = 100) -> str | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    return clean_text(name, raw, max_length)


def matching(request: Request, name: str, pattern: re.Pattern[str], what: str) -> str | None:
    """A value of a fixed shape; ``what`` names it ("a Meta ad account id (act_<digits>)")."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not pattern.fullmatch(raw):
        raise Problem(400, f"{name} must be {what}")
    return raw


def required(request: Request, name: str, pattern: re.Pattern[str], what: str) -> str:
    if not request.query_params.get(name):
        raise Problem(400, f"{name} is required")
    value = matching(request, name, pattern, what)
    assert value is not None
    return value


def parse_date(name: str, raw: str) -> date:
    # date.fromisoformat also takes 20260501 and week dates; the contract says YYYY-MM-DD.
    if not _DATE.match(raw):
        raise Problem(400, f"{name} must be a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Problem(400, f"{name} must be a date (YYYY-MM-DD)") from None


def iso_date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    return None if raw is None else parse_date(name, raw)


def date_range(
    request: Request, start: str, end: str, max_days: int | None = None
) -> tuple[date | None, date | None]:
    """Two dates where the first may not come after the second (and, optionally, a span cap)."""
    lo, hi = iso_date(request, start), iso_date(request, end)
    if lo is not None and hi is not None:
        if lo > hi:
            raise Problem(400, f"{start} is after {end}")
        if max_days is not None and (hi - lo).days >= max_days:
            raise Problem(400, f"{start}..{end} spans more than {max_days} days")
    return lo, hi


def day_window(
    request: Request, *, default_days: int = 28, max_days: int = 400
) -> tuple[date, date]:
    """``since``..``until`` of a daily listing: ``until`` defaults to today (or ``since`` when
    that is later), ``since`` to ``default_days`` ending at ``until``; at most ``max_days``."""
    since, until = date_range(request, "since", "until", max_days)
    if until is None:
        until = max(date.today(), since) if since else date.today()
    if since is None:
        since = until - timedelta(days=min(default_days - 1, (until - date.min).days))
    if (until - since).days >= max_days:
        raise Problem(400, f"since..until spans more than {max_days} days")
    return since, until


def choice(request: Request, name: str, options: Sequence[str], default: str) -> str:
    raw = request.query_params.get(name, default)
    if raw not in options:
        raise Problem(400, f"{name} must be one of: {', '.join(options)}")
    return raw


def boolean(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise Problem(400, f"{name} must be true or false")
