"""Clients for Google's OAuth token endpoint, the GA4 Data API and the Search Console API.

The same code talks to Google and to the loopback simulator
(:mod:`adinsights_pipelines.simulators.google`); only the base URLs differ.

* :class:`GoogleOAuth` exchanges a stored refresh token for a short-lived access token
  (``grant_type=refresh_token``); ``invalid_grant`` (revoked or expired consent) raises
  :class:`InvalidGrantError`, which the assets turn into ``reauth_required``.
* :class:`Ga4Client` calls ``POST /v1beta/properties/{id}:runReport`` and pages with
  ``offset``/``limit`` until ``rowCount`` rows were read, ordered by its dimensions (``orderBys``:
  GA4 promises no order otherwise, and recent days change between pages); rows are returned
  keyed by the names in ``dimensionHeaders``/``metricHeaders`` (values stay strings, as GA4
  sends them).
* :class:`SearchConsoleClient` calls ``POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query``
  and pages with ``startRow``/``rowLimit`` (at most 25,000) until a short page; with
  ``dataState='all'`` the rows of days on or after ``metadata.firstIncompleteDate`` are marked
  ``all`` (fresh, still changing), the others ``final``.
* Failures use Google's envelope ``{"error": {"code", "message", "status", "details"}}`` (the
  token endpoint: ``{"error", "error_description"}``). HTTP 429 (``RESOURCE_EXHAUSTED``), 5xx,
  per-user rate limits and network errors are retried with tenacity: base-2 exponential backoff
  with full jitter, at most ``max_attempts`` attempts; nothing else is retried. An expired access
  token (401) is refreshed once and the call repeated.
* ``on_error`` receives an :class:`ApiCallFailure` for every failed HTTP call, retried or not.
* Tokens travel only in the ``Authorization`` header (access tokens) or a POST body (refresh
  tokens); they never appear in URLs, exception messages, failures or logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Unpack
from urllib.parse import quote, urlsplit

import orjson
import requests

from adinsights_pipelines.logs import register_secret
from adinsights_pipelines.outside_apis.error_log import ApiCallFailure
from adinsights_pipelines.outside_apis.errors import OutsideApiError
from adinsights_pipelines.outside_apis.retry import (
    NETWORK_ERRORS,
    is_throttled_or_server_error,
)
from adinsights_pipelines.outside_apis.transport import JsonApiTransport, TransportOptions

__all__ = [
    "GA4_DIMENSIONS",
    "GA4_MAX_LIMIT",
    "GA4_METRICS",
    "GA4_SCOPES",
    "SEARCH_CONSOLE_DIMENSIONS",
    "SEARCH_CONSOLE_MAX_ROW_LIMIT",
    "SEARCH_CONSOLE_SCOPES",
    "AccessToken",
    "ApiCallFailure",
    "Ga4Client",
    "GoogleApiError",
    "GoogleOAuth",
    "InvalidGrantError",
    "PermissionDeniedError",
    "SearchConsoleClient",
    "UnauthenticatedError",
    "is_retryable",
    "mark_data_state",
]

log = logging.getLogger(__name__)

GA4_DIMENSIONS = ("date", "region", "sessionDefaultChannelGroup")
GA4_METRICS = (
    "sessions",
    "totalUsers",
    "newUsers",
    "screenPageViews",
    "engagedSessions",
    "keyEvents",
)
#: GA4 returns at most this many rows per runReport call, whatever ``limit`` asks for.
GA4_MAX_LIMIT = 250_000
SEARCH_CONSOLE_DIMENSIONS = ("date", "query", "page", "country", "device")
SEARCH_CONSOLE_MAX_ROW_LIMIT = 25_000
#: Either scope of each pair lets a token read the API.
GA4_SCOPES = (
    "https://www.googleapis.com/auth/analytics.readonly",
    "https://www.googleapis.com/auth/analytics",
)
SEARCH_CONSOLE_SCOPES = (
    "https://www.googleapis.com/auth/webmasters.readonly",
    "https://www.googleapis.com/auth/webmasters",
)
#: An access token is renewed this long before Google says it expires.
TOKEN_MARGIN = timedelta(seconds=60)
_RETRYABLE_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "ABORTED"})
#: Per-user rate limits of the older (webmasters v3) error shape; daily quotas are not retried.
_RETRYABLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})


def is_retryable(http_status: int | None, status: str | None, reason: str | None = None) -> bool:
    """Whether a failed Google call is worth repeating.

    True for network errors (no HTTP status), HTTP 429 and 5xx, the statuses
    ``RESOURCE_EXHAUSTED``/``UNAVAILABLE``/``INTERNAL``/``ABORTED`` and per-user rate limits;
    False for everything else (400, 401, 403 permission or daily quota, 404, ...).
    """
    if http_status is None or is_throttled_or_server_error(http_status):
        return True
    return (status in _RETRYABLE_STATUSES) or (reason in _RETRYABLE_REASONS)


class GoogleApiError(OutsideApiError):
    """A failed Google call (after retries, when it was retryable)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        endpoint: str,
        http_status: int | None,
        status: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, http_status=http_status)
        self.provider = provider
        self.status = status
        self.reason = reason

    @property
    def is_retryable(self) -> bool:
        return is_retryable(self.http_status, self.status, self.reason)

    def details(self) -> list[str]:
        return [p for p in (self.status, self.reason) if p]

    def logged_message(self) -> str:
        return ": ".join(p for p in (self.status or self.reason, self.message) if p)


class InvalidGrantError(GoogleApiError):
    """The refresh token was revoked or expired (OAuth ``invalid_grant``): re-authorise."""


class UnauthenticatedError(GoogleApiError):
    """The API refused the access token (HTTP 401 ``UNAUTHENTICATED``) even after a refresh."""


class PermissionDeniedError(GoogleApiError):
    """No access to the property or site, or a missing scope (HTTP 403 ``PERMISSION_DENIED``)."""


def _error_class(http_status: int | None, status: str | None) -> type[GoogleApiError]:
    if http_status == 401 or status == "UNAUTHENTICATED":
        return UnauthenticatedError
    if status == "PERMISSION_DENIED":
        return PermissionDeniedError
    return GoogleApiError


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime
    scopes: tuple[str, ...]

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"AccessToken(expires_at={self.expires_at.isoformat()}, scopes={self.scopes!r})"


class _Transport(JsonApiTransport):
    """Retrying JSON POSTs with Google's error envelope; reports each failed call."""

    log = log

    def __init__(self, provider: str, **options: Unpack[TransportOptions]) -> None:
        super().__init__(**options)
        self.provider = self.retry_label = provider

    def post(
        self,
        url: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST with retries; the decoded JSON object of the answer."""
        result: dict[str, Any] = self.call(
            "POST",
            url,
            data=orjson.dumps(json_body) if json_body is not None else form,
            headers={
                **({"Content-Type": "application/json"} if json_body is not None else {}),
                **(headers or {}),
            },
        )
        return result

    def network_error(self, exc: requests.RequestException, endpoint: str) -> GoogleApiError:
        # Only the exception type: its text could hold a request detail.
        return GoogleApiError(
            f"{type(exc).__name__} talking to {self.provider}",
            provider=self.provider,
            endpoint=endpoint,
            http_status=None,
            status="UNAVAILABLE" if isinstance(exc, NETWORK_ERRORS) else None,
        )

    def not_json_error(self, response: requests.Response, endpoint: str) -> GoogleApiError:
        return GoogleApiError(
            "the answer is not a JSON object",
            provider=self.provider,
            endpoint=endpoint,
            http_status=response.status_code,
            status="INTERNAL",
        )

    def error_from(self, response: requests.Response, endpoint: str) -> GoogleApiError | None:
        if response.ok:
            return None
        try:
            body = orjson.loads(response.content)
        except ValueError:
            body = None
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, str):  # the OAuth token endpoint: {"error", "error_description"}
            description = body.get("error_description")  # err is a str: body is a dict
            cls = InvalidGrantError if err == "invalid_grant" else GoogleApiError
            return cls(
                str(description or err),
                provider=self.provider,
                endpoint=endpoint,
                http_status=response.status_code,
                reason=err,
            )
        if not isinstance(err, dict):
            return GoogleApiError(
                f"HTTP {response.status_code} {response.reason} without a Google error body",
                provider=self.provider,
                endpoint=endpoint,
                http_status=response.status_code,
            )
        status = err.get("status") if isinstance(err.get("status"), str) else None
        return _error_class(response.status_code, status)(
            str(err.get("message") or "unknown Google error"),
            provider=self.provider,
            endpoint=endpoint,
            http_status=response.status_code,
            status=status,
            reason=_reason(err),
        )


def _reason(err: Mapping[str, Any]) -> str | None:
    """The machine reason of an error: ``details[].reason`` (ErrorInfo) or ``errors[].reason``."""
    for key in ("details", "errors"):
        entries = err.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                    return str(entry["reason"])
    return None


class GoogleOAuth:
    """The OAuth client that turns a tenant's refresh token into access tokens."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        provider: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **transport: Unpack[TransportOptions],
    ) -> None:
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        register_secret(client_secret)
        self._clock = clock
        self._transport = _Transport(provider, **transport)

    def __repr__(self) -> str:
        return f"GoogleOAuth(token_url={self.token_url!r})"

    def refresh(self, refresh_token: str) -> AccessToken:
        """A new access token for ``refresh_token`` (``grant_type=refresh_token``)."""
        body = self._transport.post(
            self.token_url,
            form={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise GoogleApiError(
                "the token endpoint answered without an access_token",
                provider=self._transport.provider,
                endpoint=urlsplit(self.token_url).path,
                http_status=200,
            )
        register_secret(token)
        expires_in = body.get("expires_in")
        seconds = int(expires_in) if isinstance(expires_in, int | float | str) else 3600
        scope = body.get("scope")
        return AccessToken(
            token,
            self._clock() + timedelta(seconds=seconds),
            tuple(str(scope).split()) if scope else (),
        )


class _TokenSource:
    """The current access token of one refresh token, renewed before it expires."""

    def __init__(
        self, oauth: GoogleOAuth, refresh_token: str, clock: Callable[[], datetime]
    ) -> None:
        self._oauth = oauth
        self._refresh_token = refresh_token
        self._clock = clock
        self._current: AccessToken | None = None

    def get(self) -> AccessToken:
        current = self._current
        if current is None or self._clock() >= current.expires_at - TOKEN_MARGIN:
            current = self._current = self._oauth.refresh(self._refresh_token)
        return current

    def invalidate(self) -> None:
        self._current = None


class _GoogleApiClient:
    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        oauth: GoogleOAuth,
        refresh_token: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **transport: Unpack[TransportOptions],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = _TokenSource(oauth, refresh_token, clock)
        # The data calls wait longer than the token exchange (30 s) by default: reports are big.
        options: TransportOptions = {"timeout": 60.0, **transport}
        self._transport = _Transport(provider, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        self._transport.close()

    def access_token(self) -> AccessToken:
        """The access token in use (exchanging the refresh token when there is none yet)."""
        return self._tokens.get()

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        for attempt in (1, 2):
            # The exchange happens here, outside the data call's retries (it has its own).
            bearer = {"Authorization": f"Bearer {self._tokens.get().token}"}
            try:
                return self._transport.post(url, json_body=body, headers=bearer)
            except UnauthenticatedError:
                # The access token expired or was revoked mid-sync: one fresh exchange, one more
                # try (an invalid_grant from the exchange means the consent itself is gone).
                if attempt == 2:
                    raise
                self._tokens.invalidate()
        raise AssertionError("unreachable")


class Ga4Client(_GoogleApiClient):
    """``properties/{id}:runReport`` of the GA4 Data API v1beta, paged by ``offset``/``limit``."""

    def __init__(self, base_url: str = "https://analyticsdata.googleapis.com", **kw: Any) -> None:
        super().__init__("ga4", base_url, **kw)
        #: ``propertyQuota`` of the last answer (tokens per day/hour consumed and remaining).
        self.last_property_quota: dict[str, Any] = {}
        #: ``metadata`` of the last answer (``timeZone``, ``currencyCode``).
        self.last_metadata: dict[str, Any] = {}

    def iter_report(
        self,
        property_id: str,
        since: date,
        until: date,
        *,
        dimensions: Sequence[str] = GA4_DIMENSIONS,
        metrics: Sequence[str] = GA4_METRICS,
        page_size: int = GA4_MAX_LIMIT,
    ) -> Iterator[dict[str, str]]:
        """Every row of a daily report, keyed by the header names, values as GA4's strings."""
        if not 1 <= page_size <= GA4_MAX_LIMIT:
            raise ValueError(f"page_size must be from 1 to {GA4_MAX_LIMIT}")
        path = f"/v1beta/properties/{quote(property_id, safe='')}:runReport"
        offset = 0
        while True:
            body = self._post(
                path,
                {
                    "dateRanges": [{"startDate": since.isoformat(), "endDate": until.isoformat()}],
                    "dimensions": [{"name": d} for d in dimensions],
                    "metrics": [{"name": m} for m in metrics],
                    # GA4 promises no order without orderBys, and the numbers of days still
                    # being processed change between page calls: ordering by the dimensions
                    # keeps each page starting where the last one ended.
                    "orderBys": [{"dimension": {"dimensionName": d}} for d in dimensions],
                    "offset": offset,
                    "limit": page_size,
                    "keepEmptyRows": False,
                    "returnPropertyQuota": True,
                },
            )
            if isinstance(quota := body.get("propertyQuota"), dict):
                self.last_property_quota = quota
            if isinstance(metadata := body.get("metadata"), dict):
                self.last_metadata = metadata
            names = _header_names(body, "dimensionHeaders") + _header_names(body, "metricHeaders")
            if missing := [n for n in (*dimensions, *metrics) if n not in names]:
                raise GoogleApiError(
                    f"the report lacks columns {missing}",
                    provider="ga4",
                    endpoint=path,
                    http_status=200,
                )
            rows = body.get("rows") or []
            row_count = int(body.get("rowCount") or 0)
            del body
            for row in rows:
                values = [v.get("value", "") for v in row.get("dimensionValues", [])]
                values += [v.get("value", "") for v in row.get("metricValues", [])]
                yield dict(zip(names, values, strict=False))
            offset += len(rows)
            if not rows or offset >= row_count:
                return


def _header_names(body: Mapping[str, Any], key: str) -> list[str]:
    return [str(h.get("name")) for h in body.get(key) or [] if isinstance(h, dict)]


def mark_data_state(row_date: str, first_incomplete: str | None) -> str:
    """``all`` for a day Google still collects (on or after ``firstIncompleteDate``), else
    ``final``. Dates are ISO ``YYYY-MM-DD`` strings, which compare in date order."""
    if first_incomplete and row_date >= first_incomplete:
        return "all"
    return "final"


class SearchConsoleClient(_GoogleApiClient):
    """``searchAnalytics.query`` of the Search Console API, paged by ``startRow``."""

    def __init__(self, base_url: str = "https://www.googleapis.com", **kw: Any) -> None:
        super().__init__("search_console", base_url, **kw)
        #: ``responseAggregationType`` of the last answer.
        self.last_aggregation_type: str | None = None

    def iter_rows(
        self,
        site_url: str,
        since: date,
        until: date,
        *,
        data_state: str = "all",
        dimensions: Sequence[str] = SEARCH_CONSOLE_DIMENSIONS,
        row_limit: int = SEARCH_CONSOLE_MAX_ROW_LIMIT,
        aggregation_type: str = "auto",
    ) -> Iterator[dict[str, Any]]:
        """Every row, keyed by dimension name plus ``clicks``, ``impressions``, ``ctr``,
        ``position`` and ``data_state`` (``final``/``all``)."""
        if data_state not in ("final", "all"):
            raise ValueError("data_state must be final or all")
        if not 1 <= row_limit <= SEARCH_CONSOLE_MAX_ROW_LIMIT:
            raise ValueError(f"row_limit must be from 1 to {SEARCH_CONSOLE_MAX_ROW_LIMIT}")
        # The site URL is one path segment: its slashes and colon are percent-encoded.
        path = f"/webmasters/v3/sites/{quote(site_url, safe='')}/searchAnalytics/query"
        start_row = 0
        while True:
            body = self._post(
                path,
                {
                    "startDate": since.isoformat(),
                    "endDate": until.isoformat(),
                    "dimensions": list(dimensions),
                    "type": "web",
                    "aggregationType": aggregation_type,
                    "dataState": data_state,
                    "rowLimit": row_limit,
                    "startRow": start_row,
                },
            )
            self.last_aggregation_type = body.get("responseAggregationType")
            metadata = body.get("metadata")
            first_incomplete = (
                metadata.get("firstIncompleteDate")
                if data_state == "all" and isinstance(metadata, dict)
                else None
            )
            rows = body.get("rows") or []
            del body
            for row in rows:
                out: dict[str, Any] = dict(zip(dimensions, row.get("keys", []), strict=False))
                for metric in ("clicks", "impressions", "ctr", "position"):
                    out[metric] = row.get(metric, 0)
                out["data_state"] = mark_data_state(str(out.get("date", "")), first_incomplete)
                yield out
            if len(rows) < row_limit:
                return
            start_row += len(rows)
