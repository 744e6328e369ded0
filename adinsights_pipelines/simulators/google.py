"""Loopback simulator of Google's OAuth token endpoint, the GA4 Data API and Search Console.

One server answers the three APIs the web analytics assets call, with their documented shapes:

``POST /token``
    ``grant_type=refresh_token`` with ``client_id``/``client_secret`` (form-encoded) answers
    ``{"access_token", "expires_in", "scope", "token_type"}``; a revoked or unknown refresh token
    answers 400 ``{"error": "invalid_grant", "error_description": ...}``, a missing client 401
    ``invalid_client``.
``POST /v1beta/properties/{id}:runReport``
    GA4 Data API v1beta: ``dateRanges`` (``YYYY-MM-DD``, ``today``, ``yesterday``,
    ``NdaysAgo``), ``dimensions`` (``date``, ``region``, ``sessionDefaultChannelGroup``,
    ``country``), ``metrics`` (``sessions``, ``totalUsers``, ``newUsers``, ``screenPageViews``,
    ``engagedSessions``, ``keyEvents``), ``offset``/``limit`` (at most 250,000 rows an answer),
    ``returnPropertyQuota``. Answers ``dimensionHeaders``, ``metricHeaders``, ``rows`` (string
    values, dates as ``YYYYMMDD``; omitted when empty), ``rowCount``, ``metadata``,
    ``propertyQuota`` and ``kind``. Regions are Jamaica's parishes as GA4 names them
    (``Saint Andrew Parish``) plus ``(not set)``.
``POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query``
    ``siteUrl`` percent-encoded as one path segment; ``startDate``/``endDate``, ``dimensions``
    (``date``, ``query``, ``page``, ``country``, ``device``), ``type``, ``aggregationType``,
    ``dataState`` (``final``, the default, or ``all``), ``rowLimit`` (1-25,000, default 1,000) and
    ``startRow``. Rows are sorted by clicks, descending; ``metadata.firstIncompleteDate`` is set
    when ``dataState`` is ``all``, rows are grouped by date and the range holds fresh days.

Data are derived from ``seed``, the property id or site URL and the day, so a standalone
simulator and a test agree. Recent days keep growing on the virtual clock (GA4 processes the
last ~3 days; Search Console's last ``final_delay_days`` days exist only in ``dataState=all``
and become final afterwards).

Tokens
    Any refresh token starting with ``sim_`` is valid, except ``sim_revoked_...`` and tokens
    revoked with :meth:`GoogleSimState.revoke` (``invalid_grant``). A token containing
    ``_ga4only_`` or ``_gsconly_`` is granted only that API's scope. Access tokens expire after
    ``access_token_ttl_s`` seconds of the virtual clock (401 ``UNAUTHENTICATED`` afterwards).

Knobs (attributes of :class:`GoogleSimState`, or ``POST /__sim__/config``)
    ``access_token_ttl_s`` (3599), ``error_rate_5xx``, ``latency_s``, ``deny_properties``,
    ``deny_sites``, ``final_delay_days`` (3), ``ga4_tokens_per_hour`` (40,000),
    ``ga4_tokens_per_day`` (200,000); ``now`` pins the clock, ``advance_s`` moves it.

Simulator control over HTTP::

    POST   /__sim__/faults    {"path_contains": ":runReport", "count": 2, "http_status": 429}
    GET    /__sim__/faults    pending faults            DELETE clears them
    GET    /__sim__/requests  request log (no tokens)   DELETE clears it
    GET    /__sim__/config    knobs and clock           POST sets, DELETE resets them
    POST   /__sim__/revoke    {"refresh_token": "sim_..."}
    POST   /__sim__/reset     everything back to a fresh state
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adinsights_pipelines.simulators.meta_graph import JAMAICA_REGIONS
from adinsights_pipelines.simulators.server import LoopbackServer

__all__ = [
    "GA4_REGIONS",
    "KNOB_NAMES",
    "Fault",
    "GoogleSimState",
    "GoogleSimulator",
    "RequestRecord",
    "create_app",
    "environment",
    "main",
]

GA4_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
SEARCH_CONSOLE_SCOPE = "https://www.googleapis.com/auth/webmasters.readonly"
_GA4_SCOPES = {GA4_SCOPE, "https://www.googleapis.com/auth/analytics"}
_SC_SCOPES = {SEARCH_CONSOLE_SCOPE, "https://www.googleapis.com/auth/webmasters"}

#: GA4's ``region`` values for Jamaica, plus GA4's placeholder for an unknown region.
GA4_REGIONS = (*JAMAICA_REGIONS, "(not set)")
GA4_TIMEZONE = "America/Jamaica"
PACIFIC = ZoneInfo("America/Los_Angeles")
CHANNEL_GROUPS = (
    "Direct",
    "Organic Search",
    "Paid Search",
    "Organic Social",
    "Paid Social",
    "Referral",
    "Email",
    "Display",
    "Unassigned",
)
_CHANNEL_WEIGHT = {
    "Direct": 1.4,
    "Organic Search": 2.0,
    "Paid Search": 1.1,
    "Organic Social": 0.9,
    "Paid Social": 0.8,
    "Referral": 0.5,
    "Email": 0.3,
    "Display": 0.4,
    "Unassigned": 0.2,
}
_REGION_WEIGHT = {
    "Kingston Parish": 2.2,
    "Saint Andrew Parish": 2.0,
    "Saint Catherine Parish": 1.3,
    "Saint James Parish": 1.2,
    "(not set)": 0.3,
}
GA4_DIMENSIONS = ("date", "region", "sessionDefaultChannelGroup", "country")
GA4_METRICS = (
    "sessions",
    "totalUsers",
    "newUsers",
    "screenPageViews",
    "engagedSessions",
    "keyEvents",
)
GA4_MAX_LIMIT = 250_000
GA4_DEFAULT_LIMIT = 10_000
GA4_PROCESSING_HOURS = 72.0
_GA4_SCHEMA_URL = "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"

SC_DIMENSIONS = ("date", "query", "page", "country", "device")
SC_MAX_ROW_LIMIT = 25_000
SC_DEFAULT_ROW_LIMIT = 1_000
SC_COUNTRIES = {"jam": 70, "usa": 35, "gbr": 15, "can": 15}
SC_DEVICES = {"MOBILE": 1.3, "DESKTOP": 1.0, "TABLET": 0.4}
SC_SEARCH_TYPES = ("web", "image", "video", "news", "discover", "googleNews")
_SC_QUERIES = (
    "{brand}",
    "{brand} kingston",
    "{brand} jamaica",
    "{brand} near me",
    "{brand} opening hours",
    "{brand} reviews",
    "best {topic} in kingston",
    "{topic} montego bay",
    "{topic} delivery jamaica",
    "cheap {topic} jamaica",
    "{topic} deals",
    "{topic} ocho rios",
)
_SC_PATHS = (
    "",
    "about/",
    "contact/",
    "menu/",
    "locations/kingston/",
    "locations/montego-bay/",
    "blog/island-guide/",
    "deals/",
)
_SC_TOPICS = ("patties", "coffee", "jerk chicken", "hotels", "car rental", "insurance")

_STATUS_OF = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "UNAUTHENTICATED": (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    "PERMISSION_DENIED": "The caller does not have permission",
    "NOT_FOUND": "Requested entity was not found.",
    "RESOURCE_EXHAUSTED": "Resource has been exhausted (e.g. check quota).",
    "INTERNAL": "Internal error encountered.",
    "UNAVAILABLE": "The service is currently unavailable.",
    "DEADLINE_EXCEEDED": "The request timed out. Please try again.",
}
_SERVICES = {
    "ga4": "analyticsdata.googleapis.com",
    "search_console": "searchconsole.googleapis.com",
}
_METHODS = {
    "ga4": "google.analytics.data.v1beta.BetaAnalyticsData.RunReport",
    "search_console": "google.searchconsole.v1.SearchAnalytics.Query",
}
_PROPERTY_PATH = re.compile(r"/v1beta/properties/([^/:]+):runReport")
_SITE_PATH = re.compile(r"/webmasters/v3/sites/([^/]+)/searchAnalytics/query")
_DAYS_AGO = re.compile(r"([0-9]{1,4})daysAgo")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# --------------------------------------------------------------------------------------------
# Errors, faults and state
# --------------------------------------------------------------------------------------------


class GoogleError(Exception):
    """An API error, rendered with Google's envelope (or the OAuth shape for ``/token``)."""

    def __init__(
        self,
        http_status: int,
        message: str | None = None,
        *,
        status: str | None = None,
        reason: str | None = None,
        api: str = "ga4",
        oauth_error: str | None = None,
    ) -> None:
        self.http_status = http_status
        self.status = status or _STATUS_OF.get(http_status, "UNKNOWN")
        self.message = message or _DEFAULT_MESSAGES.get(self.status, "Simulated error")
        super().__init__(self.message)
        self.reason = reason
        self.api = api
        self.oauth_error = oauth_error

    def body(self) -> dict[str, Any]:
        if self.api == "oauth":
            return {
                "error": self.oauth_error or "invalid_request",
                "error_description": self.message,
            }
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if self.api == "search_console":
            # The webmasters v3 surface still carries the older "errors" list.
            error["errors"] = [
                {
                    "message": self.message,
                    "domain": "usageLimits" if self.http_status == 429 else "global",
                    "reason": self.reason or _legacy_reason(self.http_status),
                }
            ]
        if self.reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": {
                        "service": _SERVICES.get(self.api, "googleapis.com"),
                        "method": _METHODS.get(self.api, ""),
                    },
                }
            ]
        return {"error": error}

    def headers(self) -> dict[str, str]:
        if self.http_status == 401:
            return {
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                'error="invalid_token"'
            }
        return {}


def _legacy_reason(http_status: int) -> str:
    return {
        400: "badRequest",
        401: "authError",
        403: "forbidden",
        404: "notFound",
        429: "rateLimitExceeded",
    }.get(http_status, "backendError")


def _invalid(message: str, api: str) -> GoogleError:
    return GoogleError(400, message, api=api)


@dataclass
class Fault:
    """The next ``count`` requests whose path contains ``path_contains`` fail like this.

    On ``/token`` the answer has the OAuth shape, with ``oauth_error`` (default
    ``invalid_grant`` for 400, ``internal_failure`` otherwise) as ``error``.
    """

    path_contains: str = ""
    count: int = 1
    http_status: int = 503
    status: str | None = None
    message: str | None = None
    reason: str | None = None
    oauth_error: str | None = None
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if not 400 <= self.http_status <= 599:
            raise ValueError("http_status must be a 4xx or 5xx code")
        self.remaining = self.count

    def to_error(self, api: str) -> GoogleError:
        oauth_error = self.oauth_error
        if api == "oauth" and oauth_error is None:
            oauth_error = "invalid_grant" if self.http_status == 400 else "internal_failure"
        return GoogleError(
            self.http_status,
            self.message,
            status=self.status,
            reason=self.reason,
            api=api,
            oauth_error=oauth_error,
        )


@dataclass(frozen=True)
class RequestRecord:
    """One request the simulator answered (``body`` never holds a token or client secret)."""

    method: str
    path: str
    body: dict[str, Any]
    status: int


@dataclass(frozen=True)
class _Grant:
    refresh_token: str
    scopes: frozenset[str]
    expires_at: datetime


#: The knobs :meth:`GoogleSimState.configure` and ``POST /__sim__/config`` accept.
KNOB_NAMES = (
    "access_token_ttl_s",
    "error_rate_5xx",
    "latency_s",
    "deny_properties",
    "deny_sites",
    "final_delay_days",
    "ga4_tokens_per_hour",
    "ga4_tokens_per_day",
)
_SECRET_FIELDS = ("refresh_token", "client_secret", "access_token", "code")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise TypeError(f"not a datetime: {value!r}")


class GoogleSimState:
    """Mutable, thread-safe simulator state: knobs, virtual clock, tokens, faults, request log.

    The virtual clock is the real time plus an offset (:meth:`advance`) unless pinned
    (:meth:`set_now`); ``clock`` replaces the real time.
    """

    def __init__(self, *, seed: int = 0, clock: Callable[[], datetime] | None = None) -> None:
        self.seed = seed
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: list[RequestRecord] = []
        self._grants: dict[str, _Grant] = {}
        self._revoked: set[str] = set()
        self._quota: dict[tuple[str, str], int] = {}
        self._offset = timedelta(0)
        self._now: datetime | None = None
        self._rng = random.Random(seed)
        self._reset_knobs()

    def _reset_knobs(self) -> None:
        #: Lifetime of an access token handed out by ``/token``.
        self.access_token_ttl_s: int = 3599
        #: Share (0..1) of API calls that fail with HTTP 503 ``UNAVAILABLE`` (seeded random).
        self.error_rate_5xx: float = 0.0
        #: Seconds every request waits before it is answered.
        self.latency_s: float = 0.0
        #: GA4 property ids that answer 403 ``PERMISSION_DENIED``.
        self.deny_properties: set[str] = set()
        #: Search Console site URLs that answer 403 ``PERMISSION_DENIED``.
        self.deny_sites: set[str] = set()
        #: Search Console days younger than this are fresh: only in ``dataState=all``.
        self.final_delay_days: int = 3
        #: GA4 property tokens per hour / per day; beyond them 429 ``RESOURCE_EXHAUSTED``.
        self.ga4_tokens_per_hour: int = 40_000
        self.ga4_tokens_per_day: int = 200_000

    def reset_knobs(self) -> None:
        """Every knob back to its default and the clock back to real time."""
        with self._lock:
            self._now = None
            self._offset = timedelta(0)
            self._reset_knobs()

    # clock --------------------------------------------------------------------------------
    def now(self) -> datetime:
        pinned = self._now
        if pinned is not None:
            return pinned
        base = _aware(self._clock()) if self._clock is not None else datetime.now(UTC)
        return base + self._offset

    def set_now(self, moment: datetime | None) -> None:
        """Pin the clock at ``moment`` (naive means UTC); ``None`` un-pins it."""
        self._now = None if moment is None else _aware(moment)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward (keeps running unless pinned); returns the new instant."""
        if self._now is not None:
            self._now += delta
        else:
            self._offset += delta
        return self.now()

    # knobs --------------------------------------------------------------------------------
    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Set knobs by name (``now`` pins the clock, ``advance_s`` moves it)."""
        unknown = set(knobs) - {*KNOB_NAMES, "now", "advance_s"}
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")
        converted: dict[str, Any] = {}
        for name, value in knobs.items():
            if name == "now":
                converted[name] = None if value is None else _as_datetime(value)
            elif name == "advance_s":
                converted[name] = timedelta(seconds=float(value))
            elif name in ("error_rate_5xx", "latency_s"):
                number = float(value or 0)
                if number < 0 or (name == "error_rate_5xx" and number > 1):
                    raise ValueError(f"{name} out of range")
                converted[name] = number
            elif name in ("deny_properties", "deny_sites"):
                if isinstance(value, str):
                    raise ValueError(f"{name} must be a list")
                converted[name] = {str(v) for v in value or ()}
            else:
                number = int(value)
                if number < (0 if name == "final_delay_days" else 1):
                    raise ValueError(f"{name} out of range")
                converted[name] = number
        for name, value in converted.items():
            if name == "now":
                self.set_now(value)
            elif name == "advance_s":
                self.advance(value)
            else:
                setattr(self, name, value)
        return self.knobs()

    def knobs(self) -> dict[str, Any]:
        return {
            "access_token_ttl_s": self.access_token_ttl_s,
            "error_rate_5xx": self.error_rate_5xx,
            "latency_s": self.latency_s,
            "deny_properties": sorted(self.deny_properties),
            "deny_sites": sorted(self.deny_sites),
            "final_delay_days": self.final_delay_days,
            "ga4_tokens_per_hour": self.ga4_tokens_per_hour,
            "ga4_tokens_per_day": self.ga4_tokens_per_day,
            "now": self.now().isoformat(),
            "clock_pinned": self._now is not None,
        }

    # tokens -------------------------------------------------------------------------------
    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (``invalid_grant``) and every access token it handed out."""
        with self._lock:
            self._revoked.add(refresh_token)

    def _grant(self, refresh_token: str) -> tuple[str, _Grant]:
        if "_ga4only_" in refresh_token:
            scopes = frozenset({GA4_SCOPE})
        elif "_gsconly_" in refresh_token:
            scopes = frozenset({SEARCH_CONSOLE_SCOPE})
        else:
            scopes = frozenset({GA4_SCOPE, SEARCH_CONSOLE_SCOPE})
        token = "ya29.sim_" + secrets.token_urlsafe(24)
        grant = _Grant(
            refresh_token, scopes, self.now() + timedelta(seconds=self.access_token_ttl_s)
        )
        with self._lock:
            self._grants[token] = grant
        return token, grant

    def _refresh_valid(self, refresh_token: str) -> bool:
        with self._lock:
            revoked = refresh_token in self._revoked
        return (
            refresh_token.startswith("sim_")
            and not refresh_token.startswith("sim_revoked_")
            and not revoked
        )

    def _access(self, token: str | None, api: str) -> _Grant:
        if not token:
            raise GoogleError(401, api=api, reason="CREDENTIALS_MISSING")
        with self._lock:
            grant = self._grants.get(token)
        if grant is None or not self._refresh_valid(grant.refresh_token):
            raise GoogleError(401, api=api, reason="ACCESS_TOKEN_TYPE_UNSUPPORTED")
        if self.now() >= grant.expires_at:
            raise GoogleError(401, api=api, reason="ACCESS_TOKEN_EXPIRED")
        needed = _GA4_SCOPES if api == "ga4" else _SC_SCOPES
        if not grant.scopes & needed:
            raise GoogleError(
                403,
                "Request had insufficient authentication scopes.",
                api=api,
                reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            )
        return grant

    # GA4 quota ----------------------------------------------------------------------------
    def _charge_ga4(self, property_id: str, tokens: int) -> dict[str, Any]:
        """Charge a runReport; 429 when the property's hour or day budget is spent."""
        local = self.now().astimezone(ZoneInfo(GA4_TIMEZONE))
        hour_key = (property_id, local.strftime("%Y-%m-%dT%H"))
        day_key = (property_id, local.strftime("%Y-%m-%d"))
        with self._lock:
            used_hour = self._quota.get(hour_key, 0)
            used_day = self._quota.get(day_key, 0)
            if used_day >= self.ga4_tokens_per_day:
                raise GoogleError(
                    429,
                    "Exhausted property tokens per day for this property. Try again tomorrow.",
                    reason="RATE_LIMIT_EXCEEDED",
                )
            if used_hour >= self.ga4_tokens_per_hour:
                raise GoogleError(
                    429,
                    "Exhausted property tokens per hour for this property. Try again next hour.",
                    reason="RATE_LIMIT_EXCEEDED",
                )
            used_hour = self._quota[hour_key] = used_hour + tokens
            used_day = self._quota[day_key] = used_day + tokens

        def budget(used: int, limit: int) -> dict[str, int]:
            return {"consumed": tokens, "remaining": max(0, limit - used)}

        return {
            "tokensPerDay": budget(used_day, self.ga4_tokens_per_day),
            "tokensPerHour": budget(used_hour, self.ga4_tokens_per_hour),
            "concurrentRequests": {"consumed": 0, "remaining": 10},
            "serverErrorsPerProjectPerHour": {"consumed": 0, "remaining": 10},
            "potentiallyThresholdedRequestsPerHour": {"consumed": 0, "remaining": 120},
            "tokensPerProjectPerHour": budget(used_hour, 14_000),
        }

    # faults -------------------------------------------------------------------------------
    def inject(self, path_contains: str = "", **spec: Any) -> Fault:
        """Make the next ``count`` requests whose path contains ``path_contains`` fail."""
        fault = Fault(path_contains, **spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.path_contains in path:
                    fault.remaining -= 1
                    return fault
        return None

    def _roll_5xx(self) -> bool:
        if self.error_rate_5xx <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.error_rate_5xx

    # request log --------------------------------------------------------------------------
    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def request_count(self, path_contains: str = "") -> int:
        return sum(1 for r in self.requests if path_contains in r.path)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Faults, request log, tokens, revocations, quotas, knobs and clock back to fresh."""
        with self._lock:
            self._faults.clear()
            self._log.clear()
            self._grants.clear()
            self._revoked.clear()
            self._quota.clear()
            self._rng = random.Random(self.seed)
            self._now = None
            self._offset = timedelta(0)
            self._reset_knobs()


# --------------------------------------------------------------------------------------------
# Deterministic data
# --------------------------------------------------------------------------------------------


def _h(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _completeness(day: date, now_local: datetime, hours: float = GA4_PROCESSING_HOURS) -> float:
    """How much of a day's eventual numbers are visible at ``now_local`` (whole hours)."""
    midnight = datetime.combine(day, datetime.min.time(), now_local.tzinfo)
    elapsed = (now_local.replace(minute=0, second=0, microsecond=0) - midnight).total_seconds()
    return max(0.05, min(1.0, 0.25 + 0.75 * elapsed / 3600 / hours))


@lru_cache(maxsize=4096)
def _ga4_day(
    seed: int, property_id: str, day: date
) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """A day's rows at full granularity: (region, channel, eventual metric values)."""
    weekday = (1.0, 1.05, 1.1, 1.05, 1.0, 0.8, 0.75)[day.weekday()]
    rows = []
    for region in GA4_REGIONS:
        for channel in CHANNEL_GROUPS:
            h = _h(seed, "ga4", property_id, day.isoformat(), region, channel)
            if h % 100 >= (30 if region == "(not set)" else 72):
                continue
            weight = _REGION_WEIGHT.get(region, 1.0) * _CHANNEL_WEIGHT[channel] * weekday
            sessions = max(1, round((4 + (h >> 8) % 55) * weight))
            users = max(1, round(sessions * (0.7 + (h >> 16) % 25 / 100)))
            new_users = round(users * (0.25 + (h >> 24) % 35 / 100))
            views = round(sessions * (1.4 + (h >> 32) % 220 / 100))
            engaged = round(sessions * (0.45 + (h >> 40) % 35 / 100))
            key_events = round(sessions * ((h >> 48) % 9) / 100)
            rows.append((region, channel, (sessions, users, new_users, views, engaged, key_events)))
    return tuple(rows)


def _site_base(site_url: str) -> tuple[str, str]:
    """(the site's page URL prefix, its brand word) from a URL-prefix or ``sc-domain:`` site."""
    if site_url.startswith("sc-domain:"):
        host = site_url.removeprefix("sc-domain:")
        base = f"https://{host}/"
    else:
        host = urlsplit(site_url).hostname or "example.com"
        base = site_url if site_url.endswith("/") else site_url + "/"
    brand = host.removeprefix("www.").split(".")[0].replace("-", " ")
    return base, brand


@lru_cache(maxsize=4096)
def _sc_day(
    seed: int, site_url: str, day: date
) -> tuple[tuple[tuple[str, str, str, str], int, int, float], ...]:
    """A day's rows: ((query, page, country, device), eventual impressions, clicks, position)."""
    base, brand = _site_base(site_url)
    topic = _SC_TOPICS[_h(seed, "topic", site_url) % len(_SC_TOPICS)]
    rows = []
    for q_index, template in enumerate(_SC_QUERIES):
        query = template.format(brand=brand, topic=topic)
        first = _h(seed, "page", site_url, q_index) % len(_SC_PATHS)
        pages = (base + _SC_PATHS[first], base + _SC_PATHS[(first + 3) % len(_SC_PATHS)])
        for page in pages:
            for country, presence in SC_COUNTRIES.items():
                for device, device_weight in SC_DEVICES.items():
                    h = _h(seed, "sc", site_url, day.isoformat(), query, page, country, device)
                    if h % 100 >= presence * (0.6 if device == "TABLET" else 1.0):
                        continue
                    impressions = max(1, round((2 + (h >> 8) % 120) * device_weight))
                    position = round(1 + ((h >> 20) % 400) / 10 / (2 if q_index < 6 else 1), 1)
                    ctr = min(0.6, 0.35 / position)
                    clicks = int(impressions * ctr * (0.6 + (h >> 32) % 80 / 100))
                    rows.append(((query, page, country, device), impressions, clicks, position))
    return tuple(rows)


# --------------------------------------------------------------------------------------------
# Request handling
# --------------------------------------------------------------------------------------------


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def _int(value: Any, name: str, api: str, default: int) -> int:
    """An int64 field (JSON number or string, as proto3 JSON allows)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(f"Invalid value at '{name}': {json.dumps(value)}", api)
    try:
        return int(value)
    except ValueError:
        raise _invalid(f"Invalid value at '{name}' (TYPE_INT64), \"{value}\"", api) from None


def _token(sim: GoogleSimState, form: Mapping[str, str]) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    if not form.get("client_id") or not form.get("client_secret"):
        raise GoogleError(
            401, "The OAuth client was not found.", api="oauth", oauth_error="invalid_client"
        )
    if grant_type != "refresh_token":
        raise GoogleError(
            400,
            f"Invalid grant_type: {grant_type or ''}",
            api="oauth",
            oauth_error="unsupported_grant_type",
        )
    refresh_token = form.get("refresh_token")
    if not refresh_token:
        raise GoogleError(
            400,
            "Missing required parameter: refresh_token",
            api="oauth",
            oauth_error="invalid_request",
        )
    if not sim._refresh_valid(refresh_token):
        raise GoogleError(
            400, "Token has been expired or revoked.", api="oauth", oauth_error="invalid_grant"
        )
    token, grant = sim._grant(refresh_token)
    return {
        "access_token": token,
        "expires_in": sim.access_token_ttl_s,
        "scope": " ".join(sorted(grant.scopes)),
        "token_type": "Bearer",
    }


def _iso_date(raw: str) -> date:
    if not _ISO_DATE.fullmatch(raw):
        raise ValueError(raw)
    return date.fromisoformat(raw)


def _ga4_date(raw: Any, today: date, name: str) -> date:
    if not isinstance(raw, str) or not raw:
        raise _invalid(f"{name} is required in each dateRange.", "ga4")
    if raw == "today":
        return today
    if raw == "yesterday":
        return today - timedelta(days=1)
    if match := _DAYS_AGO.fullmatch(raw):
        return today - timedelta(days=int(match.group(1)))
    try:
        return _iso_date(raw)
    except ValueError:
        raise _invalid(
            f"Invalid {name} '{raw}'. The format must be YYYY-MM-DD, NdaysAgo, yesterday, or "
            "today.",
            "ga4",
        ) from None


def _names(items: Any, kind: str, known: tuple[str, ...]) -> list[str]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise _invalid(f"Invalid value at '{kind}s'", "ga4")
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in known:
            raise _invalid(
                f"Field {name} is not a valid {kind}. For a list of valid dimensions and "
                f"metrics, see {_GA4_SCHEMA_URL} ",
                "ga4",
            )
        if name in names:
            raise _invalid(f"Duplicate {kind} name: {name}", "ga4")
        names.append(name)
    return names


def _run_report(sim: GoogleSimState, property_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    dimensions = _names(body.get("dimensions"), "dimension", GA4_DIMENSIONS)
    metrics = _names(body.get("metrics"), "metric", GA4_METRICS)
    if not metrics and not dimensions:
        raise _invalid("Must request at least one dimension or metric.", "ga4")
    ranges = body.get("dateRanges")
    if not isinstance(ranges, list) or not ranges:
        raise _invalid("Must specify at least one dateRange.", "ga4")
    if len(ranges) > 1:
        raise _invalid("The simulator serves one dateRange per request.", "ga4")
    now_local = sim.now().astimezone(ZoneInfo(GA4_TIMEZONE))
    today = now_local.date()
    span = ranges[0] if isinstance(ranges[0], dict) else {}
    start = _ga4_date(span.get("startDate"), today, "startDate")
    end = _ga4_date(span.get("endDate"), today, "endDate")
    if start > end:
        raise _invalid(
            f"Invalid dateRange. The startDate ({start}) must be before or equal to the endDate "
            f"({end}).",
            "ga4",
        )
    offset = _int(body.get("offset"), "offset", "ga4", 0)
    limit = _int(body.get("limit"), "limit", "ga4", GA4_DEFAULT_LIMIT)
    if offset < 0:
        raise _invalid("offset must be non-negative.", "ga4")
    if limit < 0:
        raise _invalid("limit must be positive.", "ga4")
    limit = min(limit or GA4_DEFAULT_LIMIT, GA4_MAX_LIMIT)
    if property_id in sim.deny_properties or not property_id.isdigit():
        raise GoogleError(
            403,
            "User does not have sufficient permissions for this property. To learn more about "
            "Property ID, see https://developers.google.com/analytics/devguides/reporting/data/"
            "v1/property-id.",
        )

    grouped: dict[tuple[str, ...], list[int]] = {}
    day = start
    while day <= min(end, today):
        factor = _completeness(day, now_local)
        for region, channel, values in _ga4_day(sim.seed, property_id, day):
            values_now = [int(v * factor) for v in values]
            values_now[0] = max(1, values_now[0])
            by_name = {
                "date": day.strftime("%Y%m%d"),
                "region": region,
                "sessionDefaultChannelGroup": channel,
                "country": "(not set)" if region == "(not set)" else "Jamaica",
            }
            key = tuple(by_name[d] for d in dimensions)
            sums = grouped.setdefault(key, [0] * len(GA4_METRICS))
            for i, value in enumerate(values_now):
                sums[i] += value
        day += timedelta(days=1)

    keys = sorted(grouped)
    page = keys[offset : offset + limit]
    metric_index = [GA4_METRICS.index(m) for m in metrics]
    answer: dict[str, Any] = {
        "dimensionHeaders": [{"name": d} for d in dimensions],
        "metricHeaders": [{"name": m, "type": "TYPE_INTEGER"} for m in metrics],
    }
    if page:
        answer["rows"] = [
            {
                "dimensionValues": [{"value": v} for v in key],
                "metricValues": [{"value": str(grouped[key][i])} for i in metric_index],
            }
            for key in page
        ]
    if keys:
        answer["rowCount"] = len(keys)
    answer["metadata"] = {"currencyCode": "JMD", "timeZone": GA4_TIMEZONE}
    quota = sim._charge_ga4(property_id, 1 + len(keys) // 500)
    if body.get("returnPropertyQuota"):
        answer["propertyQuota"] = quota
    answer["kind"] = "analyticsData#runReport"
    return answer


def _sc_date(raw: Any, name: str) -> date:
    if not isinstance(raw, str):
        raise _invalid(f"Required parameter: {name}", "search_console")
    try:
        return _iso_date(raw)
    except ValueError:
        raise _invalid(
            f"Invalid value '{raw}' for {name}: use YYYY-MM-DD", "search_console"
        ) from None


def _search_analytics(
    sim: GoogleSimState, site_url: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    api = "search_console"
    start = _sc_date(body.get("startDate"), "startDate")
    end = _sc_date(body.get("endDate"), "endDate")
    if start > end:
        raise _invalid("startDate must be earlier than or equal to endDate", api)
    dimensions = body.get("dimensions") or []
    if not isinstance(dimensions, list) or any(d not in SC_DIMENSIONS for d in dimensions):
        raise _invalid(f"Invalid dimensions: {json.dumps(dimensions)}", api)
    if len(set(dimensions)) != len(dimensions):
        raise _invalid("Each dimension may be grouped by only once", api)
    if body.get("dimensionFilterGroups"):
        raise _invalid("dimensionFilterGroups are not simulated", api)
    search_type = str(body.get("type") or body.get("searchType") or "web")
    if search_type not in SC_SEARCH_TYPES:
        raise _invalid(f"Invalid search type: {search_type}", api)
    data_state = str(body.get("dataState") or "final").lower()
    if data_state not in ("final", "all"):
        raise _invalid(f"Invalid dataState: {data_state} (final or all)", api)
    aggregation = str(body.get("aggregationType") or "auto")
    if aggregation not in ("auto", "byPage", "byProperty"):
        raise _invalid(f"Invalid aggregationType: {aggregation}", api)
    if aggregation == "byProperty" and "page" in dimensions:
        raise _invalid("Cannot group by page when aggregating by property", api)
    row_limit = _int(body.get("rowLimit"), "rowLimit", api, SC_DEFAULT_ROW_LIMIT)
    start_row = _int(body.get("startRow"), "startRow", api, 0)
    if not 1 <= row_limit <= SC_MAX_ROW_LIMIT:
        raise _invalid(f"rowLimit must be between 1 and {SC_MAX_ROW_LIMIT}", api)
    if start_row < 0:
        raise _invalid("startRow must be non-negative", api)
    valid_site = site_url.startswith(("http://", "https://", "sc-domain:"))
    if site_url in sim.deny_sites or not valid_site:
        raise GoogleError(
            403,
            f"User does not have sufficient permission for site '{site_url}'. See also: "
            "https://support.google.com/webmasters/answer/2451999.",
            api=api,
            reason="forbidden",
        )

    now_pt = sim.now().astimezone(PACIFIC)
    today = now_pt.date()
    first_fresh = today - timedelta(days=max(0, sim.final_delay_days - 1))
    last_day = min(end, today if data_state == "all" else first_fresh - timedelta(days=1))
    grouped: dict[tuple[str, ...], list[float]] = {}
    day = start
    while day <= last_day and search_type == "web":
        fresh = day >= first_fresh
        factor = _completeness(day, now_pt, 24.0 * max(1, sim.final_delay_days)) if fresh else 1
        for (query, page, country, device), impressions, clicks, position in _sc_day(
            sim.seed, site_url, day
        ):
            shown = max(1, int(impressions * factor))
            clicked = min(shown, int(clicks * factor))
            by_name = {
                "date": day.isoformat(),
                "query": query,
                "page": page,
                "country": country,
                "device": device,
            }
            key = tuple(by_name[d] for d in dimensions)
            sums = grouped.setdefault(key, [0, 0, 0.0])
            sums[0] += clicked
            sums[1] += shown
            sums[2] += position * shown
        day += timedelta(days=1)

    ordered = sorted(grouped.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    page_rows = ordered[start_row : start_row + row_limit]
    answer: dict[str, Any] = {}
    if page_rows:
        answer["rows"] = [
            {
                "keys": list(key),
                "clicks": int(clicks),
                "impressions": int(impressions),
                "ctr": clicks / impressions if impressions else 0.0,
                "position": weighted / impressions if impressions else 0.0,
            }
            for key, (clicks, impressions, weighted) in page_rows
        ]
    by_page = "page" in dimensions or aggregation == "byPage"
    answer["responseAggregationType"] = "byPage" if by_page else "byProperty"
    if data_state == "all" and "date" in dimensions and start <= today and end >= first_fresh:
        answer["metadata"] = {"firstIncompleteDate": max(start, first_fresh).isoformat()}
    return answer


def _execute(
    sim: GoogleSimState,
    api: str,
    path: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
) -> tuple[int, Any, dict[str, str]]:
    try:
        if fault := sim._take_fault(path):
            raise fault.to_error(api)
        if api == "oauth":
            return 200, _token(sim, body), {"Cache-Control": "no-store"}
        if sim._roll_5xx():
            raise GoogleError(503, api=api)
        sim._access(_bearer(headers), api)
        if api == "ga4":
            match = _PROPERTY_PATH.fullmatch(path)
            if match is None:
                raise GoogleError(404, api=api)
            return 200, _run_report(sim, unquote(match.group(1)), body), {}
        match = _SITE_PATH.fullmatch(path)
        if match is None:
            raise GoogleError(404, api=api)
        return 200, _search_analytics(sim, unquote(match.group(1)), body), {}
    except GoogleError as error:
        return error.http_status, error.body(), error.headers()


def _loggable(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _SECRET_FIELDS}


def create_app(state: GoogleSimState | None = None) -> Starlette:
    """The simulator as a Starlette app; ``app.state.sim`` is the :class:`GoogleSimState`."""
    sim = state or GoogleSimState()

    def handler(api: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            # The raw path: Search Console's site URL is a percent-encoded path segment.
            path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
            path = path.split("?", 1)[0]
            raw = await request.body()
            body: dict[str, Any]
            if api == "oauth":
                body = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
            else:
                try:
                    parsed = json.loads(raw) if raw else {}
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):
                    error = _invalid("Invalid JSON payload received.", api)
                    sim._record(RequestRecord(request.method, path, {}, 400))
                    return JSONResponse(error.body(), status_code=400)
                body = parsed
            if sim.latency_s > 0:
                await asyncio.sleep(sim.latency_s)
            status, answer, headers = await run_in_threadpool(
                _execute, sim, api, path, request.headers, body
            )
            sim._record(RequestRecord(request.method, unquote(path), _loggable(body), status))
            return JSONResponse(answer, status_code=status, headers=headers)

        return endpoint

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_faults()
        elif request.method == "POST":
            try:
                payload = await request.json()
                for spec in payload if isinstance(payload, list) else [payload]:
                    sim.inject(**spec)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"detail": f"bad fault spec: {exc}"}, status_code=400)
        return JSONResponse({"faults": [asdict(f) for f in sim.faults]})

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_requests()
        return JSONResponse({"requests": [asdict(r) for r in sim.requests]})

    async def config(request: Request) -> Response:
        if request.method == "DELETE":
            sim.reset_knobs()
        elif request.method == "POST":
            try:
                payload = await request.json()
                if not isinstance(payload, dict):
                    raise TypeError("the config must be a JSON object")
                sim.configure(**payload)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"detail": f"bad config: {exc}"}, status_code=400)
        return JSONResponse(sim.knobs())

    async def revoke(request: Request) -> Response:
        try:
            token = (await request.json())["refresh_token"]
            if not isinstance(token, str):
                raise TypeError("refresh_token must be a string")
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"detail": f"bad revoke request: {exc}"}, status_code=400)
        sim.revoke(token)
        return JSONResponse({"revoked": True})

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse(sim.knobs())

    routes = [
        Route("/__sim__/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/__sim__/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/__sim__/config", config, methods=["GET", "POST", "DELETE"]),
        Route("/__sim__/revoke", revoke, methods=["POST"]),
        Route("/__sim__/reset", reset, methods=["POST"]),
        Route("/token", handler("oauth"), methods=["POST"]),
        Route("/v1beta/{rest:path}", handler("ga4"), methods=["POST"]),
        Route("/webmasters/v3/sites/{rest:path}", handler("search_console"), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


class GoogleSimulator(LoopbackServer):
    """Runs the simulator with uvicorn in a background thread on 127.0.0.1.

    ``port=0`` picks a free port; ``url`` is known once :meth:`start` returned. The OAuth token
    endpoint is ``f"{url}/token"``; the GA4 and Search Console base URLs are ``url`` itself.
    """

    def __init__(self, state: GoogleSimState | None = None, *, port: int = 0) -> None:
        self.state = state or GoogleSimState()
        super().__init__(create_app(self.state), port=port, name="Google")

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"


def environment(url: str) -> dict[str, str]:
    """The settings that point the product at a simulator running at ``url``."""
    return {
        "ADINSIGHTS_GOOGLE_OAUTH_TOKEN_URL": f"{url}/token",
        "ADINSIGHTS_GA4_API_URL": url,
        "ADINSIGHTS_SEARCH_CONSOLE_API_URL": url,
    }


def main(host: str = "127.0.0.1", port: int = 8011) -> None:
    """Serve the simulator in the foreground (``adinsights simulate google``)."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
