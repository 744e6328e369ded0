"""``last_used_at`` of API keys, written off the request's hot path.

A request that authenticates only notes its key's prefix in memory (a dictionary lookup; at
most once a minute per key a pending entry). A background thread writes the pending entries in
one transaction, so no request waits on that write and a key used a thousand times a minute
costs one UPDATE. The stored time is at most a minute (plus a flush) behind the last use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from adinsights_pipelines.api_keys import LAST_USED_RESOLUTION, record_key_use

log = logging.getLogger("api.auth")


class KeyUsageRecorder:
    MAX_REMEMBERED = 100_000

    def __init__(self, engine: Callable[[], Engine], clock: Callable[[], float] = time.time):
        self._engine = engine
        self._clock = clock
        self._interval = LAST_USED_RESOLUTION.total_seconds()
        self._noted: dict[str, float] = {}
        self._pending: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def used(self, prefix: str) -> None:
        """Called on every authenticated request: cheap, never touches the database."""
        now = self._clock()
        noted = self._noted.get(prefix)
        if noted is not None and now - noted < self._interval:
            return
        with self._lock:
            if len(self._noted) >= self.MAX_REMEMBERED:
                self._noted.clear()
            self._noted[prefix] = now
            self._pending[prefix] = datetime.fromtimestamp(now, UTC)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="api-key-usage", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self) -> int:
        """Write what is pending now; the number of keys written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        with self._engine().begin() as conn:
            return record_key_use(conn, pending)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # usage stamps are best effort; requests never depend on them
                log.warning("could not record API key use: %s", type(exc).__name__)
