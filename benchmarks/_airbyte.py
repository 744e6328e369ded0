"""Airbyte set-up shared by the benchmarks (not a benchmark: ``make bench`` skips ``_*.py``)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def add_job_history(
    conn: Connection,
    jobs_per_connection: int,
    *,
    first_job: int = 1,
    newest_failed: Callable[[str], bool] = lambda tenant_id: False,
    never_succeeded: Collection[str] = (),
) -> None:
    """For every row of ``app.airbyte_connections``, ``jobs_per_connection`` finished jobs (ids
    from ``first_job``), the last finished 15 minutes ago and each 15 minutes before the next,
    two minutes long; all succeeded but the newest of the tenants ``newest_failed`` picks, and
    every job of the tenants in ``never_succeeded``. Analyzes ``app.airbyte_jobs`` afterwards."""
    now = datetime.now(UTC)
    connections = conn.execute(
        sa.text("select connection_id, tenant_id from app.airbyte_connections")
    ).tuples()
    rows: list[dict[str, Any]] = []
    for connection_id, tenant_id in connections:
        for k in range(jobs_per_connection):
            finished = now - timedelta(minutes=15 * (jobs_per_connection - k))
            newest = k == jobs_per_connection - 1
            failed = tenant_id in never_succeeded or (newest and newest_failed(tenant_id))
            rows.append(
                {
                    "c": connection_id,
                    "j": first_job + k,
                    "t": tenant_id,
                    "s": "failed" if failed else "succeeded",
                    "r": 1000 + k,
                    "b": 64_000 + k,
                    "st": finished - timedelta(minutes=2),
                    "f": finished,
                }
            )
    conn.execute(
        sa.text(
            "insert into app.airbyte_jobs (connection_id, job_id, tenant_id, status, "
            "records_synced, bytes_synced, duration_seconds, started_at, finished_at) "
            "values (:c, :j, :t, :s, :r, :b, 120, :st, :f)"
        ),
        rows,
    )
    conn.execute(sa.text("analyze app.airbyte_jobs"))
