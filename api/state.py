"""What the app shares between requests: the warehouse engine and the Dagster instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from dagster import DagsterInstance
from sqlalchemy.engine import Engine
from starlette.requests import Request

from adinsights_pipelines.warehouse.database import Database, engine


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppState:
    db: Database
    #: "Now" for answers that depend on age (staleness); tests substitute a fixed clock.
    clock: Callable[[], datetime] = field(default=utc_now)

    @cached_property
    def engine(self) -> Engine:
        return engine(self.db)

    @cached_property
    def instance(self) -> DagsterInstance:
        return DagsterInstance.get()


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.adinsights
    return state


def engine_of(request: Request) -> Engine:
    return state_of(request).engine
