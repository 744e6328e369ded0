"""Airbyte health and telemetry latency with 100 tenants, as job history grows.

100 active tenants with one Google Ads connection each; every connection gets a history of
jobs (all but the newest succeeded, one every 15 minutes), first 10, then 500, then 2,000 per
connection (200,000 rows in ``app.airbyte_jobs``: about three weeks of quarter-hourly syncs).
For each size, ``REQUESTS`` calls of ``GET /api/health/airbyte/``,
``GET /api/airbyte/telemetry/?limit=100`` and ``GET /api/ops/sync-health/`` with an operator
key through the real app (Starlette test client, no network), reporting p50 / p95, and the
statement behind the ops view's (and the alert sensor's) Airbyte rows on its own
(``sync_health.airbyte_connection_health``). Each connection's newest job and newest success
are read through partial indexes, so none of these should follow the history.

Runs on a throw-away embedded PostgreSQL (or ``ADINSIGHTS_BENCH_DATABASE_URL``, a database it
may fill). The last line is machine-readable.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from adinsights_pipelines.warehouse.database import Database


TENANTS = 100
HISTORIES = (10, 500, 2000)
REQUESTS = 100


def _fails_last(tenant_id: str) -> bool:
    """The tenants whose newest job failed: one in ten."""
    return tenant_id.endswith("7")


def _measure(client: TestClient, key: str, url: str) -> tuple[float, float]:
    timings = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        answer = client.get(url, headers={"Authorization": f"Bearer {key}"})
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status_code in (200, 502, 503), answer.text
    return _percentiles(timings)


def _percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def _measure_statement(db: Database) -> tuple[float, float]:
    """``airbyte_connection_health`` over every tenant, on one connection, in milliseconds."""
    from datetime import UTC, datetime

    from adinsights_pipelines.sync_health import airbyte_connection_health
    from adinsights_pipelines.warehouse.database import engine

    timings = []
    with engine(db).connect() as conn:
        for _ in range(REQUESTS):
            started = time.perf_counter()
            entries = airbyte_connection_health(conn, None, datetime.now(UTC))
            timings.append((time.perf_counter() - started) * 1000)
            assert len(entries) == TENANTS, len(entries)
    return _percentiles(timings)


def main() -> None:
    from _airbyte import add_job_history
    from _tenants import add_bench_tenant, bench_environment

    bench_environment("adi-bench-airbyte-")

    from starlette.testclient import TestClient

    from adinsights_pipelines.api_keys import create_api_key
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.warehouse.database import engine
    from api.app import create_app

    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        conn.execute(sa.text("delete from app.airbyte_connections where tenant_id like 'bench-%'"))
        for n in range(TENANTS):
            tenant_id = f"bench-{n:03d}"
            add_bench_tenant(conn, tenant_id, n)
        key = create_api_key(conn, tenant_id=None, operator=True, label="bench")

    figures: dict[str, float] = {}
    filled, next_job = 0, 1
    # It times the endpoint, not the per-key budget (120 requests a minute by default).
    throttles = ("auth_burst", "auth_sustained", "address_burst", "address_sustained", "public")
    unthrottled = rt.settings.model_copy(update={f"throttle_{name}": "" for name in throttles})
    with TestClient(create_app(rt.db, unthrottled)) as client:
        for history in HISTORIES:
            with engine(rt.db).begin() as conn:
                add_job_history(
                    conn, history - filled, first_job=next_job, newest_failed=_fails_last
                )
            next_job += history - filled
            filled = history
            for name, url in (
                ("health", "/api/health/airbyte/"),
                ("telemetry", "/api/airbyte/telemetry/?limit=100"),
                ("ops", "/api/ops/sync-health/"),
                ("statement", None),
            ):
                p50, p95 = _measure_statement(rt.db) if url is None else _measure(client, key, url)
                print(
                    f"{name:<9} {TENANTS} tenants, {history:>3} jobs/connection "
                    f"({TENANTS * history:>6,} job rows): p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"
                )
                figures[f"{name}_p50_ms_{history}_jobs"] = round(p50, 1)
                figures[f"{name}_p95_ms_{history}_jobs"] = round(p95, 1)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
