"""The demo path's speed: Meta sync throughput, dbt build time, snapshot API latency.

Runs on a throw-away embedded PostgreSQL (or ADINSIGHTS_BENCH_DATABASE_URL, a database it may
fill), with a 90-day attribution lookback for three tenants. Prints figures; the last line is
machine-readable name=value pairs.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time

import requests
import sqlalchemy as sa

LOOKBACK_DAYS = 90
TENANTS = ("bench-one", "bench-two", "bench-three")
API_REQUESTS = 300


def main() -> None:
    from _tenants import bench_environment

    bench_environment("adi-bench-")
    os.environ["ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS"] = str(LOOKBACK_DAYS)

    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.dbt.project import prepare_manifest
    from adinsights_pipelines.demo import QUIET_CONSOLE, serve_in_thread
    from adinsights_pipelines.ports import free_port
    from adinsights_pipelines.simulators.meta_graph import MetaSimulator
    from adinsights_pipelines.tenant_store import add_tenant, set_credential
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    prepare_manifest()
    from adinsights_pipelines.api_keys import create_api_key
    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.instance import get_instance
    from api.app import create_app

    eng = engine(rt.db)
    instance = get_instance()
    with MetaSimulator(port=0) as sim:
        os.environ["ADINSIGHTS_META_GRAPH_URL"] = sim.url
        with eng.begin() as conn:
            for tenant in TENANTS:
                add_tenant(conn, tenant, tenant)
                set_credential(conn, rt.keyring, tenant, "meta", f"sim_{tenant}")
            key = create_api_key(conn, tenant_id=TENANTS[0])
        instance.add_dynamic_partitions("tenant", list(TENANTS))

        def run(job: str, partition: str | None = None) -> float:
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # dbt's console output
                result = defs.resolve_job_def(job).execute_in_process(
                    instance=instance, partition_key=partition, run_config=QUIET_CONSOLE
                )
            assert result.success
            return time.perf_counter() - started

        first = sum(run("meta_sync", t) for t in TENANTS)
        with eng.connect() as conn:
            rows: int = conn.execute(  # both ad-level reads: without a breakdown, and by region
                sa.text(
                    "select (select count(*) from raw.meta_insights_ad) "
                    "+ (select count(*) from raw.meta_insights)"
                )
            ).scalar_one()
        again = sum(run("meta_sync", t) for t in TENANTS)
        dbt_s = run("dbt_build")
        snapshot_s = sum(run("metrics_snapshots", t) for t in TENANTS) / len(TENANTS)

    with serve_in_thread(create_app(rt.db), "127.0.0.1", free_port()) as url:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        timings = []
        for _ in range(API_REQUESTS):
            started = time.perf_counter()
            assert session.get(f"{url}/api/metrics/combined/?source=warehouse").ok
            timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100)
    p50, p95 = cuts[49], cuts[94]

    print(f"insight rows (3 tenants x {LOOKBACK_DAYS} days): {rows}")
    print(f"meta_sync first load:  {first:6.2f} s  ({rows / first:,.0f} rows/s incl. run overhead)")
    print(f"meta_sync re-upsert:   {again:6.2f} s  ({rows / again:,.0f} rows/s)")
    print(f"dbt build:             {dbt_s:6.2f} s")
    print(f"snapshot per tenant:   {snapshot_s:6.2f} s")
    print(
        f"/api/metrics/combined/ cached, {API_REQUESTS} sequential: "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )
    print(
        f"insight_rows={rows} meta_sync_rows_per_s={rows / first:.0f} "
        f"meta_resync_rows_per_s={rows / again:.0f} dbt_build_s={dbt_s:.2f} "
        f"snapshot_s={snapshot_s:.2f} api_combined_p50_ms={p50:.1f} api_combined_p95_ms={p95:.1f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
