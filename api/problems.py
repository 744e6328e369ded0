"""Errors as RFC 9457 ``application/problem+json``, with a stable ``type`` per kind of problem.

:data:`PROBLEM_TYPES` is the one list of kinds: a client may branch on ``type`` (the URI
``https://adinsights.dev/problems/<kind>``), and the kinds never change meaning. An endpoint
raises :class:`Problem` with a status and a human ``detail``; the kind defaults from the status.
No answer ever carries a traceback: unexpected errors are logged and answer ``internal-error``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("api.errors")

PROBLEM_BASE = "https://adinsights.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    kind: str
    title: str
    status: int

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.kind


PROBLEM_TYPES: dict[str, ProblemType] = {
    t.kind: t
    for t in (
        ProblemType("bad-request", "Bad request", 400),
        ProblemType("cors-rejected", "CORS preflight rejected", 400),
        ProblemType("unauthorized", "Unauthorized", 401),
        ProblemType("forbidden", "Forbidden", 403),
        ProblemType("cors-origin-not-allowed", "Origin not allowed", 403),
        ProblemType("not-found", "Not found", 404),
        ProblemType("tenant-not-found", "Tenant not found", 404),
        ProblemType("method-not-allowed", "Method not allowed", 405),
        ProblemType("payload-too-large", "Payload too large", 413),
        ProblemType("unsupported-media-type", "Unsupported media type", 415),
        ProblemType("exchange-rate-missing", "Exchange rate missing", 409),
        ProblemType("too-many-requests", "Too many requests", 429),
        ProblemType("internal-error", "Internal error", 500),
        ProblemType("unavailable", "Service unavailable", 503),
        ProblemType("conflict", "Conflict", 409),
        ProblemType("bad-gateway", "Bad gateway", 502),
    )
}
# The kind used when an endpoint names only a status.
_BY_STATUS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found"}
_BY_STATUS |= {405: "method-not-allowed", 429: "too-many-requests", 503: "unavailable"}
_BY_STATUS |= {409: "conflict", 502: "bad-gateway"}
_BY_STATUS |= {413: "payload-too-large", 415: "unsupported-media-type"}


def problem_type(status: int, kind: str | None = None) -> ProblemType:
    if kind is None:
        kind = _BY_STATUS.get(status, "internal-error" if status == 500 else None)
        if kind is None:  # a status without a kind of its own: still a stable type
            return ProblemType(f"http-{status}", _phrase(status), status)
    found = PROBLEM_TYPES.get(kind)
    if found is None or found.status != status:
        raise ValueError(f"no problem kind {kind!r} with status {status} in PROBLEM_TYPES")
    return found


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(HTTPException):
    """Raise from an endpoint to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.kind = problem_type(status, kind).kind


def problem_response(
    status: int,
    detail: str,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    ptype = problem_type(status, kind)
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        {"type": ptype.uri, "title": ptype.title, "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=all_headers,
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = getattr(exc, "kind", None)
    # Starlette's own 404 ("Not Found") is for a path no route matches
    detail = "no such endpoint" if kind is None and exc.status_code == 404 else str(exc.detail)
    return problem_response(exc.status_code, detail, kind, exc.headers)


async def database_unavailable_handler(request: Request, exc: Exception) -> Response:
    # The driver's message may name hosts or users: log it, answer without it.
    log.error("database unavailable on %s: %s", request.url.path, type(exc).__name__)
    return problem_response(503, "the database is unavailable; retry shortly", "unavailable")


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal error; the operator has the details in the logs")
