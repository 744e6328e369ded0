"""JSON-lines logs that never carry a secret.

Two defences: known secret shapes (``access_token=…``, bearer tokens, our API keys, Meta
``EAA…`` tokens) are masked by pattern, and every secret value this process has decrypted or
created is registered and masked wherever it appears, message or traceback.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from pythonjsonlogger.json import JsonFormatter

MASK = "***"
# (cue, pattern): a pattern runs only on text containing its cue (lower-cased text for the
# bearer one), because scanning every line with all of them costs more than the line itself.
_PATTERNS = (
    ("access_token=", re.compile(r"(access_token=)[^&\s\"']+")),
    ("input_token=", re.compile(r"(input_token=)[^&\s\"']+")),
    ("fb_exchange_token=", re.compile(r"(fb_exchange_token=)[^&\s\"']+")),
    ("client_secret=", re.compile(r"(client_secret=)[^&\s\"']+")),
    ("bearer", re.compile(r"((?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}")),
    ("adi_", re.compile(r"()\badi_[0-9a-f]{8}_[A-Za-z0-9_-]{16,}")),
    ("EAA", re.compile(r"()\bEAA[A-Za-z0-9]{20,}")),
    ("refresh_token=", re.compile(r"(refresh_token=)[^&\s\"']+")),
    ("ya29.", re.compile(r"()\bya29\.[A-Za-z0-9._-]{16,}")),  # Google OAuth access tokens
)
_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every log line of this process from now on."""
    if value and len(value) >= 6:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    lowered = text.lower()
    for cue, pattern in _PATTERNS:
        if cue in text or (cue == "bearer" and cue in lowered):
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "adinsights_log_context", default=()
)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Attach ``tenant_id``, ``run_id``, ``correlation_id``… to every log line in this block."""
    merged = {**dict(_context.get()), **{k: v for k, v in fields.items() if v}}
    token = _context.set(tuple(merged.items()))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current :func:`log_context` fields onto each record (JSON output shows them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get():
            setattr(record, key, value)
        return True


class RedactingFilter(logging.Filter):
    """Masks secrets in the formatted message and in any traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None
        return True


# What a LogRecord carries by itself; anything else on a record is an ``extra`` field.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class LineFormatter(logging.Formatter):
    """The same JSON line as :func:`json_handler`'s (time, level, logger, message, then the
    extra fields), built with orjson and redacted as a whole: for hot loggers such as the API's
    access log, where python-json-logger's generality costs more than the request itself."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def _time(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # one strftime per second, not per line
            self._second, self._stamp = second, time.strftime(TIME_FORMAT, time.localtime(second))
        return self._stamp

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(line, default=str).decode())


def line_handler(stream: object = None) -> logging.Handler:
    """Like :func:`json_handler`, faster; masking is done on the whole line by the formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(LineFormatter())
    handler.addFilter(ContextFilter())
    return handler


def json_handler(stream: object = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    return handler


HOT_LOGGERS = ("api.access",)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for this process, secrets masked."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(json_handler())
    root.setLevel(level)
    for name in HOT_LOGGERS:  # one line per request: the fast formatter, same JSON shape
        hot = logging.getLogger(name)
        for existing in list(hot.handlers):
            hot.removeHandler(existing)
        hot.addHandler(line_handler())
        hot.propagate = False
