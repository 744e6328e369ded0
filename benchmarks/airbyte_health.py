"""Airbyte health and telemetry latency with 100 tenants, as job history grows.

100 active tenants with one Google Ads connection each; every connection gets a history of
jobs (one every 15 minutes; all succeeded but the newest of one tenant in ten, and every job
of two tenants whose connections never worked), first 10, then 500, then 2,000 per connection
(200,000 rows in ``app.airbyte_jobs``: about three weeks of quarter-hourly syncs). For each
size, ``REQUESTS`` calls of ``GET /api/health/airbyte/``, ``GET /api/airbyte/telemetry/`` and
``GET /api/ops/sync-health/`` with an operator key through the real app (Starlette test
client, no network), reporting p50 / p95, and two statements on their own: ``connections``
(``sync_health.airbyte_connection_health``: the ops view's and the alert sensor's Airbyte rows)
and ``tenant_times`` (``api.telemetry.read_tenant_times``: the Prometheus scrape's freshness
gauges). Each connection's and tenant's newest job and newest success are read through
indexes, so none of these should follow the history.

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


#: Tenants whose every job failed (a connection set up wrong from the start): their newest
#: success must not be looked for through every other tenant's jobs.
NEVER_SUCCEEDED = ("bench-050", "bench-051")


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


def _measure_statement(db: Database, name: str) -> tuple[float, float]:
    """One of the statements behind the views, on its own over every tenant, in milliseconds:
    ``connections``, each connection's health (the ops view and the alert sensor), or
    ``tenant_times``, each tenant's newest success (the Prometheus scrape, which caches it for
    ``metrics_cache_seconds``, so timing the scrape would time the cache)."""
    from datetime import UTC, datetime

    from adinsights_pipelines.sync_health import airbyte_connection_health
    from adinsights_pipelines.warehouse.database import engine
    from api.telemetry import read_tenant_times

    timings = []
    eng = engine(db)
    with eng.connect() as conn:
        for _ in range(REQUESTS):
            started = time.perf_counter()
            if name == "connections":
                answered = len(airbyte_connection_health(conn, None, datetime.now(UTC)))
            else:
                answered = len(read_tenant_times(eng))
            timings.append((time.perf_counter() - started) * 1000)
            assert answered == TENANTS, (name, answered)
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
                    conn,
                    history - filled,
                    first_job=next_job,
                    newest_failed=_fails_last,
                    never_succeeded=NEVER_SUCCEEDED,
                )
            next_job += history - filled
            filled = history
            for name, url in (
                ("health", "/api/health/airbyte/"),
                ("telemetry", "/api/airbyte/telemetry/?limit=100"),
                ("ops", "/api/ops/sync-health/"),
                ("connections", None),
                ("tenant_times", None),
            ):
                p50, p95 = (
                    _measure_statement(rt.db, name) if url is None else _measure(client, key, url)
                )
                print(
                    f"{name:<12} {TENANTS} tenants, {history:>3} jobs/connection "
                    f"({TENANTS * history:>6,} job rows): p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"
                )
                figures[f"{name}_p50_ms_{history}_jobs"] = round(p50, 1)
                figures[f"{name}_p95_ms_{history}_jobs"] = round(p95, 1)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
