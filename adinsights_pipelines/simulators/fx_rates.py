"""Loopback simulator of Open Exchange Rates' historical endpoint.

``GET /historical/YYYY-MM-DD.json?app_id=...[&symbols=JMD,EUR][&base=USD]``
    Answers, as Open Exchange Rates documents it::

        {"disclaimer": "Usage subject to terms: https://openexchangerates.org/terms",
         "license": "https://openexchangerates.org/license",
         "timestamp": 1764806399, "base": "USD", "rates": {"JMD": 157.182311, ...}}

    ``timestamp`` is the end of that UTC day (the time of the day's last rates), or the
    simulator's "now" for today. Rates are deterministic: derived from ``seed``, the currency
    and the day, six decimals, so a standalone simulator and a test agree.

Errors have Open Exchange Rates' shape ``{"error": true, "status", "message",
"description"}``: ``missing_app_id`` / ``invalid_app_id`` (401; any app id starting with
``sim_`` is valid), ``invalid_base`` (400; only USD, as on the free and developer plans),
``not_available`` (400; a day in the future, before 1999-01-01, or one of the simulator's
missing days), ``not_found`` (404; any other path).

Knobs (attributes of :class:`FxSimState`, or ``POST /__sim__/config``)
    ``missing_days`` (ISO dates answered ``not_available``), ``skip_weekends`` (Saturdays and
    Sundays answered ``not_available``, as a central bank publishes), ``corrections``
    (``{"2026-11-14": {"JMD": 160.0}}``: a provider's corrected rate for a past day),
    ``latency_s``, ``error_rate_5xx``; ``now`` pins the clock.

Simulator control over HTTP::

    POST   /__sim__/faults    {"path_contains": "2026-11-14", "count": 2, "http_status": 503}
    GET    /__sim__/faults    pending faults            DELETE clears them
    GET    /__sim__/requests  request log (no app ids)  DELETE clears it
    GET    /__sim__/config    knobs and clock           POST sets, DELETE resets them
    POST   /__sim__/reset     everything back to a fresh state
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adinsights_pipelines.simulators.control import (
    SimulatorControls,
    check_error_fault,
    control_routes,
)
from adinsights_pipelines.simulators.server import LoopbackServer

__all__ = ["FxRatesSimulator", "FxSimState", "create_app", "environment", "main", "rate_for"]

DISCLAIMER = "Usage subject to terms: https://openexchangerates.org/terms"
LICENSE = "https://openexchangerates.org/license"
FIRST_DAY = date(1999, 1, 1)
#: Units per 1 USD around which each currency's simulated rate moves.
CENTRES: dict[str, float] = {
    "JMD": 157.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "CAD": 1.37,
    "TTD": 6.78,
    "BBD": 2.0,
    "BSD": 1.0,
    "XCD": 2.7,
    "MXN": 17.2,
    "JPY": 150.0,
    "CNY": 7.2,
    "AUD": 1.52,
}
_DESCRIPTIONS = {
    "missing_app_id": (
        "No App ID provided. Please sign up at https://openexchangerates.org/signup, or contact "
        "support@openexchangerates.org."
    ),
    "invalid_app_id": (
        "Invalid App ID provided. Please sign up at https://openexchangerates.org/signup, or "
        "contact support@openexchangerates.org."
    ),
    "invalid_base": "Client requested rates for an unsupported base currency",
    "not_available": (
        "Historical rates for the requested date are not available - please try a different "
        "date, or contact support@openexchangerates.org."
    ),
    "not_found": "Client requested a non-existent resource/route.",
    "internal_error": "Something went wrong on our side - please try again shortly.",
}
_DATE_PATH = re.compile(r"^/historical/([0-9]{4}-[0-9]{2}-[0-9]{2})\.json$")


def _error(status: int, message: str, description: str | None = None) -> JSONResponse:
    return JSONResponse(
        {
            "error": True,
            "status": status,
            "message": message,
            "description": description or _DESCRIPTIONS.get(message, message),
        },
        status_code=status,
    )


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def rate_for(seed: int, currency: str, day: date) -> Decimal:
    """The simulated units of ``currency`` per 1 USD on ``day`` (six decimals)."""
    if currency == "USD":
        return Decimal(1)
    centre = CENTRES.get(currency, 1.0 + 9.0 * _unit(seed, currency, "centre"))
    phase = 2 * math.pi * _unit(seed, currency, "phase")
    drift = 0.015 * math.sin(day.toordinal() / 45.0 + phase)
    noise = 0.002 * (_unit(seed, currency, day.isoformat()) - 0.5)
    return Decimal(f"{centre * (1 + drift + noise):.6f}")


@dataclass
class Fault:
    """The next ``count`` requests whose path contains ``path_contains`` fail like this."""

    path_contains: str = ""
    count: int = 1
    http_status: int = 503
    message: str | None = None
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        check_error_fault(self.count, self.http_status)
        self.remaining = self.count


@dataclass(frozen=True)
class RequestRecord:
    path: str
    day: str | None
    symbols: str | None
    status: int


class FxSimState(SimulatorControls[Fault, RequestRecord]):
    """Everything the simulator knows; thread-safe (the app serves from a thread pool)."""

    def __init__(self, *, seed: int = 0, clock: Callable[[], datetime] | None = None) -> None:
        self.seed = seed
        self._clock = clock or (lambda: datetime.now(UTC))
        super().__init__()
        self._pinned: datetime | None = None
        self.reset_knobs()

    def reset_knobs(self) -> None:
        self.missing_days: set[date] = set()
        self.skip_weekends = False
        self.corrections: dict[date, dict[str, Decimal]] = {}
        self.latency_s = 0.0
        self.error_rate_5xx = 0.0
        self._pinned = None

    def now(self) -> datetime:
        return self._pinned or self._clock()

    def configure(self, **knobs: Any) -> dict[str, Any]:
        for name, value in knobs.items():
            if name == "missing_days":
                self.missing_days = {date.fromisoformat(str(d)) for d in value}
            elif name == "skip_weekends":
                self.skip_weekends = bool(value)
            elif name == "corrections":
                self.corrections = {
                    date.fromisoformat(str(d)): {c: Decimal(str(r)) for c, r in rates.items()}
                    for d, rates in dict(value).items()
                }
            elif name == "latency_s":
                self.latency_s = max(0.0, float(value))
            elif name == "error_rate_5xx":
                self.error_rate_5xx = min(1.0, max(0.0, float(value)))
            elif name == "now":
                self._pinned = datetime.fromisoformat(value) if value else None
            else:
                raise ValueError(f"unknown knob {name!r}")
        return self.knobs()

    def knobs(self) -> dict[str, Any]:
        return {
            "missing_days": sorted(d.isoformat() for d in self.missing_days),
            "skip_weekends": self.skip_weekends,
            "corrections": {
                d.isoformat(): {c: str(r) for c, r in rates.items()}
                for d, rates in sorted(self.corrections.items())
            },
            "latency_s": self.latency_s,
            "error_rate_5xx": self.error_rate_5xx,
            "now": self.now().isoformat(),
        }

    def inject(self, path_contains: str = "", **spec: Any) -> Fault:
        return self._add_fault(Fault(path_contains=path_contains, **spec))

    def reset(self) -> None:
        self.clear_faults()
        self.clear_requests()
        self.reset_knobs()

    def published(self, day: date) -> bool:
        if day < FIRST_DAY or day > self.now().astimezone(UTC).date():
            return False
        if day in self.missing_days:
            return False
        return not (self.skip_weekends and day.weekday() >= 5)

    def rates(self, day: date, symbols: list[str] | None) -> dict[str, Decimal]:
        currencies = symbols if symbols else ["USD", *CENTRES]
        found = {c: rate_for(self.seed, c, day) for c in currencies if c == "USD" or c in CENTRES}
        found.update(
            {c: r for c, r in self.corrections.get(day, {}).items() if not symbols or c in symbols}
        )
        return found

    def timestamp(self, day: date) -> int:
        now = self.now().astimezone(UTC)
        if day == now.date():
            return int(now.timestamp())
        return int(datetime.combine(day, time(23, 59, 59), UTC).timestamp())


def create_app(state: FxSimState | None = None) -> Starlette:
    sim = state or FxSimState()

    def answer(path: str, query: dict[str, str]) -> JSONResponse:
        fault = sim.take_fault(path)
        if fault is not None:
            message = fault.message or (
                "not_allowed" if fault.http_status == 429 else "internal_error"
            )
            return _error(fault.http_status, message)
        if sim.error_rate_5xx and random.random() < sim.error_rate_5xx:
            return _error(502, "internal_error")
        app_id = query.get("app_id")
        if not app_id:
            return _error(401, "missing_app_id")
        if not app_id.startswith("sim_"):
            return _error(401, "invalid_app_id")
        match = _DATE_PATH.match(path)
        if match is None:
            return _error(404, "not_found")
        if query.get("base", "USD").upper() != "USD":
            return _error(400, "invalid_base")
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            return _error(400, "not_available")
        if not sim.published(day):
            return _error(400, "not_available")
        symbols = [s.strip().upper() for s in query.get("symbols", "").split(",") if s.strip()]
        rates = sim.rates(day, symbols or None)
        body = {
            "disclaimer": DISCLAIMER,
            "license": LICENSE,
            "timestamp": sim.timestamp(day),
            "base": "USD",
            # JSON numbers, as the API sends them (six decimals)
            "rates": {c: float(r) for c, r in sorted(rates.items())},
        }
        return JSONResponse(body)

    async def historical(request: Request) -> Response:
        if sim.latency_s > 0:
            await asyncio.sleep(sim.latency_s)
        path = request.url.path
        response = answer(path, dict(request.query_params))
        match = _DATE_PATH.match(path)
        sim.log_request(
            RequestRecord(
                path,
                match.group(1) if match else None,
                request.query_params.get("symbols"),
                response.status_code,
            )
        )
        return response

    async def not_found(request: Request) -> Response:
        return _error(404, "not_found")

    app = Starlette(
        routes=[
            *control_routes(sim),
            Route("/historical/{rest:path}", historical, methods=["GET"]),
            Route("/{rest:path}", not_found, methods=["GET", "POST"]),
        ]
    )
    app.state.sim = sim
    return app


class FxRatesSimulator(LoopbackServer):
    """The simulator with uvicorn in a background thread on 127.0.0.1 (``url`` is the API root,
    what ``ADINSIGHTS_FX_API_URL`` takes)."""

    def __init__(self, state: FxSimState | None = None, *, port: int = 0) -> None:
        self.state = state or FxSimState()
        super().__init__(create_app(self.state), port=port, name="exchange-rates")


#: Any app id starting with ``sim_`` is valid at the simulator.
SIM_APP_ID = "sim_fx_app"


def environment(url: str) -> dict[str, str]:
    """The settings that point the product at a simulator running at ``url``."""
    return {
        "ADINSIGHTS_FX_PROVIDER": "openexchangerates",
        "ADINSIGHTS_FX_API_URL": url,
        "ADINSIGHTS_FX_APP_ID": SIM_APP_ID,
    }


def main(host: str = "127.0.0.1", port: int = 8013) -> None:
    """Serve the simulator in the foreground (``adinsights simulate fx-rates``)."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
