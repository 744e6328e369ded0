"""What the app shares between requests: settings, the warehouse engine, the Dagster instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from dagster import DagsterInstance
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from sqlalchemy.engine import Engine
from starlette.requests import Request

from adinsights_pipelines.settings import Settings
from adinsights_pipelines.warehouse.database import Database, engine


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppState:
    db: Database
    settings: Settings
    #: "Now" for answers that depend on age (staleness); tests substitute a fixed clock.
    clock: Callable[[], datetime] = field(default=utc_now)

    @cached_property
    def engine(self) -> Engine:
        return engine(self.db)

    @cached_property
    def instance(self) -> DagsterInstance:
        return DagsterInstance.get()

    @cached_property
    def asset_graph(self) -> BaseAssetGraph:
        """The code location's assets and their freshness policies (loaded on first use)."""
        from adinsights_pipelines.definitions import defs

        return defs.resolve_asset_graph()


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.adinsights
    return state


def engine_of(request: Request) -> Engine:
    return state_of(request).engine
