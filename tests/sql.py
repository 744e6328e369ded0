"""A test's database, one statement at a time: its rows (each read in its own connection), or
a change (in its own transaction)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adinsights_pipelines.warehouse.database import Database, engine


def query(db: Database, sql: str, **params: Any) -> list[sa.Row[Any]]:
    """Every row ``sql`` returns."""
    with engine(db).connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def one(db: Database, sql: str, **params: Any) -> sa.Row[Any]:
    """The one row ``sql`` returns (an error when it returns none or several)."""
    with engine(db).connect() as conn:
        return conn.execute(sa.text(sql), params).one()


def scalar(db: Database, sql: str, **params: Any) -> Any:
    """The first column of the first row (None when there is none)."""
    with engine(db).connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def execute(db: Database, sql: str, **params: Any) -> None:
    """Runs ``sql`` (a change) in a transaction of its own, committed."""
    with engine(db).begin() as conn:
        conn.execute(sa.text(sql), params)
