"""Per-request observability: request id, JSON access log, Prometheus request metrics.

One pure-ASGI middleware, the outermost of ours, so that what it records includes everything
inside (CORS refusals, throttling, errors). Per request it:

- takes the caller's ``X-Request-ID`` when it is a sane token, else makes one; puts it in the
  log context (every log line of the request carries ``request_id``) and on the response;
- answers an exception that escaped the app with a 500 problem (logged with its traceback,
  never sent to the client);
- logs one ``api.access`` line: method, route template, status, duration_ms, tenant_id (when
  authenticated), api_key_prefix, client address, request_id. Never headers, never the query
  string (it may carry secrets), never the raw path (ids);
- counts the request in ``api_requests_total`` / ``api_request_duration_seconds``.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adinsights_pipelines.logs import log_context
from api.problems import problem_response
from api.telemetry import RequestMetrics

access_log = logging.getLogger("api.access")
error_log = logging.getLogger("api.errors")

SCOPE_KEY = "adinsights.request"
# Request ids: a random prefix per process and a counter, unique across replicas without a
# system call per request (an id is a correlation handle, not a secret).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")
UNMATCHED = "unmatched"


@dataclass
class RequestContext:
    """What the endpoint learns about the request, for the access log (set by api.auth)."""

    request_id: str
    tenant_id: str | None = None
    api_key_prefix: str | None = None


def request_context(scope: Scope) -> RequestContext | None:
    context: RequestContext | None = scope.get(SCOPE_KEY)
    return context


class RouteNames:
    """The route template of a request (``/api/meta/accounts/``), never its raw path."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.static = {r.path for r in routes if isinstance(r, Route) and "{" not in r.path}
        self.dynamic = [r for r in routes if not (isinstance(r, Route) and "{" not in r.path)]

    def template(self, scope: Scope) -> str:
        route = scope.get("route")  # set by Starlette's router once it matched
        if route is not None and hasattr(route, "path"):
            return str(route.path)
        path = scope.get("path", "")
        if path in self.static:  # refused before routing (throttled, CORS preflight)
            return str(path)
        for candidate in self.dynamic:
            match, _ = candidate.matches(scope)
            if match != Match.NONE and hasattr(candidate, "path"):
                return str(candidate.path)
        return UNMATCHED


class ObservabilityMiddleware:
    def __init__(
        self, app: ASGIApp, *, routes: RouteNames, metrics: RequestMetrics, access_log: bool
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
                break
        request_id = (
            incoming.decode("ascii")
            if incoming is not None and _REQUEST_ID.match(incoming)
            else f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
        )
        context = RequestContext(request_id)
        scope[SCOPE_KEY] = context
        status = 500
        response_started = False
        id_header = (b"x-request-id", request_id.encode("ascii"))

        async def send_observed(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        with log_context(request_id=request_id):
            try:
                await self.app(scope, receive, send_observed)
            except Exception:
                error_log.exception(
                    "unhandled error on %s %s", scope["method"], self.routes.template(scope)
                )
                status = 500
                if not response_started:
                    response = problem_response(
                        500,
                        f"internal error; the operator can find request {request_id} in the logs",
                    )
                    await response(scope, receive, send_observed)
            finally:
                seconds = time.perf_counter() - started
                route = self.routes.template(scope)
                method = scope["method"]
                self.metrics.observe(method, route, status, seconds)
                if self.access_log and access_log.isEnabledFor(logging.INFO):
                    client = scope.get("client")
                    # makeRecord + handle is logger.info without its caller lookup (the JSON
                    # line has no file or line number to fill in): a few microseconds a request
                    record = access_log.makeRecord(
                        access_log.name,
                        logging.INFO,
                        __file__,
                        0,
                        "%s %s %s",
                        (method, route, status),
                        None,
                        extra={
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "tenant_id": context.tenant_id,
                            "api_key_prefix": context.api_key_prefix,
                            "client": client[0] if client else None,
                            "request_id": request_id,
                        },
                    )
                    access_log.handle(record)
