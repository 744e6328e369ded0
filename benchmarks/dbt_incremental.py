"""dbt: a full build of 10 tenants x 90 days vs the incremental run after one new hour of data.

The warehouse is a fresh database created for the run (on the server of
ADINSIGHTS_BENCH_DATABASE_URL, or an embedded PostgreSQL) and dropped afterwards (kept with
ADINSIGHTS_BENCH_KEEP_DATABASE=1, for inspection). Raw rows are
generated in SQL (benchmarks/dbt_raw_data.py): Meta ad-level insights by region, Airbyte's
append-only Google Ads table (two copies of every row), GA4 and Search Console.

- full: ``dbt build --full-refresh`` (every model rebuilt, every test on every row);
- one new hour of data: every row of today re-delivered with new numbers (the hour's delivery)
  and a tenth of yesterday's (late attribution), for every source;
- incremental: what the 15-minute schedule runs once views and seeds are built from the current
  code (``dbt_build_every_15_minutes``): the incremental and table models with their tests, and
  the tests on the staging views that read raw rows (selected as dagster-dbt selects that
  subset: models by path, view tests by name).

Both are timed as the dbt asset's step runs them, in this process (which has loaded the code
location, as a step process has): dagster-dbt's ``DbtCliResource.cli()`` (a ``dbt --version``
and a ``dbt build`` process) and the event stream with row counts and column metadata
(defs/dbt/runner.py), from the call to the end of the stream. For comparison it also times,
each after a further new hour, the schedule's selection as a plain ``dbt build`` command, and a
``dbt build`` of every node. Last line: wall seconds and dbt's own elapsed seconds
(``run_results.json``), ``full_s=<x> incremental_s=<x> speedup=<x> full_dbt_s=<x>
incremental_dbt_s=<x> dbt_speedup=<x>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _databases import scratch_database
from dbt_raw_data import generate, new_hour

TENANTS = 10
DAYS = 90
# Per tenant: 80 campaigns x 4 ad sets x 3 ads (960 ads) in 15 regions -> 14,400 Meta rows a
# day; 10 Google Ads campaigns (two Airbyte copies of each row), GA4, Search Console.
SCALE = {"campaigns": 80, "adsets": 4, "ads": 3, "google_campaigns": 10, "queries": 60}
META_INDEXES = (
    "create index meta_insights_tenant_date on raw.meta_insights (tenant_id, date_start)",
    "create index meta_insights_loaded_at on raw.meta_insights (_loaded_at)",
    "create index meta_insights_ad_tenant_date on raw.meta_insights_ad (tenant_id, date_start)",
    "create index meta_insights_ad_loaded_at on raw.meta_insights_ad (_loaded_at)",
)


def run_results(target: Path) -> dict:
    """A run's run_results.json (none for ``dbt parse``)."""
    results = target / "run_results.json"
    return json.loads(results.read_text()) if results.exists() else {}


def dbt(args: list[str], env: dict[str, str], target: Path) -> tuple[float, dict]:
    """Run dbt; (wall seconds, run_results.json)."""
    from adinsights_pipelines.defs.dbt.project import dbt_project

    command = [shutil.which("dbt") or "dbt", *args, "--quiet"]
    command += ["--project-dir", str(dbt_project.project_dir)]
    command += ["--profiles-dir", str(dbt_project.profiles_dir)]
    command += ["--target-path", str(target), "--log-path", str(target)]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"dbt {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed, run_results(target)


def dbt_step(args: list[str], target: Path) -> tuple[float, dict]:
    """What the dbt asset's step runs for ``args`` (defs/dbt/assets.py), timed in this process,
    which has loaded the code location as a step process has: ``DbtCliResource.cli()`` and its
    event stream with row counts and column metadata, until the stream ends.
    (wall seconds, run_results.json)."""
    from dagster_dbt import DbtCliResource

    from adinsights_pipelines.defs.dbt.assets import MANIFEST, translator
    from adinsights_pipelines.defs.dbt.project import dbt_project
    from adinsights_pipelines.defs.dbt.runner import (
        keep_partial_parse_state,
        stream_with_table_metadata,
    )

    resource = DbtCliResource(
        project_dir=str(dbt_project.project_dir), profiles_dir=str(dbt_project.profiles_dir)
    )
    # dagster-dbt echoes every dbt event to the step's stdout (its compute log): paid, not shown
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        invocation = resource.cli(
            args,
            manifest=MANIFEST,
            dagster_dbt_translator=translator,
            target_path=target,
            raise_on_error=False,
        )
        for _ in stream_with_table_metadata(invocation):
            pass
        keep_partial_parse_state(invocation)
        elapsed = time.perf_counter() - started
    if not invocation.is_successful():
        sys.exit(f"dbt {' '.join(args)} failed: {invocation.get_error()}")
    return elapsed, run_results(target)


def written(results: dict) -> dict[str, int]:
    """Rows each table model wrote (dbt's adapter response; views and tests excluded)."""
    out = {}
    for r in results["results"]:
        name = r["unique_id"].split(".")[2]
        rows = (r.get("adapter_response") or {}).get("rows_affected")
        if r["unique_id"].startswith("model.") and rows is not None and rows >= 0:
            out[name] = rows
    return out


def fifteen_minute_selection(manifest: dict) -> list[str]:
    """dbt arguments for the schedule's incremental run: models but views, plus the tests on
    views that read raw rows (not those that read only seeds)."""
    from adinsights_pipelines.defs.dbt.assets import static_nodes, static_tests

    static = {n["unique_id"]: n["resource_type"] for n in static_nodes(manifest)}
    seeds_only = {n["unique_id"] for n in static_tests(manifest)}
    nodes = manifest["nodes"].values()
    models = [
        f"path:{n['original_file_path']}"
        for n in nodes
        if n["resource_type"] == "model" and n["unique_id"] not in static
    ]
    view_tests = [
        n["name"]
        for n in nodes
        if n["resource_type"] == "test"
        and static.get(n.get("attached_node") or "") == "model"
        and n["unique_id"] not in seeds_only
    ]
    # one argument: dagster-dbt takes the single value after --select (dbt reads it as a union)
    return ["--select", " ".join([*models, *view_tests])]


def node_times(results: dict, top: int = 10) -> list[str]:
    """The slowest nodes and the totals by kind: where a run's time goes."""
    rows = sorted(((r["execution_time"], r["unique_id"]) for r in results["results"]), reverse=True)
    kinds: dict[str, tuple[int, float]] = {}
    for seconds, uid in rows:
        kind = uid.split(".")[0]
        n, total = kinds.get(kind, (0, 0.0))
        kinds[kind] = (n + 1, total + seconds)
    lines = [
        f"    {kind:<10} {n:>4} nodes {total:7.1f} s" for kind, (n, total) in sorted(kinds.items())
    ]
    lines += [f"    {seconds:7.2f} s  {uid.split('.', 2)[-1]}" for seconds, uid in rows[:top]]
    return lines


def report(label: str, wall_s: float, results: dict, rows_word: str) -> None:
    """One build's times, the rows each table model wrote, and where its time went."""
    print(f"{label}: {wall_s:7.1f} s wall, {results['elapsed_time']:7.1f} s in dbt")
    for model, rows in sorted(written(results).items()):
        print(f"  {model:<40} {rows:>12,} {rows_word}")
    print("  node time by kind, slowest nodes:")
    print("\n".join(node_times(results)))


def main() -> None:
    import adinsights_pipelines.definitions  # noqa: F401  (as a step process has loaded it)
    from adinsights_pipelines.defs.dbt.project import dbt_environment, prepare_manifest
    from adinsights_pipelines.warehouse import migrate
    from adinsights_pipelines.warehouse.database import Database, engine, start_embedded

    workdir = Path(tempfile.mkdtemp(prefix="adi-bench-dbt-"))
    server_url = os.environ.get("ADINSIGHTS_BENCH_DATABASE_URL")
    server = Database.from_url(server_url) if server_url else start_embedded(workdir)
    name = f"adi_bench_dbt_{uuid.uuid4().hex[:8]}"
    keep = bool(os.environ.get("ADINSIGHTS_BENCH_KEEP_DATABASE"))
    try:
        with scratch_database(server, name, keep=keep) as db:
            migrate.upgrade(db)
            prepare_manifest(force=True)
            eng = engine(db)
            today = date.today()
            started = time.perf_counter()
            with eng.begin() as conn:
                # bulk load without the secondary indexes, then build them (test-data preparation)
                conn.execute(sa.text("drop index raw.meta_insights_tenant_date"))
                conn.execute(sa.text("drop index raw.meta_insights_loaded_at"))
                conn.execute(sa.text("drop index raw.meta_insights_ad_tenant_date"))
                conn.execute(sa.text("drop index raw.meta_insights_ad_loaded_at"))
                counts = generate(conn, tenants=TENANTS, days=DAYS, until=today, **SCALE)
                for statement in META_INDEXES:
                    conn.execute(sa.text(statement))
            with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("vacuum analyze"))
            print(f"raw rows ({TENANTS} tenants x {DAYS} days), generated in "
                  f"{time.perf_counter() - started:.0f} s:")  # fmt: skip
            for table, count in counts.items():
                print(f"  {table:<40} {count:>12,}")

            env = {**os.environ, **dbt_environment(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
            os.environ.update(env)  # as the asset does: dbt gets the step process's environment
            target = workdir / "target"
            runs = workdir / "runs"
            # Parsed once beforehand, as the previous tick of a deployment has (each run leaves its
            # partial-parse state to the next): neither timing includes a whole parse.
            dbt_step(["parse"], runs / "parse")
            manifest = json.loads((runs / "parse" / "manifest.json").read_text())
            shutil.copytree(runs / "parse", target)  # the plain `dbt` command's starting point
            full_s, full = dbt_step(["build", "--full-refresh"], runs / "full")
            with eng.begin() as conn:
                arrived = new_hour(conn, until=today)
            schedule_run = ["build", *fifteen_minute_selection(manifest)]
            incremental_s, incremental = dbt_step(schedule_run, runs / "incremental")
            # The same selection after another new hour, as a plain `dbt` command.
            with eng.begin() as conn:
                new_hour(conn, until=today)
            command_s, _ = dbt(schedule_run, env, target)
            with eng.begin() as conn:
                new_hour(conn, until=today)
            every_node_s, every_node = dbt_step(["build"], runs / "every_node")
    finally:
        if keep:
            print(f"kept database {name} (ADINSIGHTS_BENCH_KEEP_DATABASE)")
        shutil.rmtree(workdir, ignore_errors=True)

    print("one new hour of data (rows re-delivered):")
    for table, count in arrived.items():
        print(f"  {table:<40} {count:>12,}")
    report("dbt build --full-refresh", full_s, full, "rows")
    report("dbt build (the 15-minute schedule's incremental run)", incremental_s, incremental,
           "rows written")  # fmt: skip
    print(
        f"dbt build of every node after another new hour (views and seeds rebuilt too): "
        f"{every_node_s:.1f} s wall, {every_node['elapsed_time']:.1f} s in dbt, "
        f"{len(every_node['results'])} nodes (the schedule's run: {len(incremental['results'])})"
    )
    print(
        f"the schedule's selection after a further new hour, as a plain `dbt build` command: "
        f"{command_s:.1f} s"
    )
    full_dbt_s, incremental_dbt_s = full["elapsed_time"], incremental["elapsed_time"]
    dbt_speedup = full_dbt_s / incremental_dbt_s
    print(
        f"full_s={full_s:.1f} incremental_s={incremental_s:.1f} "
        f"speedup={full_s / incremental_s:.1f} full_dbt_s={full_dbt_s:.1f} "
        f"incremental_dbt_s={incremental_dbt_s:.1f} dbt_speedup={dbt_speedup:.1f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
