"""Throttles: budgets per API key and per client address, counted by the ``limits`` library.

- A request presenting a bearer key spends that key's *auth* budgets (burst and sustained). The
  key is identified by a hash of what was presented, before any database lookup: a throttled
  request never touches the database.
- A request to an authenticated endpoint that is not from a *proven* key (no key, a key not
  seen to authenticate lately in this process, or one that just failed) also spends its client
  address's *address* budgets (burst and sustained): floods of made-up keys from one address
  stop there, before their database lookups. Proven keys skip them, so the common request pays
  for two counters, not four.
- A request to a public endpoint (health, metrics, the OpenAPI document) spends its address's
  *public* budget. The Airbyte webhook spends a *webhook* budget of its own, so a busy monitor
  probing health from Airbyte's address cannot starve job notifications (nor they the probes).

Counting uses the sliding-window-counter strategy (constant memory per key, no bursts at window
edges) on ``memory://`` storage by default, or any ``limits`` storage URI (``redis://…``) so that
several API replicas share one count. A refused request answers 429 problem+json with
``Retry-After``: the seconds until every spent budget admits one more request.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, SlidingWindowCounterSupport, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from adinsights_pipelines.settings import Settings
from api.observability import request_context
from api.problems import problem_response


@dataclass(frozen=True)
class Budget:
    name: str  # auth_burst, auth_sustained, address_burst, address_sustained, public, webhook
    item: RateLimitItem

    @property
    def expiry(self) -> int:
        return self.item.get_expiry()


@dataclass(frozen=True)
class Budgets:
    auth: tuple[Budget, ...]
    address: tuple[Budget, ...]
    public: tuple[Budget, ...]
    webhook: tuple[Budget, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Budgets:
        def budgets(*pairs: tuple[str, str]) -> tuple[Budget, ...]:
            return tuple(Budget(name, parse(rate)) for name, rate in pairs if rate)

        return cls(
            auth=budgets(
                ("auth_burst", settings.throttle_auth_burst),
                ("auth_sustained", settings.throttle_auth_sustained),
            ),
            address=budgets(
                ("address_burst", settings.throttle_address_burst),
                ("address_sustained", settings.throttle_address_sustained),
            ),
            public=budgets(("public", settings.throttle_public)),
            webhook=budgets(("webhook", settings.throttle_webhook)),
        )


def seconds_until_allowed(
    limit: int,
    expiry: float,
    previous_count: int,
    previous_ttl: float,
    current_count: int,
    current_ttl: float,
) -> float:
    """When the sliding window counter admits one more hit (0: now).

    ``limits`` admits a hit while ``previous * previous_ttl / expiry + current < limit``; the
    previous window's weight falls linearly until the current window ends, when the current
    count becomes the previous one. ``current_ttl`` runs one window past the current window's
    end (the storage keeps a counter for two windows), and ``previous_ttl`` is the time left in
    the current window.
    """
    left_in_window = max(0.0, current_ttl - expiry)
    weighted = previous_count * previous_ttl / expiry + current_count
    if weighted < limit:
        return 0.0
    if current_count < limit:
        # the previous window's share must shrink by (weighted - limit) and a bit
        return max(0.0, previous_ttl - (limit - current_count) * expiry / previous_count)
    # full already in this window: wait for it to end, then for its weight to fall below limit
    return left_in_window + max(0.0, expiry * (1 - limit / current_count))


def retry_after_header(seconds: float) -> str:
    # whole seconds, rounded up, never 0 (a client retrying "now" would be refused again)
    return str(max(1, math.ceil(seconds + 1e-3)))


Check = tuple[Budget, str, str]  # budget, "key" or "address", identity


class SweptMemoryStorage(MemoryStorage):
    """``limits``' in-memory storage, its expired counters swept by :meth:`sweep` when the
    throttle calls it (once a minute), not from a new ``threading.Timer`` every 10 ms of
    traffic: starting a thread blocks the event loop until the thread runs, which on a busy
    machine costs milliseconds. Counting is unchanged (reads expire stale keys themselves)."""

    def _MemoryStorage__schedule_expiry(self) -> None:  # the base class's private hook
        return None

    def sweep(self) -> None:
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


class Throttle:
    """Spends budgets for identities; answers None (admitted) or the seconds to wait."""

    MAX_CACHED_KEYS = 100_000
    SWEEP_EVERY = 60.0

    def __init__(self, storage_uri: str, budgets: Budgets) -> None:
        in_process = storage_uri.split("://", 1)[0] == "memory"
        self.storage = SweptMemoryStorage() if in_process else storage_from_string(storage_uri)
        if not isinstance(self.storage, SlidingWindowCounterSupport):
            raise ValueError(f"throttle storage {storage_uri!r} has no sliding windows")
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.window: SlidingWindowCounterSupport = self.storage
        self.budgets = budgets
        # In-process counting takes microseconds: done on the event loop. A networked storage
        # would block the loop, so it runs in a worker thread.
        self.inline = isinstance(self.storage, MemoryStorage)
        self._keys: dict[Check, str] = {}
        self._swept = time.monotonic()

    def _key(self, check: Check) -> str:
        # the storage key limits' strategy would build (item.key_for), built once per identity
        key = self._keys.get(check)
        if key is None:
            if len(self._keys) >= self.MAX_CACHED_KEYS:
                self._keys.clear()
            budget, scope, identity = check
            key = self._keys[check] = budget.item.key_for(budget.name, scope, identity)
        return key

    def _spend(self, checks: Sequence[Check]) -> float | None:
        if isinstance(self.storage, SweptMemoryStorage):
            now = time.monotonic()
            if now - self._swept > self.SWEEP_EVERY:
                self._swept = now
                self.storage.sweep()
        # what SlidingWindowCounterRateLimiter.hit does, minus rebuilding the key every time
        for check in checks:
            item = check[0].item
            if not self.window.acquire_sliding_window_entry(
                self._key(check), item.amount, item.get_expiry()
            ):
                return max(self._wait(c) for c in checks)
        return None

    def _wait(self, check: Check) -> float:
        item = check[0].item
        window = self.window.get_sliding_window(self._key(check), item.get_expiry())
        return seconds_until_allowed(item.amount, item.get_expiry(), *window)

    async def spend(self, checks: Sequence[Check]) -> float | None:
        if not checks:
            return None
        if self.inline:
            return self._spend(checks)
        return await anyio.to_thread.run_sync(self._spend, checks)


def key_identity(authorization: bytes) -> str | None:
    """A stable, non-reversible name for the bearer key presented (never the key itself)."""
    scheme, _, key = authorization.partition(b" ")
    key = key.strip()
    if scheme.lower() != b"bearer" or not key:
        return None
    return hashlib.blake2b(key, digest_size=16).hexdigest()


class ThrottleMiddleware:
    """Pure ASGI: spends budgets before routing; a refused request ends here with a 429."""

    MAX_PROVEN = 10_000

    def __init__(
        self,
        app: ASGIApp,
        *,
        throttle: Throttle,
        public_paths: frozenset[str],
        webhook_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.throttle = throttle
        self.public_paths = public_paths
        self.webhook_paths = webhook_paths
        # key identities that authenticated lately (bounded; a failure removes one)
        self.proven: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        budgets = self.throttle.budgets
        identity = None
        checks: list[Check]
        if scope["path"] in self.webhook_paths:
            checks = [(b, "address", address) for b in budgets.webhook]
        elif scope["path"] in self.public_paths:
            checks = [(b, "address", address) for b in budgets.public]
        else:
            for name, value in scope["headers"]:
                if name == b"authorization":
                    identity = key_identity(value)
                    break
            checks = (
                []
                if identity in self.proven
                else [(b, "address", address) for b in budgets.address]
            )
            if identity is not None:
                checks += [(b, "key", identity) for b in budgets.auth]
        wait = await self.throttle.spend(checks)
        if wait is not None:
            response = problem_response(
                429,
                "too many requests; retry after the Retry-After header's seconds",
                headers={"Retry-After": retry_after_header(wait)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
        if identity is not None:
            context = request_context(scope)
            if context is not None and context.api_key_prefix is not None:
                if identity not in self.proven:
                    if len(self.proven) >= self.MAX_PROVEN:
                        self.proven.clear()
                    self.proven.add(identity)
            else:
                self.proven.discard(identity)
