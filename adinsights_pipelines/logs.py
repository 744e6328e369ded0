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
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

MASK = "***"
_PATTERNS = (
    re.compile(r"(access_token=)[^&\s\"']+"),
    re.compile(r"(input_token=)[^&\s\"']+"),
    re.compile(r"(fb_exchange_token=)[^&\s\"']+"),
    re.compile(r"(client_secret=)[^&\s\"']+"),
    re.compile(r"(refresh_token=)[^&\s\"']+"),
    re.compile(r"((?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"()\badi_[0-9a-f]{8}_[A-Za-z0-9_-]{16,}"),
    re.compile(r"()\bEAA[A-Za-z0-9]{20,}"),
    re.compile(r"()\bya29\.[A-Za-z0-9._-]{16,}"),  # Google OAuth access tokens
)
_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every log line of this process from now on."""
    if value and len(value) >= 6:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    for pattern in _PATTERNS:
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


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for this process, secrets masked."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(json_handler())
    root.setLevel(level)
