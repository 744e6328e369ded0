"""The API served by uvicorn on loopback, beside Dagster's GraphQL and the framework's floor.

Set-up: 100 tenants with one Google Ads Airbyte connection each and a job history in
``app.airbyte_jobs``, a stored metrics snapshot per tenant, an operator and a tenant API key, and
100,000 runless materializations of ``google_ads_campaign_performance`` in the Dagster instance
(1,000 per tenant partition, written with the event log's batch insert; the fill time is printed).

Servers, each in its own process on loopback: the real app (``api.app.create_app``) with throttle
budgets far too large to refuse anything and the access log off; a minimal Starlette app returning
a constant JSON body under the same uvicorn settings (the floor); ``dagster-webserver`` on the same
instance. Load: ``CLIENTS`` concurrent async clients (httpx2) for ``DURATION`` seconds per target
after a warm-up; throughput and p50/p95/p99 latency; every non-200 answer is counted.

Runs on a throw-away embedded PostgreSQL (or ``ADINSIGHTS_BENCH_DATABASE_URL``, a database it
may fill). The last line is machine-readable.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adinsights_pipelines.ports import free_port
from adinsights_pipelines.processes import stop_processes

TENANTS = 100
EVENTS_PER_TENANT = 1_000
JOBS_PER_CONNECTION = 50
CLIENTS = 50
WARMUP = 2.0
DURATION = 10.0
ASSET = "google_ads_campaign_performance"
HUGE = "1000000/second"
ROOT = Path(__file__).resolve().parent.parent
UVICORN = {"log_config": None, "access_log": False, "proxy_headers": False}


def _serve_app(port: int) -> None:
    import uvicorn

    from adinsights_pipelines.bootstrap import bootstrap
    from api.app import create_app

    rt = bootstrap()
    uvicorn.run(create_app(rt.db, rt.settings), host="127.0.0.1", port=port, **UVICORN)  # type: ignore[arg-type]


def _serve_floor(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def constant(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "value": 42})

    app = Starlette(routes=[Route("/floor/", constant, methods=["GET"])])
    uvicorn.run(app, host="127.0.0.1", port=port, **UVICORN)  # type: ignore[arg-type]


def _snapshot_payload(n: int) -> dict[str, Any]:
    campaigns = [
        {
            "campaign_id": f"{n}{k:03d}",
            "campaign_name": f"Campaign {k}",
            "impressions": 10_000 + k,
            "clicks": 300 + k,
            "currency": "JMD",
            "spend": f"{120.5 + k:.2f}",  # money as the API serves it: decimal strings
            "conversions": 12 + k,
        }
        for k in range(20)
    ]
    return {
        "totals": {
            "currency": "JMD",
            "impressions": 250_000,
            "clicks": 7_000,
            "spend": "3100.25",
            "conversions": 400,
        },
        "campaigns": campaigns,
        "parishes": [
            {"parish": f"Parish {k}", "currency": "JMD", "spend": f"{100.0 + k:.2f}"}
            for k in range(14)
        ],
    }


def _fill_events(tenants: list[str], snapshot_runs: dict[str, str]) -> float:
    """100,000 runless materializations, batched per tenant, and each tenant's
    ``metrics_snapshot`` materialization by the run that stored its snapshot; returns the fill
    seconds."""
    from dagster import AssetKey, AssetMaterialization, DagsterInstance

    from adinsights_pipelines.dagster_internals import materialization_entry

    instance = DagsterInstance.get()
    started = time.perf_counter()
    base = time.time() - EVENTS_PER_TENANT * 60
    for tenant in tenants:
        batch = [
            materialization_entry(
                AssetMaterialization(
                    asset_key=AssetKey(ASSET), partition=tenant, metadata={"job_id": k}
                ),
                timestamp=base + k * 60,
            )
            for k in range(EVENTS_PER_TENANT)
        ]
        instance.event_log_storage.store_event_batch(batch)
        instance.event_log_storage.store_event(
            materialization_entry(
                AssetMaterialization(asset_key=AssetKey("metrics_snapshot"), partition=tenant),
                timestamp=time.time(),
                job_name="metrics_snapshots",
                run_id=snapshot_runs[tenant],
                step_key="metrics_snapshot",
            )
        )
    elapsed = time.perf_counter() - started
    instance.dispose()
    return elapsed


def _wait(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    import httpx2 as httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


async def _load(
    method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None
) -> dict[str, Any]:
    import httpx2 as httpx

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as client:
        latencies: list[float] = []
        bad: dict[int, int] = {}
        sample: list[str] = []

        async def worker(until: float, record: bool) -> None:
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                answer = await client.request(method, url, json=body)
                t1 = time.perf_counter()
                if answer.status_code != 200:
                    bad[answer.status_code] = bad.get(answer.status_code, 0) + 1
                    if len(sample) < 3:
                        sample.append(answer.text[:200])
                elif body is not None and "errors" in answer.json():
                    bad[-1] = bad.get(-1, 0) + 1
                    sample.append(answer.text[:200])
                if record:
                    latencies.append((t1 - t0) * 1000)

        warm_until = time.perf_counter() + WARMUP
        await asyncio.gather(*(worker(warm_until, False) for _ in range(CLIENTS)))
        bad.clear()
        started = time.perf_counter()
        until = started + DURATION
        await asyncio.gather(*(worker(until, True) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))]

    return {
        "n": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "bad": bad,
        "sample": sample,
    }


def main() -> None:
    from _airbyte import add_job_history
    from _tenants import add_bench_tenant, bench_environment

    bench_environment("adi-bench-serving-")
    for name in ("AUTH_BURST", "AUTH_SUSTAINED", "ADDRESS_BURST", "ADDRESS_SUSTAINED", "PUBLIC"):
        os.environ[f"ADINSIGHTS_THROTTLE_{name}"] = HUGE
    os.environ["ADINSIGHTS_API_ACCESS_LOG"] = "false"

    from adinsights_pipelines.api_keys import create_api_key
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.snapshots.payload import store_snapshot
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()  # exports DAGSTER_HOME and the storage URL for every child process
    tenants = [f"bench-{n:03d}" for n in range(TENANTS)]
    # As the metrics_snapshots job leaves it: the snapshot names its run, whose materialization
    # event is in the instance (the endpoint answers it in `materialization`).
    snapshot_runs = {tenant_id: str(uuid.uuid4()) for tenant_id in tenants}
    with engine(rt.db).begin() as conn:
        conn.execute(sa.text("delete from app.airbyte_connections where tenant_id like 'bench-%'"))
        for n, tenant_id in enumerate(tenants):
            add_bench_tenant(conn, tenant_id, n)
            store_snapshot(
                conn,
                tenant_id,
                _snapshot_payload(n),
                {"google_ads": 1000},
                duration_ms=0,
                dagster_run_id=snapshot_runs[tenant_id],
            )
        add_job_history(conn, JOBS_PER_CONNECTION)  # all succeeded: health answers 200
        operator_key = create_api_key(conn, tenant_id=None, operator=True, label="bench")
        tenant_key = create_api_key(conn, tenant_id=tenants[0], label="bench")
    fill_seconds = _fill_events(tenants, snapshot_runs)
    print(
        f"set-up: {TENANTS} tenants, {TENANTS * JOBS_PER_CONNECTION:,} Airbyte jobs, "
        f"{TENANTS * EVENTS_PER_TENANT:,} materializations of {ASSET} "
        f"(batched event-log fill: {fill_seconds:.1f} s, "
        f"{TENANTS * EVENTS_PER_TENANT / fill_seconds:,.0f} events/s)"
    )

    app_port, floor_port, dagit_port = free_port(), free_port(), free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    procs = [
        subprocess.Popen([*me, "serve-app", str(app_port)], cwd=ROOT),
        subprocess.Popen([*me, "serve-floor", str(floor_port)], cwd=ROOT),
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster-webserver"),
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(dagit_port),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        _wait(f"http://127.0.0.1:{app_port}/api/health/", 60, procs[0])
        _wait(f"http://127.0.0.1:{floor_port}/floor/", 60, procs[1])
        _wait(f"http://127.0.0.1:{dagit_port}/server_info", 180, procs[2])
        query = (
            "query($path: [String!]!, $partitions: [String!]) {"
            " assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {"
            " latestMaterializationByPartition(partitions: $partitions)"
            " { partition timestamp runId } } } }"
        )
        gql_body = {"query": query, "variables": {"path": [ASSET], "partitions": tenants}}
        import httpx2 as httpx

        answer = httpx.post(f"http://127.0.0.1:{dagit_port}/graphql", json=gql_body, timeout=60)
        latest = answer.json()["data"]["assetNodeOrError"]["latestMaterializationByPartition"]
        answered = sum(1 for m in latest if m and m.get("timestamp"))
        print(f"GraphQL check: {answered}/{TENANTS} partitions answered with a materialization")
        sample = httpx.get(
            f"http://127.0.0.1:{app_port}/api/metrics/combined/",
            headers={"Authorization": f"Bearer {tenant_key}"},
            timeout=30,
        ).json()
        named = (sample.get("materialization") or {}).get("run_id")
        if named != snapshot_runs[tenants[0]]:
            raise SystemExit(f"metrics answer names materialization {named!r}, not the snapshot's")
        print("metrics check: cached answer names the snapshot's materialization run")
        targets: list[tuple[str, str, str, dict[str, str], dict[str, Any] | None]] = [
            (
                "floor (constant JSON)",
                "GET",
                f"http://127.0.0.1:{floor_port}/floor/",
                {},
                None,
            ),
            (
                "GET /api/metrics/combined/",
                "GET",
                f"http://127.0.0.1:{app_port}/api/metrics/combined/",
                {"Authorization": f"Bearer {tenant_key}"},
                None,
            ),
            (
                "GET /api/health/airbyte/",
                "GET",
                f"http://127.0.0.1:{app_port}/api/health/airbyte/",
                {"Authorization": f"Bearer {operator_key}"},
                None,
            ),
            (
                "Dagster GraphQL (100 partitions)",
                "POST",
                f"http://127.0.0.1:{dagit_port}/graphql",
                {},
                gql_body,
            ),
        ]
        results: dict[str, dict[str, Any]] = {}
        for name, method, url, headers, body in targets:
            results[name] = asyncio.run(_load(method, url, headers, body))
    finally:
        stop_processes(procs, timeout=15)

    print(
        f"uvicorn on loopback (httptools, uvloop), 1 worker per server, access log: off "
        f"(ADINSIGHTS_API_ACCESS_LOG=false); throttles {HUGE}; {CLIENTS} concurrent clients "
        f"(httpx2, one process), {WARMUP:.0f} s warm-up + {DURATION:.0f} s per target"
    )
    print(
        f"{'target':<34} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8}  non-200"
    )
    for name, r in results.items():
        print(
            f"{name:<34} {r['n']:>8} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
            f"{r['p99']:>8.1f}  {sum(r['bad'].values())} {json.dumps(r['bad']) if r['bad'] else ''}"
        )
        for text in r["sample"]:
            print(f"    sample non-200: {text}")
    floor = results["floor (constant JSON)"]
    metrics = results["GET /api/metrics/combined/"]
    health = results["GET /api/health/airbyte/"]
    gql = results["Dagster GraphQL (100 partitions)"]
    health_vs_graphql = gql["p50"] / health["p50"]
    metrics_vs_floor = metrics["rps"] / floor["rps"]
    print(
        f"target health_vs_graphql >= 10: {health_vs_graphql:.1f} "
        f"({'met' if health_vs_graphql >= 10 else 'MISSED'})"
    )
    print(
        f"target metrics_vs_floor >= 0.5: {metrics_vs_floor:.2f} "
        f"({'met' if metrics_vs_floor >= 0.5 else 'MISSED'})"
    )
    print(
        f"health_vs_graphql={health_vs_graphql:.1f} metrics_vs_floor={metrics_vs_floor:.2f} "
        f"metrics_p99_ms={metrics['p99']:.1f} floor_rps={floor['rps']:.0f} "
        f"metrics_rps={metrics['rps']:.0f}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve-app":
        _serve_app(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "serve-floor":
        _serve_floor(int(sys.argv[2]))
    else:
        main()
