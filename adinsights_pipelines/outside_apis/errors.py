"""The base of every outside API's error class: what the clients, the assets and the error log
rely on, whatever the platform."""

from __future__ import annotations

from datetime import UTC, datetime

from adinsights_pipelines.outside_apis.error_log import ApiCallFailure

__all__ = ["OutsideApiError"]


class OutsideApiError(Exception):
    """A failed call to an outside API (after retries, when it was retryable).

    ``message`` is the platform's own text with any secret taken out; ``endpoint`` is the URL
    path (never a query, which could hold a token); ``http_status`` is None for a network error.
    Each platform's subclass adds its fields, its retry rule and its one-line ``str``.
    """

    provider: str

    def __init__(self, message: str, *, endpoint: str, http_status: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.http_status = http_status

    @property
    def is_retryable(self) -> bool:
        raise NotImplementedError

    def __str__(self) -> str:
        parts = [f"HTTP {self.http_status}" if self.http_status else "network error"]
        return f"{self.call_name()} failed ({', '.join(parts + self.details())}): {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def call_name(self) -> str:
        """What failed, as the one-line message names it."""
        return f"{self.provider} {self.endpoint}"

    def details(self) -> list[str]:
        """The platform's codes after the HTTP status in the one-line message."""
        return []

    def logged_codes(self) -> tuple[int | None, int | None]:
        """The ``error_code`` and ``error_subcode`` the error log keeps (default: the status)."""
        return self.http_status, None

    def logged_message(self) -> str:
        """The ``message`` the error log keeps."""
        return self.message

    def failure(self) -> ApiCallFailure:
        """This failed call as the error log records it, now."""
        code, subcode = self.logged_codes()
        return ApiCallFailure(
            provider=self.provider,
            endpoint=self.endpoint,
            http_status=self.http_status,
            code=code,
            subcode=subcode,
            message=self.logged_message(),
            is_retryable=self.is_retryable,
            occurred_at=datetime.now(UTC),
        )
