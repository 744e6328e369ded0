"""Idempotent writes to the raw tables: insert, or update the row with the same natural key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


def check_identifiers(*names: str) -> None:
    """Refuse anything but plain (optionally schema-qualified) lower-case SQL identifiers: the
    names are written into SQL text."""
    for name in names:
        if not _IDENT.match(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")


def upsert_sql(
    table: str, columns: Sequence[str], key: Sequence[str], json_columns: Iterable[str] = ()
) -> str:
    check_identifiers(table, *columns)
    json_set = set(json_columns)
    values = ", ".join(f"cast(:{c} as jsonb)" if c in json_set else f":{c}" for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"insert into {table} ({', '.join(columns)}) values ({values}) "
        f"on conflict ({', '.join(key)}) do update set {updates}, _loaded_at = now()"
    )


def upsert_rows(
    conn: Connection,
    table: str,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    json_columns: Iterable[str] = (),
) -> int:
    """Upsert ``rows`` (all with the same columns); returns how many were written."""
    if not rows:
        return 0
    json_set = set(json_columns)
    columns = list(rows[0])
    params = [{c: json.dumps(r[c]) if c in json_set else r[c] for c in columns} for r in rows]
    conn.execute(sa.text(upsert_sql(table, columns, key, json_set)), params)
    return len(rows)
