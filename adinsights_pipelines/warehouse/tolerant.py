"""Rows that survive one unreadable value.

PostgreSQL stores times Python cannot hold (years after 9999, ``infinity``). psycopg refuses
to load them with a ``DataError`` that fails the whole statement, so one such row, however it
got there, used to take down every view that reads its table (health, ops, status, metrics and
the alert sensor). Our engines register :func:`register_tolerant_loaders` instead: such a value
loads as an :class:`UnreadableValue`, which is not a time, and the views that must keep
answering (``sync_health.py``, the ops and status routes, ``/metrics/app/``, the alert sensor)
check each row with :func:`unreadable_columns`, report that row (and only it) as ``error``
with the reason, and log it once per process.

The loaders subclass psycopg's own, the way psycopg's documentation adapts infinite dates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from psycopg import DataError
from psycopg.adapt import AdaptersMap, Buffer
from psycopg.types.datetime import (
    TimestampBinaryLoader,
    TimestampLoader,
    TimestamptzBinaryLoader,
    TimestamptzLoader,
)
from sqlalchemy.engine import Engine

log = logging.getLogger("adinsights.warehouse")


class UnreadableValue:
    """A stored value Python cannot represent (shown as PostgreSQL printed it, when known)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"UnreadableValue({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnreadableValue) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _as_text(data: Buffer) -> str:
    return bytes(data).decode("utf-8", "replace")


OUT_OF_RANGE = "a timestamp outside the years 1 to 9999"


def _psycopg_or_unreadable(load: Callable[[Buffer], Any], data: Buffer, shown: str) -> Any:
    """psycopg's own ``load`` of ``data``; where it refuses (``DataError``), an
    :class:`UnreadableValue` showing ``shown``."""
    try:
        return load(data)
    except DataError:
        return UnreadableValue(shown)


class _TolerantTimestamptz(TimestamptzLoader):
    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        connection = self.connection
        self._zone = connection.info.timezone if connection is not None else UTC

    def load(self, data: Buffer) -> Any:
        # Fast path: PostgreSQL's ISO output parsed by the C ``fromisoformat``, shown equal to
        # psycopg's own result in the session's time zone (about twice psycopg's C loader
        # instead of five times for its Python one); anything else takes psycopg's way.
        try:
            return datetime.fromisoformat(bytes(data).decode()).astimezone(self._zone)
        except ValueError:
            pass
        return _psycopg_or_unreadable(super().load, data, _as_text(data))


class _TolerantTimestamp(TimestampLoader):
    def load(self, data: Buffer) -> Any:
        try:
            value = datetime.fromisoformat(bytes(data).decode())
            if value.tzinfo is None:
                return value
        except ValueError:
            pass
        return _psycopg_or_unreadable(super().load, data, _as_text(data))


class _TolerantTimestamptzBinary(TimestamptzBinaryLoader):
    def load(self, data: Buffer) -> Any:
        return _psycopg_or_unreadable(super().load, data, OUT_OF_RANGE)


class _TolerantTimestampBinary(TimestampBinaryLoader):
    def load(self, data: Buffer) -> Any:
        return _psycopg_or_unreadable(super().load, data, OUT_OF_RANGE)


def register_tolerant_loaders(adapters: AdaptersMap) -> None:
    adapters.register_loader("timestamptz", _TolerantTimestamptz)
    adapters.register_loader("timestamp", _TolerantTimestamp)
    adapters.register_loader("timestamptz", _TolerantTimestamptzBinary)
    adapters.register_loader("timestamp", _TolerantTimestampBinary)


def tolerant(engine: Engine) -> Engine:
    """``engine`` with :func:`register_tolerant_loaders` on every connection it opens."""

    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        register_tolerant_loaders(dbapi_connection.adapters)

    sa.event.listen(engine, "connect", _on_connect)
    return engine


def unreadable_columns(row: Mapping[str, Any]) -> dict[str, str]:
    """The columns of ``row`` that hold an :class:`UnreadableValue`, with what was stored."""
    return {k: v.text for k, v in row.items() if isinstance(v, UnreadableValue)}


def unreadable_reason(columns: Mapping[str, str]) -> str:
    return "unreadable row: " + ", ".join(
        f"{name} = {text!r} is outside the years 1 to 9999" for name, text in columns.items()
    )


_logged: set[tuple[str, str, str]] = set()
_logged_lock = threading.Lock()
MAX_LOGGED = 10_000


def log_unreadable_once(where: str, tenant_id: str | None, reason: str) -> None:
    """One ERROR line per view, tenant and reason for the life of the process."""
    key = (where, tenant_id or "-", reason)
    with _logged_lock:
        if key in _logged:
            return
        if len(_logged) >= MAX_LOGGED:
            _logged.clear()
        _logged.add(key)
    log.error(
        "unreadable row reported as error",
        extra={"view": where, "tenant_id": tenant_id, "reason": reason},
    )
