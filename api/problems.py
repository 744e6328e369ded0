"""Errors as RFC 9457 ``application/problem+json``, with a stable ``type`` per kind of problem."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("api.errors")

PROBLEM_BASE = "https://adinsights.dev/problems/"
TITLES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    429: "too-many-requests",
    500: "internal-error",
    503: "unavailable",
}


class Problem(HTTPException):
    """Raise from an endpoint to answer with a problem document."""

    def __init__(self, status: int, detail: str, kind: str | None = None) -> None:
        super().__init__(status_code=status, detail=detail)
        self.kind = kind or TITLES.get(status, "error")


def problem_response(status: int, detail: str, kind: str | None = None) -> JSONResponse:
    kind = kind or TITLES.get(status, "error")
    return JSONResponse(
        {
            "type": PROBLEM_BASE + kind,
            "title": kind.replace("-", " "),
            "status": status,
            "detail": detail,
        },
        status_code=status,
        media_type="application/problem+json",
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem_response(exc.status_code, str(exc.detail), getattr(exc, "kind", None))


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal error; the operator has the details in the logs")
