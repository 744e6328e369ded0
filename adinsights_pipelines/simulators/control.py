"""What every loopback simulator offers its tests besides the platform itself: injected faults,
the request log, and the ``/__sim__`` endpoints that drive them over HTTP.

Each simulator keeps its own ``Fault`` (what a failure looks like on that platform: Graph's
error envelope, Google's, a bare 5xx) and logs a :class:`RequestRecord`, or a record of its own
where it logs something else (Google: the request body; exchange rates: the day asked for).
:class:`SimulatorControls` holds both, thread-safe under the state's one lock, and
:func:`control_routes` serves them:

    GET/POST/DELETE /__sim__/faults    pending faults / inject one or a list / clear them
    GET/DELETE      /__sim__/requests  the request log / clear it
    GET/POST/DELETE /__sim__/config    the knobs / set some / back to their defaults
    POST            /__sim__/reset     everything back to a fresh state
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "Knobs",
    "PendingFault",
    "RequestRecord",
    "SimulatorControls",
    "as_datetime",
    "aware",
    "check_error_fault",
    "control_routes",
    "refuse_unknown_knobs",
]


class PendingFault(Protocol):
    """A fault that fails the next ``remaining`` requests whose path contains ``path_contains``."""

    path_contains: str
    remaining: int


def check_error_fault(count: int, http_status: int) -> None:
    """Refuse a fault spec that would never fire (``count`` below 1) or would answer something
    other than an error (``http_status`` outside 4xx and 5xx)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not 400 <= http_status <= 599:
        raise ValueError("http_status must be a 4xx or 5xx code")


class _Logged(Protocol):
    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class RequestRecord:
    """One request a simulator answered, by method, path and query (never a token)."""

    method: str
    path: str
    query: dict[str, str]
    status: int


F = TypeVar("F", bound=PendingFault)
R = TypeVar("R", bound=_Logged)


class SimulatorControls(Generic[F, R]):
    """Injected faults and the request log of a simulator's state, under ``self._lock``."""

    def __init__(self, lock: threading.Lock | threading.RLock | None = None) -> None:
        self._lock = lock or threading.Lock()
        self._faults: list[F] = []
        self._log: list[R] = []

    # faults -------------------------------------------------------------------------------
    def _add_fault(self, fault: F) -> F:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[F]:
        """The faults still pending, oldest first."""
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    def take_fault(self, path: str) -> F | None:
        """The oldest pending fault for ``path``, counted as used (None: answer normally)."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.path_contains in path:
                    fault.remaining -= 1
                    return fault
        return None

    # request log --------------------------------------------------------------------------
    def log_request(self, record: R) -> None:
        with self._lock:
            self._log.append(record)

    @property
    def requests(self) -> list[R]:
        with self._lock:
            return list(self._log)

    def request_count(self, path_contains: str = "") -> int:
        """Number of requests (failed ones included) whose path contains the text."""
        return sum(1 for r in self.requests if path_contains in r.path)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone: a naive one is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def as_datetime(value: Any) -> datetime:
    """An instant a knob was given (``now``, ``expire_tokens_at``...): a datetime, epoch
    seconds or ISO 8601 text (``Z`` allowed); naive ones are UTC."""
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise TypeError(f"not a datetime: {value!r}")


def refuse_unknown_knobs(knobs: Iterable[str], known: Iterable[str]) -> None:
    """A config naming a knob the simulator does not have is refused, naming them all."""
    if unknown := set(knobs) - set(known):
        raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")


class Knobs(Protocol):
    """What :func:`control_routes` drives: a state with faults, a log and knobs."""

    @property
    def faults(self) -> Sequence[Any]: ...

    @property
    def requests(self) -> Sequence[Any]: ...

    def inject(self, *args: Any, **kwargs: Any) -> Any: ...

    def clear_faults(self) -> None: ...

    def clear_requests(self) -> None: ...

    def knobs(self) -> dict[str, Any]: ...

    def configure(self, **knobs: Any) -> Any: ...

    def reset_knobs(self) -> None: ...

    def reset(self) -> None: ...


def control_routes(
    sim: Knobs, *, config_errors: tuple[type[Exception], ...] = (ValueError, TypeError)
) -> list[Route]:
    """The ``/__sim__`` faults, requests, config and reset endpoints of ``sim``. A config the
    state refuses with one of ``config_errors`` answers 400 with the reason."""

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_faults()
        elif request.method == "POST":
            try:
                payload = await request.json()
                for spec in payload if isinstance(payload, list) else [payload]:
                    sim.inject(**spec)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"detail": f"bad fault spec: {exc}"}, status_code=400)
        return JSONResponse({"faults": [asdict(f) for f in sim.faults]})

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            sim.clear_requests()
        return JSONResponse({"requests": [asdict(r) for r in sim.requests]})

    async def config(request: Request) -> Response:
        if request.method == "DELETE":
            sim.reset_knobs()
        elif request.method == "POST":
            try:
                payload = await request.json()
                if not isinstance(payload, dict):
                    raise TypeError("the config must be a JSON object")
                sim.configure(**payload)
            except config_errors as exc:
                return JSONResponse({"detail": f"bad config: {exc}"}, status_code=400)
        return JSONResponse(sim.knobs())

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse(sim.knobs())

    return [
        Route("/__sim__/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/__sim__/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/__sim__/config", config, methods=["GET", "POST", "DELETE"]),
        Route("/__sim__/reset", reset, methods=["POST"]),
    ]
