"""What the API's edge middleware costs per request: the same constant-JSON endpoint, bare and
behind the real stack (observability + access log, CORS, throttles), called in-process.

No server and no database: each request is one ASGI call on one event loop, so the difference
is the middleware alone (the network and uvicorn add the same to both). The endpoint notes an
authenticated key as ``api.auth`` would after its lookup, so the throttles take the common
path of a proven key (its burst and sustained budgets). The throttles count
with their real in-memory storage against budgets far too large to refuse anything; the access
log is formatted as JSON (the project's handler) into a discarded stream, at INFO as
``adinsights serve-api`` runs it. The last line is machine-readable.
"""

from __future__ import annotations

import asyncio
import io
import logging
import statistics
import time
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adinsights_pipelines.logs import line_handler
from adinsights_pipelines.settings import Settings
from api.app import edge_middleware
from api.observability import request_context
from api.telemetry import RequestMetrics

REQUESTS = 20_000
ROUNDS = 5
PATH = "/api/metrics/combined/"
HEADERS = [
    (b"host", b"testserver"),
    (b"authorization", b"Bearer adi_0123abcd_" + b"x" * 43),
    (b"accept", b"application/json"),
]


async def constant(request: Request) -> JSONResponse:
    context = request_context(request.scope)
    if context is not None:  # what api.auth.authenticate notes once the key checks out
        context.api_key_prefix, context.tenant_id = "0123abcd", "bench"
    return JSONResponse({"status": "ok", "value": 42})


def build(edge: bool) -> Starlette:
    routes = [Route(PATH, constant, methods=["GET"])]
    if not edge:
        return Starlette(routes=routes)
    huge = "1000000000/second"
    settings = Settings(
        throttle_auth_burst=huge,
        throttle_auth_sustained=huge,
        throttle_address_burst=huge,
        throttle_address_sustained=huge,
        cors_allowed_origins=["https://dashboard.example"],
    )
    metrics = RequestMetrics(CollectorRegistry())
    return Starlette(routes=routes, middleware=edge_middleware(settings, routes, metrics))


async def run(app: Any, n: int) -> float:
    """CPU seconds of this process for ``n`` sequential requests (CPU, not wall time: other
    processes on the machine then skew the figure less)."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"source=warehouse",
        "root_path": "",
        "headers": HEADERS,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(n):
        await app(dict(scope_base), receive, send)
    elapsed = time.process_time() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed


def main() -> None:
    access = logging.getLogger("api.access")
    access.addHandler(line_handler(io.StringIO()))
    access.setLevel(logging.INFO)
    access.propagate = False
    apps = {"bare": build(edge=False), "edge": build(edge=True)}
    per_request: dict[str, list[float]] = {name: [] for name in apps}

    async def measure() -> None:
        for app in apps.values():  # warm-up
            await run(app, 500)
        for _ in range(ROUNDS):
            for name, app in apps.items():
                per_request[name].append(await run(app, REQUESTS) / REQUESTS * 1e6)

    asyncio.run(measure())
    bare = statistics.median(per_request["bare"])
    edge = statistics.median(per_request["edge"])
    print(f"{REQUESTS} in-process requests x {ROUNDS} rounds, median per request:")
    print(f"  bare Starlette endpoint        {bare:8.1f} us")
    print(f"  behind the edge middleware     {edge:8.1f} us  (+{edge - bare:.1f} us)")
    print(f"edge_bare_us={bare:.1f} edge_us={edge:.1f} edge_overhead_us={edge - bare:.1f}")


if __name__ == "__main__":
    main()
