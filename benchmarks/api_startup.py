"""The API's start: a fresh process until ``/api/health/`` answers, then until an ops endpoint
that needs the assets' freshness policies (``/api/ops/sync-health/``) answers.

Each run starts a new Python process that does what ``adinsights serve-api`` does (bootstrap,
``api.app.create_app``, uvicorn on loopback) and polls it from here: ``health_s`` is the time
from the process's start until ``GET /api/health/`` answers, ``ops_s`` the time until the first
``GET /api/ops/sync-health/`` (an operator key, one tenant) answers. Then the process reports
what it had imported: the assembled code location (``adinsights_pipelines.definitions``),
``dagster_dbt``, and whether it read dbt's manifest. The same script runs against any checkout:
``ADINSIGHTS_STARTUP_ROOT`` names the one to start (default: this one).

Runs on a throw-away embedded PostgreSQL (or ``ADINSIGHTS_BENCH_DATABASE_URL``, a database it may
fill). ``API_STARTUP_RUNS`` runs (default 5); medians. The last line is machine-readable.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

RUNS = int(os.environ.get("API_STARTUP_RUNS", "5"))
TIMEOUT_S = 180.0
ROOT = Path(os.environ.get("ADINSIGHTS_STARTUP_ROOT", Path(__file__).resolve().parent.parent))


def serve(port: int) -> None:
    """The child: ``adinsights serve-api``'s start, then answer ``report`` / ``quit`` on stdin."""
    import inspect
    import threading

    import uvicorn

    from adinsights_pipelines.bootstrap import bootstrap
    from api.app import create_app

    rt = bootstrap()
    options: dict[str, Any] = {}
    if "asset_graph" in inspect.signature(create_app).parameters:  # as serve-api passes it
        from adinsights_pipelines.code_location import asset_graph

        options["asset_graph"] = asset_graph
    config = uvicorn.Config(
        create_app(rt.db, rt.settings, **options),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for line in sys.stdin:
        if line.strip() == "report":
            assets = sys.modules.get("adinsights_pipelines.defs.dbt.assets")
            manifest = getattr(assets, "current_manifest", None)
            read = assets is not None and (
                manifest is None or manifest.cache_info().currsize > 0  # read at import on main
            )
            report = {
                "definitions": "adinsights_pipelines.definitions" in sys.modules,
                "dagster_dbt": "dagster_dbt" in sys.modules,
                "manifest": read,
                "modules": len(sys.modules),
            }
            print(json.dumps(report), flush=True)
        elif line.strip() == "quit":
            break
    server.should_exit = True
    thread.join(timeout=30)


def _wait(url: str, headers: dict[str, str], started: float) -> tuple[float, int]:
    while time.monotonic() - started < TIMEOUT_S:
        try:
            answer = requests.get(url, headers=headers, timeout=60)
            return time.monotonic() - started, answer.status_code
        except requests.ConnectionError:
            time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer in {TIMEOUT_S:.0f}s")


def one_run(env: dict[str, str], key: str) -> dict[str, Any]:
    from adinsights_pipelines.ports import free_port

    port = free_port()
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        base = f"http://127.0.0.1:{port}"
        health_s, health_status = _wait(f"{base}/api/health/", {}, started)
        ops_s, ops_status = _wait(
            f"{base}/api/ops/sync-health/", {"Authorization": f"Bearer {key}"}, started
        )
        child.stdin.write("report\n")
        child.stdin.flush()
        report = json.loads(child.stdout.readline())
        child.stdin.write("quit\n")
        child.stdin.flush()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    return {
        "health_s": health_s,
        "health_status": health_status,
        "ops_s": ops_s,
        "ops_status": ops_status,
        **report,
    }


def main() -> None:
    from _tenants import bench_environment

    bench_environment("adi-api-startup-")

    from adinsights_pipelines.api_keys import create_api_key
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.dbt.project import prepare_manifest
    from adinsights_pipelines.tenant_store import add_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    prepare_manifest()  # the API must not need it; the code location, if it loads, must not wait
    with engine(rt.db).begin() as conn:
        add_tenant(conn, "bench-tenant", "Bench tenant")
        key = create_api_key(conn, tenant_id=None, operator=True, label="bench")
    env = {
        **os.environ,
        "ADINSIGHTS_DATABASE_URL": rt.db.plain_url,
        "PYTHONPATH": str(ROOT),
    }
    print(f"checkout: {ROOT}; {RUNS} runs, each a fresh process")
    runs = []
    for number in range(1, RUNS + 1):
        run = one_run(env, key)
        runs.append(run)
        print(
            f"run {number}: /api/health/ {run['health_s']:.2f}s ({run['health_status']}), "
            f"/api/ops/sync-health/ {run['ops_s']:.2f}s ({run['ops_status']}); "
            f"definitions={run['definitions']} dagster_dbt={run['dagster_dbt']} "
            f"manifest={run['manifest']} modules={run['modules']}"
        )
    health = statistics.median(r["health_s"] for r in runs)
    ops = statistics.median(r["ops_s"] for r in runs)
    print(f"median: /api/health/ {health:.2f}s, /api/ops/sync-health/ {ops:.2f}s")
    loaded = runs[-1]
    print(
        f"health_s={health:.2f} ops_s={ops:.2f} "
        f"definitions_imported={int(loaded['definitions'])} "
        f"dagster_dbt_imported={int(loaded['dagster_dbt'])} "
        f"manifest_read={int(loaded['manifest'])}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    else:
        main()
