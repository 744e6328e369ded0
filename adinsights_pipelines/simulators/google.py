"""Loopback simulator of Google's OAuth token endpoint, the GA4 Data API and Search Console.

One server answers the three APIs the web analytics assets call, with their documented shapes:

``POST /token``
    ``grant_type=refresh_token`` with ``client_id``/``client_secret`` (form-encoded) answers
    ``{"access_token", "expires_in", "scope", "token_type"}``; a revoked or unknown refresh token
    answers 400 ``{"error": "invalid_grant", "error_description": ...}``, a missing client 401
    ``invalid_client``.
``POST /v1beta/properties/{id}:runReport``
    GA4 Data API v1beta: up to 4 ``dateRanges`` (``YYYY-MM-DD``, ``today``, ``yesterday``,
    ``NdaysAgo``; ``name`` or ``date_range_<index>``; a 5th is 400 ``INVALID_ARGUMENT``),
    ``dimensions`` (``date``, ``region``, ``sessionDefaultChannelGroup``, ``country``,
    ``dateRange`` - added last by itself when there are several ranges), ``metrics``
    (``sessions``, ``totalUsers``, ``newUsers``, ``screenPageViews``, ``engagedSessions``,
    ``keyEvents``), ``dimensionFilter`` and ``metricFilter`` (``andGroup``, ``orGroup``,
    ``notExpression``; ``stringFilter`` with every match type and ``caseSensitive``,
    ``inListFilter``, ``numericFilter``, ``betweenFilter``, ``emptyFilter``; a dimension filter
    applies before aggregation, also on dimensions not shown), ``orderBys`` (metric, or dimension
    with ``ALPHANUMERIC``/``CASE_INSENSITIVE_ALPHANUMERIC``/``NUMERIC``; ``desc``; without them
    the first metric descending), ``metricAggregations`` (``TOTAL``, ``MINIMUM``, ``MAXIMUM`` as
    ``totals``/``minimums``/``maximums`` rows, one per date range, other dimensions
    ``RESERVED_TOTAL``/``RESERVED_MIN``/``RESERVED_MAX``), ``offset``/``limit`` (at most 250,000
    rows an answer), ``keepEmptyRows``, ``returnPropertyQuota``. Enums are read by name or by
    number and int64 fields as numbers or strings (proto3 JSON, as the official REST transport
    sends them); an unknown field is 400. Answers ``dimensionHeaders``, ``metricHeaders``,
    ``rows`` (string values, dates as ``YYYYMMDD``; omitted when empty), ``rowCount``,
    ``metadata``, ``propertyQuota`` and ``kind``. Regions are Jamaica's parishes as GA4 names
    them (``Saint Andrew Parish``) plus ``(not set)``.
``GET /webmasters/v3/sites`` and ``GET /webmasters/v3/sites/{siteUrl}``
    Search Console ``sites.list`` (``{"siteEntry": [{"siteUrl", "permissionLevel"}]}``, ``{}``
    for none: the ``sites`` knob) and ``sites.get``. ``sites.add``/``sites.delete`` and the
    ``sitemaps`` methods answer 501 ``UNIMPLEMENTED`` (not modelled).
``POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query``
    ``siteUrl`` percent-encoded as one path segment; ``startDate``/``endDate``, ``dimensions``
    (``date``, ``query``, ``page``, ``country``, ``device``), ``type``, ``aggregationType``,
    ``dataState`` (``final``, the default, or ``all``), ``rowLimit`` (1-25,000, default 1,000) and
    ``startRow``. Rows are sorted by clicks, descending; ``metadata.firstIncompleteDate`` is set
    when ``dataState`` is ``all``, rows are grouped by date and the range holds fresh days.

Every error is Google's JSON body ``{"error": {"code", "message", "status", "details"?}}``
(Search Console adds the older ``errors`` list), also for paths nothing serves (404) and
methods a path does not take (405); the token endpoint answers OAuth's
``{"error", "error_description"}``.

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
    ``ga4_tokens_per_day`` (200,000), ``sites`` (site URL -> ``permissionLevel``: the user's
    own sites; other well-formed site URLs read as ``siteFullUser``, a ``siteUnverifiedUser``
    site's search analytics are 403); ``now`` pins the clock, ``advance_s`` moves it.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adinsights_pipelines.simulators.control import (
    SimulatorControls,
    as_datetime,
    aware,
    check_error_fault,
    control_routes,
    refuse_unknown_knobs,
)
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
    405: "UNIMPLEMENTED",
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
_SITES_PATH = re.compile(r"/webmasters/v3/sites/?")
_SITE_ENTRY_PATH = re.compile(r"/webmasters/v3/sites/([^/]+)")
_SITEMAPS_PATH = re.compile(r"/webmasters/v3/sites/([^/]+)/sitemaps")
_SITEMAP_PATH = re.compile(r"/webmasters/v3/sites/([^/]+)/sitemaps/[^/]+")
_HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
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
        405: "httpMethodNotAllowed",
        429: "rateLimitExceeded",
        501: "notImplemented",
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
        check_error_fault(self.count, self.http_status)
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
    "sites",
)
#: Search Console's documented ``permissionLevel`` values.
SC_PERMISSION_LEVELS = ("siteOwner", "siteFullUser", "siteRestrictedUser", "siteUnverifiedUser")
_SECRET_FIELDS = ("refresh_token", "client_secret", "access_token", "code")


class GoogleSimState(SimulatorControls[Fault, RequestRecord]):
    """Mutable, thread-safe simulator state: knobs, virtual clock, tokens, faults, request log.

    The virtual clock is the real time plus an offset (:meth:`advance`) unless pinned
    (:meth:`set_now`); ``clock`` replaces the real time.
    """

    def __init__(self, *, seed: int = 0, clock: Callable[[], datetime] | None = None) -> None:
        self.seed = seed
        self._clock = clock
        super().__init__()
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
        #: The user's own Search Console sites (``sites.list``): site URL -> permissionLevel.
        #: Any other well-formed site URL not in ``deny_sites`` reads as ``siteFullUser``;
        #: a ``siteUnverifiedUser`` site answers ``searchAnalytics.query`` with 403.
        self.sites: dict[str, str] = {}

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
        base = aware(self._clock()) if self._clock is not None else datetime.now(UTC)
        return base + self._offset

    def set_now(self, moment: datetime | None) -> None:
        """Pin the clock at ``moment`` (naive means UTC); ``None`` un-pins it."""
        self._now = None if moment is None else aware(moment)

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
        refuse_unknown_knobs(knobs, {*KNOB_NAMES, "now", "advance_s"})
        converted: dict[str, Any] = {}
        for name, value in knobs.items():
            if name == "now":
                converted[name] = None if value is None else as_datetime(value)
            elif name == "advance_s":
                converted[name] = timedelta(seconds=float(value))
            elif name in ("error_rate_5xx", "latency_s"):
                number = float(value or 0)
                if number < 0 or (name == "error_rate_5xx" and number > 1):
                    raise ValueError(f"{name} out of range")
                converted[name] = number
            elif name == "sites":
                if not isinstance(value, Mapping):
                    raise ValueError("sites must map a site URL to a permissionLevel")
                levels = {str(url): str(level) for url, level in value.items()}
                if bad := sorted(set(levels.values()) - set(SC_PERMISSION_LEVELS)):
                    raise ValueError(f"unknown permissionLevel(s): {', '.join(bad)}")
                converted[name] = levels
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
            "sites": dict(sorted(self.sites.items())),
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
        return self._add_fault(Fault(path_contains, **spec))

    def _roll_5xx(self) -> bool:
        if self.error_rate_5xx <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.error_rate_5xx

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


# --- GA4 runReport: filters, ordering, aggregations, several date ranges --------------------

#: Proto3 JSON carries an enum by name or by number (the official clients' REST transport sends
#: numbers); these are the GA4 Data API v1beta enums the simulator reads.
_MATCH_TYPES = {
    0: "EXACT",  # MATCH_TYPE_UNSPECIFIED: GA4 matches exactly
    1: "EXACT",
    2: "BEGINS_WITH",
    3: "ENDS_WITH",
    4: "CONTAINS",
    5: "FULL_REGEXP",
    6: "PARTIAL_REGEXP",
}
_OPERATIONS = {
    1: "EQUAL",
    2: "LESS_THAN",
    3: "LESS_THAN_OR_EQUAL",
    4: "GREATER_THAN",
    5: "GREATER_THAN_OR_EQUAL",
}
_ORDER_TYPES = {
    0: "ALPHANUMERIC",  # ORDER_TYPE_UNSPECIFIED
    1: "ALPHANUMERIC",
    2: "CASE_INSENSITIVE_ALPHANUMERIC",
    3: "NUMERIC",
}
_AGGREGATIONS = {1: "TOTAL", 4: "COUNT", 5: "MINIMUM", 6: "MAXIMUM"}
#: The response field and the reserved dimension value of each aggregation the simulator serves.
_AGGREGATION_ROWS = {
    "TOTAL": ("totals", "RESERVED_TOTAL"),
    "MAXIMUM": ("maximums", "RESERVED_MAX"),
    "MINIMUM": ("minimums", "RESERVED_MIN"),
}
GA4_MAX_DATE_RANGES = 4
_RUN_REPORT_FIELDS = frozenset(
    {
        "property",
        "dimensions",
        "metrics",
        "dateRanges",
        "dimensionFilter",
        "metricFilter",
        "offset",
        "limit",
        "metricAggregations",
        "orderBys",
        "currencyCode",
        "cohortSpec",
        "keepEmptyRows",
        "returnPropertyQuota",
        "comparisons",
    }
)
#: Documented request fields the simulator does not model: a clear 400 rather than a silent
#: answer that ignores them.
_NOT_SIMULATED = ("cohortSpec", "comparisons")


def _enum(raw: Any, by_number: Mapping[int, str], field_name: str, default: str | None) -> str:
    """An enum field in proto3 JSON: its name, or its number."""
    if raw is None:
        if default is None:
            raise _invalid(f"Field {field_name} is required.", "ga4")
        return default
    if isinstance(raw, bool):
        raise _invalid(f"Invalid value at '{field_name}': {json.dumps(raw)}", "ga4")
    if isinstance(raw, int):
        if raw == 0 and default is not None:
            return default
        if raw in by_number:
            return by_number[raw]
    elif isinstance(raw, str) and raw in set(by_number.values()):
        return raw
    elif isinstance(raw, str) and raw.endswith("_UNSPECIFIED") and default is not None:
        return default
    raise _invalid(f"Invalid value at '{field_name}' ({json.dumps(raw)}).", "ga4")


def _number(raw: Any, field_name: str) -> float:
    """A ``NumericValue``: ``{"int64Value": "5"}`` or ``{"doubleValue": 1.5}``."""
    if isinstance(raw, dict):
        if "int64Value" in raw:
            return float(_int(raw["int64Value"], f"{field_name}.int64Value", "ga4", 0))
        value = raw.get("doubleValue")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise _invalid(f"Invalid value at '{field_name}': a NumericValue is required.", "ga4")


def _as_number(value: str | float) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


Predicate = Callable[[Mapping[str, Any]], bool]


def _filter(raw: Any, known: tuple[str, ...], kind: str, path: str) -> Predicate:
    """Compile a ``FilterExpression`` into a predicate on a row's values by field name."""
    if not isinstance(raw, dict):
        raise _invalid(f"Invalid value at '{path}': a FilterExpression is required.", "ga4")
    present = [k for k in ("andGroup", "orGroup", "notExpression", "filter") if k in raw]
    if len(present) != 1:
        raise _invalid(
            f"Invalid value at '{path}': a FilterExpression must set exactly one of andGroup, "
            "orGroup, notExpression or filter.",
            "ga4",
        )
    which = present[0]
    if which in ("andGroup", "orGroup"):
        group = raw[which]
        expressions = group.get("expressions") if isinstance(group, dict) else None
        if not isinstance(expressions, list) or not expressions:
            raise _invalid(f"Invalid value at '{path}.{which}': expressions are required.", "ga4")
        parts = [
            _filter(e, known, kind, f"{path}.{which}.expressions[{i}]")
            for i, e in enumerate(expressions)
        ]
        if which == "andGroup":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if which == "notExpression":
        inner = _filter(raw[which], known, kind, f"{path}.notExpression")
        return lambda row: not inner(row)
    return _leaf(raw["filter"], known, kind, f"{path}.filter")


def _leaf(raw: Any, known: tuple[str, ...], kind: str, path: str) -> Predicate:
    if not isinstance(raw, dict):
        raise _invalid(f"Invalid value at '{path}': a Filter is required.", "ga4")
    name = raw.get("fieldName")
    if not isinstance(name, str) or name not in known:
        raise _invalid(
            f"Field {name} is not a valid {kind} for a {kind}Filter. For a list of valid "
            f"dimensions and metrics, see {_GA4_SCHEMA_URL} ",
            "ga4",
        )
    kinds = [
        k
        for k in ("stringFilter", "inListFilter", "numericFilter", "betweenFilter", "emptyFilter")
        if k in raw
    ]
    if len(kinds) != 1:
        raise _invalid(f"Invalid value at '{path}': a Filter must set exactly one filter.", "ga4")
    which = kinds[0]
    spec = raw[which] if isinstance(raw[which], dict) else {}
    if kind == "metric" and which not in ("numericFilter", "betweenFilter", "emptyFilter"):
        raise _invalid(
            f"A metric filter on {name} must be a numericFilter or betweenFilter.", "ga4"
        )

    if which == "stringFilter":
        value = spec.get("value", "")  # proto3 JSON leaves out an empty string
        if not isinstance(value, str):
            raise _invalid(f"Invalid value at '{path}.stringFilter.value'.", "ga4")
        match_type = _enum(spec.get("matchType"), _MATCH_TYPES, "matchType", "EXACT")
        sensitive = bool(spec.get("caseSensitive", False))
        if match_type in ("FULL_REGEXP", "PARTIAL_REGEXP"):
            try:
                pattern = re.compile(value, 0 if sensitive else re.IGNORECASE)
            except re.error:
                raise _invalid(f"Invalid regular expression: {value}", "ga4") from None
            search = pattern.fullmatch if match_type == "FULL_REGEXP" else pattern.search
            return lambda row: search(str(row[name])) is not None
        wanted = value if sensitive else value.lower()

        def string_match(row: Mapping[str, Any]) -> bool:
            actual = str(row[name]) if sensitive else str(row[name]).lower()
            if match_type == "EXACT":
                return actual == wanted
            if match_type == "BEGINS_WITH":
                return actual.startswith(wanted)
            if match_type == "ENDS_WITH":
                return actual.endswith(wanted)
            return wanted in actual

        return string_match
    if which == "inListFilter":
        values = spec.get("values", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _invalid(f"Invalid value at '{path}.inListFilter.values'.", "ga4")
        sensitive = bool(spec.get("caseSensitive", False))
        accepted = set(values) if sensitive else {v.lower() for v in values}
        return lambda row: (str(row[name]) if sensitive else str(row[name]).lower()) in accepted
    if which == "emptyFilter":
        return lambda row: row[name] in ("", "(not set)")
    if which == "numericFilter":
        operation = _enum(spec.get("operation"), _OPERATIONS, "operation", None)
        target = _number(spec.get("value"), f"{path}.numericFilter.value")
        compare: Callable[[float], bool] = {
            "EQUAL": lambda v: v == target,
            "LESS_THAN": lambda v: v < target,
            "LESS_THAN_OR_EQUAL": lambda v: v <= target,
            "GREATER_THAN": lambda v: v > target,
            "GREATER_THAN_OR_EQUAL": lambda v: v >= target,
        }[operation]
    else:
        low = _number(spec.get("fromValue"), f"{path}.betweenFilter.fromValue")
        high = _number(spec.get("toValue"), f"{path}.betweenFilter.toValue")

        def compare(v: float) -> bool:
            return low <= v <= high

    def numeric_match(row: Mapping[str, Any]) -> bool:
        number = _as_number(row[name])
        return number is not None and compare(number)

    return numeric_match


@dataclass(frozen=True)
class _DateRange:
    name: str
    start: date
    end: date


def _date_ranges(raw: Any, today: date) -> list[_DateRange]:
    if not isinstance(raw, list) or not raw:
        raise _invalid("Must specify at least one dateRange.", "ga4")
    if len(raw) > GA4_MAX_DATE_RANGES:
        raise _invalid(
            f"Requests are allowed up to {GA4_MAX_DATE_RANGES} date ranges; this request has "
            f"{len(raw)}.",
            "ga4",
        )
    ranges = []
    for index, span in enumerate(raw):
        span = span if isinstance(span, dict) else {}
        start = _ga4_date(span.get("startDate"), today, "startDate")
        end = _ga4_date(span.get("endDate"), today, "endDate")
        if start > end:
            raise _invalid(
                f"Invalid dateRange. The startDate ({start}) must be before or equal to the "
                f"endDate ({end}).",
                "ga4",
            )
        name = span.get("name") or f"date_range_{index}"
        if span.get("name") and str(name).startswith(("date_range_", "RESERVED_")):
            raise _invalid(
                f"Invalid dateRange name '{name}': a name cannot begin with date_range_ or "
                "RESERVED_.",
                "ga4",
            )
        ranges.append(_DateRange(str(name), start, end))
    if len({r.name for r in ranges}) != len(ranges):
        raise _invalid("Each dateRange must have a distinct name.", "ga4")
    return ranges


def _order_key(
    raw: Any, dimensions: list[str], metrics: list[str], index: int
) -> tuple[Callable[[tuple[tuple[str, ...], list[int]]], Any], bool]:
    """A sort key on (dimension values, metric values) from one ``OrderBy``, and ``desc``."""
    path = f"orderBys[{index}]"
    if not isinstance(raw, dict):
        raise _invalid(f"Invalid value at '{path}'.", "ga4")
    desc = bool(raw.get("desc", False))
    if "metric" in raw:
        name = raw["metric"].get("metricName") if isinstance(raw["metric"], dict) else None
        if name not in metrics:
            raise _invalid(
                f"The metric {name} in orderBys must be one of the request's metrics.", "ga4"
            )
        position = metrics.index(name)
        return (lambda row: row[1][position]), desc
    if "dimension" in raw:
        spec = raw["dimension"] if isinstance(raw["dimension"], dict) else {}
        name = spec.get("dimensionName")
        if name not in dimensions:
            raise _invalid(
                f"The dimension {name} in orderBys must be one of the request's dimensions.",
                "ga4",
            )
        position = dimensions.index(name)
        order_type = _enum(spec.get("orderType"), _ORDER_TYPES, "orderType", "ALPHANUMERIC")
        if order_type == "NUMERIC":
            # Non-numeric values all rank equal, below every numeric value.
            def numeric(row: tuple[tuple[str, ...], list[int]]) -> tuple[int, float]:
                number = _as_number(row[0][position])
                return (0, 0.0) if number is None else (1, number)

            return numeric, desc
        if order_type == "CASE_INSENSITIVE_ALPHANUMERIC":
            return (lambda row: row[0][position].lower()), desc
        return (lambda row: row[0][position]), desc
    if "pivot" in raw:
        raise _invalid("Pivot orderBys apply to runPivotReport, not runReport.", "ga4")
    raise _invalid(f"Invalid value at '{path}': set metric or dimension.", "ga4")


def _aggregation_rows(
    rows: list[tuple[tuple[str, ...], list[int]]],
    dimensions: list[str],
    ranges: list[_DateRange],
    metric_count: int,
    reserved: str,
    combine: Callable[[list[int]], int],
) -> list[dict[str, Any]]:
    """One row per date range (one in all without the ``dateRange`` dimension)."""
    if "dateRange" in dimensions:
        at = dimensions.index("dateRange")
        groups = [(r.name, [row for row in rows if row[0][at] == r.name]) for r in ranges]
    else:
        groups = [("", rows)]
    answer = []
    for range_name, members in groups:
        values = [
            combine([row[1][i] for row in members]) if members else 0 for i in range(metric_count)
        ]
        answer.append(
            {
                "dimensionValues": [
                    {"value": range_name if d == "dateRange" else reserved} for d in dimensions
                ],
                "metricValues": [{"value": str(v)} for v in values],
            }
        )
    return answer


def _run_report(sim: GoogleSimState, property_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - _RUN_REPORT_FIELDS)
    if unknown:
        raise _invalid(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.',
            "ga4",
        )
    for name in _NOT_SIMULATED:
        if body.get(name):
            raise _invalid(f"The simulator does not model {name}.", "ga4")
    dimensions = _names(body.get("dimensions"), "dimension", (*GA4_DIMENSIONS, "dateRange"))
    metrics = _names(body.get("metrics"), "metric", GA4_METRICS)
    if not metrics and not dimensions:
        raise _invalid("Must request at least one dimension or metric.", "ga4")
    now_local = sim.now().astimezone(ZoneInfo(GA4_TIMEZONE))
    today = now_local.date()
    ranges = _date_ranges(body.get("dateRanges"), today)
    if len(ranges) > 1 and "dateRange" not in dimensions:
        # Several ranges: every row says which range it belongs to.
        dimensions.append("dateRange")
    offset = _int(body.get("offset"), "offset", "ga4", 0)
    limit = _int(body.get("limit"), "limit", "ga4", GA4_DEFAULT_LIMIT)
    if offset < 0:
        raise _invalid("offset must be non-negative.", "ga4")
    if limit < 0:
        raise _invalid("limit must be positive.", "ga4")
    limit = min(limit or GA4_DEFAULT_LIMIT, GA4_MAX_LIMIT)
    dimension_filter = (
        _filter(
            body["dimensionFilter"], (*GA4_DIMENSIONS, "dateRange"), "dimension", "dimensionFilter"
        )
        if body.get("dimensionFilter")
        else None
    )
    metric_filter = (
        _filter(body["metricFilter"], GA4_METRICS, "metric", "metricFilter")
        if body.get("metricFilter")
        else None
    )
    raw_orders = body.get("orderBys") or []
    if not isinstance(raw_orders, list):
        raise _invalid("Invalid value at 'orderBys'.", "ga4")
    orders = [_order_key(o, dimensions, metrics, i) for i, o in enumerate(raw_orders)]
    raw_aggregations = body.get("metricAggregations") or []
    if not isinstance(raw_aggregations, list):
        raise _invalid("Invalid value at 'metricAggregations'.", "ga4")
    aggregations = [
        _enum(a, _AGGREGATIONS, f"metricAggregations[{i}]", None)
        for i, a in enumerate(raw_aggregations)
    ]
    if "COUNT" in aggregations:
        raise _invalid("The simulator does not model the COUNT metric aggregation.", "ga4")
    if property_id in sim.deny_properties or not property_id.isdigit():
        raise GoogleError(
            403,
            "User does not have sufficient permissions for this property. To learn more about "
            "Property ID, see https://developers.google.com/analytics/devguides/reporting/data/"
            "v1/property-id.",
        )

    grouped: dict[tuple[str, ...], list[int]] = {}
    for span in ranges:
        day = span.start
        while day <= min(span.end, today):
            factor = _completeness(day, now_local)
            for region, channel, values in _ga4_day(sim.seed, property_id, day):
                by_name: dict[str, Any] = {
                    "date": day.strftime("%Y%m%d"),
                    "region": region,
                    "sessionDefaultChannelGroup": channel,
                    "country": "(not set)" if region == "(not set)" else "Jamaica",
                    "dateRange": span.name,
                }
                if dimension_filter is not None and not dimension_filter(by_name):
                    continue
                values_now = [int(v * factor) for v in values]
                values_now[0] = max(1, values_now[0])
                key = tuple(by_name[d] for d in dimensions)
                sums = grouped.setdefault(key, [0] * len(GA4_METRICS))
                for i, value in enumerate(values_now):
                    sums[i] += value
            day += timedelta(days=1)

    metric_index = [GA4_METRICS.index(m) for m in metrics]
    rows = [
        (key, [sums[i] for i in metric_index])
        for key, sums in sorted(grouped.items())
        if metric_filter is None or metric_filter(dict(zip(GA4_METRICS, sums, strict=True)))
    ]
    # GA4 leaves the order without orderBys unspecified: here the first metric, descending (as
    # the GA4 reports do), so a client that pages without orderBys sees rows move as the
    # numbers of days still being processed grow between its calls.
    if metric_index:
        rows.sort(key=lambda row: -row[1][0])
    for key_of, desc in reversed(orders):  # stable sorts, the last orderBy first
        rows.sort(key=key_of, reverse=desc)
    page = rows[offset : offset + limit]
    answer: dict[str, Any] = {
        "dimensionHeaders": [{"name": d} for d in dimensions],
        "metricHeaders": [{"name": m, "type": "TYPE_INTEGER"} for m in metrics],
    }
    if page:
        answer["rows"] = [
            {
                "dimensionValues": [{"value": v} for v in key],
                "metricValues": [{"value": str(v)} for v in values],
            }
            for key, values in page
        ]
    combiners: dict[str, Callable[[list[int]], int]] = {
        "TOTAL": sum,
        "MAXIMUM": max,
        "MINIMUM": min,
    }
    for aggregation in dict.fromkeys(aggregations):
        field_name, reserved = _AGGREGATION_ROWS[aggregation]
        answer[field_name] = _aggregation_rows(
            rows, dimensions, ranges, len(metrics), reserved, combiners[aggregation]
        )
    if rows:
        answer["rowCount"] = len(rows)
    answer["metadata"] = {"currencyCode": "JMD", "timeZone": GA4_TIMEZONE}
    quota = sim._charge_ga4(property_id, 1 + len(rows) // 500)
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


def _site_forbidden(site_url: str) -> GoogleError:
    return GoogleError(
        403,
        f"User does not have sufficient permission for site '{site_url}'. See also: "
        "https://support.google.com/webmasters/answer/2451999.",
        api="search_console",
        reason="forbidden",
    )


def _site_permission(sim: GoogleSimState, site_url: str) -> str:
    """The user's ``permissionLevel`` on a site; 403 for a denied or malformed site URL."""
    valid_site = site_url.startswith(("http://", "https://", "sc-domain:"))
    if site_url in sim.deny_sites or not valid_site:
        raise _site_forbidden(site_url)
    return sim.sites.get(site_url, "siteFullUser")


def _sites_list(sim: GoogleSimState) -> dict[str, Any]:
    """``sites.list``: the user's sites; an empty list is an empty object, as Google sends it."""
    entries = [
        {"siteUrl": url, "permissionLevel": level}
        for url, level in sorted(sim.sites.items())
        if url not in sim.deny_sites
    ]
    return {"siteEntry": entries} if entries else {}


def _sites_get(sim: GoogleSimState, site_url: str) -> dict[str, Any]:
    return {"siteUrl": site_url, "permissionLevel": _site_permission(sim, site_url)}


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
    if _site_permission(sim, site_url) == "siteUnverifiedUser":
        raise _site_forbidden(site_url)

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


def _route(api: str, method: str, path: str) -> tuple[str, str]:
    """(operation, path argument) of a request; Google's 404 or 405 when nothing answers it."""
    routes: list[tuple[re.Pattern[str], dict[str, str]]]
    if api == "oauth":
        routes = [(re.compile(r"/token"), {"POST": "token"})]
    elif api == "ga4":
        routes = [(_PROPERTY_PATH, {"POST": "runReport"})]
    else:
        routes = [
            (_SITES_PATH, {"GET": "sites.list"}),
            (
                _SITE_ENTRY_PATH,
                {"GET": "sites.get", "PUT": "sites.add", "DELETE": "sites.delete"},
            ),
            (_SITE_PATH, {"POST": "searchAnalytics.query"}),
            (_SITEMAPS_PATH, {"GET": "sitemaps.list"}),
            (
                _SITEMAP_PATH,
                {"GET": "sitemaps.get", "PUT": "sitemaps.submit", "DELETE": "sitemaps.delete"},
            ),
        ]
    for pattern, methods in routes:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if method not in methods:
            raise _method_not_allowed(method, path, api)
        argument = unquote(match.group(1)) if match.groups() else ""
        return methods[method], argument
    raise _not_found(path, api)


def _not_found(path: str, api: str) -> GoogleError:
    return GoogleError(404, f"The requested URL {path} was not found on this server.", api=api)


def _method_not_allowed(method: str, path: str, api: str) -> GoogleError:
    return GoogleError(405, f"Method {method} is not allowed on {path}.", api=api)


def _execute(
    sim: GoogleSimState,
    api: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
) -> tuple[int, Any, dict[str, str]]:
    try:
        if fault := sim.take_fault(path):
            raise fault.to_error(api)
        operation, argument = _route(api, method, path)
        if api == "oauth":
            return 200, _token(sim, body), {"Cache-Control": "no-store"}
        if sim._roll_5xx():
            raise GoogleError(503, api=api)
        sim._access(_bearer(headers), api)
        if operation == "runReport":
            return 200, _run_report(sim, argument, body), {}
        if operation == "sites.list":
            return 200, _sites_list(sim), {}
        if operation == "sites.get":
            return 200, _sites_get(sim, argument), {}
        if operation == "searchAnalytics.query":
            return 200, _search_analytics(sim, argument, body), {}
        raise GoogleError(501, f"The simulator does not model {operation}.", api=api)
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
                    sim.log_request(RequestRecord(request.method, path, {}, 400))
                    return JSONResponse(error.body(), status_code=400)
                body = parsed
            if sim.latency_s > 0:
                await asyncio.sleep(sim.latency_s)
            status, answer, headers = await run_in_threadpool(
                _execute, sim, api, request.method, path, request.headers, body
            )
            sim.log_request(RequestRecord(request.method, unquote(path), _loggable(body), status))
            return JSONResponse(answer, status_code=status, headers=headers)

        return endpoint

    async def revoke(request: Request) -> Response:
        try:
            token = (await request.json())["refresh_token"]
            if not isinstance(token, str):
                raise TypeError("refresh_token must be a string")
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"detail": f"bad revoke request: {exc}"}, status_code=400)
        sim.revoke(token)
        return JSONResponse({"revoked": True})

    routes = [
        *control_routes(sim),
        Route("/__sim__/revoke", revoke, methods=["POST"]),
        # Every method reaches the handlers, which answer Google's 404/405 for what they lack.
        Route("/token", handler("oauth"), methods=_HTTP_METHODS),
        Route("/v1beta/{rest:path}", handler("ga4"), methods=_HTTP_METHODS),
        Route("/webmasters/v3/{rest:path}", handler("search_console"), methods=_HTTP_METHODS),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        # Paths and methods no route serves: Google's JSON error body, never plain text.
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        path = request.url.path
        api = "search_console" if path.startswith("/webmasters/") else "ga4"
        if code == 405:
            error = _method_not_allowed(request.method, path, api)
        elif code == 404:
            error = _not_found(path, api)
        else:
            error = GoogleError(code, api=api)
        sim.log_request(RequestRecord(request.method, path, {}, error.http_status))
        return JSONResponse(error.body(), status_code=error.http_status, headers=error.headers())

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
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
