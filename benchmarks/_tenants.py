"""Set-up shared by the benchmarks (not a benchmark: ``make bench`` skips ``_*.py``)."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy.engine import Connection

#: A benchmark tenant's Google Ads customer id is this plus its number.
GOOGLE_CUSTOMER_BASE = 3_000_000_000


def add_bench_tenant(conn: Connection, tenant_id: str, n: int) -> None:
    """The tenant ``tenant_id`` with its Google Ads Airbyte connection (customer id base + n)."""
    from adinsights_pipelines.defs.airbyte.store import add_connection
    from adinsights_pipelines.tenant_store import add_tenant

    add_tenant(conn, tenant_id, tenant_id)
    add_connection(
        conn,
        tenant_id=tenant_id,
        provider="google_ads",
        connection_id=str(uuid.uuid4()),
        source_account_id=str(GOOGLE_CUSTOMER_BASE + n),
    )


def bench_environment(prefix: str) -> Path:
    """A throw-away data folder and ``DAGSTER_HOME`` for this process and its children, and the
    database ``ADINSIGHTS_BENCH_DATABASE_URL`` names (one the benchmark may fill), else an
    embedded PostgreSQL in the data folder. Returns the folder."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["ADINSIGHTS_DATA_DIR"] = str(workdir)
    os.environ["DAGSTER_HOME"] = str(workdir / "dagster_home")
    bench_url = os.environ.get("ADINSIGHTS_BENCH_DATABASE_URL")
    if bench_url:
        os.environ["ADINSIGHTS_DATABASE_URL"] = bench_url
    else:
        os.environ.pop("ADINSIGHTS_DATABASE_URL", None)
    return workdir
