"""What the app shares between requests: settings, the warehouse engine, the Dagster instance."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from dagster import DagsterInstance
from sqlalchemy.engine import Engine
from starlette.requests import Request

from adinsights_pipelines.settings import Settings
from adinsights_pipelines.warehouse.database import Database, engine


@dataclass
class AppState:
    db: Database
    settings: Settings

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
