"""Loopback simulator of the Meta Graph / Marketing API.

It reproduces the documented response shapes the pipelines rely on: ``/me/adaccounts``, the
campaign / ad set / ad edges of an ad account, daily ``/insights`` with a ``region`` breakdown,
Graph cursor paging (absolute ``paging.next`` URLs), the Graph error envelope and the
rate-limit usage headers.

Any access token starting with ``sim_`` is valid and the data it sees is derived from a hash of
the token, so the same token always yields the same accounts, objects and numbers. Tokens
starting with ``sim_expired_`` fail with code 190 / subcode 463; anything else fails with 190.

Faults can be injected in-process (:meth:`MetaSimState.inject`) or over HTTP::

    POST   /__sim__/faults    {"path_contains": "/insights", "count": 3, "http_status": 500,
                               "code": 2, "subcode": null, "is_transient": true}  (or a list)
    GET    /__sim__/faults    pending faults
    DELETE /__sim__/faults    clear faults
    GET    /__sim__/requests  request log (path, query without access_token, status)
    DELETE /__sim__/requests  clear the request log
    POST   /__sim__/usage     {"pct": 90} forces the reported usage percentages (null resets)
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import random
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "Fault",
    "MetaSimState",
    "MetaSimulator",
    "RequestRecord",
    "create_app",
    "main",
]

VERSION_RE = re.compile(r"v\d+\.\d+")
ACCOUNT_RE = re.compile(r"act_(\d+)")
DEFAULT_LIMIT = 25
MAX_LIMIT = 500
MAX_MONTHS_BACK = 37
USAGE_WINDOW_S = 60.0

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
_DEFAULT_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "Invalid parameter",
    190: "Error validating access token",
    200: "(#200) Permissions error",
    341: "(#341) Application limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
}

ACCOUNT_FIELDS = ("id", "account_id", "name", "currency", "timezone_name", "account_status")
CAMPAIGN_FIELDS = (
    "id", "account_id", "name", "status", "effective_status", "objective", "daily_budget",
    "created_time", "updated_time",
)  # fmt: skip
ADSET_FIELDS = (
    "id", "account_id", "campaign_id", "name", "status", "effective_status", "daily_budget",
    "optimization_goal", "billing_event", "created_time", "updated_time",
)  # fmt: skip
AD_FIELDS = (
    "id", "account_id", "campaign_id", "adset_id", "name", "status", "effective_status",
    "creative", "created_time", "updated_time",
)  # fmt: skip
INSIGHT_FIELDS = (
    "account_id", "account_name", "account_currency", "campaign_id", "campaign_name",
    "adset_id", "adset_name", "ad_id", "ad_name", "objective", "spend", "impressions", "clicks",
    "reach", "frequency", "cpm", "cpc", "ctr", "inline_link_clicks", "actions",
)  # fmt: skip
_LEVEL_DROPS = {
    "ad": (),
    "adset": ("ad_id", "ad_name"),
    "campaign": ("ad_id", "ad_name", "adset_id", "adset_name"),
    "account": ("ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name"),
}
_SUPPORTED_BREAKDOWNS = ("region",)


# --------------------------------------------------------------------------------------------
# Errors, faults and state
# --------------------------------------------------------------------------------------------


class GraphError(Exception):
    """A Graph API error, rendered with the Graph error envelope."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        http_status: int = 400,
        subcode: int | None = None,
        error_type: str = "OAuthException",
        is_transient: bool = False,
        user_msg: str | None = None,
    ) -> None:
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code, f"(#{code}) Simulated error")
        super().__init__(self.message)
        self.http_status = http_status
        self.subcode = subcode
        self.error_type = error_type
        self.is_transient = is_transient
        self.user_msg = user_msg

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        }
        if self.subcode is not None:
            body["error_subcode"] = self.subcode
        body["is_transient"] = self.is_transient
        if self.user_msg:
            body["error_user_msg"] = self.user_msg
        body["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
        headers = {}
        if self.code == 190:
            headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token"'
        return JSONResponse({"error": body}, status_code=self.http_status, headers=headers)


def _invalid_param(detail: str) -> GraphError:
    return GraphError(100, "Invalid parameter", user_msg=detail)


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
class RequestRecord:
    """One request the simulator answered (``query`` never holds the access token)."""

    method: str
    path: str
    query: dict[str, str]
    status: int


class MetaSimState:
    """Mutable, thread-safe simulator state: faults, request log and usage counters."""

    def __init__(self, *, today: date | None = None, usage_per_call: float = 0.1) -> None:
        self._today = today
        self.usage_per_call = usage_per_call
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: list[RequestRecord] = []
        self._calls: dict[str, deque[float]] = {}
        self._usage_override: int | None = None

    def today(self) -> date:
        return self._today or datetime.now(UTC).date()

    # faults -----------------------------------------------------------------------------
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

    # request log ------------------------------------------------------------------------
    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def request_count(self, path_contains: str = "") -> int:
        """Number of Graph requests (failed ones included) whose path contains the text."""
        return sum(1 for r in self.requests if path_contains in r.path)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # usage ------------------------------------------------------------------------------
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
        """Clear faults, the request log, usage counters and any usage override."""
        with self._lock:
            self._faults.clear()
            self._log.clear()
            self._calls.clear()
            self._usage_override = None


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


@dataclass(frozen=True)
class _Account:
    account_id: str
    name: str
    currency: str
    regions: tuple[str, ...]
    campaigns: tuple[dict[str, Any], ...]
    adsets: tuple[dict[str, Any], ...]
    ads: tuple[dict[str, Any], ...]
    ad_units: tuple[_Ad, ...]


def _graph_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S%z")


@lru_cache(maxsize=256)
def _canonical(token: str) -> str:
    """A long-lived token sees the same data as the short-lived one it was exchanged from."""
    return "sim_" + token.removeprefix("sim_ll_") if token.startswith("sim_ll_") else token


def _universe(token: str) -> tuple[_Account, ...]:
    seed = int.from_bytes(hashlib.sha256(_canonical(token).encode()).digest()[:8], "big")
    rng = random.Random(seed)
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
        currency = rng.choice(("JMD", "USD"))
        regions = tuple(sorted(rng.sample(JAMAICA_REGIONS, rng.randint(3, 5))))
        if rng.random() < 0.5:
            regions += ("Unknown",)
        campaigns: list[dict[str, Any]] = []
        adsets: list[dict[str, Any]] = []
        ads: list[dict[str, Any]] = []
        units: list[_Ad] = []
        for c in range(rng.randint(2, 3)):
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
            for s in range(rng.randint(1, 2)):
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
                for a in range(rng.randint(1, 2)):
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
        accounts.append(
            _Account(
                account_id,
                f"Sim Advertiser {n + 1} ({currency})",
                currency,
                regions,
                tuple(campaigns),
                tuple(adsets),
                tuple(ads),
                tuple(units),
            )
        )
    return tuple(accounts)


def _metrics(token: str, account: _Account, ad: _Ad, day: date, region: str) -> dict[str, Any]:
    """Raw numbers for one (token, ad, day, region); a pure function of those four."""
    rng = random.Random(f"{token}|{ad.id}|{day.isoformat()}|{region}")
    impressions = int(rng.randint(40, 4000) * _REGION_WEIGHT.get(region, 1.0))
    reach = max(1, int(impressions * rng.uniform(0.55, 0.95))) if impressions else 0
    clicks = int(impressions * rng.uniform(0.004, 0.035))
    cpm_usd = rng.uniform(1.2, 7.5)
    spend_cents = round(impressions * cpm_usd / 10 * (155 if account.currency == "JMD" else 1))
    actions = {"link_click": int(clicks * rng.uniform(0.6, 1.0))}
    actions["page_engagement"] = clicks + int(impressions * rng.uniform(0.0, 0.02))
    if ad.objective == "OUTCOME_LEADS":
        actions["lead"] = int(clicks * rng.uniform(0.0, 0.2))
    elif ad.objective == "OUTCOME_SALES":
        actions["purchase"] = int(clicks * rng.uniform(0.0, 0.1))
    return {
        "impressions": impressions,
        "reach": reach,
        "clicks": clicks,
        "spend_cents": spend_cents,
        "actions": actions,
    }


def _insight_row(
    account: _Account, units: list[_Ad], level: str, metrics: list[dict[str, Any]]
) -> dict[str, Any]:
    first = units[0]
    impressions = sum(m["impressions"] for m in metrics)
    reach = sum(m["reach"] for m in metrics)
    clicks = sum(m["clicks"] for m in metrics)
    spend_cents = sum(m["spend_cents"] for m in metrics)
    actions: dict[str, int] = {}
    for m in metrics:
        for key, value in m["actions"].items():
            actions[key] = actions.get(key, 0) + value
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
        "inline_link_clicks": str(actions.get("link_click", 0)),
    }
    action_list = [{"action_type": k, "value": str(v)} for k, v in actions.items() if v]
    if action_list:
        row["actions"] = action_list
    if level == "account":
        row.pop("objective")
    for key in _LEVEL_DROPS[level]:
        row.pop(key)
    return row


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------


def _token(request: Request) -> str | None:
    token = request.query_params.get("access_token")
    if token:
        return token
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def _check_token(token: str | None) -> str:
    if token and token.startswith("sim_expired_"):
        raise GraphError(
            190,
            "Error validating access token: Session has expired on Monday, 01-Jan-24 "
            "00:00:00 PST. The current time is later.",
            subcode=463,
        )
    if not token or not token.startswith("sim_"):
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
    return token


FULL_SCOPES = (
    "ads_read",
    "ads_management",
    "business_management",
    "pages_read_engagement",
    "pages_show_list",
    "read_insights",
    "public_profile",
)
NARROW_SCOPES = ("ads_read", "pages_show_list", "public_profile")
LONG_LIVED_S = 60 * 24 * 3600


def _app_token(request: Request) -> tuple[str, str]:
    token = _token(request) or ""
    app_id, _, secret = token.partition("|")
    if not app_id or not secret:
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
    return app_id, secret


def _debug_token(request: Request, sim: MetaSimState) -> Response:
    """``GET /debug_token?input_token=`` with an app token: validity, expiry and scopes.

    Token names steer the answer: ``_noscope_`` lacks business_management and the page scopes,
    ``_expiring_`` expires in three days, ``sim_ll_`` is long-lived (60 days), other ``sim_``
    tokens are short-lived (two hours), ``sim_expired_`` and non-``sim_`` tokens are invalid.
    """
    app_id, _ = _app_token(request)
    token = request.query_params.get("input_token", "")
    now = int(datetime.now(UTC).timestamp())
    data: dict[str, Any] = {"app_id": app_id, "type": "USER", "application": "ADinsights Sim"}
    try:
        _check_token(token)
    except GraphError as exc:
        data.update(
            is_valid=False,
            scopes=[],
            error={"code": exc.code, "message": exc.message, "subcode": exc.subcode},
        )
        return JSONResponse({"data": data})
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
        scopes=list(NARROW_SCOPES if "_noscope_" in token else FULL_SCOPES),
        user_id=str(int(hashlib.sha256(_canonical(token).encode()).hexdigest()[:15], 16)),
    )
    return JSONResponse({"data": data})


def _exchange_token(request: Request) -> Response:
    """``GET /oauth/access_token?grant_type=fb_exchange_token``: a long-lived user token."""
    if request.path_params.get("edge") != "access_token":
        raise GraphError(2500, "Unknown path components: /oauth")
    params = request.query_params
    if params.get("grant_type") != "fb_exchange_token":
        raise GraphError(100, "Invalid parameter: grant_type must be fb_exchange_token")
    if not params.get("client_id") or not params.get("client_secret"):
        raise GraphError(101, "Error validating client secret.")
    short = _check_token(params.get("fb_exchange_token"))
    long_lived = short if short.startswith("sim_ll_") else "sim_ll_" + short.removeprefix("sim_")
    return JSONResponse(
        {"access_token": long_lived, "token_type": "bearer", "expires_in": LONG_LIVED_S}
    )


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "sim":
            raise ValueError(cursor)
        return int(number)
    except ValueError:
        raise _invalid_param("The cursor is invalid.") from None


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise _invalid_param("limit must be an integer") from None
    if limit <= 0:
        raise _invalid_param("limit must be positive")
    return min(limit, MAX_LIMIT)


def _page(
    request: Request, total: int, get_rows: Callable[[int, int], list[dict[str, Any]]]
) -> dict[str, Any]:
    """One cursor page out of ``total`` rows; ``get_rows(start, stop)`` builds the slice."""
    limit = _limit(request)
    after = request.query_params.get("after")
    before = request.query_params.get("before")
    if after:
        start = _decode_cursor(after) + 1
    elif before:
        start = max(0, _decode_cursor(before) - limit)
    else:
        start = 0
    stop = min(total, start + limit)
    if start >= stop:
        return {"data": []}
    rows = get_rows(start, stop)
    paging: dict[str, Any] = {
        "cursors": {"before": _encode_cursor(start), "after": _encode_cursor(stop - 1)}
    }
    base_params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("after", "before")
    ]
    if start > 0:
        query = urlencode([*base_params, ("before", _encode_cursor(start))])
        paging["previous"] = str(request.url.replace(query=query))
    if stop < total:
        query = urlencode([*base_params, ("after", _encode_cursor(stop - 1))])
        paging["next"] = str(request.url.replace(query=query))
    return {"data": rows, "paging": paging}


def _fields(
    request: Request, allowed: tuple[str, ...], default: tuple[str, ...], node: str
) -> list[str]:
    raw = request.query_params.get("fields")
    if not raw:
        return list(default)
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    for name in fields:
        if name not in allowed:
            raise GraphError(
                100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})"
            )
    return fields


def _project(obj: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    out = {f: obj[f] for f in fields if f in obj}
    out.setdefault("id", obj["id"])
    return out


def _account_obj(account: _Account) -> dict[str, Any]:
    return {
        "id": f"act_{account.account_id}",
        "account_id": account.account_id,
        "name": account.name,
        "currency": account.currency,
        "timezone_name": "America/Jamaica",
        "account_status": 1,
    }


def _find_account(token: str, node: str) -> _Account:
    match = ACCOUNT_RE.fullmatch(node)
    if not match:
        raise GraphError(
            100,
            f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation.",
            subcode=33,
            error_type="GraphMethodException",
        )
    for account in _universe(token):
        if account.account_id == match.group(1):
            return account
    raise GraphError(
        200,
        "(#200) Permissions error",
        http_status=403,
        user_msg=f"The access token has no permission on ad account {match.group(1)}.",
    )


def _months_back(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


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


def _insights(
    request: Request, state: MetaSimState, token: str, account: _Account
) -> dict[str, Any]:
    params = request.query_params
    level = params.get("level", "account")
    if level not in _LEVEL_DROPS:
        raise _invalid_param(f"level must be one of {', '.join(_LEVEL_DROPS)}")
    if params.get("time_increment", "1") != "1":
        raise _invalid_param("the simulator supports time_increment=1 only")
    breakdowns = [b for b in params.get("breakdowns", "").split(",") if b]
    if any(b not in _SUPPORTED_BREAKDOWNS for b in breakdowns):
        raise _invalid_param(f"the simulator supports breakdowns={','.join(_SUPPORTED_BREAKDOWNS)}")
    fields = _fields(request, INSIGHT_FIELDS, ("account_id", "impressions", "spend"), "AdsInsights")
    today = state.today()
    since, until = _parse_time_range(params.get("time_range"), today)
    since = max(since, _months_back(today, MAX_MONTHS_BACK))
    until = min(until, today)
    n_days = max(0, (until - since).days + 1)

    grouped: dict[str, list[_Ad]] = {}
    key = {"ad": "id", "adset": "adset_id", "campaign": "campaign_id"}.get(level)
    for ad in account.ad_units:
        grouped.setdefault(getattr(ad, key) if key else "", []).append(ad)
    groups = list(grouped.values())
    regions: tuple[str | None, ...] = account.regions if breakdowns else (None,)

    def rows(start: int, stop: int) -> list[dict[str, Any]]:
        out = []
        for index in range(start, stop):
            day_index, rest = divmod(index, len(groups) * len(regions))
            group_index, region_index = divmod(rest, len(regions))
            day = since + timedelta(days=day_index)
            region = regions[region_index]
            units = groups[group_index]
            parts = [region] if region is not None else list(account.regions)
            metrics = [_metrics(token, account, u, day, r) for u in units for r in parts]
            full = _insight_row(account, units, level, metrics)
            row = {f: full[f] for f in fields if f in full}
            row["date_start"] = row["date_stop"] = day.isoformat()
            if region is not None:
                row["region"] = region
            out.append(row)
        return out

    return _page(request, n_days * len(groups) * len(regions), rows)


def create_app(state: MetaSimState | None = None) -> Starlette:
    """The simulator as a Starlette app; ``app.state.sim`` is the :class:`MetaSimState`."""
    sim = state or MetaSimState()

    async def graph(request: Request) -> Response:
        path = request.url.path
        query = {k: v for k, v in request.query_params.items() if k != "access_token"}
        try:
            response = await _graph(request, path)
        except GraphError as exc:
            response = exc.response()
        sim._record(RequestRecord(request.method, path, query, response.status_code))
        return response

    async def _graph(request: Request, path: str) -> Response:
        fault = sim._take_fault(path)
        if fault is not None:
            raise fault.to_error()
        if request.path_params["node"] == "debug_token":
            return _debug_token(request, sim)
        if request.path_params["node"] == "oauth":
            return _exchange_token(request)
        token = _check_token(_token(request))
        version = request.path_params["version"]
        node = request.path_params["node"]
        edge = request.path_params.get("edge")
        if not VERSION_RE.fullmatch(version):
            raise GraphError(2500, f"Unknown path components: /{version}", http_status=400)
        if request.method != "GET":
            raise GraphError(
                3, "(#3) Application does not have the capability to make this API call."
            )
        headers = {"x-app-usage": _usage_json(sim._count_call(f"app:{token}"))}
        if node == "me":
            if edge is None:
                user_id = str(int(hashlib.sha256(token.encode()).hexdigest()[:15], 16))
                return JSONResponse({"id": user_id, "name": "Sim User"}, headers=headers)
            if edge != "adaccounts":
                raise GraphError(2500, f"Unknown path components: /{edge}")
            objs = [_account_obj(a) for a in _universe(token)]
            fields = _fields(request, ACCOUNT_FIELDS, ("account_id", "id"), "AdAccount")
            body = _page(request, len(objs), lambda a, b: [_project(o, fields) for o in objs[a:b]])
            return JSONResponse(body, headers=headers)
        account = _find_account(token, node)
        util = sim._count_call(f"acc:{account.account_id}")
        headers["x-ad-account-usage"] = json.dumps(
            {
                "acc_id_util_pct": util,
                "reset_time_duration": 0,
                "ads_api_access_tier": "standard_access",
            }
        )
        if edge is None:
            fields = _fields(request, ACCOUNT_FIELDS, ("id",), "AdAccount")
            return JSONResponse(_project(_account_obj(account), fields), headers=headers)
        if edge == "insights":
            headers["x-business-use-case-usage"] = json.dumps(
                {
                    account.account_id: [
                        {
                            "type": "ads_insights",
                            "call_count": util,
                            "total_cputime": util // 2,
                            "total_time": util // 2,
                            "estimated_time_to_regain_access": 0,
                        }
                    ]
                }
            )
            return JSONResponse(_insights(request, sim, token, account), headers=headers)
        edges = {
            "campaigns": (account.campaigns, CAMPAIGN_FIELDS, "Campaign"),
            "adsets": (account.adsets, ADSET_FIELDS, "AdSet"),
            "ads": (account.ads, AD_FIELDS, "Adgroup"),
        }
        if edge not in edges:
            raise GraphError(2500, f"Unknown path components: /{edge}")
        objs_t, allowed, node_type = edges[edge]
        fields = _fields(request, allowed, ("id",), node_type)
        body = _page(request, len(objs_t), lambda a, b: [_project(o, fields) for o in objs_t[a:b]])
        return JSONResponse(body, headers=headers)

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_faults()
        elif request.method == "POST":
            try:
                payload = await request.json()
                specs = payload if isinstance(payload, list) else [payload]
                for spec in specs:
                    sim.inject(**spec)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"detail": f"bad fault spec: {exc}"}, status_code=400)
        return JSONResponse({"faults": [asdict(f) for f in sim.faults]})

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_requests()
        return JSONResponse({"requests": [asdict(r) for r in sim.requests]})

    async def usage(request: Request) -> Response:
        try:
            pct = (await request.json()).get("pct")
            sim.set_usage(None if pct is None else int(pct))
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"detail": f"bad usage spec: {exc}"}, status_code=400)
        return JSONResponse({"pct": pct})

    routes = [
        Route("/__sim__/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/__sim__/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/__sim__/usage", usage, methods=["POST"]),
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


class MetaSimulator:
    """Runs the simulator with uvicorn in a background thread on 127.0.0.1.

    ``port=0`` picks a free port; ``url`` is known once :meth:`start` returned::

        with MetaSimulator() as sim:
            client = MetaGraphClient("sim_token", base_url=sim.url)
    """

    def __init__(self, state: MetaSimState | None = None, *, port: int = 0) -> None:
        self.state = state or MetaSimState()
        self.app = create_app(self.state)
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the simulator is not running")
        return self._url

    def start(self, timeout: float = 10.0) -> MetaSimulator:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="meta-sim", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError("the Meta simulator did not start")
            time.sleep(0.01)
        self._url = f"http://127.0.0.1:{port}"
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout)
        self._server = self._thread = None
        self._url = None

    def __enter__(self) -> MetaSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the simulator in the foreground (``adinsights simulate meta``)."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
