"""Bulk idempotent writes: COPY into a staging table, then one upsert by natural key.

:func:`copy_upsert` is the fast sibling of :func:`~adinsights_pipelines.warehouse.upsert.
upsert_rows`: the rows travel to PostgreSQL with ``COPY ... FROM STDIN`` (psycopg 3) into a
temporary staging table, and a single ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE``
moves them into the target table. Everything happens in the caller's transaction: when any
row is rejected, nothing of the batch is written.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.warehouse.upsert import check_identifiers

__all__ = ["copy_upsert"]

_stage_ids = itertools.count(1)


def _check(table: str, columns: Sequence[str], key: Sequence[str], json_cols: set[str]) -> None:
    check_identifiers(table, *columns)
    if "." in "".join(columns):
        raise ValueError("column names must not be qualified")
    if len(set(columns)) != len(columns):
        raise ValueError("duplicate column names")
    if not key:
        raise ValueError("the natural key must name at least one column")
    if missing := [k for k in (*key, *json_cols) if k not in columns]:
        raise ValueError(f"key or json columns not among the columns: {missing}")


def copy_upsert(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    json_columns: Iterable[str] = (),
) -> int:
    """Upsert ``rows`` into ``table`` by ``key``; returns how many rows were written.

    ``rows`` are mappings with (at least) ``columns`` as keys, or sequences of values in
    ``columns`` order. Values go through psycopg's COPY adaptation, so ``str`` is fine for any
    column type (``"12.34"`` lands exactly in a ``numeric``). Values of ``json_columns`` are
    JSON-encoded (as :func:`upsert_rows` does). Rows with the same key within one call are
    collapsed, the last one winning, so ``ON CONFLICT`` never touches a row twice (keys compare
    as Python values: give each key column one type); the return value counts the distinct keys
    written (inserted or updated). Existing rows get every non-key column of ``columns`` and
    ``_loaded_at = now()``. One call's rows are held in memory: stream a large load as batches
    of a few thousand rows, one call each. Tuples in ``columns`` order are the cheapest rows.

    Each call stages in a temporary table of its own, dropped at commit.

    Runs in the caller's transaction (begun on ``conn`` if none is): commit or roll back is the
    caller's. Errors surface as SQLAlchemy ``DBAPIError`` subclasses, as for ``conn.execute``.
    """
    columns = list(columns)
    key = list(key)
    json_set = set(json_columns)
    _check(table, columns, key, json_set)

    stage = f"_adi_stage_{next(_stage_ids)}"
    col_list = ", ".join(columns)
    key_list = ", ".join(key)
    updates = [f"{c} = excluded.{c}" for c in columns if c not in key]
    set_clause = ", ".join([*updates, "_loaded_at = now()"])

    # Last row wins per key: a dict keeps the first position and the last values.
    key_of = operator.itemgetter(*(columns.index(k) for k in key))
    json_idx = [i for i, c in enumerate(columns) if c in json_set]
    latest: dict[Any, Sequence[Any]] = {}
    width = len(columns)
    for n, row in enumerate(rows, 1):
        values: Sequence[Any]
        if type(row) is tuple or not isinstance(row, Mapping):
            values = row
            if len(values) != width:
                raise ValueError(f"row {n} has {len(values)} values, not {width}")
        else:
            values = [row[c] for c in columns]
        if json_idx:
            values = list(values)
            for i in json_idx:
                values[i] = orjson.dumps(values[i]).decode()
        latest[key_of(values)] = values
    if not latest:
        return 0

    # Through SQLAlchemy, so that it knows a transaction is open (autobegin) and commits it.
    conn.execute(
        sa.text(f"create temp table {stage} (like {table} including defaults) on commit drop")
    )
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError("copy_upsert needs a psycopg 3 connection (postgresql+psycopg://)")
    copy_sql = f"copy {stage} ({col_list}) from stdin"
    try:
        with raw.cursor() as cur, cur.copy(copy_sql) as copy:
            write_row = copy.write_row
            for values in latest.values():
                write_row(values)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(copy_sql, None, exc, psycopg.Error) from exc
    del latest
    result = conn.execute(
        sa.text(
            f"insert into {table} ({col_list}) select {col_list} from {stage} "
            f"on conflict ({key_list}) do update set {set_clause}"
        )
    )
    return int(result.rowcount)
