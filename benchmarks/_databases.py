"""Scratch databases for the benchmarks (not a benchmark: ``make bench`` skips ``_*.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from adinsights_pipelines.warehouse.database import Database


@contextlib.contextmanager
def scratch_database(server: Database, name: str, *, keep: bool = False) -> Iterator[Database]:
    """A new, empty database ``name`` on ``server``. Afterwards this process's pooled
    connections to it are closed and it is dropped (with whatever else is still connected),
    unless ``keep``."""
    from adinsights_pipelines.warehouse.database import engine

    admin = sa.create_engine(
        server.with_database("postgres").sqlalchemy_url,
        poolclass=sa.pool.NullPool,
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    db = server.with_database(name)
    try:
        yield db
    finally:
        engine(db).dispose()
        if not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
