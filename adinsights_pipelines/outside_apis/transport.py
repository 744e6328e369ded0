"""JSON over HTTP to an outside API: a requests session with a timeout, the retry policy, and
every failed call logged and reported, retried or not.

A platform's client subclasses :class:`JsonApiTransport` and says what is the platform's own:
how an answer reads as an error (its envelope, its error classes), what a network failure
becomes, which errors are retried, and anything around a call (Meta's usage throttling).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypedDict
from urllib.parse import urlsplit

import orjson
import requests
from tenacity import RetryCallState

from adinsights_pipelines.outside_apis.error_log import ApiCallFailure
from adinsights_pipelines.outside_apis.errors import OutsideApiError
from adinsights_pipelines.outside_apis.retry import BACKOFF_MAX_S, MAX_ATTEMPTS, retrying

__all__ = ["JsonApiTransport", "OnError", "TransportOptions"]

#: Receives every failed call (``app.api_error_log`` through ``api_error_logger``).
OnError = Callable[[ApiCallFailure], None] | None


class TransportOptions(TypedDict, total=False):
    """How a client talks to its API: :class:`JsonApiTransport`'s keyword arguments, which a
    client passes on (``**options: Unpack[TransportOptions]``)."""

    session: requests.Session | None
    on_error: OnError
    max_attempts: int
    timeout: float
    backoff_base: float
    backoff_max_s: float
    sleep: Callable[[float], None]


class JsonApiTransport:
    """Retrying JSON calls to one platform. ``log`` is the client module's logger (operators
    filter on it); ``retry_label`` names the platform in the retry log line."""

    log: logging.Logger = logging.getLogger(__name__)
    retry_label: str = "API"

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        on_error: OnError = None,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float = 30.0,
        backoff_base: float = 1.0,
        backoff_max_s: float = BACKOFF_MAX_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.session = session or requests.Session()
        self.on_error = on_error
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep

    def close(self) -> None:
        self.session.close()

    # --- what each platform says -------------------------------------------------------------

    def error_from(self, response: requests.Response, endpoint: str) -> OutsideApiError | None:
        """The error an answer stands for (None: a success)."""
        raise NotImplementedError

    def network_error(self, exc: requests.RequestException, endpoint: str) -> OutsideApiError:
        """The error a request that got no answer stands for."""
        raise NotImplementedError

    def not_json_error(self, response: requests.Response, endpoint: str) -> OutsideApiError:
        """The error a successful answer whose body is not what :meth:`accepts` stands for."""
        raise NotImplementedError

    def accepts(self, method: str, body: Any) -> bool:
        """Whether a decoded success body is an answer (default: a JSON object)."""
        return isinstance(body, dict)

    def should_retry(self, error: OutsideApiError) -> bool:
        return error.is_retryable

    def before_call(self, endpoint: str) -> None:
        """Called before every attempt."""

    def after_response(self, response: requests.Response) -> None:
        """Called with every answer, failed or not."""

    # --- the call ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """``method`` ``url`` with retries; the decoded JSON of the answer."""
        endpoint = urlsplit(url).path
        policy = retrying(
            lambda e: isinstance(e, OutsideApiError) and self.should_retry(e),
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base,
            backoff_max_s=self.backoff_max_s,
            sleep=self._sleep,
            before_sleep=self._log_retry,
        )
        return policy(self._call_once, method, url, endpoint, params, data, headers)

    def _call_once(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, str] | None,
        data: Any,
        headers: Mapping[str, str] | None,
    ) -> Any:
        self.before_call(endpoint)
        error: OutsideApiError | None
        try:
            response = self.session.request(
                method, url, params=params, data=data, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            error = self.network_error(exc, endpoint)
        else:
            self.after_response(response)
            error = self.error_from(response, endpoint)
            if error is None:
                try:
                    body = orjson.loads(response.content)
                except ValueError:  # orjson.JSONDecodeError is a ValueError
                    body = None
                if self.accepts(method, body):
                    return body
                error = self.not_json_error(response, endpoint)
        self.report(error)
        raise error

    def report(self, error: OutsideApiError) -> None:
        """Log a failed call and hand it to ``on_error``."""
        self.log.warning("%s", error)
        if self.on_error is not None:
            self.on_error(error.failure())

    def _log_retry(self, state: RetryCallState) -> None:
        wait = state.upcoming_sleep
        self.log.info(
            "retrying %s call (attempt %d) in %.2fs",
            self.retry_label,
            state.attempt_number + 1,
            wait,
        )
