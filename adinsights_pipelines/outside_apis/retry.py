"""The retry policy for outside APIs (the runbook's): a retryable failure is tried again after
a base-2 exponential backoff with full jitter, capped at 60 s a wait, at most 5 attempts in all.

Retryable on every platform: network errors, HTTP 429 and 5xx. Each client adds its platform's
own retryable answers (Graph's throttling codes, Google's ``RESOURCE_EXHAUSTED``...).
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

__all__ = [
    "BACKOFF_MAX_S",
    "MAX_ATTEMPTS",
    "NETWORK_ERRORS",
    "is_throttled_or_server_error",
    "retrying",
]

MAX_ATTEMPTS = 5
BACKOFF_MAX_S = 60.0
#: Failures of the connection itself: worth another attempt, whatever the platform.
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def is_throttled_or_server_error(http_status: int | None) -> bool:
    """HTTP 429 (too many requests) or any 5xx."""
    return http_status is not None and (http_status == 429 or 500 <= http_status <= 599)


def retrying(
    should_retry: Callable[[BaseException], bool],
    *,
    max_attempts: int,
    backoff_base: float,
    backoff_max_s: float,
    sleep: Callable[[float], None],
    before_sleep: Callable[[RetryCallState], None],
) -> Retrying:
    """Call a function under the policy: ``should_retry`` says which exceptions are worth
    another attempt; the last one is raised as it is once ``max_attempts`` are spent.

    The wait after attempt n is uniform in [0, min(``backoff_max_s``, ``backoff_base`` x 2^(n-1))].
    """
    return Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(max_attempts),
        wait=wait_random_exponential(multiplier=backoff_base, exp_base=2, max=backoff_max_s),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
