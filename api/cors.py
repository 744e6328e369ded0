"""CORS for explicitly approved origins only (runbook "API Edge Controls").

Starlette's ``CORSMiddleware`` does the CORS work for approved origins. Around it:

- a request without ``Origin`` (servers, scripts, the benchmark) skips CORS entirely;
- a preflight from an unapproved origin is refused with 403 problem+json and *no* CORS header
  (Starlette's own refusal is a 400 that still lists the allowed methods and headers);
- a simple request from an unapproved origin is served (the browser withholds the answer) with
  no CORS header, only ``Vary: Origin``;
- a preflight from an approved origin asking for a method or header we do not allow is a
  400 problem+json.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adinsights_pipelines.settings import Settings
from api.problems import problem_response

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = ("Retry-After", "X-Request-ID")
PREFLIGHT_MAX_AGE = 600


class ApprovedOriginsCORS(CORSMiddleware):
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        super().__init__(
            app,
            allow_origins=(
                ["*"] if settings.cors_allow_all_origins else settings.cors_allowed_origins
            ),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
                break
        if origin is None:
            await self.app(scope, receive, send)
            return
        if self.is_allowed_origin(origin):
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = problem_response(
                403, "origin not allowed by CORS_ALLOWED_ORIGINS", "cors-origin-not-allowed"
            )
            response.headers["Vary"] = "Origin"
            await response(scope, receive, send)
            return

        async def send_without_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Vary"] = ", ".join([*response_headers.getlist("Vary"), "Origin"])
            await send(message)

        await self.app(scope, receive, send_without_cors)

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code == 200:
            return answer
        # an approved origin asking for a method or header outside the policy
        reason = bytes(answer.body).decode("utf-8", "replace").lower()
        refusal = problem_response(400, reason, "cors-rejected")
        for name in ("Access-Control-Allow-Origin", "Vary"):
            if name in answer.headers:
                refusal.headers[name] = answer.headers[name]
        return refusal
