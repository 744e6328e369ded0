"""What the app shares between requests: settings, the warehouse engine, the Dagster instance.

The API is not the code location and never imports it (``tests/test_import_graph.py``). Its
answers about Dagster assets come from the concerns they are declared in: the ops endpoints read
the ingestion assets' freshness policies from :attr:`AppState.ingestion_graph` (Meta, Airbyte and
web analytics assembled as the code location assembles them, without dbt's manifest). Only the
alert evaluation on demand needs the whole graph; whoever serves the app passes a loader for it
(``create_app(..., asset_graph=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import Any

import sqlalchemy as sa
from dagster import DagsterInstance, Definitions
from sqlalchemy.engine import Engine
from starlette.requests import Request

from adinsights_pipelines.dagster_internals import AssetGraph
from adinsights_pipelines.encryption import LocalKeyring, keyring_from_settings
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.warehouse.database import Database
from adinsights_pipelines.warehouse.tolerant import tolerant
from api.key_usage import KeyUsageRecorder


@cache
def api_engine_for(sqlalchemy_url: str) -> Engine:
    """The API's pool (one per database per process), sized for a server's concurrent requests.
    No pre-ping (a round trip on every checkout): after a database restart the first request on
    a dead connection answers 503 and SQLAlchemy then discards the whole pool."""
    return tolerant(
        sa.create_engine(
            sqlalchemy_url, pool_size=10, max_overflow=10, pool_recycle=1800, pool_pre_ping=False
        )
    )


@cache
def ingestion_definitions() -> Definitions:
    """The tenant-partitioned ingestion concerns, assembled as the code location assembles them
    (``defs/assembly.py``): their assets, groups and freshness policies."""
    from adinsights_pipelines.defs.airbyte import definitions as airbyte
    from adinsights_pipelines.defs.assembly import assemble
    from adinsights_pipelines.defs.google import definitions as google
    from adinsights_pipelines.defs.meta import definitions as meta

    return assemble(meta.defs, airbyte.defs, google.defs)


class AssetGraphNotServed(Exception):
    """The app was created without a loader of the code location's asset graph."""


@dataclass(frozen=True)
class CachedSnapshot:
    """One tenant's stored snapshot as this process last read it, with the materialization that
    produced it once the instance has recorded it."""

    tenant_id: str
    generated_at: datetime
    payload: dict[str, Any]
    dagster_run_id: str | None
    materialization: dict[str, Any] | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppState:
    db: Database
    settings: Settings
    #: "Now" for answers that depend on age (staleness); tests substitute a fixed clock.
    clock: Callable[[], datetime] = field(default=utc_now)
    #: Each tenant's stored metrics snapshot as last read (``api/routes/metrics.py``), used only
    #: while its ``snapshot_generated_at`` is unchanged.
    snapshots: dict[str, CachedSnapshot] = field(default_factory=dict)
    #: Loads the code location's whole asset graph (the alert evaluation on demand needs it);
    #: passed by whoever serves the app, called on first use.
    load_asset_graph: Callable[[], AssetGraph] | None = None

    @cached_property
    def engine(self) -> Engine:
        return api_engine_for(self.db.sqlalchemy_url)

    @cached_property
    def reader(self) -> Engine:
        """The same pool in autocommit: a read is one round trip (no BEGIN, no ROLLBACK on
        return). Under READ COMMITTED each statement sees the same data either way; writes use
        :attr:`engine` and ``begin()``."""
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @cached_property
    def key_usage(self) -> KeyUsageRecorder:
        """``last_used_at`` of API keys, written in the background (api/key_usage.py)."""
        return KeyUsageRecorder(lambda: self.engine)

    @cached_property
    def instance(self) -> DagsterInstance:
        return DagsterInstance.get()

    @cached_property
    def asset_graph(self) -> AssetGraph:
        """The code location's whole graph, from :attr:`load_asset_graph` on first use."""
        if self.load_asset_graph is None:
            raise AssetGraphNotServed("this app was created without the code location's graph")
        return self.load_asset_graph()

    @cached_property
    def ingestion_graph(self) -> AssetGraph:
        """The ingestion assets and their freshness policies (loaded on first use)."""
        return ingestion_definitions().resolve_asset_graph()

    @cached_property
    def keyring(self) -> LocalKeyring:
        """The master key (credentials written by the Meta lifecycle; its signing key)."""
        return keyring_from_settings(self.settings)


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.adinsights
    return state


def reader_of(request: Request) -> Engine:
    return state_of(request).reader
