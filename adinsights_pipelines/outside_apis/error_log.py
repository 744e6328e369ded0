"""``app.api_error_log``: one row per failed call to an outside API, whatever the provider.

Clients report an :class:`ApiCallFailure` (the endpoint is a path without secrets) through an
``on_error`` callback; :func:`api_error_logger` builds that callback for one tenant. Each row is
written in its own transaction, so a sync that fails afterwards still leaves its failures behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = ["ApiCallFailure", "api_error_logger", "record_api_failure"]


@dataclass(frozen=True, kw_only=True)
class ApiCallFailure:
    """One failed HTTP call to an ad platform (``endpoint`` is a path, never a token)."""

    provider: str = "meta"
    endpoint: str
    http_status: int | None
    code: int | None
    subcode: int | None
    message: str
    is_retryable: bool
    occurred_at: datetime


_INSERT = sa.text(
    """
    insert into app.api_error_log (provider, tenant_id, endpoint, http_status, error_code,
        error_subcode, message, is_retryable, occurred_at)
    values (:provider, :tenant_id, :endpoint, :http_status, :code, :subcode, :message,
        :is_retryable, :occurred_at)
    """
)


def record_api_failure(conn: Connection, tenant_id: str | None, failure: ApiCallFailure) -> None:
    """Insert one failure in the caller's transaction."""
    conn.execute(
        _INSERT,
        {
            "provider": failure.provider,
            "tenant_id": tenant_id,
            "endpoint": failure.endpoint,
            "http_status": failure.http_status,
            "code": failure.code,
            "subcode": failure.subcode,
            "message": failure.message,
            "is_retryable": failure.is_retryable,
            "occurred_at": failure.occurred_at,
        },
    )


def api_error_logger(engine: Engine, tenant_id: str | None) -> Callable[[ApiCallFailure], None]:
    """An ``on_error`` callback writing each failure of ``tenant_id`` in its own transaction."""

    def log_failure(failure: ApiCallFailure) -> None:
        with engine.begin() as conn:
            record_api_failure(conn, tenant_id, failure)

    return log_failure
