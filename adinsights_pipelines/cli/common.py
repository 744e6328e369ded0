"""What the command groups share: the progress line, the tenant partitions, the tenant check.

Heavy modules (Dagster, the warehouse start-up) are imported inside the functions, so that
``adinsights --help`` stays quick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from sqlalchemy.engine import Engine

    from adinsights_pipelines.bootstrap import Runtime

_started = time.monotonic()

#: A click command's function, as option decorators take and return it.
Command = TypeVar("Command", bound=Callable[..., None])


def progress(message: str) -> None:
    """A progress line on stderr, with the seconds since the command started."""
    click.echo(f"[{time.monotonic() - _started:6.1f}s] {message}", err=True)


def start(report: Callable[[str], None] = lambda _: None) -> tuple[Runtime, Engine]:
    """Start-up (settings, database, migrations, Dagster home; ``report``: its progress lines)
    and the warehouse's engine."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap(report)
    return rt, engine(rt.db)


def sync_partitions(rt: Runtime) -> DagsterInstance:
    """Make the ``tenant`` partitions match the active tenants now (no daemon may be running
    yet); the Dagster instance, for what the command does next."""
    from adinsights_pipelines.defs.resources import WarehouseResource
    from adinsights_pipelines.defs.tenants.sensors import sync_tenant_partitions
    from adinsights_pipelines.instance import get_instance

    instance = get_instance()
    sync_tenant_partitions(instance, WarehouseResource(database_url=rt.db.plain_url))
    return instance


def require_tenant(eng: Engine, tenant_id: str | None) -> None:
    """Refuse an unknown tenant before any work starts (nothing to check without one)."""
    from adinsights_pipelines.tenant_store import require_tenant as require

    if tenant_id:
        with eng.connect() as conn:
            require(conn, tenant_id)
