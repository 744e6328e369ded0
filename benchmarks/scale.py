"""Scale: what grows with the number of tenants, measured at several sizes.

Three measures, each run in its own process on its own fresh database (created on the server of
``ADINSIGHTS_BENCH_DATABASE_URL``, which needs CREATEDB, or on a throw-away embedded PostgreSQL;
dropped afterwards):

- ``load``: N tenants registered (``app.tenants`` rows, ``tenant`` partitions, a Google Ads
  connection, a GA4 property and a Search Console site each, one materialization of every
  tenant-partitioned asset and a stored snapshot each). For each N a fresh Python process does
  what a code server does on start: import the code location, resolve the asset graph, build
  and serialise the repository snapshot (``RepositorySnap.from_def``, what the gRPC server sends
  to the webserver and daemon). The same process then evaluates one tick of every schedule and
  sensor (``evaluate_tick``: the code the daemon calls; run submission is the daemon's, not
  timed here). "Process to loaded" is the process's wall time minus the ticks: interpreter,
  imports and the code location.
- ``snapshot``: N tenants with the same synthetic raw rows each (``dbt_raw_data.generate``),
  one ``dbt build``, then every tenant's snapshot rebuilt through ``refresh_snapshots`` (what
  ``adinsights snapshot-metrics`` runs: one in-process Dagster run of ``metrics_snapshots`` per
  tenant). One warm-up run before timing.
- ``cycle``: N tenants set up as the demo sets up its tenants (a Meta token, a Google Ads
  connection in the Airbyte simulator, a GA4 property and a Search Console site in the Google
  simulator), ``ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS`` = initial sync days = 7. After one
  ``dbt_build`` on the empty warehouse (creates the tables; not timed), one hour's schedules run
  in process, one after another, as the demo runs them: per tenant ``meta_sync``,
  ``meta_pages``, ``airbyte_sync``, ``ga4_sync``, ``search_console_sync``; once
  ``meta_token_refresh``; then ``dbt_build``; then per tenant ``metrics_snapshots``.

Usage::

    .venv/bin/python benchmarks/scale.py                      # all three, default sizes
    .venv/bin/python benchmarks/scale.py --measures load --load-sizes 10,100,1000
    .venv/bin/python benchmarks/scale.py --plot --json scale.json  # + docs/performance-scale.png
    .venv/bin/python benchmarks/scale.py --from-json scale.json     # the report again, no runs

All three at the default sizes take about 13 minutes on the 2-core development machine. Prints
a summary and a Markdown table per measure (pasteable into docs/performance.md), each with the
per-tenant cost, a fitted growth exponent (slope of log time over log N) and a linear fit
(fixed + per-tenant seconds); the cycle also compares the first and last quarter of each
stage's runs (a per-run cost growing with stored runs would show there). The last line is
machine-readable name=value pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from adinsights_pipelines.bootstrap import Runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_SIZES = {"load": (10, 100, 1000), "snapshot": (10, 50, 100, 200), "cycle": (5, 10, 20, 40)}
LOAD_REPEATS = 3
SNAPSHOT_DAYS = 7
CYCLE_DAYS = 7
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
#: Internal: the server a measure process creates its database on.
SERVER_ENV = "ADINSIGHTS_SCALE_SERVER_URL"


# --------------------------------------------------------------------------------------------
# shared helpers


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def fit(sizes: Sequence[int], seconds: Sequence[float]) -> dict[str, float]:
    """Growth exponent (least-squares slope of log t over log N) and t = fixed + per_tenant * N."""
    xs, ys = [math.log(n) for n in sizes], [math.log(max(s, 1e-9)) for s in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    mn, ms = statistics.fmean(sizes), statistics.fmean(seconds)
    per_tenant = sum((n - mn) * (s - ms) for n, s in zip(sizes, seconds, strict=True)) / sum(
        (n - mn) ** 2 for n in sizes
    )
    return {"exponent": slope, "per_tenant_s": per_tenant, "fixed_s": ms - per_tenant * mn}


@contextlib.contextmanager
def fresh_runtime(label: str) -> Iterator[Runtime]:
    """A new database on the measure's server, which ADINSIGHTS_DATABASE_URL points at, started
    as every command starts (bootstrap: migrations, DAGSTER_HOME) and with the dbt manifest
    prepared; the Runtime."""
    from _databases import scratch_database

    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.dbt.project import prepare_manifest
    from adinsights_pipelines.warehouse.database import Database

    server = Database.from_url(os.environ[SERVER_ENV])
    with scratch_database(server, f"adi_scale_{label}_{uuid.uuid4().hex[:8]}") as db:
        workdir = Path(tempfile.mkdtemp(prefix=f"adi-scale-{label}-"))
        os.environ["ADINSIGHTS_DATABASE_URL"] = db.plain_url
        os.environ["ADINSIGHTS_DATA_DIR"] = str(workdir)
        os.environ["DAGSTER_HOME"] = str(workdir / "dagster_home")
        try:
            rt = bootstrap()
            prepare_manifest()
            yield rt
        finally:
            from dagster import DagsterInstance

            with contextlib.suppress(Exception):
                DagsterInstance.get().dispose()


def run_job(job: str, partition: str | None = None, **kwargs: Any) -> float:
    """One in-process run as the demo runs it; its seconds. Fails loudly if the run fails."""
    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.instance import get_instance

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # dbt's console output
        result = defs.resolve_job_def(job).execute_in_process(
            instance=get_instance(),
            partition_key=partition,
            raise_on_error=False,
            tags={"tenant_id": partition} if partition else None,
            run_config=QUIET_CONSOLE,
            **kwargs,
        )
    if not result.success:
        failure = next((e.message for e in result.all_events if e.is_failure), "?")
        raise SystemExit(f"{job} [{partition}] failed (run {result.run_id}): {failure}")
    return time.perf_counter() - started


def tenant_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n:04d}" for n in range(1, count + 1)]


# --------------------------------------------------------------------------------------------
# 1. definitions load and schedule/sensor ticks


def _fill_load_tenants(rt: Any, tenants: list[str]) -> None:
    """Register ``tenants`` as an operator would leave them after a day of running."""
    from _tenants import add_bench_tenant
    from dagster import AssetKey, AssetMaterialization, DagsterInstance

    from adinsights_pipelines.dagster_internals import materialization_entry
    from adinsights_pipelines.defs.google.sources import add_source
    from adinsights_pipelines.defs.snapshots.payload import store_snapshot
    from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS
    from adinsights_pipelines.warehouse.database import engine

    with engine(rt.db).begin() as conn:
        for tenant in tenants:
            n = int(tenant.rsplit("-", 1)[1])
            add_bench_tenant(conn, tenant, n)
            add_source(conn, tenant, "ga4", str(400_000_000 + n))
            add_source(conn, tenant, "search_console", f"https://{tenant}.example/")
            store_snapshot(
                conn, tenant, {"totals": []}, {"rows": 0}, duration_ms=1, dagster_run_id=None
            )
    instance = DagsterInstance.get()
    instance.add_dynamic_partitions(TENANT_PARTITIONS, tenants)
    from adinsights_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    partitioned = [
        node.key
        for node in graph.asset_nodes
        if getattr(node.partitions_def, "name", None) == TENANT_PARTITIONS
    ]
    now = time.time()
    for key in partitioned:
        instance.event_log_storage.store_event_batch(
            [
                materialization_entry(
                    AssetMaterialization(asset_key=AssetKey(key.path), partition=tenant),
                    timestamp=now - 600,
                )
                for tenant in tenants
            ]
        )


def load_probe() -> None:
    """In a fresh process: load the code location as a code server does, then tick everything.
    Prints one JSON line."""
    started = time.perf_counter()
    from dagster import DagsterInstance, build_schedule_context, build_sensor_context

    from adinsights_pipelines.dagster_internals import repository_snapshot

    dagster_imported = time.perf_counter()
    from adinsights_pipelines.definitions import defs

    imported = time.perf_counter()
    repository = defs.get_repository_def()
    repository.asset_graph  # noqa: B018 - resolves the asset graph
    resolved = time.perf_counter()
    snapshot = repository_snapshot(repository)
    snapped = time.perf_counter()

    instance = DagsterInstance.get()
    instance.get_dynamic_partitions("tenant")  # connects; not part of any tick
    loaded = time.perf_counter()
    resources = repository.get_top_level_resources()
    # 10:00 Jamaica on a weekday: every hourly schedule is due.
    tick_time = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)
    ticks: dict[str, dict[str, Any]] = {}
    for schedule in repository.schedule_defs:
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick_time,
            resources=resources,
            repository_def=repository,
        ) as context:
            t0 = time.perf_counter()
            data = schedule.evaluate_tick(context)
            ticks[schedule.name] = {
                "s": time.perf_counter() - t0,
                "runs": len(data.run_requests or []),
            }
    for sensor in repository.sensor_defs:
        with build_sensor_context(
            instance=instance, resources=resources, repository_def=repository
        ) as sensor_context:
            t0 = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                sensor_data = sensor.evaluate_tick(sensor_context)
            ticks[sensor.name] = {
                "s": time.perf_counter() - t0,
                "runs": len(sensor_data.run_requests or []),
            }
    print(
        json.dumps(
            {
                "dagster_import_s": dagster_imported - started,
                "import_s": imported - dagster_imported,
                "resolve_s": resolved - imported,
                "snapshot_s": snapped - resolved,
                "snapshot_bytes": len(snapshot),
                "ticks": ticks,
                "after_load_s": time.perf_counter() - loaded,
            }
        )
    )


def measure_load(sizes: Sequence[int], progress: Callable[[str], None]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with fresh_runtime("load") as rt:
        registered: list[str] = []
        for size in sizes:
            tenants = tenant_names("load", size)
            t0 = time.perf_counter()
            _fill_load_tenants(rt, tenants[len(registered) :])
            registered = tenants
            progress(f"load: {size} tenants registered ({time.perf_counter() - t0:.1f} s)")
            probes = []
            for _ in range(LOAD_REPEATS):
                t0 = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, __file__, "--load-probe"],
                    cwd=ROOT,
                    env=os.environ.copy(),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                wall = time.perf_counter() - t0
                if done.returncode != 0:
                    raise SystemExit(f"load probe failed:\n{done.stderr[-3000:]}")
                probe = json.loads(done.stdout.strip().splitlines()[-1])
                # The process up to a loaded code location: its wall time minus the ticks.
                probe["process_s"] = wall - probe["after_load_s"]
                probes.append(probe)
            best = min(probes, key=lambda p: p["process_s"])
            median = {
                key: statistics.median(p[key] for p in probes)
                for key in ("process_s", "import_s", "resolve_s", "snapshot_s")
            }
            ticks = {
                name: {
                    "s": statistics.median(p["ticks"][name]["s"] for p in probes),
                    "runs": best["ticks"][name]["runs"],
                }
                for name in best["ticks"]
            }
            results.append({"n": size, **median, "ticks": ticks, "load": load_average()})
            progress(
                f"load: N={size} process {median['process_s']:.2f} s, definitions "
                f"{median['import_s'] + median['resolve_s'] + median['snapshot_s']:.2f} s"
            )
    return {"measure": "load", "rows": results}


# --------------------------------------------------------------------------------------------
# 2. metrics snapshots


def measure_snapshot(sizes: Sequence[int], progress: Callable[[str], None]) -> dict[str, Any]:
    from dbt_raw_data import generate, tenant_ids

    results = []
    for size in sizes:
        with fresh_runtime(f"snap{size}") as rt:
            from adinsights_pipelines.defs.snapshots.refresh import refresh_snapshots
            from adinsights_pipelines.instance import get_instance
            from adinsights_pipelines.warehouse.database import engine

            with engine(rt.db).begin() as conn:
                counts = generate(conn, tenants=size, days=SNAPSHOT_DAYS, until=date.today())
            tenants = tenant_ids(size)
            instance = get_instance()
            instance.add_dynamic_partitions("tenant", tenants)
            dbt_s = run_job("dbt_build")
            refresh_snapshots(instance, tenants[:1])  # warm-up: imports, first connections
            load_before = load_average()
            t0 = time.perf_counter()
            outcomes = refresh_snapshots(instance, tenants)
            total = time.perf_counter() - t0
            failed = [o.tenant_id for o in outcomes if not o.ok]
            if failed:
                raise SystemExit(f"snapshots failed for {failed}")
            sql_s = sum((o.duration_ms or 0) for o in outcomes) / 1000
            rows = counts["raw.meta_insights"] // size
            results.append(
                {
                    "n": size,
                    "total_s": total,
                    "sql_s": sql_s,
                    "dbt_s": dbt_s,
                    "meta_rows_per_tenant": rows,
                    "load": f"{load_before} -> {load_average()}",
                }
            )
            progress(
                f"snapshot: N={size} {total:.1f} s ({total / size:.3f} s/tenant, payload SQL "
                f"{sql_s:.1f} s); dbt build {dbt_s:.1f} s"
            )
    return {"measure": "snapshot", "rows": results}


# --------------------------------------------------------------------------------------------
# 3. one hour of schedules


CYCLE_STAGES = (
    "meta_sync",
    "meta_pages",
    "meta_token_refresh",
    "airbyte_sync",
    "ga4_sync",
    "search_console_sync",
    "dbt_build",
    "metrics_snapshots",
)
PER_TENANT_STAGES = {
    "meta_sync",
    "meta_pages",
    "airbyte_sync",
    "ga4_sync",
    "search_console_sync",
    "metrics_snapshots",
}


def _cycle_environment(sim_urls: dict[str, str], workspace_id: str) -> None:
    from adinsights_pipelines.simulators.google import environment as google_environment

    os.environ["ADINSIGHTS_META_GRAPH_URL"] = sim_urls["meta"]
    os.environ["ADINSIGHTS_AIRBYTE_URL"] = sim_urls["airbyte"]
    os.environ["ADINSIGHTS_AIRBYTE_WORKSPACE_ID"] = workspace_id
    os.environ["ADINSIGHTS_AIRBYTE_POLL_INTERVAL_SECONDS"] = "0.1"
    os.environ["ADINSIGHTS_META_APP_ID"] = "adinsights-scale-app"
    os.environ["ADINSIGHTS_META_APP_SECRET"] = "simulator-only-app-secret"
    os.environ["ADINSIGHTS_META_REPORT_POLL_SECONDS"] = "0.1"
    os.environ["ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS"] = str(CYCLE_DAYS)
    os.environ["ADINSIGHTS_META_INITIAL_SYNC_DAYS"] = str(CYCLE_DAYS)
    os.environ.update(google_environment(sim_urls["google"]))
    os.environ["ADINSIGHTS_GOOGLE_CLIENT_ID"] = "adinsights-scale.apps.example"
    os.environ["ADINSIGHTS_GOOGLE_CLIENT_SECRET"] = "simulator-only-client-secret"


def _seed_cycle_tenants(rt: Any, airbyte: Any, tenants: list[str]) -> None:
    from adinsights_pipelines.defs.airbyte.store import add_connection
    from adinsights_pipelines.defs.google.onboarding import check_refresh_token
    from adinsights_pipelines.defs.google.resources import GoogleApis
    from adinsights_pipelines.defs.google.sources import add_source
    from adinsights_pipelines.defs.meta.onboarding import MetaApp
    from adinsights_pipelines.defs.resources import WarehouseResource
    from adinsights_pipelines.defs.tenants.sensors import sync_tenant_partitions
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.settings import load_settings
    from adinsights_pipelines.tenant_store import add_tenant, set_credential
    from adinsights_pipelines.warehouse.database import engine

    settings = load_settings()
    meta_app, google = MetaApp.from_settings(settings), GoogleApis.from_settings(settings)
    with engine(rt.db).begin() as conn:
        for tenant in tenants:
            n = int(tenant.rsplit("-", 1)[1])
            add_tenant(conn, tenant, tenant)
            token, info = meta_app.onboard(f"sim_scale_{n:04d}")
            set_credential(
                conn,
                rt.keyring,
                tenant,
                "meta",
                token,
                scopes=info.scopes,
                expires_at=info.expires_at,
            )
            customer_id = str(5_550_000_000 + n)
            connection = airbyte.add_connection(
                customer_id, currency="JMD", database_url=rt.db.plain_url
            )
            add_connection(
                conn,
                tenant_id=tenant,
                provider="google_ads",
                connection_id=connection.connection_id,
                source_account_id=customer_id,
            )
            refresh_token = f"sim_scale_google_{n:04d}"
            for provider, identifier in (
                ("ga4", str(310_000_000 + n)),
                ("search_console", f"https://{tenant}.example/"),
            ):
                scopes = check_refresh_token(google, provider, refresh_token)
                set_credential(conn, rt.keyring, tenant, provider, refresh_token, scopes=scopes)
                add_source(conn, tenant, provider, identifier)
    sync_tenant_partitions(get_instance(), WarehouseResource(database_url=rt.db.plain_url))


def measure_cycle(sizes: Sequence[int], progress: Callable[[str], None]) -> dict[str, Any]:
    from adinsights_pipelines.simulators.airbyte import AirbyteSimState, AirbyteSimulator
    from adinsights_pipelines.simulators.google import GoogleSimulator
    from adinsights_pipelines.simulators.meta_graph import MetaSimulator

    results = []
    for size in sizes:
        with fresh_runtime(f"cycle{size}") as rt:
            from adinsights_pipelines.warehouse.database import engine

            airbyte_state = AirbyteSimState(database_url=rt.db.plain_url)
            airbyte_state.configure(job_duration_s=0.3)
            with (
                MetaSimulator(port=0) as meta_sim,
                AirbyteSimulator(airbyte_state, port=0) as airbyte_sim,
                GoogleSimulator(port=0) as google_sim,
            ):
                _cycle_environment(
                    {"meta": meta_sim.url, "airbyte": airbyte_sim.url, "google": google_sim.url},
                    airbyte_state.workspace_id,
                )
                run_job("dbt_build")  # creates the models on the empty warehouse; not timed
                tenants = tenant_names("cycle", size)
                _seed_cycle_tenants(rt, airbyte_state, tenants)
                load_before = load_average()
                stages: dict[str, float] = {}
                runs: dict[str, list[float]] = {}
                for stage in CYCLE_STAGES:
                    if stage in PER_TENANT_STAGES:
                        runs[stage] = [run_job(stage, tenant) for tenant in tenants]
                    else:
                        runs[stage] = [run_job(stage)]
                    stages[stage] = sum(runs[stage])
                    progress(f"cycle: N={size} {stage} {stages[stage]:.1f} s")
            with engine(rt.db).connect() as conn:
                rows: dict[str, int] = {
                    table: conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()
                    for table in (
                        "raw.meta_insights",
                        "raw.google_ads_campaign_performance",
                        "raw.ga4_daily",
                        "raw.search_console_daily",
                        "marts.fct_ad_performance_daily",
                    )
                }
            total = sum(stages.values())
            results.append(
                {
                    "n": size,
                    "total_s": total,
                    "stages": stages,
                    "runs": runs,
                    "rows": rows,
                    "load": f"{load_before} -> {load_average()}",
                }
            )
            progress(f"cycle: N={size} total {total:.1f} s ({total / size:.2f} s/tenant)")
    return {"measure": "cycle", "rows": results}


MEASURES: dict[str, Callable[[Sequence[int], Callable[[str], None]], dict[str, Any]]] = {
    "load": measure_load,
    "snapshot": measure_snapshot,
    "cycle": measure_cycle,
}


# --------------------------------------------------------------------------------------------
# report


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: dict[str, dict[str, Any]]) -> tuple[str, dict[str, float]]:
    """Markdown tables and the summary figures."""
    out: list[str] = []
    summary: dict[str, float] = {}
    if "load" in results:
        rows = results["load"]["rows"]
        sizes = [r["n"] for r in rows]
        defs_s = [r["import_s"] + r["resolve_s"] + r["snapshot_s"] for r in rows]
        process = [r["process_s"] for r in rows]
        out.append("### Definitions load (fresh process, median of 3)\n")
        out.append(
            _table(
                [
                    "tenants",
                    "process to loaded s",
                    "import defs s",
                    "resolve graph s",
                    "repository snapshot s",
                    "load avg (1/5/15 min)",
                ],
                [
                    [
                        f"{r['n']:,}",
                        f"{r['process_s']:.2f}",
                        f"{r['import_s']:.2f}",
                        f"{r['resolve_s']:.3f}",
                        f"{r['snapshot_s']:.2f}",
                        r["load"],
                    ]
                    for r in rows
                ],
            )
        )
        f_proc, f_defs = fit(sizes, process), fit(sizes, defs_s)
        out.append(
            f"\nGrowth exponent: process {f_proc['exponent']:.3f}, definitions "
            f"{f_defs['exponent']:.3f}; per extra tenant {f_proc['per_tenant_s'] * 1000:.3f} ms "
            f"(process), {f_defs['per_tenant_s'] * 1000:.3f} ms (definitions)\n"
        )
        names = sorted(rows[-1]["ticks"])
        out.append("### One tick of each schedule and sensor (seconds; run requests)\n")
        tick_rows = []
        for name in names:
            seconds = [r["ticks"][name]["s"] for r in rows]
            growth = fit(sizes, seconds)
            tick_rows.append(
                [name]
                + [f"{r['ticks'][name]['s']:.3f} ({r['ticks'][name]['runs']})" for r in rows]
                + [f"{growth['exponent']:.2f}", f"{growth['per_tenant_s'] * 1000:.3f}"]
            )
            summary[f"tick_{name}_s_{sizes[-1]}"] = seconds[-1]
            summary[f"tick_{name}_exponent"] = growth["exponent"]
        out.append(
            _table(
                ["schedule / sensor"] + [f"N={n:,}" for n in sizes] + ["exponent", "ms per tenant"],
                tick_rows,
            )
        )
        out.append("")
        summary.update(
            {
                f"load_process_s_{sizes[-1]}": process[-1],
                "load_process_exponent": f_proc["exponent"],
                "load_defs_exponent": f_defs["exponent"],
            }
        )
    if "snapshot" in results:
        rows = results["snapshot"]["rows"]
        sizes = [r["n"] for r in rows]
        totals = [r["total_s"] for r in rows]
        growth, sql_growth = fit(sizes, totals), fit(sizes, [r["sql_s"] for r in rows])
        dbt_growth = fit(sizes, [r["dbt_s"] for r in rows])
        out.append("### Metrics snapshots (`refresh_snapshots`: one Dagster run per tenant)\n")
        out.append(
            _table(
                [
                    "tenants",
                    "all snapshots s",
                    "s per tenant",
                    "payload SQL s (sum)",
                    "dbt build s",
                    "Meta rows per tenant",
                    "load avg before -> after",
                ],
                [
                    [
                        f"{r['n']:,}",
                        f"{r['total_s']:.1f}",
                        f"{r['total_s'] / r['n']:.3f}",
                        f"{r['sql_s']:.2f}",
                        f"{r['dbt_s']:.1f}",
                        f"{r['meta_rows_per_tenant']:,}",
                        r["load"],
                    ]
                    for r in rows
                ],
            )
        )
        out.append(
            f"\nGrowth exponent: snapshots {growth['exponent']:.3f} (fit: "
            f"{growth['fixed_s']:.1f} s + {growth['per_tenant_s']:.3f} s x N), payload SQL "
            f"{sql_growth['exponent']:.3f}, dbt build {dbt_growth['exponent']:.3f} "
            f"({dbt_growth['fixed_s']:.1f} s + {dbt_growth['per_tenant_s']:.3f} s x N)\n"
        )
        summary.update(
            {
                "snapshot_exponent": growth["exponent"],
                "snapshot_s_per_tenant": growth["per_tenant_s"],
                f"snapshot_s_{sizes[-1]}": totals[-1],
                "snapshot_dbt_exponent": dbt_growth["exponent"],
            }
        )
    if "cycle" in results:
        rows = results["cycle"]["rows"]
        sizes = [r["n"] for r in rows]
        totals = [r["total_s"] for r in rows]
        growth = fit(sizes, totals)
        out.append("### One hour of schedules, in process, one run after another (seconds)\n")
        stage_rows = []
        for stage in CYCLE_STAGES:
            seconds = [r["stages"][stage] for r in rows]
            g = fit(sizes, seconds)
            stage_rows.append(
                [f"`{stage}`" + (" x N" if stage in PER_TENANT_STAGES else "")]
                + [f"{s:.1f}" for s in seconds]
                + [f"{g['exponent']:.2f}", f"{g['per_tenant_s']:.3f}"]
            )
            summary[f"cycle_{stage}_exponent"] = g["exponent"]
        per_tenant_parts = [
            sum(v for k, v in r["stages"].items() if k in PER_TENANT_STAGES) for r in rows
        ]
        g_parts = fit(sizes, per_tenant_parts)
        stage_rows.append(
            ["per-tenant stages"]
            + [f"{s:.1f}" for s in per_tenant_parts]
            + [f"{g_parts['exponent']:.2f}", f"{g_parts['per_tenant_s']:.3f}"]
        )
        summary["cycle_per_tenant_stages_exponent"] = g_parts["exponent"]
        stage_rows.append(
            ["**total**"]
            + [f"**{t:.1f}**" for t in totals]
            + [f"**{growth['exponent']:.2f}**", f"**{growth['per_tenant_s']:.3f}**"]
        )
        per_tenant = [f"{t / n:.2f}" for t, n in zip(totals, sizes, strict=True)]
        stage_rows.append(["s per tenant", *per_tenant])
        stage_rows.append(["load avg before -> after"] + [r["load"] for r in rows])
        out.append(
            _table(
                ["stage"] + [f"N={n}" for n in sizes] + ["exponent", "s per tenant (fit)"],
                stage_rows,
            )
        )
        if "runs" in rows[-1]:
            # A per-run cost that grows with the runs already in the instance would show as the
            # later runs of a stage being slower than the first ones.
            drift = []
            for stage in CYCLE_STAGES:
                durations = rows[-1]["runs"][stage]
                if len(durations) >= 8:
                    quarter = len(durations) // 4
                    first = statistics.fmean(durations[:quarter])
                    last = statistics.fmean(durations[-quarter:])
                    drift.append(f"`{stage}` {first:.2f} -> {last:.2f}")
            out.append(
                f"\nMean run seconds, first quarter -> last quarter of the runs at N={sizes[-1]}: "
                + ", ".join(drift)
            )
        raw = rows[-1]["rows"]
        out.append(
            f"\nRows at N={sizes[-1]}: "
            + ", ".join(f"{table} {count:,}" for table, count in raw.items())
            + f"\n\nGrowth exponent {growth['exponent']:.3f}; fit {growth['fixed_s']:.1f} s + "
            f"{growth['per_tenant_s']:.2f} s x N\n"
        )
        summary.update(
            {
                "cycle_exponent": growth["exponent"],
                "cycle_s_per_tenant": growth["per_tenant_s"],
                f"cycle_s_{sizes[-1]}": totals[-1],
            }
        )
    return "\n".join([*overview(results), *out]), summary


def _duration(seconds: float) -> str:
    return f"{seconds:.2f} s" if abs(seconds) >= 1 else f"{seconds * 1000:.2f} ms"


def overview(results: dict[str, dict[str, Any]]) -> list[str]:
    """One line per measure: sizes, time at the largest size, exponent, per-tenant cost."""
    lines: list[tuple[str, list[int], list[float]]] = []
    if "load" in results:
        rows = results["load"]["rows"]
        sizes = [r["n"] for r in rows]
        lines.append(("Definitions load (fresh process)", sizes, [r["process_s"] for r in rows]))
        tenant_ticks = [
            name for name, tick in rows[-1]["ticks"].items() if tick["runs"] == sizes[-1]
        ]
        if tenant_ticks:
            slowest = max(tenant_ticks, key=lambda name: rows[-1]["ticks"][name]["s"])
            lines.append(
                (
                    f"Slowest tenant schedule tick (`{slowest}`)",
                    sizes,
                    [r["ticks"][slowest]["s"] for r in rows],
                )
            )
        if "adinsights_alerts" in rows[-1]["ticks"]:
            lines.append(
                (
                    "Alert sensor tick",
                    sizes,
                    [r["ticks"]["adinsights_alerts"]["s"] for r in rows],
                )
            )
    if "snapshot" in results:
        rows = results["snapshot"]["rows"]
        lines.append(
            ("Metrics snapshots, all tenants", [r["n"] for r in rows], [r["total_s"] for r in rows])
        )
    if "cycle" in results:
        rows = results["cycle"]["rows"]
        sizes = [r["n"] for r in rows]
        lines.append(("One hour of schedules, total", sizes, [r["total_s"] for r in rows]))
        lines.append(
            (
                "One hour of schedules, per-tenant stages",
                sizes,
                [sum(v for k, v in r["stages"].items() if k in PER_TENANT_STAGES) for r in rows],
            )
        )
    if not lines:
        return []
    table = _table(
        ["measure", "tenants", "seconds at the largest N", "exponent k", "per tenant (fit)"],
        [
            [
                name,
                ", ".join(f"{n:,}" for n in sizes),
                f"{seconds[-1]:.3g}",
                f"{fit(sizes, seconds)['exponent']:.2f}",
                _duration(fit(sizes, seconds)["per_tenant_s"]),
            ]
            for name, sizes, seconds in lines
        ],
    )
    return ["### Summary\n", table, ""]


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [m for m in ("load", "snapshot", "cycle") if m in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2), squeeze=False)
    for ax, measure in zip(axes[0], panels, strict=True):
        rows = results[measure]["rows"]
        sizes = [r["n"] for r in rows]
        if measure == "load":
            series = {
                "fresh process to loaded": [r["process_s"] for r in rows],
                "definitions (import+graph+snapshot)": [
                    r["import_s"] + r["resolve_s"] + r["snapshot_s"] for r in rows
                ],
            }
            for name in ("meta_sync_hourly", "adinsights_alerts"):
                if name in rows[0]["ticks"]:
                    series[f"tick {name}"] = [r["ticks"][name]["s"] for r in rows]
            title = "Definitions load and ticks"
        elif measure == "snapshot":
            series = {
                "all snapshots": [r["total_s"] for r in rows],
                "dbt build": [r["dbt_s"] for r in rows],
                "payload SQL (sum)": [r["sql_s"] for r in rows],
            }
            title = "Metrics snapshots"
        else:
            series = {
                "hourly cycle total": [r["total_s"] for r in rows],
                "per-tenant stages": [
                    sum(v for k, v in r["stages"].items() if k in PER_TENANT_STAGES) for r in rows
                ],
            }
            for stage in ("meta_sync", "dbt_build", "metrics_snapshots"):
                series[stage] = [r["stages"][stage] for r in rows]
            title = "One hour of schedules"
        for name, values in series.items():
            ax.plot(
                sizes, values, marker="o", label=f"{name} (k={fit(sizes, values)['exponent']:.2f})"
            )
        lo, hi = sizes[0], sizes[-1]
        base = series[next(iter(series))][0]
        ax.plot([lo, hi], [base, base * hi / lo], ls=":", color="grey", label="linear (k=1)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("tenants (N)")
        ax.set_ylabel("seconds")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# entry points


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if len(sizes) < 2 or any(n < 1 for n in sizes) or list(sizes) != sorted(set(sizes)):
        raise argparse.ArgumentTypeError("give at least two increasing tenant counts, e.g. 5,10")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measures", default="load,snapshot,cycle")
    for measure, sizes in DEFAULT_SIZES.items():
        parser.add_argument(
            f"--{measure}-sizes", type=_sizes, default=sizes, help=f"default {sizes}"
        )
    parser.add_argument("--plot", action="store_true", help="write docs/performance-scale.png")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--from-json", type=Path, help="print the report (and --plot) from a --json file; no runs"
    )
    parser.add_argument("--load-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-measure", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, action="append", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_probe:
        load_probe()
        return

    def progress(message: str) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)

    if args.run_measure:  # a measure (at some sizes) in its own process; prints its JSON
        print(json.dumps(MEASURES[args.run_measure](args.size, progress)))
        return

    if args.from_json:
        try:
            saved = json.loads(args.from_json.read_text())
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read {args.from_json}: {exc}")
        emit(saved, args.plot, note=f"figures from {args.from_json}")
        return

    measures = [m.strip() for m in args.measures.split(",") if m.strip()]
    unknown = sorted(set(measures) - set(MEASURES))
    if unknown:
        parser.error(f"unknown measure(s) {', '.join(unknown)}; choose from {', '.join(MEASURES)}")
    workdir = Path(tempfile.mkdtemp(prefix="adi-scale-"))
    server_url = os.environ.get("ADINSIGHTS_BENCH_DATABASE_URL")
    if not server_url:
        from adinsights_pipelines.warehouse.database import start_embedded

        server_url = start_embedded(workdir).plain_url  # lives as long as this process
    env = {**os.environ, SERVER_ENV: server_url}
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    progress(f"cores {os.cpu_count()}, load average {load_average()}")
    for measure in measures:
        sizes = getattr(args, f"{measure}_sizes")
        # Loading grows one database (each size is probed by fresh processes); the other
        # measures run each size in a process of its own (its own Dagster instance).
        batches = [sizes] if measure == "load" else [(n,) for n in sizes]
        rows: list[dict[str, Any]] = []
        for batch in batches:
            command = [sys.executable, __file__, "--run-measure", measure]
            command += [arg for n in batch for arg in ("--size", str(n))]
            done = subprocess.run(
                command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
            )
            if done.returncode != 0:
                raise SystemExit(f"measure {measure} {batch} failed (exit {done.returncode})")
            rows += json.loads(done.stdout.strip().splitlines()[-1])["rows"]
        results[measure] = {"measure": measure, "rows": rows}
    elapsed = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    emit(
        results,
        args.plot,
        note=f"{os.cpu_count()} cores; load average at the end {load_average()}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; all measures {elapsed / 60:.1f} min",
    )


def emit(results: dict[str, dict[str, Any]], with_plot: bool, note: str) -> None:
    text, summary = report(results)
    print(f"Machine: {note}\n")
    print(text)
    if with_plot:
        path = ROOT / "docs" / "performance-scale.png"
        plot(results, path)
        print(f"plot: {path.relative_to(ROOT)}")
    print(" ".join(f"{k}={v:.4g}" for k, v in summary.items()), flush=True)


if __name__ == "__main__":
    main()
