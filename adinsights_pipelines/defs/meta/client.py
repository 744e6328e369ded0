"""Client for the Meta Graph / Marketing API used by the Meta assets.

The same code talks to ``https://graph.facebook.com`` and to the loopback simulator
(:mod:`adinsights_pipelines.simulators.meta_graph`); only ``base_url`` differs.

* Cursor paging follows ``paging.next`` to the end, one page in memory at a time: rows are
  yielded as each page arrives, so memory does not grow with the number of rows.
* When Graph answers "Please reduce the amount of data you're asking for" (HTTP 500, code 1)
  the client halves the page ``limit`` (down to 25) and asks for the same page again; this is
  separate from, and not counted against, the retries below.
* Retryable failures (HTTP 429 / 5xx, Graph codes 1, 2, 4, 17, 32, 341, 613, 80000-80014,
  ``is_transient`` and network errors) are retried with tenacity: base-2 exponential backoff
  with full jitter, at most ``max_attempts`` attempts in total.
* ``on_error`` receives an :class:`ApiCallFailure` for every failed HTTP call, retried or not.
* The usage headers (``x-app-usage``, ``x-ad-account-usage``, ``x-business-use-case-usage``,
  ``x-fb-ads-insights-throttle``) are parsed into :attr:`MetaGraphClient.last_usage`; at
  75 % or more the client slows down.
* The access token never appears in exception messages, failures or logs.
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Unpack
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import requests

from adinsights_pipelines.defs.meta.conversions import UNIFIED, Attribution
from adinsights_pipelines.defs.meta.graph_versions import DEFAULT_VERSION
from adinsights_pipelines.outside_apis.error_log import ApiCallFailure
from adinsights_pipelines.outside_apis.errors import OutsideApiError
from adinsights_pipelines.outside_apis.retry import (
    NETWORK_ERRORS,
    is_throttled_or_server_error,
)
from adinsights_pipelines.outside_apis.transport import JsonApiTransport, TransportOptions

__all__ = [
    "ACCOUNT_FIELDS",
    "ADSET_FIELDS",
    "ADSET_STATUSES",
    "AD_FIELDS",
    "AD_STATUSES",
    "CAMPAIGN_FIELDS",
    "CAMPAIGN_STATUSES",
    "INSIGHT_FIELDS",
    "MIN_PAGE_LIMIT",
    "ApiCallFailure",
    "MetaApiError",
    "MetaGraphClient",
    "PermissionDeniedError",
    "RateLimitedError",
    "ReportRun",
    "TokenInvalidError",
    "asks_for_less_data",
    "is_retryable",
    "throttle_delay",
]

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = ("id", "account_id", "name", "currency", "timezone_name", "account_status")
CAMPAIGN_FIELDS = (
    "id", "account_id", "name", "status", "effective_status", "objective", "daily_budget",
    "created_time", "updated_time",
)  # fmt: skip
ADSET_FIELDS = (
    "id", "account_id", "campaign_id", "name", "status", "effective_status", "daily_budget",
    "created_time", "updated_time",
)  # fmt: skip
AD_FIELDS = (
    "id", "account_id", "campaign_id", "adset_id", "name", "status", "effective_status",
    "created_time", "updated_time",
)  # fmt: skip
#: Every ``effective_status`` each edge documents (Graph rejects a value outside the edge's enum).
#: The ``campaigns``, ``adsets`` and ``ads`` edges of an ad account leave ARCHIVED and DELETED
#: objects out unless a request asks for them ("A request with no filters returns only campaigns
#: that were not archived or deleted", Marketing API reference, ad-account/campaigns); asking for
#: every status through the documented ``effective_status`` parameter lists them all. Airbyte's
#: source-facebook-marketing does the same with its ``include_deleted`` option (a ``filtering``
#: on ``<entity>.effective_status`` IN every status).
CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "DELETED", "ARCHIVED", "IN_PROCESS", "WITH_ISSUES")
ADSET_STATUSES = (*CAMPAIGN_STATUSES, "CAMPAIGN_PAUSED")
AD_STATUSES = (
    *ADSET_STATUSES, "ADSET_PAUSED", "DISAPPROVED", "PENDING_REVIEW", "PREAPPROVED",
    "PENDING_BILLING_INFO",
)  # fmt: skip
INSIGHT_FIELDS = (
    "account_id", "account_currency", "campaign_id", "campaign_name", "adset_id", "adset_name",
    "ad_id", "ad_name", "spend", "impressions", "clicks", "reach", "actions", "action_values",
    "attribution_setting",
)  # fmt: skip

RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
BUC_THROTTLE_CODES = range(80000, 80015)  # business-use-case throttles, 80000-80014
THROTTLE_THRESHOLD_PCT = 75.0
THROTTLE_MAX_DELAY_S = 120.0
PAGE_LIMIT = 500
#: The smallest page ``limit`` the client shrinks to when Graph asks for less data per call.
MIN_PAGE_LIMIT = 25
#: How many recent ``paging.next`` URLs are remembered to stop a server that loops.
_RECENT_PAGES = 16

#: Requests per call of the batch endpoint (Graph's limit).
BATCH_MAX = 50
_RUN_FIELDS = "id,async_status,async_percent_completion"

_TOKEN_PARAM_RE = re.compile(r"(access_token=)[^&\s'\"]+", re.IGNORECASE)


def is_retryable(http_status: int | None, code: int | None, is_transient: bool) -> bool:
    """Whether a failed call is worth repeating.

    True for HTTP 429 and 5xx, Graph codes 1, 2, 4, 17, 32, 341, 613 and 80000-80014, and
    anything Graph flags ``is_transient``; False otherwise (190, 10, 200-299, 100, ...).
    """
    if is_transient or is_throttled_or_server_error(http_status):
        return True
    return code is not None and (code in RETRYABLE_CODES or code in BUC_THROTTLE_CODES)


def throttle_delay(usage_pct: float) -> float:
    """Seconds to pause before the next call when Meta reports ``usage_pct`` % utilisation.

    0 below 75 %; from there 2 s per point above 74 % (75 % -> 2 s, 90 % -> 32 s,
    100 % -> 52 s), capped at 120 s.
    """
    if usage_pct < THROTTLE_THRESHOLD_PCT:
        return 0.0
    return min(THROTTLE_MAX_DELAY_S, 2.0 * (usage_pct - (THROTTLE_THRESHOLD_PCT - 1)))


@dataclass(frozen=True)
class ReportRun:
    """The state of an async insights report run (``GET /<report_run_id>``)."""

    id: str
    async_status: str
    percent_complete: int

    @property
    def completed(self) -> bool:
        return self.async_status == "Job Completed"

    @property
    def failed(self) -> bool:
        return self.async_status in ("Job Failed", "Job Skipped")

    @classmethod
    def from_graph(cls, run_id: str, body: Mapping[str, Any]) -> ReportRun:
        pct = body.get("async_percent_completion")
        return cls(
            str(body.get("id") or run_id),
            str(body.get("async_status") or "unknown"),
            int(pct) if isinstance(pct, int | float) else 0,
        )


class MetaApiError(OutsideApiError):
    """A failed Graph API call (after retries, when it was retryable)."""

    provider = "meta"

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None,
        code: int | None = None,
        subcode: int | None = None,
        is_transient: bool = False,
        fbtrace_id: str | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(message, endpoint=endpoint, http_status=http_status)
        self.code = code
        self.subcode = subcode
        self.is_transient = is_transient
        self.fbtrace_id = fbtrace_id

    @property
    def is_retryable(self) -> bool:
        return is_retryable(self.http_status, self.code, self.is_transient)

    def call_name(self) -> str:
        return f"Meta API {self.endpoint or 'call'}"

    def details(self) -> list[str]:
        parts = []
        if self.code is not None:
            parts.append(f"code {self.code}" + (f"/{self.subcode}" if self.subcode else ""))
        if self.fbtrace_id:
            parts.append(f"fbtrace_id {self.fbtrace_id}")
        return parts

    def logged_codes(self) -> tuple[int | None, int | None]:
        return self.code, self.subcode


class TokenInvalidError(MetaApiError):
    """The access token is invalid, expired or revoked (code 190 or 102): re-authorise."""


class PermissionDeniedError(MetaApiError):
    """The token lacks a permission or access to the object (code 10 or 200-299)."""


class RateLimitedError(MetaApiError):
    """Meta throttled the call (codes 4, 17, 32, 613, 80000-80014 or HTTP 429)."""


def _error_class(http_status: int | None, code: int | None) -> type[MetaApiError]:
    if code in (190, 102):
        return TokenInvalidError
    if code is not None and (code == 10 or 200 <= code <= 299):
        return PermissionDeniedError
    if http_status == 429 or code in RATE_LIMIT_CODES or code in BUC_THROTTLE_CODES:
        return RateLimitedError
    return MetaApiError


def _max_pct(values: Iterable[Any]) -> float:
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return max(numbers, default=0.0)


def parse_usage(headers: Mapping[str, str]) -> dict[str, float]:
    """The highest utilisation percentage of each usage header present in ``headers``."""
    usage: dict[str, float] = {}
    for name in (
        "x-app-usage",
        "x-ad-account-usage",
        "x-business-use-case-usage",
        "x-fb-ads-insights-throttle",
    ):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = orjson.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if name == "x-business-use-case-usage":
            pcts = [
                _max_pct(v for k, v in entry.items() if k != "estimated_time_to_regain_access")
                for entries in data.values()
                if isinstance(entries, list)
                for entry in entries
                if isinstance(entry, dict)
            ]
            usage[name] = max(pcts, default=0.0)
        elif name == "x-ad-account-usage":
            usage[name] = _max_pct([data.get("acc_id_util_pct")])
        elif name == "x-fb-ads-insights-throttle":
            usage[name] = _max_pct([data.get("app_id_util_pct"), data.get("acc_id_util_pct")])
        else:
            usage[name] = _max_pct(
                data.get(k) for k in ("call_count", "total_cputime", "total_time")
            )
    return usage


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(_param(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _act(account_id: str) -> str:
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _without_token(url: str) -> str:
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "access_token"
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


#: Insights below the account level leave ARCHIVED and DELETED ads out unless ``filtering``
#: asks for them, though they spent in the window; Airbyte's source-facebook-marketing asks for
#: every status the same way.
_EVERY_AD = json.dumps(
    [{"field": "ad.effective_status", "operator": "IN", "value": list(AD_STATUSES)}],
    separators=(",", ":"),
)


def _insights_params(
    since: date,
    until: date,
    level: str,
    breakdowns: Iterable[str],
    fields: Iterable[str],
    attribution: Attribution,
) -> dict[str, Any]:
    """An insights request, the same read synchronously or as an async report run."""
    params: dict[str, Any] = {
        "level": level,
        "time_increment": 1,
        "time_range": {"since": since.isoformat(), "until": until.isoformat()},
        "fields": tuple(fields),
        # Sent on every request, so the rows' meaning never rests on Meta's default (today
        # unified attribution: each ad set's own windows).
        **attribution.params(),
    }
    if level != "account":  # account totals always include every ad
        params["filtering"] = _EVERY_AD
    if breakdowns := tuple(breakdowns):
        params["breakdowns"] = breakdowns
    return params


def asks_for_less_data(error: MetaApiError) -> bool:
    """Whether Graph refused a call because the page asked for too much data.

    Graph answers HTTP 500 with code 1 and "Please reduce the amount of data you're asking
    for, then retry your request"; the cure is a smaller ``limit``, not the same call again.
    """
    return (
        error.http_status == 500
        and error.code == 1
        and "reduce the amount of data" in error.message.lower()
    )


def _page_limit(url: str, query: Mapping[str, str] | None) -> int | None:
    """The ``limit`` of a page request (in ``query``, or in ``url`` for a ``paging.next``)."""
    if query is None:
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    raw = query.get("limit")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _with_limit(
    url: str, query: dict[str, str] | None, limit: int
) -> tuple[str, dict[str, str] | None]:
    """The same page request with ``limit`` replaced."""
    if query is not None:
        return url, {**query, "limit": str(limit)}
    parts = urlsplit(url)
    pairs = [
        (k, str(limit) if k == "limit" else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs))), None


class MetaGraphClient(JsonApiTransport):
    """Small, retrying, paging client for the Graph API endpoints the pipelines need."""

    log = log
    retry_label = "Meta"

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = "https://graph.facebook.com",
        api_version: str = DEFAULT_VERSION,
        **transport: Unpack[TransportOptions],
    ) -> None:
        super().__init__(**transport)
        self._token = access_token
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        #: Highest utilisation percentage per usage header of the last response that had any.
        self.last_usage: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"MetaGraphClient(base_url={self.base_url!r}, api_version={self.api_version!r})"

    def __enter__(self) -> MetaGraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def usage_pct(self) -> float:
        """The highest utilisation percentage in :attr:`last_usage` (0 when none seen)."""
        return max(self.last_usage.values(), default=0.0)

    # --- endpoints -------------------------------------------------------------------------

    def list_ad_accounts(self, fields: Iterable[str] = ACCOUNT_FIELDS) -> list[dict[str, Any]]:
        return list(self.iter_pages("me/adaccounts", {"fields": tuple(fields), "limit": 100}))

    def iter_campaigns(
        self, account_id: str, fields: Iterable[str] = CAMPAIGN_FIELDS
    ) -> Iterator[dict[str, Any]]:
        return self._iter_edge(account_id, "campaigns", fields, CAMPAIGN_STATUSES)

    def iter_adsets(
        self, account_id: str, fields: Iterable[str] = ADSET_FIELDS
    ) -> Iterator[dict[str, Any]]:
        return self._iter_edge(account_id, "adsets", fields, ADSET_STATUSES)

    def iter_ads(
        self, account_id: str, fields: Iterable[str] = AD_FIELDS
    ) -> Iterator[dict[str, Any]]:
        return self._iter_edge(account_id, "ads", fields, AD_STATUSES)

    def iter_insights(
        self,
        account_id: str,
        since: date,
        until: date,
        *,
        level: str = "ad",
        breakdowns: Iterable[str] = (),
        fields: Iterable[str] = INSIGHT_FIELDS,
        limit: int = PAGE_LIMIT,
        attribution: Attribution = UNIFIED,
    ) -> Iterator[dict[str, Any]]:
        """Daily (``time_increment=1``) insight rows of an ad account, ``since``..``until``,
        under ``attribution``."""
        params = {
            **_insights_params(since, until, level, breakdowns, fields, attribution),
            "limit": limit,
        }
        return self.iter_pages(f"{_act(account_id)}/insights", params)

    # --- asynchronous report runs -----------------------------------------------------------

    def start_insights_report(
        self,
        account_id: str,
        since: date,
        until: date,
        *,
        level: str = "ad",
        breakdowns: Iterable[str] = (),
        fields: Iterable[str] = INSIGHT_FIELDS,
        attribution: Attribution = UNIFIED,
    ) -> str:
        """Start an async report run (``POST act_<id>/insights``); returns its id."""
        params = _insights_params(since, until, level, breakdowns, fields, attribution)
        url = f"{self.base_url}/{self.api_version}/{_act(account_id)}/insights"
        body = self.post(url, {k: _param(v) for k, v in params.items()})
        run_id = body.get("report_run_id") if isinstance(body, dict) else None
        if not run_id:
            raise MetaApiError(
                "starting a report run answered without report_run_id",
                http_status=200,
                is_transient=True,
                endpoint=urlsplit(url).path,
            )
        return str(run_id)

    def report_runs(self, run_ids: Sequence[str]) -> dict[str, ReportRun]:
        """The status of report runs: one GET for one run, batch calls (50 a call) for more.

        A run whose status could not be read this time (a retryable error inside the batch,
        or Graph leaving its answer out) is missing from the result: poll it again later.
        Non-retryable errors are raised.
        """
        if len(run_ids) == 1:
            (run_id,) = run_ids
            url = f"{self.base_url}/{self.api_version}/{run_id}"
            return {run_id: ReportRun.from_graph(run_id, self.get(url, {"fields": _RUN_FIELDS}))}
        statuses: dict[str, ReportRun] = {}
        for start in range(0, len(run_ids), BATCH_MAX):
            chunk = run_ids[start : start + BATCH_MAX]
            batch = [
                {"method": "GET", "relative_url": f"{self.api_version}/{r}?fields={_RUN_FIELDS}"}
                for r in chunk
            ]
            answers = self.post(
                f"{self.base_url}/",
                {"batch": orjson.dumps(batch).decode(), "include_headers": "false"},
            )
            if not isinstance(answers, list):
                raise MetaApiError(
                    "the batch endpoint answered with something other than a list",
                    http_status=200,
                    is_transient=True,
                    endpoint="/",
                )
            for run_id, answer in zip(chunk, answers, strict=False):
                if not isinstance(answer, dict):
                    continue  # Graph leaves out answers it had no time for: poll again
                endpoint = f"/{self.api_version}/{run_id}"
                code, body = answer.get("code"), answer.get("body") or ""
                if code == 200:
                    data = orjson.loads(body)
                    statuses[run_id] = ReportRun.from_graph(run_id, data)
                    continue
                error = self._graph_error(int(code or 500), None, body, endpoint)
                self.report(error)
                if not error.is_retryable:
                    raise error
        return statuses

    def iter_report_rows(self, run_id: str, *, limit: int = PAGE_LIMIT) -> Iterator[dict[str, Any]]:
        """The rows of a completed report run (``GET <run_id>/insights``), page by page."""
        return self.iter_pages(f"{run_id}/insights", {"limit": limit})

    def _iter_edge(
        self, account_id: str, edge: str, fields: Iterable[str], statuses: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """Every object of an account edge, whatever its status (ARCHIVED and DELETED too)."""
        # A JSON array, as the reference's example and the SDKs send a list<enum>.
        params: dict[str, Any] = {
            "fields": tuple(fields),
            "effective_status": json.dumps(list(statuses)),
            "limit": PAGE_LIMIT,
        }
        return self.iter_pages(f"{_act(account_id)}/{edge}", params)

    # --- paging and transport ---------------------------------------------------------------

    def iter_pages(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row of a Graph edge, following ``paging.next`` to the last page.

        ``path`` is relative to the API version (``"act_123/campaigns"``).
        """
        url: str | None = f"{self.base_url}/{self.api_version}/{path.lstrip('/')}"
        query: dict[str, str] | None = {k: _param(v) for k, v in (params or {}).items()}
        # Only the last few ``next`` URLs: enough to stop a server that loops, while memory
        # stays flat however many pages there are.
        recent: deque[str] = deque(maxlen=_RECENT_PAGES)
        while url is not None:
            body = self._get_page(url, query)
            data = body.get("data", [])
            next_url = (body.get("paging") or {}).get("next")
            del body  # the page's rows are all that is kept while they are consumed
            yield from data
            del data
            if not next_url or next_url in recent:
                break
            recent.append(next_url)
            # ``paging.next`` carries every parameter; a token in it is dropped, since the
            # token travels only in the Authorization header (URLs end up in logs).
            url, query = _without_token(next_url), None

    def _get_page(self, url: str, query: dict[str, str] | None) -> dict[str, Any]:
        """One page; halves ``limit`` (down to 25) while Graph asks for less data per call."""
        while True:
            try:
                return self.get(url, query)
            except MetaApiError as exc:
                limit = _page_limit(url, query)
                if not asks_for_less_data(exc) or limit is None or limit <= MIN_PAGE_LIMIT:
                    raise
                smaller = max(MIN_PAGE_LIMIT, limit // 2)
                log.info(
                    "Meta asked for less data on %s; page limit %d -> %d",
                    exc.endpoint,
                    limit,
                    smaller,
                )
                url, query = _with_limit(url, query, smaller)

    def get(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET an absolute URL with retries; returns the decoded JSON object."""
        body: dict[str, Any] = self._with_token("GET", url, params=params)
        return body

    def post(self, url: str, data: Mapping[str, str] | None = None) -> Any:
        """POST form parameters to an absolute URL with retries; returns the decoded JSON."""
        return self._with_token("POST", url, data=data)

    def delete(self, url: str) -> Any:
        """DELETE an absolute URL with retries (``/me/permissions``); returns the decoded JSON."""
        return self._with_token("DELETE", url)

    def _with_token(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"}
        return self.call(method, url, params=params, data=data, headers=headers)

    # --- what is Graph's own in the transport ----------------------------------------------

    def should_retry(self, error: OutsideApiError) -> bool:
        # "Reduce the amount of data" is not retried as is: iter_pages shrinks the page.
        return (
            isinstance(error, MetaApiError) and error.is_retryable and not asks_for_less_data(error)
        )

    def before_call(self, endpoint: str) -> None:
        delay = throttle_delay(self.usage_pct)
        if delay > 0:
            log.info(
                "Meta usage at %.0f%%; pausing %.1fs before %s", self.usage_pct, delay, endpoint
            )
            self._sleep(delay)

    def after_response(self, response: requests.Response) -> None:
        if usage := parse_usage(response.headers):
            self.last_usage = usage

    def accepts(self, method: str, body: Any) -> bool:
        # Objects everywhere, except the batch endpoint's list of answers.
        return isinstance(body, dict) or (method == "POST" and isinstance(body, list))

    def network_error(self, exc: requests.RequestException, endpoint: str) -> MetaApiError:
        # Only the exception type: its text can hold the URL and with it the token.
        return MetaApiError(
            f"{type(exc).__name__} talking to the Graph API",
            http_status=None,
            is_transient=isinstance(exc, NETWORK_ERRORS),
            endpoint=endpoint,
        )

    def not_json_error(self, response: requests.Response, endpoint: str) -> MetaApiError:
        return MetaApiError(
            "the Graph API answered with a body that is not a JSON object",
            http_status=response.status_code,
            is_transient=True,
            endpoint=endpoint,
        )

    def error_from(self, response: requests.Response, endpoint: str) -> MetaApiError | None:
        if response.ok:
            return None
        return self._graph_error(response.status_code, response.reason, response.content, endpoint)

    def _graph_error(
        self, status: int, reason: str | None, content: bytes | str, endpoint: str
    ) -> MetaApiError:
        """The error a failed answer (HTTP ``status``, Graph error envelope) stands for."""
        try:
            err = orjson.loads(content).get("error")
        except (ValueError, AttributeError):
            err = None
        if not isinstance(err, dict):
            return MetaApiError(
                f"HTTP {status} {reason or ''} without a Graph error body".replace("  ", " "),
                http_status=status,
                endpoint=endpoint,
            )
        code = err.get("code")
        subcode = err.get("error_subcode")
        code = code if isinstance(code, int) else None
        cls = _error_class(status, code)
        return cls(
            self._redact(str(err.get("message") or "unknown Graph error")),
            http_status=status,
            code=code,
            subcode=subcode if isinstance(subcode, int) else None,
            is_transient=bool(err.get("is_transient")),
            fbtrace_id=err.get("fbtrace_id"),
            endpoint=endpoint,
        )

    def _redact(self, text: str) -> str:
        text = _TOKEN_PARAM_RE.sub(r"\1<redacted>", text)
        return text.replace(self._token, "<redacted>") if self._token else text
