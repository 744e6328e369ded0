"""The outside APIs' retry policy on its own: what is retryable on HTTP, how long the waits
are, when it gives up. Expected values are written out by hand."""

from __future__ import annotations

import random

import pytest
from tenacity import RetryCallState

from adinsights_pipelines.outside_apis.retry import (
    BACKOFF_MAX_S,
    MAX_ATTEMPTS,
    is_throttled_or_server_error,
    retrying,
)


class Flaky(Exception):
    def __init__(self, retryable: bool) -> None:
        super().__init__("flaky")
        self.retryable = retryable


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, True), (500, True), (503, True), (599, True), (None, False), (200, False),
     (400, False), (404, False), (428, False), (600, False)],
)  # fmt: skip
def test_429_and_5xx_are_throttled_or_server_errors(status: int | None, expected: bool) -> None:
    assert is_throttled_or_server_error(status) is expected


def test_the_runbooks_numbers() -> None:
    assert (MAX_ATTEMPTS, BACKOFF_MAX_S) == (5, 60.0)


def run(
    retryable: bool, *, max_attempts: int, backoff_base: float = 1.0, backoff_max_s: float = 60.0
) -> tuple[list[int], list[float], list[int]]:
    """Call a function that always fails under the policy: (attempts, sleeps, retried after)."""
    calls: list[int] = []
    sleeps: list[float] = []
    retried: list[int] = []

    def attempt() -> None:
        calls.append(len(calls) + 1)
        raise Flaky(retryable)

    def before_sleep(state: RetryCallState) -> None:
        retried.append(state.attempt_number)

    policy = retrying(
        lambda e: isinstance(e, Flaky) and e.retryable,
        max_attempts=max_attempts,
        backoff_base=backoff_base,
        backoff_max_s=backoff_max_s,
        sleep=sleeps.append,
        before_sleep=before_sleep,
    )
    with pytest.raises(Flaky):
        policy(attempt)
    return calls, sleeps, retried


def test_a_retryable_failure_is_tried_max_attempts_times_then_raised() -> None:
    calls, sleeps, retried = run(True, max_attempts=5)
    assert calls == [1, 2, 3, 4, 5]
    assert retried == [1, 2, 3, 4] and len(sleeps) == 4


def test_a_failure_not_retryable_is_raised_at_once() -> None:
    calls, sleeps, retried = run(False, max_attempts=5)
    assert (calls, sleeps, retried) == ([1], [], [])


@pytest.mark.parametrize("seed", range(20))
def test_each_wait_is_full_jitter_under_a_doubling_ceiling(seed: int) -> None:
    random.seed(seed)
    _, sleeps, _ = run(True, max_attempts=5, backoff_base=2.0, backoff_max_s=10.0)
    ceilings = [2.0, 4.0, 8.0, 10.0]  # 2 x 2^(n-1), capped at 10
    assert all(0.0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True)), sleeps


def test_full_jitter_spreads_the_waits_over_the_whole_range() -> None:
    random.seed(7)
    firsts = [run(True, max_attempts=2, backoff_base=1.0)[1][0] for _ in range(200)]
    assert min(firsts) < 0.1 and max(firsts) > 0.9  # uniform in [0, 1], not fixed
