"""Loopback simulator of the Meta Graph / Marketing API.

It reproduces the documented behaviour the pipelines rely on: ``/me/adaccounts``, the
campaign / ad set / ad edges of an ad account, daily ``/insights`` with a ``region`` breakdown
(synchronous, and as async report runs), the batch endpoint, Facebook Pages (``/me/accounts``
with page access tokens, page insights, posts and post insights), Graph cursor paging (absolute
``paging.next`` URLs), the Graph error envelope and the rate-limit usage headers (on error
answers too).

Versions
    Ads calls (ad accounts, report runs) on a version past its Marketing API sunset in
    ``defs/meta/graph_versions.toml`` (by the virtual clock) fail with Meta's ``(#2635) You are
    calling a deprecated version of the Ads API``. Page insights and post insights serve Meta's
    current metrics; a retired one (``page_impressions``, ``page_fans``, ...) fails the whole
    request with ``(#100) The value must be a valid insights metric``.

Data as Meta reports it (v26.0, December 2026)
    Every account is in USD (Meta's ad account currencies do not include JMD) and reports its
    days in its own time zone: a token's first account in America/Jamaica, its second in
    America/Los_Angeles (``timezone_name``, ``timezone_offset_hours_utc``; the newest day
    served and ``date_preset=today`` follow the zone). One conversion is listed under several
    overlapping action types with the same value (``purchase``, ``omni_purchase``,
    ``offsite_conversion.fb_pixel_purchase``, ``onsite_web_purchase``...), events come from the
    pixel (off-Meta) or from Meta (shop, instant form) and the aggregates are their sum; see
    :mod:`.meta_marketing`. With a "Type 1" breakdown (``region``) off-Meta actions are not
    returned. Reach is deduplicated over ads, regions and days. Each account has an ARCHIVED
    and a DELETED campaign that spent on about half the days: in level=account totals always,
    at the other levels only when ``filtering`` on ``*.effective_status`` asks for them.
    Unified attribution always applies; ``7d_view``/``28d_view`` are accepted, not returned.

Tokens
    Any access token starting with ``sim_`` is valid and the data it sees is derived from a hash
    of the token, so the same token always yields the same accounts, objects and numbers.
    ``sim_expired_...`` fails with code 190 / subcode 463; anything else fails with 190.
    ``sim_ll_<x>`` (what ``/oauth/access_token`` hands out for ``sim_<x>``) sees the data of
    ``sim_<x>``. A token containing ``_ads<N>_`` (``sim_bench_ads400_x``) gives each of its two ad
    accounts exactly ``N`` ads (5 per ad set, 4 ad sets per campaign); insight rows are built
    lazily per page, so a long date range can yield millions of rows. ``/me/accounts`` hands out
    page tokens ``sim_page_<page_id>_<hash>``, valid for that page and its posts only.

Knobs (attributes of :class:`MetaSimState`, or ``POST /__sim__/config`` with the same names)
    ``report_polls_to_complete`` (2), ``fail_next_report_run``, ``empty_page_every``,
    ``max_rows_per_request``, ``throttle_after_calls``, ``error_rate_5xx``,
    ``expire_tokens_at``, ``deny_accounts``, ``latency_s``, ``spend_overrides``,
    ``retired_metrics`` (Page / post insights metrics Meta retires from now on),
    ``account_total_skew`` (``{"act_<id>|YYYY-MM-DD": {"spend": "1.00", "impressions": 3,
    "clicks": 1}}``: added to that account's level=account rows without breakdown covering
    that day, so they disagree with the sum of its ad rows: a reconciliation fault); the virtual
    clock (:meth:`MetaSimState.set_now`, ``"now"`` over HTTP) drives token expiry, the 37-month
    rule, posts and report-run times. :meth:`MetaSimState.reset` clears all of them.

Simulator control over HTTP::

    POST   /__sim__/faults    {"path_contains": "/insights", "count": 3, "http_status": 500,
                               "code": 2, "subcode": null, "is_transient": true}  (or a list)
    GET    /__sim__/faults    pending faults
    DELETE /__sim__/faults    clear faults
    GET    /__sim__/requests  request log (path, query without access_token, status)
    DELETE /__sim__/requests  clear the request log
    POST   /__sim__/usage     {"pct": 90} forces the reported usage percentages (null resets)
    GET    /__sim__/config    the knobs and the virtual clock
    POST   /__sim__/config    {"throttle_after_calls": 5, "now": "2025-06-30T12:00:00Z", ...}
    DELETE /__sim__/config    knobs back to their defaults, real clock
    POST   /__sim__/reset     everything back to a fresh state (reset())
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import hashlib
import itertools
import json
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adinsights_pipelines.defs.meta.graph_versions import (
    DEFAULT_VERSION,
    known_versions,
    latest_version,
)
from adinsights_pipelines.simulators import meta_fields as documented
from adinsights_pipelines.simulators import meta_login
from adinsights_pipelines.simulators.control import (
    RequestRecord,
    SimulatorControls,
    as_datetime,
    aware,
    control_routes,
    refuse_unknown_knobs,
)
from adinsights_pipelines.simulators.meta_errors import (
    FULL_SCOPES,
    NARROW_SCOPES,
    GraphError,
    canonical_token,
)
from adinsights_pipelines.simulators.meta_marketing import (
    HIDDEN_STATUSES,
    NO_EVENTS,
    TYPE1_BREAKDOWNS,
    WINDOW_SHARE,
    ActionOptions,
    Events,
    Filter,
    ParamError,
    action_entries,
    action_options,
    asks_for_hidden,
    attributed,
    check_fields,
    field_names,
    list_param,
    matches,
    parse_filtering,
    wants_summary,
)
from adinsights_pipelines.simulators.server import LoopbackServer

__all__ = [
    "KNOB_NAMES",
    "Fault",
    "MetaSimState",
    "MetaSimulator",
    "RequestRecord",
    "create_app",
    "main",
]

VERSION_RE = re.compile(r"v\d+\.\d+")
ACCOUNT_RE = re.compile(r"act_(\d+)")
PAGE_TOKEN_RE = re.compile(r"sim_page_(\d+)_[0-9a-f]+")
POST_ID_RE = re.compile(r"(\d+)_(\d+)")
DEFAULT_LIMIT = 25
MAX_LIMIT = 500
MAX_BATCH = 50
MAX_MONTHS_BACK = 37
MAX_PAGE_INSIGHT_DAYS = 93
ADS_KNOB_RE = re.compile(r"_ads(\d+)_")
MAX_ADS_PER_ACCOUNT = 100_000
ADS_PER_ADSET = 5
ADSETS_PER_CAMPAIGN = 4
USAGE_WINDOW_S = 60.0
#: Meta formats object times in the Pacific time zone of its servers (``-0700`` / ``-0800``).
PACIFIC = ZoneInfo("America/Los_Angeles")
#: The time zones of a token's ad accounts, in turn.
ACCOUNT_ZONES = ("America/Jamaica", "America/Los_Angeles")
REDUCE_DATA_MESSAGE = "Please reduce the amount of data you're asking for, then retry your request"

#: Jamaican parishes spelled as Meta's ``region`` breakdown spells them.
JAMAICA_REGIONS = (
    "Kingston Parish",
    "Saint Andrew Parish",
    "Saint Catherine Parish",
    "Saint James Parish",
    "Manchester Parish",
    "Clarendon Parish",
    "Saint Ann Parish",
    "Westmoreland Parish",
    "Saint Elizabeth Parish",
    "Trelawny Parish",
    "Portland Parish",
    "Saint Mary Parish",
    "Saint Thomas Parish",
    "Hanover Parish",
)
_REGION_WEIGHT = {"Kingston Parish": 2.0, "Saint Andrew Parish": 1.8, "Unknown": 0.15}
_OBJECTIVES = ("OUTCOME_TRAFFIC", "OUTCOME_LEADS", "OUTCOME_SALES", "OUTCOME_AWARENESS")
_STATUSES = ("ACTIVE", "ACTIVE", "ACTIVE", "PAUSED")

PAGE_FIELDS = ("id", "name", "category", "access_token", "fan_count", "link")
POST_FIELDS = ("id", "message", "created_time", "permalink_url")
_LEVEL_DROPS = {
    "ad": (),
    "adset": ("ad_id", "ad_name"),
    "campaign": ("ad_id", "ad_name", "adset_id", "adset_name"),
    "account": ("ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name"),
}
_SUPPORTED_BREAKDOWNS = ("region",)
#: Breakdown names Meta rejects in ``fields`` (they are columns of rows, requested as breakdowns).
_BREAKDOWN_NAMES = (
    "region", "country", "dma", "age", "gender", "device_platform", "publisher_platform",
    "platform_position", "impression_device", "product_id",
)  # fmt: skip
_PAGE_CATEGORIES = ("Restaurant", "Retail Company", "Media/News Company", "Nonprofit Organization")
_PAGE_NAMES = ("Island Eats", "Blue Mountain Coffee Co", "Yard Vibes Radio", "Kingston Hope")
_POST_MESSAGES = (
    "New menu drop this weekend!",
    "Thank you Kingston for an amazing turnout.",
    "Flash sale: 20% off until Sunday.",
    "Meet the team behind the counter.",
    "Tune in live tonight at 8.",
    "Volunteers needed for the coastal clean-up.",
)
#: Page insights metrics Meta serves today, with their titles and descriptions.
PAGE_METRICS = {
    "page_media_view": (
        "Daily Total Views",
        "Daily: The number of times your Page's content was played or displayed.",
    ),
    "page_total_media_view_unique": (
        "Daily Total Viewers",
        "Daily: The number of people who saw your Page's content at least once.",
    ),
    "page_post_engagements": (
        "Daily Post Engagements",
        "Daily: The number of times people have engaged with your posts through reactions, "
        "comments, shares and more.",
    ),
    "page_follows": (
        "Lifetime Total Follows",
        "Lifetime: The number of people who follow your Page.",
    ),
}
POST_METRICS = {
    "post_media_view": (
        "Lifetime Post Total Views",
        "Lifetime: The number of times your Page's post was played or displayed.",
    ),
    "post_total_media_view_unique": (
        "Lifetime Post Total Viewers",
        "Lifetime: The number of people who saw your Page's post at least once.",
    ),
    "post_clicks": (
        "Lifetime Post Clicks",
        "Lifetime: The number of clicks anywhere in your post on News Feed.",
    ),
    "post_reactions_by_type_total": (
        "Lifetime Total post Reactions by Type.",
        "Lifetime: Total post reactions by type.",
    ),
}
#: Metrics Meta retired for all versions (2025-06-15, 2025-11-15, 2026-06-15 waves): asking for
#: one fails the whole request with "(#100) The value must be a valid insights metric".
RETIRED_PAGE_METRICS = frozenset(
    {
        "page_impressions", "page_impressions_unique", "page_impressions_paid",
        "page_impressions_paid_unique", "page_impressions_viral", "page_impressions_viral_unique",
        "page_impressions_nonviral", "page_impressions_nonviral_unique", "page_posts_impressions",
        "page_posts_impressions_unique", "page_fans", "page_fans_locale", "page_fans_city",
        "page_fans_country", "page_fan_adds", "page_fan_adds_unique", "page_fan_removes",
        "page_fan_removes_unique", "post_impressions", "post_impressions_unique",
        "post_impressions_paid", "post_impressions_paid_unique", "post_impressions_fan",
        "post_impressions_fan_unique", "post_impressions_organic",
        "post_impressions_organic_unique", "post_impressions_viral",
        "post_impressions_viral_unique", "post_impressions_nonviral",
        "post_impressions_nonviral_unique",
    }
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Errors, faults and state
# --------------------------------------------------------------------------------------------


def _invalid_param(detail: str) -> GraphError:
    return GraphError(100, "Invalid parameter", user_msg=detail)


def _unsupported_get(node: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
        subcode=33,
        error_type="GraphMethodException",
    )


def _permission_error(detail: str) -> GraphError:
    return GraphError(200, "(#200) Permissions error", http_status=403, user_msg=detail)


def _unknown_path(part: str) -> GraphError:
    return GraphError(2500, f"Unknown path components: /{part}")


def _not_capable() -> GraphError:
    return GraphError(3)


@dataclass
class Fault:
    """``remaining`` more requests whose path contains ``path_contains`` fail like this."""

    path_contains: str = ""
    count: int = 1
    http_status: int = 500
    code: int = 2
    subcode: int | None = None
    is_transient: bool = True
    message: str | None = None
    error_user_msg: str | None = None
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = self.count

    def to_error(self) -> GraphError:
        return GraphError(
            self.code,
            self.message,
            http_status=self.http_status,
            subcode=self.subcode,
            is_transient=self.is_transient,
            user_msg=self.error_user_msg,
        )


@dataclass(frozen=True)
class _InsightSpec:
    """A validated insights request: what rows to build and which columns to keep."""

    level: str
    fields: tuple[str, ...]
    breakdowns: tuple[str, ...]
    since: date
    until: date
    increment: int | None = 1  # days per row; None: the whole range in one row (all_days)
    actions: ActionOptions = field(default_factory=ActionOptions)
    filters: tuple[Filter, ...] = ()


@dataclass
class _ReportRun:
    id: str
    owner: str
    account_id: str
    spec: _InsightSpec
    created: datetime
    polls_needed: int
    fail: bool
    polls: int = 0
    finished_at: datetime | None = None
    last_pct: int = 0


#: The knobs :meth:`MetaSimState.configure` and ``POST /__sim__/config`` accept.
KNOB_NAMES = (
    "report_polls_to_complete",
    "fail_next_report_run",
    "empty_page_every",
    "max_rows_per_request",
    "throttle_after_calls",
    "error_rate_5xx",
    "expire_tokens_at",
    "deny_accounts",
    "latency_s",
    "spend_overrides",
    "retired_metrics",
    "account_total_skew",
)

SpendKey = tuple[str, str, str]


def _optional_int(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} or null")
    return int(value)


def _spend_overrides(value: Any) -> dict[SpendKey, str]:
    """``{(ad_id, "YYYY-MM-DD", region): "12.34"}`` from a mapping or a JSON-friendly list.

    Over HTTP: ``[{"ad_id": ..., "date": ..., "region": ..., "spend": "12.34"}]``,
    ``[[ad_id, date, region, spend]]`` or ``{"<ad_id>|<date>|<region>": "12.34"}``.
    """
    items: list[tuple[Any, Any]] = []
    if isinstance(value, Mapping):
        for key, spend in value.items():
            items.append((tuple(key.split("|", 2)) if isinstance(key, str) else key, spend))
    else:
        for entry in value or ():
            if isinstance(entry, Mapping):
                key = (entry["ad_id"], entry["date"], entry["region"])
                items.append((key, entry["spend"]))
            else:
                ad_id, day, region, spend = entry
                items.append(((ad_id, day, region), spend))
    out: dict[SpendKey, str] = {}
    for key, spend in items:
        ad_id, day, region = (str(part) for part in key)
        date.fromisoformat(day)
        try:
            amount = Decimal(str(spend))
        except InvalidOperation:
            raise ValueError(f"spend must be a decimal amount, not {spend!r}") from None
        if amount < 0:
            raise ValueError("spend must not be negative")
        out[(ad_id, day, region)] = f"{amount:.2f}"
    return out


def _account_total_skew(value: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """``{"act_<id>|YYYY-MM-DD": {"spend": "1.00", "impressions": 3, "clicks": 1}}``."""
    if not isinstance(value, Mapping):
        raise ValueError('account_total_skew must map "act_<id>|YYYY-MM-DD" to a delta')
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key, delta in value.items():
        account, sep, day = str(key).partition("|")
        if not sep or not isinstance(delta, Mapping):
            raise ValueError('account_total_skew must map "act_<id>|YYYY-MM-DD" to a delta')
        date.fromisoformat(day)
        unknown = set(delta) - {"spend", "impressions", "clicks"}
        if unknown:
            raise ValueError(f"account_total_skew: unknown metric(s) {', '.join(sorted(unknown))}")
        clean: dict[str, Any] = {}
        if "spend" in delta:
            try:
                clean["spend"] = f"{Decimal(str(delta['spend'])):.2f}"
            except InvalidOperation:
                raise ValueError(
                    f"spend must be a decimal amount, not {delta['spend']!r}"
                ) from None
        for name in ("impressions", "clicks"):
            if name in delta:
                if isinstance(delta[name], bool) or int(delta[name]) != delta[name]:
                    raise ValueError(f"{name} must be an integer")
                clean[name] = int(delta[name])
        out[(_act(account).removeprefix("act_"), day)] = clean
    return out


class MetaSimState(SimulatorControls[Fault, RequestRecord]):
    """Mutable, thread-safe simulator state: knobs, clock, faults, request log, usage.

    ``today`` pins the (UTC) date while the time of day follows the real clock; ``clock`` is a
    callable returning the current instant; :meth:`set_now` pins the instant (cleared by
    :meth:`reset`, unlike the constructor arguments).
    """

    def __init__(
        self,
        *,
        today: date | None = None,
        usage_per_call: float = 0.1,
        clock: Callable[[], datetime] | None = None,
        seed: int = 0,
    ) -> None:
        self._today = today
        self._clock = clock
        self._seed = seed
        self.usage_per_call = usage_per_call
        super().__init__()
        self._calls: dict[str, deque[float]] = {}
        self._usage_override: int | None = None
        self._token_calls: dict[str, int] = {}
        self._runs: dict[str, _ReportRun] = {}
        self._run_ids = itertools.count(6 * 10**15 + secrets.randbelow(10**12) * 1000)
        self._now: datetime | None = None
        self._rng = random.Random(seed)
        self._reset_knobs()
        #: Facebook Login (dialog, code exchange, grants, revocations): :mod:`.meta_login`.
        self.login = meta_login.LoginState()

    def _reset_knobs(self) -> None:
        #: Polls of ``GET /<report_run_id>`` until a report run is done (0: done at once).
        self.report_polls_to_complete: int = 2
        #: The next report run created ends in ``Job Failed`` (then the knob clears itself).
        self.fail_next_report_run: bool = False
        #: Every n-th page of a paged edge is first served empty, still carrying ``next``.
        self.empty_page_every: int | None = None
        #: A ``limit`` above this answers HTTP 500, code 1 "Please reduce the amount of data".
        self.max_rows_per_request: int | None = None
        #: After this many calls per token: code 17, HTTP 400, transient, until reset.
        self.throttle_after_calls: int | None = None
        #: Share (0..1) of Graph calls that fail with HTTP 500 / code 2 (seeded random).
        self.error_rate_5xx: float = 0.0
        #: From this instant of the virtual clock on every token fails with 190 / 463.
        self.expire_tokens_at: datetime | None = None
        #: ``act_<id>`` whose node and edges answer code 200, HTTP 403.
        self.deny_accounts: set[str] = set()
        #: Seconds every Graph request waits before it is answered.
        self.latency_s: float = 0.0
        #: ``{(ad_id, "YYYY-MM-DD", region): "12.34"}``: that row's spend, nothing else.
        self.spend_overrides: dict[SpendKey, str] = {}
        #: Page / post insights metrics Meta has retired since (answered like the retired ones).
        self.retired_metrics: set[str] = set()
        #: ``{("<account id>", "YYYY-MM-DD"): {"spend": "1.00", "impressions": 3, "clicks": 1}}``
        #: added to that account's level=account rows (no breakdown) covering that day only.
        self.account_total_skew: dict[tuple[str, str], dict[str, Any]] = {}

    def reset_knobs(self) -> None:
        """Every knob back to its default and the clock un-pinned (faults, log etc. stay)."""
        with self._lock:
            self._now = None
            self._reset_knobs()

    # clock --------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The virtual clock: the pinned instant, the ``clock`` callable or the real time."""
        pinned = self._now
        if pinned is not None:
            return pinned
        if self._clock is not None:
            return aware(self._clock())
        real = datetime.now(UTC)
        if self._today is not None:
            return datetime.combine(self._today, real.timetz())
        return real

    def today(self) -> date:
        return self.now().astimezone(UTC).date()

    def account_today(self, zone: ZoneInfo) -> date:
        """Today in an ad account's time zone; the constructor's ``today`` (with no pinned
        instant or clock) pins it for every zone."""
        if self._today is not None and self._now is None and self._clock is None:
            return self._today
        return self.now().astimezone(zone).date()

    def set_now(self, moment: datetime | None) -> None:
        """Pin the virtual clock at ``moment`` (naive means UTC); ``None`` un-pins it."""
        self._now = None if moment is None else aware(moment)

    def advance(self, delta: timedelta) -> datetime:
        """Move the virtual clock forward (pins it); returns the new instant."""
        self._now = self.now() + delta
        return self._now

    # knobs --------------------------------------------------------------------------------
    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Set knobs by name (``now`` pins the clock), validating and converting JSON values."""
        refuse_unknown_knobs(knobs, {*KNOB_NAMES, "now"})
        converted: dict[str, Any] = {}
        for name, value in knobs.items():
            if name == "now":
                converted[name] = None if value is None else as_datetime(value)
            elif name == "report_polls_to_complete":
                converted[name] = _optional_int(name, value, 0) or 0
            elif name in ("empty_page_every", "max_rows_per_request"):
                converted[name] = _optional_int(name, value, 1)
            elif name == "throttle_after_calls":
                converted[name] = _optional_int(name, value, 0)
            elif name == "fail_next_report_run":
                converted[name] = bool(value)
            elif name == "error_rate_5xx":
                rate = float(value or 0)
                if not 0 <= rate <= 1:
                    raise ValueError("error_rate_5xx must be between 0 and 1")
                converted[name] = rate
            elif name == "latency_s":
                latency = float(value or 0)
                if latency < 0:
                    raise ValueError("latency_s must not be negative")
                converted[name] = latency
            elif name == "expire_tokens_at":
                converted[name] = None if value is None else as_datetime(value)
            elif name == "deny_accounts":
                if isinstance(value, str):
                    raise ValueError("deny_accounts must be a list of act_<id>")
                converted[name] = {_act(str(v)) for v in value or ()}
            elif name == "spend_overrides":
                converted[name] = _spend_overrides(value)
            elif name == "account_total_skew":
                converted[name] = _account_total_skew(value)
            elif name == "retired_metrics":
                if isinstance(value, str):
                    raise ValueError("retired_metrics must be a list of metric names")
                converted[name] = {str(v) for v in value or ()}
        for name, value in converted.items():
            if name == "now":
                self.set_now(value)
            else:
                setattr(self, name, value)
        return self.knobs()

    def knobs(self) -> dict[str, Any]:
        """The knobs and the clock, JSON-friendly."""
        expire = self.expire_tokens_at
        return {
            "report_polls_to_complete": self.report_polls_to_complete,
            "fail_next_report_run": self.fail_next_report_run,
            "empty_page_every": self.empty_page_every,
            "max_rows_per_request": self.max_rows_per_request,
            "throttle_after_calls": self.throttle_after_calls,
            "error_rate_5xx": self.error_rate_5xx,
            "expire_tokens_at": None if expire is None else aware(expire).isoformat(),
            "deny_accounts": sorted(self.deny_accounts),
            "latency_s": self.latency_s,
            "spend_overrides": [
                {"ad_id": ad_id, "date": day, "region": region, "spend": spend}
                for (ad_id, day, region), spend in sorted(self.spend_overrides.items())
            ],
            "retired_metrics": sorted(self.retired_metrics),
            "account_total_skew": {
                f"act_{account}|{day}": delta
                for (account, day), delta in sorted(self.account_total_skew.items())
            },
            "now": self.now().isoformat(),
            "clock_pinned": self._now is not None,
        }

    def _tokens_expired(self) -> bool:
        expire = self.expire_tokens_at
        return expire is not None and self.now() >= aware(expire)

    def _denied(self, account_id: str) -> bool:
        deny = self.deny_accounts
        return f"act_{account_id}" in deny or account_id in deny

    def _roll_5xx(self) -> bool:
        rate = self.error_rate_5xx
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def _throttled(self, token: str) -> bool:
        """Count a call for ``token``; True once it is over ``throttle_after_calls``."""
        with self._lock:
            count = self._token_calls[token] = self._token_calls.get(token, 0) + 1
        limit = self.throttle_after_calls
        return limit is not None and count > limit

    # report runs --------------------------------------------------------------------------
    def _new_run(self, owner: str, account_id: str, spec: _InsightSpec) -> _ReportRun:
        with self._lock:
            run = _ReportRun(
                str(next(self._run_ids)),
                owner,
                account_id,
                spec,
                self.now(),
                max(0, self.report_polls_to_complete),
                self.fail_next_report_run,
            )
            self.fail_next_report_run = False
            self._runs[run.id] = run
        return run

    def _run(self, run_id: str) -> _ReportRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def _poll(self, run: _ReportRun) -> tuple[str, int]:
        """One status poll: ``(async_status, async_percent_completion)``."""
        with self._lock:
            run.polls += 1
            return self._status(run)

    def _status(self, run: _ReportRun) -> tuple[str, int]:
        """The status after the polls so far (lock held or not needed)."""
        needed, polls = run.polls_needed, run.polls
        if polls >= needed:
            if run.finished_at is None:
                run.finished_at = self.now()
            if run.fail:
                return "Job Failed", run.last_pct
            return "Job Completed", 100
        if polls <= 1:
            status, pct = "Job Not Started", 0
        else:
            status = "Job Started" if polls == 2 else "Job Running"
            pct = min(99, 100 * (polls - 1) // needed)
        run.last_pct = pct
        return status, pct

    def report_run_status(self, run_id: str) -> str | None:
        """The ``async_status`` of a report run without counting a poll (None: unknown id)."""
        run = self._run(run_id)
        if run is None:
            return None
        with self._lock:
            return self._status(run)[0]

    # faults -------------------------------------------------------------------------------
    def inject(
        self,
        path_contains: str = "",
        *,
        count: int = 1,
        http_status: int = 500,
        code: int = 2,
        subcode: int | None = None,
        is_transient: bool = True,
        message: str | None = None,
        error_user_msg: str | None = None,
    ) -> Fault:
        """Make the next ``count`` requests whose path contains ``path_contains`` fail."""
        fault = Fault(
            path_contains, count, http_status, code, subcode, is_transient, message, error_user_msg
        )
        return self._add_fault(fault)

    # usage --------------------------------------------------------------------------------
    def set_usage(self, pct: int | None) -> None:
        """Force every usage percentage the headers report (``None``: computed from calls)."""
        with self._lock:
            self._usage_override = pct

    def _count_call(self, key: str) -> int:
        """Count a call for ``key`` and return the usage percentage over the rolling window."""
        now = time.monotonic()
        with self._lock:
            if self._usage_override is not None:
                return self._usage_override
            calls = self._calls.setdefault(key, deque())
            calls.append(now)
            while calls and calls[0] < now - USAGE_WINDOW_S:
                calls.popleft()
            return min(100, int(len(calls) * self.usage_per_call))

    def reset(self) -> None:
        """Clear faults, the request log, usage counters, report runs, every knob and the
        pinned clock (the constructor's ``today`` / ``clock`` stay)."""
        with self._lock:
            self._faults.clear()
            self._log.clear()
            self._calls.clear()
            self._usage_override = None
            self._token_calls.clear()
            self._runs.clear()
            self._rng = random.Random(self._seed)
            self._now = None
            self._reset_knobs()
        self.login.reset()


def _act(account_id: str) -> str:
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


# --------------------------------------------------------------------------------------------
# Deterministic data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ad:
    id: str
    name: str
    adset_id: str
    adset_name: str
    campaign_id: str
    campaign_name: str
    objective: str
    status: str
    created: datetime

    @property
    def hidden(self) -> bool:
        return self.status in HIDDEN_STATUSES

    def delivers(self, day: date) -> bool:
        """Active ads deliver every day; an ARCHIVED or DELETED one on about half the days (a
        pure function of the day, so any 30-day window holds some of its spend)."""
        return not self.hidden or (day.toordinal() + int(self.id)) % 4 < 2


@dataclass(frozen=True)
class _Account:
    account_id: str
    name: str
    currency: str
    timezone_name: str
    regions: tuple[str, ...]
    campaigns: tuple[dict[str, Any], ...]
    adsets: tuple[dict[str, Any], ...]
    ads: tuple[dict[str, Any], ...]
    ad_units: tuple[_Ad, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone_name)

    @property
    def custom_conversion(self) -> str:
        """The action type of the account's one custom conversion (a pixel event)."""
        digest = hashlib.sha256(f"custom|{self.account_id}".encode()).digest()
        return f"offsite_conversion.custom.{10**15 + int.from_bytes(digest[:8], 'big') % 10**15}"


def _graph_time(moment: datetime) -> str:
    """Ad objects' times as Meta writes them: Pacific time, ``2024-03-12T15:02:47-0700``."""
    return moment.astimezone(PACIFIC).strftime("%Y-%m-%dT%H:%M:%S%z")


def _utc_time(moment: datetime) -> str:
    """Page objects' times as Meta writes them: ``2024-03-12T15:02:47+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


@lru_cache(maxsize=256)
def _ads_per_account(token: str) -> int | None:
    """``N`` of a ``_ads<N>_`` scale knob in the token (``sim_bench_ads400_x``), else None."""
    match = ADS_KNOB_RE.search(token)
    return min(int(match.group(1)), MAX_ADS_PER_ACCOUNT) if match and int(match.group(1)) else None


def _spread(total: int, buckets: int) -> list[int]:
    """``total`` items over ``buckets`` contiguous blocks of (nearly) equal size."""
    return [(b + 1) * total // buckets - b * total // buckets for b in range(buckets)]


@lru_cache(maxsize=64)
def _universe(token: str) -> tuple[_Account, ...]:
    canonical = canonical_token(token)
    if canonical != token:
        return _universe(canonical)
    seed = int.from_bytes(hashlib.sha256(token.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    scale = _ads_per_account(token)
    used: set[int] = set()

    def new_id(low: int, high: int) -> str:
        while (value := rng.randint(low, high)) in used:
            pass
        used.add(value)
        return str(value)

    accounts = []
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(2):
        account_id = new_id(10**14, 10**15 - 1)
        # Meta's ad account currencies (developers.facebook.com/docs/marketing-api/currencies)
        # do not include JMD: Jamaican advertisers' accounts are in USD. (The draw stays, so
        # the ids and numbers that follow are those of before.)
        rng.choice(("JMD", "USD"))
        currency = "USD"
        # Ad accounts report days in their own time zone: the second account of every token
        # is in Los Angeles, not Kingston.
        timezone_name = ACCOUNT_ZONES[n % len(ACCOUNT_ZONES)]
        regions = tuple(sorted(rng.sample(JAMAICA_REGIONS, rng.randint(3, 5))))
        if rng.random() < 0.5:
            regions += ("Unknown",)
        campaigns: list[dict[str, Any]] = []
        adsets: list[dict[str, Any]] = []
        ads: list[dict[str, Any]] = []
        units: list[_Ad] = []
        # Without the scale knob: 2-3 campaigns, 1-2 ad sets each, 1-2 ads per ad set. With
        # it: exactly ``scale`` ads, about 5 per ad set and 4 ad sets per campaign.
        plan: list[list[int]] | None = None
        if scale is not None:
            n_adsets = -(-scale // ADS_PER_ADSET)
            per_adset = _spread(scale, n_adsets)
            per_campaign = _spread(n_adsets, -(-n_adsets // ADSETS_PER_CAMPAIGN))
            plan, taken = [], 0
            for count in per_campaign:
                plan.append(per_adset[taken : taken + count])
                taken += count
        for c in range(rng.randint(2, 3) if plan is None else len(plan)):
            created = base + timedelta(days=rng.randint(0, 300), seconds=rng.randint(0, 86399))
            updated = created + timedelta(days=rng.randint(0, 60))
            objective = rng.choice(_OBJECTIVES)
            status = rng.choice(_STATUSES)
            campaign = {
                "id": new_id(10**17, 10**18 - 1),
                "account_id": account_id,
                "name": f"Sim Campaign {n + 1}.{c + 1} {objective.split('_')[1].title()}",
                "status": status,
                "effective_status": status,
                "objective": objective,
                "daily_budget": str(rng.choice((2000, 5000, 10000, 25000))),
                "created_time": _graph_time(created),
                "updated_time": _graph_time(updated),
            }
            campaigns.append(campaign)
            for s in range(rng.randint(1, 2) if plan is None else len(plan[c])):
                adset = {
                    "id": new_id(10**17, 10**18 - 1),
                    "account_id": account_id,
                    "campaign_id": campaign["id"],
                    "name": f"{campaign['name']} / Ad set {s + 1}",
                    "status": "ACTIVE",
                    "effective_status": status if status != "ACTIVE" else "ACTIVE",
                    "daily_budget": str(rng.choice((1000, 2500, 5000))),
                    "optimization_goal": rng.choice(
                        ("LINK_CLICKS", "REACH", "OFFSITE_CONVERSIONS")
                    ),
                    "billing_event": "IMPRESSIONS",
                    "created_time": campaign["created_time"],
                    "updated_time": campaign["updated_time"],
                }
                adsets.append(adset)
                for a in range(rng.randint(1, 2) if plan is None else plan[c][s]):
                    ad_id = new_id(10**17, 10**18 - 1)
                    ad: dict[str, Any] = {
                        "id": ad_id,
                        "account_id": account_id,
                        "campaign_id": campaign["id"],
                        "adset_id": adset["id"],
                        "name": f"{adset['name']} / Ad {a + 1}",
                        "status": "ACTIVE",
                        "effective_status": adset["effective_status"],
                        "creative": {"id": new_id(10**17, 10**18 - 1)},
                        "created_time": campaign["created_time"],
                        "updated_time": campaign["updated_time"],
                    }
                    ads.append(ad)
                    units.append(
                        _Ad(
                            ad_id,
                            ad["name"],
                            adset["id"],
                            adset["name"],
                            campaign["id"],
                            campaign["name"],
                            objective,
                            status,
                            created,
                        )
                    )
        _add_documented_fields(campaigns, adsets, ads)
        units += _add_hidden_objects(token, account_id, campaigns, adsets, ads)
        accounts.append(
            _Account(
                account_id,
                f"Sim Advertiser {n + 1} ({currency})",
                currency,
                timezone_name,
                regions,
                tuple(campaigns),
                tuple(adsets),
                tuple(ads),
                tuple(units),
            )
        )
    return tuple(accounts)


#: The two attribution settings ad sets use: Meta's default and a one-day-click one.
_DEFAULT_ATTRIBUTION = (
    [
        {"event_type": "CLICK_THROUGH", "window_days": 7},
        {"event_type": "VIEW_THROUGH", "window_days": 1},
    ],
    "7d_click_1d_view",
)
_ONE_DAY_ATTRIBUTION = ([{"event_type": "CLICK_THROUGH", "window_days": 1}], "1d_click")
_TARGETING = {
    "geo_locations": {"countries": ["JM"], "location_types": ["home", "recent"]},
    "age_min": 18,
    "age_max": 65,
}


def _attribution(adset_id: str) -> tuple[list[dict[str, Any]], str]:
    """An ad set's attribution setting: every third ad set counts 1-day clicks only."""
    return _ONE_DAY_ATTRIBUTION if int(adset_id) % 3 == 0 else _DEFAULT_ATTRIBUTION


def _add_documented_fields(
    campaigns: list[dict[str, Any]], adsets: list[dict[str, Any]], ads: list[dict[str, Any]]
) -> None:
    """Documented fields beyond what the simulator started with (no random draws: the numbers
    and ids of every object stay as they were)."""
    for campaign in campaigns:
        campaign.update(
            configured_status=campaign["status"],
            buying_type="AUCTION",
            bid_strategy="LOWEST_COST_WITHOUT_CAP",
            lifetime_budget="0",
            budget_remaining=campaign.get("daily_budget", "0"),
            start_time=campaign["created_time"],
            special_ad_categories=[],
        )
    for adset in adsets:
        spec, _ = _attribution(adset["id"])
        adset.update(
            configured_status=adset["status"],
            campaign={"id": adset["campaign_id"]},
            bid_strategy="LOWEST_COST_WITHOUT_CAP",
            lifetime_budget="0",
            budget_remaining=adset.get("daily_budget", "0"),
            start_time=adset["created_time"],
            targeting=_TARGETING,
            attribution_spec=spec,
        )
    for ad in ads:
        ad.update(
            configured_status=ad["status"],
            campaign={"id": ad["campaign_id"]},
            adset={"id": ad["adset_id"]},
        )


def _add_hidden_objects(
    token: str,
    account_id: str,
    campaigns: list[dict[str, Any]],
    adsets: list[dict[str, Any]],
    ads: list[dict[str, Any]],
) -> list[_Ad]:
    """One ARCHIVED and one DELETED campaign (with an ad set and an ad each) per account.

    Their ads delivered on about half the days (:meth:`_Ad.delivers`), as a campaign that
    spent and was then archived or deleted. Edges list them only when asked for by
    ``effective_status`` or ``filtering``; insights at level ad / adset / campaign leave them
    out unless ``filtering`` on ``*.effective_status`` asks for them; account totals always
    hold them (Airbyte's source-facebook-marketing sends every status in its insights
    ``filtering`` for that reason: airbytehq/airbyte#36998, #39439, #77765).
    """
    rng = random.Random(f"hidden|{token}|{account_id}")
    units: list[_Ad] = []
    for status in ("ARCHIVED", "DELETED"):
        ids = [str(rng.randint(10**17, 10**18 - 1)) for _ in range(4)]
        created = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 200))
        stamp = _graph_time(created)
        common = {
            "account_id": account_id,
            "status": status,
            "configured_status": status,
            "effective_status": status,
            "created_time": stamp,
            "updated_time": _graph_time(created + timedelta(days=30)),
        }
        campaign = {
            "id": ids[0],
            "name": f"Sim Campaign {status.title()}",
            "objective": "OUTCOME_SALES" if status == "ARCHIVED" else "OUTCOME_LEADS",
            "daily_budget": "1000",
            **common,
        }
        adset = {
            "id": ids[1],
            "campaign_id": ids[0],
            "name": f"{campaign['name']} / Ad set 1",
            "daily_budget": "1000",
            "optimization_goal": "LINK_CLICKS",
            "billing_event": "IMPRESSIONS",
            **common,
        }
        ad = {
            "id": ids[2],
            "campaign_id": ids[0],
            "adset_id": ids[1],
            "name": f"{adset['name']} / Ad 1",
            "creative": {"id": ids[3]},
            **common,
        }
        _add_documented_fields([campaign], [adset], [ad])
        campaigns.append(campaign)
        adsets.append(adset)
        ads.append(ad)
        units.append(
            _Ad(
                ids[2],
                str(ad["name"]),
                ids[1],
                str(adset["name"]),
                ids[0],
                str(campaign["name"]),
                str(campaign["objective"]),
                status,
                created,
            )
        )
    return units


def _metrics(token: str, account: _Account, ad: _Ad, day: date, region: str) -> dict[str, Any]:
    """Raw numbers for one (token, ad, day, region); a pure function of those four.

    ``events`` / ``values`` (cents) split each conversion event by source: the website pixel
    (off-Meta) and Meta itself (a shop checkout, an instant form); see
    :class:`.meta_marketing.Events`.
    """
    if not ad.delivers(day):
        return {
            "impressions": 0,
            "reach": 0,
            "clicks": 0,
            "spend_cents": 0,
            "events": NO_EVENTS,
            "values": NO_EVENTS,
        }
    rng = random.Random(f"{token}|{ad.id}|{day.isoformat()}|{region}")
    impressions = int(rng.randint(40, 4000) * _REGION_WEIGHT.get(region, 1.0))
    reach = max(1, int(impressions * rng.uniform(0.55, 0.95))) if impressions else 0
    clicks = int(impressions * rng.uniform(0.004, 0.035))
    cpm_usd = rng.uniform(1.2, 7.5)
    spend_cents = round(impressions * cpm_usd / 10 * (155 if account.currency == "JMD" else 1))
    plain = {"link_click": int(clicks * rng.uniform(0.6, 1.0))}
    plain["page_engagement"] = clicks + int(impressions * rng.uniform(0.0, 0.02))
    pixel: dict[str, int] = {}
    on_meta: dict[str, int] = {}
    custom: dict[str, int] = {}
    pixel_values: dict[str, int] = {}
    on_meta_values: dict[str, int] = {}
    if ad.objective == "OUTCOME_LEADS":
        leads = int(clicks * rng.uniform(0.0, 0.2))
        # Instant-form (on-Meta) leads and website (pixel) leads.
        on_meta["lead"] = round(leads * rng.uniform(0.2, 0.6))
        pixel["lead"] = leads - on_meta["lead"]
    elif ad.objective == "OUTCOME_SALES":
        purchases = int(clicks * rng.uniform(0.0, 0.1))
        # Shop checkouts (on-Meta) and website purchases (pixel); a basket of 20-80 dollars.
        on_meta["purchase"] = round(purchases * rng.uniform(0.0, 0.3))
        pixel["purchase"] = purchases - on_meta["purchase"]
        basket = rng.randint(2000, 8000)
        pixel_values["purchase"] = pixel["purchase"] * basket
        on_meta_values["purchase"] = on_meta["purchase"] * basket
        pixel["complete_registration"] = int(clicks * rng.uniform(0.0, 0.05))
        custom[account.custom_conversion] = int(clicks * rng.uniform(0.0, 0.04))
    return {
        "impressions": impressions,
        "reach": reach,
        "clicks": clicks,
        "spend_cents": spend_cents,
        "events": Events(pixel, on_meta, custom, plain),
        "values": Events(pixel_values, on_meta_values, {}, {}),
    }


#: Share of the people of every further part that the largest part has not already reached.
REACH_OVERLAP_KEEP = 0.6


def _deduplicated_reach(parts: Iterable[int]) -> int:
    """The reach of a row covering several parts (ads, regions, days): people overlap, so it
    is below the parts' sum when two or more reached anyone, but at least the largest part.
    ``max + 0.6 * (sum - max)`` also never falls when a part is added, and a row's reach
    stays below the sum of its sub-rows' reaches however the row is split."""
    values = [p for p in parts if p]
    if not values:
        return 0
    largest = max(values)
    return largest + int((sum(values) - largest) * REACH_OVERLAP_KEEP)


def _insight_row(
    account: _Account,
    units: list[_Ad],
    level: str,
    metrics: list[dict[str, Any]],
    options: ActionOptions | None = None,
    *,
    reach: int,
    off_meta: bool = True,
) -> dict[str, Any]:
    """One insights row over ``metrics`` (each part with its ad set's ``setting``)."""
    first = units[0]
    impressions = sum(m["impressions"] for m in metrics)
    clicks = sum(m["clicks"] for m in metrics)
    spend_cents = sum(m["spend_cents"] for m in metrics)
    options = options or ActionOptions()
    # Unified attribution: each ad set's own setting, applied to its own parts.
    shares = [WINDOW_SHARE.get(m["setting"], 1.0) for m in metrics]
    actions = attributed(
        [(m["events"], share) for m, share in zip(metrics, shares, strict=True)],
        options,
        off_meta=off_meta,
    )
    values = attributed(
        [(m["values"], share) for m, share in zip(metrics, shares, strict=True)],
        options,
        off_meta=off_meta,
    )
    link_clicks = actions.get("link_click", {}).get("value", 0)
    row: dict[str, Any] = {
        "account_id": account.account_id,
        "account_name": account.name,
        "account_currency": account.currency,
        "campaign_id": first.campaign_id,
        "campaign_name": first.campaign_name,
        "adset_id": first.adset_id,
        "adset_name": first.adset_name,
        "ad_id": first.id,
        "ad_name": first.name,
        "objective": first.objective,
        "spend": f"{spend_cents / 100:.2f}",
        "impressions": str(impressions),
        "clicks": str(clicks),
        "reach": str(reach),
        "frequency": f"{impressions / reach:.6f}" if reach else "0",
        "cpm": f"{spend_cents * 10 / impressions:.6f}" if impressions else "0",
        "cpc": f"{spend_cents / 100 / clicks:.6f}" if clicks else "0",
        "ctr": f"{clicks * 100 / impressions:.6f}" if impressions else "0",
        "inline_link_clicks": str(link_clicks),
    }
    action_list = action_entries(actions, options)
    if action_list:
        row["actions"] = action_list
    value_list = action_entries(values, options, money=True)
    if value_list:
        row["action_values"] = value_list
    row["unique_clicks"] = str(round(clicks * 0.93))
    settings = {m["setting"] for m in metrics}
    # A row over ad sets with different settings reports "mixed".
    row["attribution_setting"] = settings.pop() if len(settings) == 1 else "mixed"
    if level == "account":
        row.pop("objective")
    for key in _LEVEL_DROPS[level]:
        row.pop(key)
    return row


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    id: str
    name: str
    category: str
    created: datetime
    post_base: int
    post_interval_s: int
    fans_base: int


@lru_cache(maxsize=1024)
def _page(page_id: str) -> _Page:
    """A Facebook Page: everything about it follows from its id."""
    rng = random.Random(f"page|{page_id}")
    created = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(
        days=rng.randint(0, 365), seconds=rng.randint(0, 86399)
    )
    return _Page(
        page_id,
        f"{rng.choice(_PAGE_NAMES)} {page_id[-3:]}",
        rng.choice(_PAGE_CATEGORIES),
        created,
        rng.randint(10**15, 9 * 10**15),
        rng.randint(14, 30) * 3600,
        rng.randint(500, 50_000),
    )


@lru_cache(maxsize=256)
def _pages_of(token: str) -> tuple[tuple[_Page, str], ...]:
    """The 1-2 Pages a user token manages, each with its page access token."""
    canonical = canonical_token(token)
    rng = random.Random(hashlib.sha256(f"pages|{canonical}".encode()).digest())
    owner = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    ids = [str(rng.randint(10**14, 2 * 10**14 - 1)) for _ in range(rng.randint(1, 2))]
    return tuple((_page(page_id), f"sim_page_{page_id}_{owner}") for page_id in ids)


def _page_of_token(token: str) -> _Page | None:
    match = PAGE_TOKEN_RE.fullmatch(token)
    return _page(match.group(1)) if match else None


def _page_obj(page: _Page, token: str | None) -> dict[str, Any]:
    obj = {
        "id": page.id,
        "name": page.name,
        "category": page.category,
        "link": f"https://www.facebook.com/{page.id}",
    }
    if token is not None:
        obj["access_token"] = token
    return obj


def _post_time(page: _Page, k: int) -> datetime:
    digest = hashlib.sha256(f"{page.id}|{k}".encode()).digest()
    jitter = int.from_bytes(digest[:4], "big") % (page.post_interval_s // 2)
    return page.created + timedelta(seconds=k * page.post_interval_s + jitter)


def _post_count(page: _Page, now: datetime) -> int:
    """How many posts the page has published by ``now`` (one every 14-30 hours)."""
    if now < page.created:
        return 0
    k = int((now - page.created).total_seconds()) // page.post_interval_s
    return k if _post_time(page, k) > now else k + 1


def _post_obj(page: _Page, k: int) -> dict[str, Any]:
    number = page.post_base + k
    rng = random.Random(f"post|{page.id}|{k}")
    return {
        "id": f"{page.id}_{number}",
        "message": rng.choice(_POST_MESSAGES),
        "created_time": _utc_time(_post_time(page, k)),
        "permalink_url": f"https://www.facebook.com/{page.id}/posts/{number}",
    }


def _page_day(page: _Page, day: date) -> dict[str, int]:
    rng = random.Random(f"pageday|{page.id}|{day.isoformat()}")
    impressions = rng.randint(200, 6000)
    return {
        "page_media_view": impressions,
        "page_total_media_view_unique": int(impressions * rng.uniform(0.5, 0.9)),
        "page_post_engagements": int(impressions * rng.uniform(0.01, 0.08)),
        # cumulative and never shrinking: 7 per day plus 0..6 of noise
        "page_follows": page.fans_base + (day - date(2023, 1, 1)).days * 7 + rng.randint(0, 6),
    }


_REACTION_MIX = (("like", 0.62), ("love", 0.2), ("haha", 0.07), ("wow", 0.06), ("sorry", 0.03))


def _post_values(page: _Page, k: int, now: datetime) -> dict[str, Any]:
    """Lifetime post metrics; they grow over the post's first three days, then stay."""
    rng = random.Random(f"postins|{page.id}|{k}")
    age = max(0.0, (now - _post_time(page, k)).total_seconds())
    growth = min(1.0, 0.35 + 0.65 * age / (3 * 86400))
    impressions = int(rng.randint(300, 20_000) * growth)
    reactions_total = int(impressions * rng.uniform(0.005, 0.04))
    reactions: dict[str, int] = {}
    left = reactions_total
    for name, share in _REACTION_MIX:
        reactions[name] = int(reactions_total * share)
        left -= reactions[name]
    reactions["anger"] = left
    return {
        "post_media_view": impressions,
        "post_total_media_view_unique": int(impressions * rng.uniform(0.5, 0.9)),
        "post_clicks": int(impressions * rng.uniform(0.01, 0.06)),
        "post_reactions_by_type_total": {k: v for k, v in reactions.items() if v},
    }


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------

#: Parameters never written to the request log.
_UNLOGGED_PARAMS = ("access_token", "batch")


@dataclass
class _Call:
    """One Graph call (an HTTP request or one item of a batch), independent of Starlette."""

    method: str
    base_url: str
    version: str
    node: str
    edge: str | None
    params: dict[str, str]
    token: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        path = f"/{self.version}/{self.node}"
        return f"{path}/{self.edge}" if self.edge else path

    def link(self, drop: Iterable[str] = (), **extra: str) -> str:
        """This call's absolute URL without the ``drop`` parameters, plus ``extra``."""
        dropped = {*drop, *extra}
        query = [(k, v) for k, v in self.params.items() if k not in dropped]
        return f"{self.base_url}{self.path}?{urlencode([*query, *extra.items()])}"


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def _pacific_text(moment: datetime) -> str:
    return moment.astimezone(PACIFIC).strftime("%A, %d-%b-%y %H:%M:%S %Z")


def _check_token(token: str | None, sim: MetaSimState) -> str:
    if token and token.startswith("sim_expired_"):
        raise GraphError(
            190,
            "Error validating access token: Session has expired on Monday, 01-Jan-24 "
            "00:00:00 PST. The current time is later.",
            subcode=463,
        )
    if not token or not token.startswith("sim_"):
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
    if sim.login.is_revoked(token):  # the person removed the app (DELETE /me/permissions)
        raise GraphError(
            190,
            "Error validating access token: The user has not authorized application.",
            subcode=458,
        )
    expire = sim.expire_tokens_at
    if expire is not None and sim._tokens_expired():
        raise GraphError(
            190,
            f"Error validating access token: Session has expired on {_pacific_text(expire)}. "
            f"The current time is {_pacific_text(sim.now())}.",
            subcode=463,
        )
    return token


LONG_LIVED_S = 60 * 24 * 3600


def _user_id(token: str) -> str:
    return str(int(hashlib.sha256(canonical_token(token).encode()).hexdigest()[:15], 16))


def _debug_token(call: _Call, sim: MetaSimState) -> dict[str, Any]:
    """``GET /debug_token?input_token=`` with an app token: validity, expiry and scopes.

    Token names steer the answer: ``_noscope_`` lacks business_management and the page scopes,
    ``_expiring_`` expires in three days, ``sim_ll_`` is long-lived (60 days), other ``sim_``
    tokens are short-lived (two hours), ``sim_expired_`` and non-``sim_`` tokens are invalid,
    and so is every token once the virtual clock passed ``expire_tokens_at``.
    """
    app_id, _, secret = (call.token or "").partition("|")
    if not app_id or not secret:
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
    token = call.params.get("input_token", "")
    now = int(sim.now().timestamp())
    data: dict[str, Any] = {"app_id": app_id, "type": "USER", "application": "ADinsights Sim"}
    try:
        _check_token(token, sim)
    except GraphError as exc:
        data.update(
            is_valid=False,
            scopes=[],
            error={"code": exc.code, "message": exc.message, "subcode": exc.subcode},
        )
        return {"data": data}
    if "_expiring_" in token:
        expires = now + 3 * 24 * 3600
    elif token.startswith("sim_ll_"):
        expires = now + LONG_LIVED_S
    else:
        expires = now + 2 * 3600
    data.update(
        is_valid=True,
        expires_at=expires,
        data_access_expires_at=now + 90 * 24 * 3600,
        scopes=sim.login.granted(token)
        or list(NARROW_SCOPES if "_noscope_" in token else FULL_SCOPES),
        user_id=_user_id(token),
    )
    if (page := _page_of_token(token)) is not None:
        data.update(type="PAGE", profile_id=page.id, expires_at=0)
    return {"data": data}


def _exchange_token(call: _Call, sim: MetaSimState) -> dict[str, Any]:
    """``GET /oauth/access_token?grant_type=fb_exchange_token``: a long-lived user token."""
    if call.edge != "access_token":
        raise _unknown_path("oauth")
    params = call.params
    if params.get("grant_type") != "fb_exchange_token":
        raise GraphError(100, "Invalid parameter: grant_type must be fb_exchange_token")
    if not params.get("client_id") or not params.get("client_secret"):
        raise GraphError(101, "Error validating client secret.")
    short = _check_token(params.get("fb_exchange_token"), sim)
    long_lived = short if short.startswith("sim_ll_") else "sim_ll_" + short.removeprefix("sim_")
    return {"access_token": long_lived, "token_type": "bearer", "expires_in": LONG_LIVED_S}


def _encode_cursor(index: int, *, emptied: bool = False) -> str:
    text = f"sim:{index}:e" if emptied else f"sim:{index}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, bool]:
    """``(index, emptied)``: ``emptied`` marks a cursor handed out by an empty page."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, rest = text.partition(":")
        number, _, flag = rest.partition(":")
        if prefix != "sim" or flag not in ("", "e"):
            raise ValueError(cursor)
        return int(number), flag == "e"
    except ValueError:
        raise _invalid_param("The cursor is invalid.") from None


def _limit(call: _Call, sim: MetaSimState) -> int:
    raw = call.params.get("limit")
    if raw is None:
        limit = DEFAULT_LIMIT
    else:
        try:
            limit = int(raw)
        except ValueError:
            raise _invalid_param("limit must be an integer") from None
        if limit <= 0:
            raise _invalid_param("limit must be positive")
    ceiling = sim.max_rows_per_request
    if ceiling is not None and limit > ceiling:
        raise GraphError(1, REDUCE_DATA_MESSAGE, http_status=500)
    return min(limit, MAX_LIMIT)


def _paged(
    call: _Call,
    sim: MetaSimState,
    total: int,
    get_rows: Callable[[int, int], list[dict[str, Any]]],
    *,
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One cursor page out of ``total`` rows; ``get_rows(start, stop)`` builds the slice;
    ``summary`` (``summary=true``: the total count) goes on every page."""
    page = _cursor_page(call, sim, total, get_rows)
    if summary is not None:
        page["summary"] = summary
    return page


def _cursor_page(
    call: _Call,
    sim: MetaSimState,
    total: int,
    get_rows: Callable[[int, int], list[dict[str, Any]]],
) -> dict[str, Any]:
    limit = _limit(call, sim)
    after = call.params.get("after")
    before = call.params.get("before")
    emptied = False
    if after:
        index, emptied = _decode_cursor(after)
        start = index + 1
    elif before:
        start = max(0, _decode_cursor(before)[0] - limit)
    else:
        start = 0
    stop = min(total, start + limit)
    if start >= stop:
        return {"data": []}
    every = sim.empty_page_every
    if every and not emptied and (start // limit + 1) % every == 0:
        # Meta sometimes answers an empty page that still points at more data.
        cursor = _encode_cursor(start - 1, emptied=True)
        return {
            "data": [],
            "paging": {
                "cursors": {"before": cursor, "after": cursor},
                "next": call.link(drop=("before",), after=cursor),
            },
        }
    rows = get_rows(start, stop)
    paging: dict[str, Any] = {
        "cursors": {"before": _encode_cursor(start), "after": _encode_cursor(stop - 1)}
    }
    if start > 0:
        paging["previous"] = call.link(drop=("after",), before=_encode_cursor(start))
    if stop < total:
        paging["next"] = call.link(drop=("before",), after=_encode_cursor(stop - 1))
    return {"data": rows, "paging": paging}


def _fields(call: _Call, allowed: Iterable[str], default: tuple[str, ...], node: str) -> list[str]:
    """The ``fields`` asked for (a comma list or a JSON array), each documented for ``node``."""
    fields = field_names(call.params.get("fields"))
    if not fields:
        return list(default)
    check_fields(fields, frozenset(allowed), node)
    return fields


def _project(obj: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    out = {f: obj[f] for f in fields if f in obj}
    out.setdefault("id", obj["id"])
    return out


def _account_obj(account: _Account, now: datetime) -> dict[str, Any]:
    offset = now.astimezone(account.zone).utcoffset() or timedelta(0)
    return {
        "id": f"act_{account.account_id}",
        "account_id": account.account_id,
        "name": account.name,
        "currency": account.currency,
        "timezone_name": account.timezone_name,
        "timezone_offset_hours_utc": offset.total_seconds() / 3600,
        "account_status": 1,
    }


def _account_today(sim: MetaSimState, account: _Account) -> date:
    """The account's "today": the date in its own time zone (Meta reports an account's days in
    its time zone). A state built with ``today=`` pins that date for every account."""
    return sim.account_today(account.zone)


def _find_account(token: str, node: str) -> _Account:
    match = ACCOUNT_RE.fullmatch(node)
    if not match:
        raise _unsupported_get(node)
    if _page_of_token(token) is not None:
        raise _permission_error("A Page access token cannot read ad accounts.")
    for account in _universe(token):
        if account.account_id == match.group(1):
            return account
    raise _permission_error(f"The access token has no permission on ad account {match.group(1)}.")


def _account_usage(call: _Call, sim: MetaSimState, account: _Account, *, insights: bool) -> None:
    """Usage headers of an ad-account call; then the ``deny_accounts`` check."""
    util = sim._count_call(f"acc:{account.account_id}")
    call.headers["x-ad-account-usage"] = json.dumps(
        {
            "acc_id_util_pct": util,
            "reset_time_duration": 0,
            "ads_api_access_tier": "standard_access",
        }
    )
    call.headers["x-business-use-case-usage"] = json.dumps(
        {
            account.account_id: [
                {
                    "type": "ads_insights" if insights else "ads_management",
                    "call_count": util,
                    "total_cputime": util // 2,
                    "total_time": util // 2,
                    "estimated_time_to_regain_access": 0,
                    "ads_api_access_tier": "standard_access",
                }
            ]
        }
    )
    if insights:
        call.headers["x-fb-ads-insights-throttle"] = json.dumps(
            {
                "app_id_util_pct": sim._count_call(f"insights-app:{call.token}"),
                "acc_id_util_pct": util,
                "ads_api_access_tier": "standard_access",
            }
        )
    if sim._denied(account.account_id):
        raise _permission_error(f"Access to ad account {account.account_id} has been removed.")


def _months_back(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


#: Insights ``date_preset`` values (AdsInsights reference).
DATE_PRESETS = frozenset(
    {
        "today", "yesterday", "this_month", "last_month", "this_quarter", "maximum",
        "data_maximum", "last_3d", "last_7d", "last_14d", "last_28d", "last_30d", "last_90d",
        "last_week_mon_sun", "last_week_sun_sat", "last_quarter", "last_year",
        "this_week_mon_today", "this_week_sun_today", "this_year",
    }
)  # fmt: skip


def _date_preset(preset: str, today: date) -> tuple[date, date]:
    """A ``date_preset`` in the account's own days (``today`` is the account's today)."""
    if preset not in DATE_PRESETS:
        raise GraphError(
            100,
            "(#100) date_preset must be one of the following values: "
            + ", ".join(sorted(DATE_PRESETS)),
        )
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if preset.startswith("last_") and preset.endswith("d") and preset[5:-1].isdigit():
        return today - timedelta(days=int(preset[5:-1])), today - timedelta(days=1)
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if preset == "maximum":
        return _months_back(today, MAX_MONTHS_BACK), today
    raise _invalid_param(
        "the simulator models date_preset today, yesterday, last_<n>d, this_month, last_month "
        "and maximum"
    )


def _parse_time_range(raw: str | None, today: date) -> tuple[date, date]:
    if not raw:
        return today - timedelta(days=30), today - timedelta(days=1)
    try:
        spec = json.loads(raw)
        since = date.fromisoformat(spec["since"])
        until = date.fromisoformat(spec["until"])
    except (ValueError, KeyError, TypeError):
        raise _invalid_param(
            'time_range must be {"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}'
        ) from None
    if since > until:
        raise _invalid_param("time_range: since must be on or before until")
    return since, until


#: What insights ``filtering`` can filter on (the objects' ids and statuses).
_INSIGHT_FILTERS = frozenset(
    {
        "ad.id", "adset.id", "campaign.id", "ad.effective_status", "adset.effective_status",
        "campaign.effective_status", "ad.name", "adset.name", "campaign.name",
    }
)  # fmt: skip


def _time_increment(raw: str | None) -> int | None:
    """Days per row: ``1``..``90`` or ``all_days``; Meta's default is ``all_days``."""
    if raw is None or raw == "all_days":
        return None
    if raw.isdigit() and 1 <= int(raw) <= 90:
        return int(raw)
    if raw == "monthly":
        raise _invalid_param("the simulator supports time_increment 1..90 and all_days")
    raise GraphError(100, "(#100) time_increment must be an integer between 1 and 90")


def _insight_spec(params: Mapping[str, str], today: date) -> _InsightSpec:
    """Validate an insights request the way Meta does (same rules for GET and POST)."""
    level = params.get("level", "account")
    if level not in _LEVEL_DROPS:
        raise _invalid_param(f"level must be one of {', '.join(_LEVEL_DROPS)}")
    increment = _time_increment(params.get("time_increment"))
    breakdowns = tuple(list_param(params.get("breakdowns"), "breakdowns"))
    for name in breakdowns:
        if name not in documented.BREAKDOWNS:
            raise GraphError(
                100,
                f"(#100) breakdowns[0] must be one of the following values: "
                f"{', '.join(sorted(documented.BREAKDOWNS))}",
            )
        if name not in _SUPPORTED_BREAKDOWNS:
            raise _invalid_param(
                f"the simulator supports breakdowns={','.join(_SUPPORTED_BREAKDOWNS)}"
            )
    fields = field_names(params.get("fields"))
    for name in fields:
        if name in _BREAKDOWN_NAMES:
            raise GraphError(
                100,
                f"(#100) {name} is not valid for fields param. please check "
                "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ "
                "for all valid values",
            )
    check_fields(fields, documented.INSIGHTS_FIELDS, "AdsInsights")
    if params.get("time_range") or not params.get("date_preset"):
        # time_range overrides date_preset; neither means last_30d.
        since, until = _parse_time_range(params.get("time_range"), today)
    else:
        since, until = _date_preset(params["date_preset"], today)
    if since < _months_back(today, MAX_MONTHS_BACK):
        raise GraphError(
            3018,
            user_msg=f"The earliest start date allowed is {_months_back(today, MAX_MONTHS_BACK)}.",
        )
    return _InsightSpec(
        level,
        tuple(fields or ("account_id", "impressions", "spend")),
        breakdowns,
        since,
        min(until, today),
        increment,
        action_options(params),
        tuple(parse_filtering(params.get("filtering"), _INSIGHT_FILTERS)),
    )


def _with_override(
    metrics: dict[str, Any], overrides: Mapping[SpendKey, str], key: SpendKey
) -> dict[str, Any]:
    spend = overrides.get(key)
    if spend is None:
        return metrics
    return {**metrics, "spend_cents": int(Decimal(spend) * 100)}


def _buckets(spec: _InsightSpec) -> list[list[date]]:
    """The days of each row's period: one day each (time_increment=1), n days, or all."""
    days = [
        spec.since + timedelta(days=n) for n in range(max(0, (spec.until - spec.since).days + 1))
    ]
    if not days:
        return []
    step = spec.increment or len(days)
    return [days[i : i + step] for i in range(0, len(days), step)]


def _unit_value(ad: _Ad, name: str) -> Any:
    """An ad's value of an insights ``filtering`` field."""
    kind, _, attribute = name.partition(".")
    if attribute == "effective_status":
        return ad.status
    if attribute == "id":
        return {"ad": ad.id, "adset": ad.adset_id, "campaign": ad.campaign_id}[kind]
    return {"ad": ad.name, "adset": ad.adset_name, "campaign": ad.campaign_name}[kind]


def _insight_page(
    call: _Call, sim: MetaSimState, token: str, account: _Account, spec: _InsightSpec
) -> dict[str, Any]:
    """One page of insight rows; only the rows of that page are built.

    Rows with no delivery (an archived ad on a day it did not run) are left out, as Meta
    leaves them out, so a page can hold fewer rows than ``limit``.
    """
    buckets = _buckets(spec)
    grouped: dict[str, list[_Ad]] = {}
    key = {"ad": "id", "adset": "adset_id", "campaign": "campaign_id"}.get(spec.level)
    # ARCHIVED / DELETED objects: always in account totals, at the other levels only when
    # ``filtering`` on ``*.effective_status`` asks for them.
    hidden_wanted = HIDDEN_STATUSES if key is None else asks_for_hidden({}, spec.filters)
    for ad in account.ad_units:
        if ad.hidden and ad.status not in hidden_wanted:
            continue
        if spec.filters and not matches(partial(_unit_value, ad), spec.filters):
            continue
        grouped.setdefault(getattr(ad, key) if key else "", []).append(ad)
    groups = list(grouped.values())
    regions: tuple[str | None, ...] = account.regions if spec.breakdowns else (None,)
    off_meta = not TYPE1_BREAKDOWNS.intersection(spec.breakdowns)
    seed_token = canonical_token(token)
    overrides = dict(sim.spend_overrides)
    skew = dict(sim.account_total_skew) if spec.level == "account" and not spec.breakdowns else {}
    fields = spec.fields

    def day_metrics(unit: _Ad, day: date, region: str) -> dict[str, Any]:
        metrics = _with_override(
            _metrics(seed_token, account, unit, day, region),
            overrides,
            (unit.id, day.isoformat(), region),
        )
        if spec.actions.report_time in ("conversion", "mixed"):
            # Conversions reported on the day they happened: 30 % of an impression day's
            # actions convert the next day.
            before = _metrics(seed_token, account, unit, day - timedelta(days=1), region)
            metrics = {
                **metrics,
                "events": metrics["events"].shifted(before["events"], 0.3),
                "values": metrics["values"].shifted(before["values"], 0.3),
            }
        return {**metrics, "setting": _attribution(unit.adset_id)[1]}

    def rows(start: int, stop: int) -> list[dict[str, Any]]:
        out = []
        for index in range(start, stop):
            bucket_index, rest = divmod(index, len(groups) * len(regions))
            group_index, region_index = divmod(rest, len(regions))
            days = buckets[bucket_index]
            region = regions[region_index]
            units = groups[group_index]
            if region is not None:
                metrics = [day_metrics(u, d, region) for u in units for d in days]
                # Ad x day x region reach is Meta's own number (the region's draw).
                reaches = [m["reach"] for m in metrics]
            else:
                metrics, reaches = [], []
                for u in units:
                    for d in days:
                        parts = [day_metrics(u, d, r) for r in account.regions]
                        metrics += parts
                        # Ad x day reach: Meta's own number, people seen in several regions
                        # counted once.
                        reaches.append(_deduplicated_reach(m["reach"] for m in parts))
            if not any(m["impressions"] for m in metrics):
                continue
            for day in days:
                delta = skew.get((account.account_id, day.isoformat()))
                if delta:
                    metrics.append(_skew_part(delta, metrics[0]["setting"]))
            full = _insight_row(
                account,
                units,
                spec.level,
                metrics,
                spec.actions,
                reach=_deduplicated_reach(reaches),
                off_meta=off_meta,
            )
            row = {f: full[f] for f in fields if f in full}
            row["date_start"], row["date_stop"] = days[0].isoformat(), days[-1].isoformat()
            if region is not None:
                row["region"] = region
            out.append(row)
        return out

    return _paged(call, sim, len(buckets) * len(groups) * len(regions), rows)


def _skew_part(delta: Mapping[str, Any], setting: str) -> dict[str, Any]:
    """The ``account_total_skew`` of one account and day as an extra part of its row."""
    return {
        "impressions": int(delta.get("impressions", 0)),
        "reach": 0,
        "clicks": int(delta.get("clicks", 0)),
        "spend_cents": int(Decimal(str(delta.get("spend", "0"))) * 100),
        "events": NO_EVENTS,
        "values": NO_EVENTS,
        "setting": setting,
    }


# --- routing ---------------------------------------------------------------------------------


def _execute(sim: MetaSimState, call: _Call) -> tuple[int, Any, dict[str, str]]:
    """Answer one Graph call: ``(http_status, body, headers)``; errors carry usage headers."""
    try:
        try:
            return 200, _route(sim, call), call.headers
        except ParamError as bad:
            raise GraphError(100, bad.message, user_msg=bad.user_msg) from None
    except GraphError as exc:
        return exc.http_status, exc.body(), {**call.headers, **exc.headers()}


def _route(sim: MetaSimState, call: _Call) -> Any:
    call.headers["x-app-usage"] = _usage_json(sim._count_call(f"app:{call.token}"))
    fault = sim.take_fault(call.path)
    if fault is not None:
        raise fault.to_error()
    if sim._roll_5xx():
        raise GraphError(2, http_status=500, is_transient=True)
    if call.node == "debug_token":
        return _debug_token(call, sim)
    if call.node == "oauth" and "code" in call.params:  # Facebook Login's code exchange
        return sim.login.exchange_code(call.params)
    if call.node == "oauth":
        return _exchange_token(call, sim)
    if not VERSION_RE.fullmatch(call.version):
        raise _unknown_path(call.version)
    token = _check_token(call.token, sim)
    if sim._throttled(token):
        call.headers["x-app-usage"] = _usage_json(100)
        raise GraphError(17, is_transient=True)
    if call.node == "me":
        return _me(call, sim, token)
    if ACCOUNT_RE.fullmatch(call.node):
        return _ad_account(call, sim, token)
    run = sim._run(call.node)
    if run is not None:
        _check_ads_version(call.version, sim)
        return _report_run(call, sim, token, run)
    found = _find_object(token, call.node) if call.node.isdigit() else None
    if found is not None:
        return _ad_object(call, sim, token, *found)
    return _page_node(call, sim, token)


def _check_ads_version(version: str, sim: MetaSimState) -> None:
    """Ads calls on a version past its Marketing API sunset fail as Meta fails them (#2635).

    (Graph calls on Pages and ``/me`` keep answering: Meta upgrades those to the oldest
    version it still serves.)
    """
    known = known_versions().get(version)
    today = sim.today()
    if known is not None and known.retired_for_ads(today):
        raise GraphError(
            2635,
            "(#2635) You are calling a deprecated version of the Ads API. Please update to the "
            f"latest version: {latest_version(today)}.",
        )


def _me(call: _Call, sim: MetaSimState, token: str) -> Any:
    if call.edge == "permissions" and _page_of_token(token) is None:
        return sim.login.permissions(call.method, token)
    if call.method != "GET":
        raise _not_capable()
    page = _page_of_token(token)
    if page is not None:
        if call.edge is None:
            return {"id": page.id, "name": page.name}
        raise GraphError(
            100, f"(#100) Tried accessing nonexisting field ({call.edge}) on node type (Page)"
        )
    if call.edge is None:
        user = {"id": _user_id(token), "name": "Sim User"}
        return _project(user, _fields(call, documented.USER_FIELDS, ("name", "id"), "User"))
    if call.edge == "adaccounts":
        objs = [_account_obj(a, sim.now()) for a in _universe(token)]
        fields = _fields(call, documented.ACCOUNT_FIELDS, ("account_id", "id"), "AdAccount")
        return _counted_page(call, sim, objs, fields)
    if call.edge == "accounts":
        pages = [_page_obj(page, page_token) for page, page_token in _pages_of(token)]
        fields = _fields(call, PAGE_FIELDS, ("access_token", "category", "name", "id"), "Page")
        return _paged(call, sim, len(pages), lambda a, b: [_project(o, fields) for o in pages[a:b]])
    if call.edge == "businesses":
        businesses = [_business_obj(token)]
        fields = _fields(call, BUSINESS_FIELDS, ("name", "id"), "Business")
        return _paged(
            call, sim, len(businesses), lambda a, b: [_project(o, fields) for o in businesses[a:b]]
        )
    if call.edge == "permissions":
        scopes = NARROW_SCOPES if "_noscope_" in token else FULL_SCOPES
        granted = [{"permission": scope, "status": "granted"} for scope in scopes]
        return _paged(call, sim, len(granted), lambda a, b: granted[a:b])
    raise _unknown_path(call.edge)


BUSINESS_FIELDS = ("id", "name", "verification_status", "created_time")


def _business_obj(token: str) -> dict[str, Any]:
    """The one Business Manager a user token works in."""
    number = int(hashlib.sha256(f"business|{canonical_token(token)}".encode()).hexdigest()[:14], 16)
    return {
        "id": str(10**14 + number % (9 * 10**14)),
        "name": "Sim Business",
        "verification_status": "verified",
        "created_time": _graph_time(datetime(2023, 6, 1, tzinfo=UTC)),
    }


def _insights_edge(
    call: _Call, sim: MetaSimState, token: str, account: _Account, spec: _InsightSpec
) -> dict[str, Any]:
    """An ``/insights`` edge: POST starts an async report run, GET answers a page at once."""
    if call.method == "POST":
        run = sim._new_run(canonical_token(token), account.account_id, spec)
        return {"report_run_id": run.id}
    if call.method != "GET":
        raise _not_capable()
    return _insight_page(call, sim, token, account, spec)


def _ad_account(call: _Call, sim: MetaSimState, token: str) -> Any:
    account = _find_account(token, call.node)
    edge = call.edge
    _account_usage(call, sim, account, insights=edge == "insights")
    _check_ads_version(call.version, sim)
    if edge == "insights":
        spec = _insight_spec(call.params, _account_today(sim, account))
        return _insights_edge(call, sim, token, account, spec)
    if call.method != "GET":
        raise _not_capable()
    if edge is None:
        fields = _fields(call, documented.ACCOUNT_FIELDS, ("id",), "AdAccount")
        return _project(_account_obj(account, sim.now()), fields)
    edges = {
        attribute: (allowed, node_type) for attribute, allowed, node_type in _OBJECT_KINDS.values()
    }
    if edge not in edges:
        raise _unknown_path(edge)
    allowed, node_type = edges[edge]
    return _edge_page(call, sim, getattr(account, edge), allowed, node_type)


def _edge_page(
    call: _Call,
    sim: MetaSimState,
    objs: Iterable[dict[str, Any]],
    allowed: frozenset[str],
    node_type: str,
) -> dict[str, Any]:
    """One page of an edge's objects (:func:`_listed`) with the asked fields."""
    fields = _fields(call, allowed, ("id",), node_type)
    return _counted_page(call, sim, _listed(call, objs, allowed, node_type), fields)


def _counted_page(
    call: _Call, sim: MetaSimState, objs: list[dict[str, Any]], fields: list[str]
) -> dict[str, Any]:
    """One page of ``objs`` projected to ``fields``, with the ``total_count`` summary when
    the request asks for it."""
    return _paged(
        call,
        sim,
        len(objs),
        lambda a, b: [_project(o, fields) for o in objs[a:b]],
        summary={"total_count": len(objs)} if wants_summary(call.params) else None,
    )


#: The ``effective_status`` enum each node type documents; an edge's ``effective_status``
#: parameter takes only these (Graph: "(#100) Param effective_status[0] must be one of ...").
_STATUS_ENUMS = {
    "Campaign": documented.CAMPAIGN_EFFECTIVE_STATUSES,
    "AdSet": documented.ADSET_EFFECTIVE_STATUSES,
    "Adgroup": documented.AD_EFFECTIVE_STATUSES,
}


def _listed(
    call: _Call, objs: Iterable[dict[str, Any]], allowed: frozenset[str], node_type: str
) -> list[dict[str, Any]]:
    """An edge's objects after ``effective_status`` and ``filtering``; ARCHIVED and DELETED
    ones only when asked for."""
    filterable = allowed | {"campaign.id", "adset.id"}
    filters = parse_filtering(call.params.get("filtering"), filterable)
    statuses = list_param(call.params.get("effective_status"), "effective_status")
    enum = _STATUS_ENUMS[node_type]
    for i, asked in enumerate(statuses):
        if asked not in enum:
            raise ParamError(
                f"(#100) Param effective_status[{i}] must be one of {{{', '.join(sorted(enum))}}}"
            )
    hidden = asks_for_hidden(call.params, filters)

    def value(obj: Mapping[str, Any], name: str) -> Any:
        if name in ("campaign.id", "adset.id"):
            return obj.get(name.replace(".", "_"))
        return obj.get(name)

    out = []
    for obj in objs:
        status = obj.get("effective_status")
        if status in HIDDEN_STATUSES and status not in hidden:
            continue
        if statuses and status not in statuses:
            continue
        if matches(partial(value, obj), filters):
            out.append(obj)
    return out


_OBJECT_KINDS = {
    "campaign": ("campaigns", documented.CAMPAIGN_FIELDS, "Campaign"),
    "adset": ("adsets", documented.ADSET_FIELDS, "AdSet"),
    "ad": ("ads", documented.AD_FIELDS, "Adgroup"),
}
#: The edges of a campaign and an ad set: their child objects.
_CHILD_EDGES = {"campaign": ("adsets", "ads"), "adset": ("ads",), "ad": ()}


def _find_object(token: str, object_id: str) -> tuple[_Account, str, dict[str, Any]] | None:
    """The campaign, ad set or ad with this id among the token's accounts."""
    if _page_of_token(token) is not None:
        return None
    for account in _universe(token):
        for kind, (attribute, _, _) in _OBJECT_KINDS.items():
            for obj in getattr(account, attribute):
                if obj["id"] == object_id:
                    return account, kind, obj
    return None


def _ad_object(
    call: _Call, sim: MetaSimState, token: str, account: _Account, kind: str, obj: dict[str, Any]
) -> Any:
    """``GET /<campaign|adset|ad id>``, its ``insights`` and its child edges."""
    edge = call.edge
    _account_usage(call, sim, account, insights=edge == "insights")
    _check_ads_version(call.version, sim)
    if edge == "insights":
        params = {"level": kind, **call.params}
        spec = _insight_spec(params, _account_today(sim, account))
        own = [Filter(f"{kind}.id", "EQUAL", obj["id"])]
        if obj.get("effective_status") in HIDDEN_STATUSES:
            # A deleted or archived object's own insights answer by its id (Meta's "Storing
            # ad objects" best practice: "<AD_ID>/insights works for a deleted object").
            own.append(Filter(f"{kind}.effective_status", "IN", [obj["effective_status"]]))
        spec = replace(spec, filters=(*spec.filters, *own))
        return _insights_edge(call, sim, token, account, spec)
    if call.method != "GET":
        raise _not_capable()
    _, allowed, node_type = _OBJECT_KINDS[kind]
    if edge is None:
        return _project(obj, _fields(call, allowed, ("id",), node_type))
    if edge not in _CHILD_EDGES[kind]:
        raise _unknown_path(edge)
    attribute, child_allowed, child_type = _OBJECT_KINDS[edge.removesuffix("s")]
    children = [o for o in getattr(account, attribute) if o.get(f"{kind}_id") == obj["id"]]
    return _edge_page(call, sim, children, child_allowed, child_type)


def _report_run(call: _Call, sim: MetaSimState, token: str, run: _ReportRun) -> Any:
    """``GET /<report_run_id>`` (one status poll) and ``GET /<report_run_id>/insights``."""
    if _page_of_token(token) is not None or run.owner != canonical_token(token):
        raise _unsupported_get(call.node)
    if call.method != "GET":
        raise _not_capable()
    if call.edge is None:
        status, pct = sim._poll(run)
        finished = run.finished_at
        answer = {
            "id": run.id,
            "account_id": run.account_id,
            "async_status": status,
            "async_percent_completion": pct,
            "date_start": run.spec.since.isoformat(),
            "date_stop": run.spec.until.isoformat(),
            "time_ref": int(run.created.timestamp()),
            "time_completed": int(finished.timestamp()) if finished else 0,
        }
        fields = _fields(call, documented.REPORT_RUN_FIELDS, tuple(answer), "AdReportRun")
        return _project(answer, fields)
    if call.edge != "insights":
        raise _unknown_path(call.edge)
    account = _find_account(token, f"act_{run.account_id}")
    _account_usage(call, sim, account, insights=True)
    current = sim.report_run_status(run.id)
    if current == "Job Failed":
        raise GraphError(
            100,
            f"(#100) Report run {run.id} failed (async_status: Job Failed); start a new one",
            error_type="GraphMethodException",
        )
    if current != "Job Completed":
        raise GraphError(
            100,
            f"(#100) Report run {run.id} is not complete yet (async_status: {current})",
            error_type="GraphMethodException",
        )
    return _insight_page(call, sim, token, account, run.spec)


def _page_token_required() -> GraphError:
    return GraphError(190, "(#190) This method must be called with a Page Access Token")


def _metric_names(call: _Call, sim: MetaSimState, known: Mapping[str, Any]) -> list[str]:
    """The ``metric`` list; one retired or unknown metric fails the whole request, as on Meta
    (whose message does not say which metric it was)."""
    names = list_param(call.params.get("metric"), "metric")
    if not names:
        raise GraphError(100, "(#100) The parameter metric is required")
    for name in names:
        if name in RETIRED_PAGE_METRICS or name not in known or name in sim.retired_metrics:
            raise GraphError(100, "(#100) The value must be a valid insights metric")
    return names


def _page_node(call: _Call, sim: MetaSimState, token: str) -> Any:
    """A Page (``<page_id>``, its ``insights`` and ``posts``) or a post (``<page>_<n>``)."""
    node = call.node
    page_token = _page_of_token(token)
    own = {} if page_token is not None else {p.id: p for p, _ in _pages_of(token)}
    if node.isdigit():
        page = page_token if page_token is not None and page_token.id == node else own.get(node)
        if page is None:
            raise _unsupported_get(node)
        if call.method != "GET":
            raise _not_capable()
        if call.edge is None:
            fields = _fields(call, PAGE_FIELDS, ("name", "id"), "Page")
            return _project(_page_obj(page, token if page is page_token else None), fields)
        if page is not page_token:
            raise _page_token_required()
        if call.edge == "insights":
            return _page_insights(call, sim, page)
        if call.edge in ("posts", "published_posts", "feed"):
            fields = _fields(call, POST_FIELDS, ("id", "message", "created_time"), "Post")
            total = _post_count(page, sim.now())
            return _paged(
                call,
                sim,
                total,
                lambda a, b: [
                    _project(_post_obj(page, total - 1 - i), fields) for i in range(a, b)
                ],
            )
        raise _unknown_path(call.edge)
    match = POST_ID_RE.fullmatch(node)
    if match is None:
        raise _unsupported_get(node)
    page_id, number = match.groups()
    if page_token is None or page_token.id != page_id:
        if page_id in own:
            raise _page_token_required()
        raise _unsupported_get(node)
    k = int(number) - page_token.post_base
    if not 0 <= k < _post_count(page_token, sim.now()):
        raise _unsupported_get(node)
    if call.method != "GET":
        raise _not_capable()
    if call.edge is None:
        fields = _fields(call, POST_FIELDS, ("id", "message", "created_time"), "Post")
        return _project(_post_obj(page_token, k), fields)
    if call.edge != "insights":
        raise _unknown_path(call.edge)
    names = _metric_names(call, sim, POST_METRICS)
    values = _post_values(page_token, k, sim.now())
    return {
        "data": [
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": values[name]}],
                "title": POST_METRICS[name][0],
                "description": POST_METRICS[name][1],
                "id": f"{node}/insights/{name}/lifetime",
            }
            for name in names
        ]
    }


def _page_day_param(raw: str, name: str) -> date:
    try:
        if raw.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(raw), PACIFIC).date()
        return date.fromisoformat(raw)
    except (ValueError, OverflowError, OSError):
        raise _invalid_param(f"{name} must be YYYY-MM-DD or a unix timestamp") from None


def _pacific_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PACIFIC)


def _page_insights(call: _Call, sim: MetaSimState, page: _Page) -> dict[str, Any]:
    """Daily page insights for ``since`` <= day < ``until`` (Meta's ``until`` is exclusive).

    Each value's ``end_time`` is the end of its day in Pacific time, in UTC.
    """
    names = _metric_names(call, sim, PAGE_METRICS)
    if call.params.get("period", "day") != "day":
        raise _invalid_param("the simulator supports period=day only")
    today = sim.today()
    raw_until, raw_since = call.params.get("until"), call.params.get("since")
    until = _page_day_param(raw_until, "until") if raw_until else today
    since = _page_day_param(raw_since, "since") if raw_since else until - timedelta(days=2)
    if since >= until:
        raise _invalid_param("since must be before until")
    span = until - since
    if span.days > MAX_PAGE_INSIGHT_DAYS:
        raise GraphError(
            100,
            f"(#100) There cannot be more than {MAX_PAGE_INSIGHT_DAYS} days "
            f"({MAX_PAGE_INSIGHT_DAYS * 86400} s) between since and until",
        )
    days = [since + timedelta(days=n) for n in range(span.days)]
    days = [d for d in days if d <= today]
    numbers = {d: _page_day(page, d) for d in days}

    def stamp(day: date) -> str:
        return str(int(_pacific_midnight(day).timestamp()))

    data = [
        {
            "name": name,
            "period": "day",
            "values": [
                {
                    "value": numbers[d][name],
                    "end_time": _utc_time(_pacific_midnight(d + timedelta(days=1))),
                }
                for d in days
            ],
            "title": PAGE_METRICS[name][0],
            "description": PAGE_METRICS[name][1],
            "id": f"{page.id}/insights/{name}/day",
        }
        for name in names
    ]
    return {
        "data": data,
        "paging": {
            "previous": call.link(since=stamp(since - span), until=stamp(until - span)),
            "next": call.link(since=stamp(since + span), until=stamp(until + span)),
        },
    }


# --- batch -----------------------------------------------------------------------------------


def _batch_items(raw: str | None) -> list[dict[str, Any]]:
    if not raw:
        raise GraphError(100, "(#100) The parameter batch is required")
    try:
        items = json.loads(raw)
    except ValueError:
        raise GraphError(100, "(#100) The batch parameter must be a JSON array") from None
    if not isinstance(items, list) or not items:
        raise GraphError(100, "(#100) The batch parameter must be a non-empty JSON array")
    if len(items) > MAX_BATCH:
        raise GraphError(
            100, f"(#100) Too many requests in batch message. Maximum batch size is {MAX_BATCH}"
        )
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("relative_url"), str):
            raise GraphError(100, "(#100) Every batch request needs a relative_url")
        if str(item.get("method", "GET")).upper() not in ("GET", "POST", "DELETE"):
            raise GraphError(100, "(#100) Batch method must be GET, POST or DELETE")
    return items


def _batch_item(sim: MetaSimState, outer: _Call, item: Mapping[str, Any]) -> dict[str, Any]:
    method = str(item.get("method", "GET")).upper()
    parts = urlsplit(str(item["relative_url"]).lstrip("/"))
    segments = [s for s in parts.path.split("/") if s]
    version = outer.version
    if segments and VERSION_RE.fullmatch(segments[0]):
        version = segments.pop(0)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    body = item.get("body")
    if method == "POST" and isinstance(body, str):
        params.update(parse_qsl(body, keep_blank_values=True))
    token = params.get("access_token") or outer.token
    headers: dict[str, str] = {}
    if not segments or len(segments) > 2:
        status, answer, headers = 400, _unknown_path(parts.path).body(), {}
    else:
        edge = segments[1] if len(segments) > 1 else None
        call = _Call(method, outer.base_url, version, segments[0], edge, params, token)
        status, answer, headers = _execute(sim, call)
    result: dict[str, Any] = {"code": status}
    if outer.params.get("include_headers") != "false":
        result["headers"] = [
            {"name": "Content-Type", "value": "text/javascript; charset=UTF-8"},
            *({"name": name, "value": value} for name, value in headers.items()),
        ]
    result["body"] = json.dumps(answer)
    return result


def _execute_batch(sim: MetaSimState, outer: _Call) -> tuple[int, Any, dict[str, str]]:
    """``POST /`` with ``batch=[{"method", "relative_url"[, "body"]}, ...]``."""
    try:
        outer.headers["x-app-usage"] = _usage_json(sim._count_call(f"app:{outer.token}"))
        fault = sim.take_fault(outer.path)
        if fault is not None:
            raise fault.to_error()
        if not VERSION_RE.fullmatch(outer.version):
            raise _unknown_path(outer.version)
        _check_token(outer.token, sim)
        items = _batch_items(outer.params.get("batch"))
        return 200, [_batch_item(sim, outer, item) for item in items], outer.headers
    except GraphError as exc:
        return exc.http_status, exc.body(), {**outer.headers, **exc.headers()}


# --- Starlette -------------------------------------------------------------------------------


async def _params(request: Request) -> dict[str, str]:
    """Query parameters, plus a form or JSON body (Graph takes POST parameters either way)."""
    params = dict(request.query_params)
    if request.method in ("POST", "DELETE"):
        body = await request.body()
        if body:
            if "application/json" in request.headers.get("content-type", ""):
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = None
                if isinstance(payload, dict):
                    params.update(
                        {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}
                    )
            else:
                text = body.decode("utf-8", "replace")
                params.update(parse_qsl(text, keep_blank_values=True))
    return params


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def create_app(state: MetaSimState | None = None) -> Starlette:
    """The simulator as a Starlette app; ``app.state.sim`` is the :class:`MetaSimState`."""
    sim = state or MetaSimState()

    def record(request: Request, params: Mapping[str, str], status: int) -> None:
        query = {k: v for k, v in params.items() if k not in _UNLOGGED_PARAMS}
        sim.log_request(RequestRecord(request.method, request.url.path, query, status))

    async def answer(
        request: Request,
        params: dict[str, str],
        execute: Callable[[MetaSimState, _Call], tuple[int, Any, dict[str, str]]],
        call: _Call,
    ) -> Response:
        if sim.latency_s > 0:
            await asyncio.sleep(sim.latency_s)
        status, body, headers = await run_in_threadpool(execute, sim, call)
        record(request, params, status)
        return JSONResponse(body, status_code=status, headers=headers)

    async def graph(request: Request) -> Response:
        params = await _params(request)
        call = _Call(
            request.method,
            _base_url(request),
            request.path_params["version"],
            request.path_params["node"],
            request.path_params.get("edge"),
            params,
            params.get("access_token") or _bearer(request.headers),
        )
        return await answer(request, params, _execute, call)

    async def batch(request: Request) -> Response:
        params = await _params(request)
        call = _Call(
            "POST",
            _base_url(request),
            request.path_params.get("version", DEFAULT_VERSION),
            "",
            None,
            params,
            params.get("access_token") or _bearer(request.headers),
        )
        return await answer(request, params, _execute_batch, call)

    async def usage(request: Request) -> Response:
        try:
            pct = (await request.json()).get("pct")
            sim.set_usage(None if pct is None else int(pct))
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"detail": f"bad usage spec: {exc}"}, status_code=400)
        return JSONResponse({"pct": pct})

    routes = [
        *control_routes(sim, config_errors=(ValueError, TypeError, KeyError)),
        Route("/__sim__/usage", usage, methods=["POST"]),
        *meta_login.routes(sim.login),
        Route("/", batch, methods=["POST"]),
        Route("/{version}/", batch, methods=["POST"]),
        Route("/{version}/{node}", graph, methods=["GET", "POST", "DELETE"]),
        Route("/{version}/{node}/{edge}", graph, methods=["GET", "POST", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app


def _usage_json(pct: int) -> str:
    return json.dumps({"call_count": pct, "total_cputime": pct // 2, "total_time": pct // 2})


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


class MetaSimulator(LoopbackServer):
    """Runs the simulator with uvicorn in a background thread on 127.0.0.1.

    ``port=0`` picks a free port; ``url`` is known once :meth:`start` returned::

        with MetaSimulator() as sim:
            client = MetaGraphClient("sim_token", base_url=sim.url)
    """

    def __init__(self, state: MetaSimState | None = None, *, port: int = 0) -> None:
        self.state = state or MetaSimState()
        super().__init__(create_app(self.state), port=port, name="Meta")


def main(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the simulator in the foreground (``adinsights simulate meta``)."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
