"""Meta insights ingest at scale: about 100,000 and 1,000,000 rows, Graph simulator to PostgreSQL.

End to end, the rows go through the real client (HTTP, paging, orjson) and the real loader
(``load_insights``: COPY + upsert per batch of 5,000, one transaction each, the next batch
fetched in a helper thread) into ``raw.meta_insights``. It measures the region read, the larger
of an account's two ad-level reads (five times the rows of the read without a breakdown, which
goes through the same loader and also counts conversions). The ceiling loads the
very same pages with no HTTP: the client's own requests, read back from the simulator's request
log, are replayed and the raw JSON bodies kept in a file, then parsed and COPY + upserted by the
same loader. The time that fetch takes is printed too: the source alone (simulator + HTTP +
JSON parse), which bounds the end-to-end rate.

The sizes are nominal: 5,000 region rows a day (2 accounts x 500 ads x 5 regions) over 20 and
200 days. What Meta serves on top (the client asks for every ad, and each account's DELETED and
ARCHIVED ads spent on about half the days) is loaded and counted too; the rates are of the rows
actually loaded, and the ceiling must load exactly the rows the end-to-end run loaded.

The simulator runs in a process of its own, as Graph is remote: in this process it would take
the GIL from the loader. Its usage headers are kept at 0 %, so the client never pauses for the
rate limits (a real account would be throttled long before a million rows a minute).

Memory is the peak resident set size during each load minus the resident size before the
first one: the kernel's high-water mark (``VmHWM``) is reset through ``/proc/self/clear_refs``
before each load (without that file, ``ru_maxrss``, which can only grow from load to load).

Runs on a throw-away embedded PostgreSQL, deleted at exit (or ``ADINSIGHTS_BENCH_DATABASE_URL``,
a database it may fill: it truncates ``raw.meta_insights``). The last line is machine-readable.
"""

from __future__ import annotations

import atexit
import multiprocessing
import resource
import shutil
import struct
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import requests
import sqlalchemy as sa

from adinsights_pipelines.ports import free_port

# 500 ads in each of the two ad accounts, 5 regions each: 5,000 rows a day.
TOKEN = "sim_bench_ads500_x"
ROWS_PER_DAY = 5_000
SIZES = (100_000, 1_000_000)
TENANT = "bench"


def _serve_simulator(port: int) -> None:
    import uvicorn

    from adinsights_pipelines.simulators.meta_graph import MetaSimState, create_app

    app = create_app(MetaSimState(usage_per_call=0.0))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _start_simulator() -> tuple[multiprocessing.process.BaseProcess, str]:
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(
        target=_serve_simulator, args=(port,), name="meta-sim", daemon=True
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/__sim__/config", timeout=1).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the Meta simulator did not start")


class PeakRss:
    """Peak resident set size (MB) of this process during a load, above a fixed baseline.

    The baseline is the resident size once everything is imported and warmed up; the kernel's
    high-water mark (``VmHWM``) is reset through ``/proc/self/clear_refs`` before each load,
    so each load's figure is its own peak. Without that file (not Linux), the ``ru_maxrss``
    delta, which can only grow from one load to the next.
    """

    def __init__(self) -> None:
        self.resettable = self._reset_hwm()
        self.method = (
            "peak RSS during the load (VmHWM, reset per load) minus RSS before the first load"
            if self.resettable
            else "ru_maxrss minus RSS before the first load"
        )
        self._base = self._rss_kb()

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    @staticmethod
    def _status_kb(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise KeyError(field)

    def _rss_kb(self) -> int:
        if self.resettable:
            return self._status_kb("VmRSS")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def start(self) -> None:
        if self.resettable:
            self._reset_hwm()

    def peak_mb(self) -> float:
        if self.resettable:
            high = self._status_kb("VmHWM")
        else:
            high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, high - self._base) / 1024


def _window(rows: int, until: date) -> tuple[date, date]:
    days = rows // ROWS_PER_DAY
    return until - timedelta(days=days - 1), until


def _first_requests(url: str, accounts: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    """Per account, the first insights request the client made since the log was cleared:
    ``{account_id: (path, query)}``, as the simulator logged it (the token left out)."""
    logged = requests.get(f"{url}/__sim__/requests", timeout=60).json()["requests"]
    first: dict[str, tuple[str, Any]] = {}
    for account in accounts:
        suffix = f"/{account['id']}/insights"
        found = next(
            ((r["path"], r["query"]) for r in logged
             if r["method"] == "GET" and r["path"].endswith(suffix)),
            None,
        )  # fmt: skip
        if found is None:
            raise SystemExit(f"the simulator logged no insights request for {account['id']}")
        first[account["id"]] = found
    return first


def _fetch_raw(url: str, first: dict[str, tuple[str, Any]], path: Path) -> int:
    """Every page's raw JSON body into ``path`` (not timed): each account's first request as
    the client made it, then Graph's ``paging.next`` as the client follows it."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    pages = 0
    with path.open("wb") as out:
        for account_id, (first_path, query) in first.items():
            params: dict[str, Any] | None = query
            next_url: str | None = f"{url}{first_path}"
            while next_url:
                response = session.get(next_url, params=params, timeout=60)
                response.raise_for_status()
                body = response.content
                out.write(struct.pack(">16sI", account_id[-16:].encode(), len(body)))
                out.write(body)
                pages += 1
                next_url = orjson.loads(body).get("paging", {}).get("next")
                params = None
    return pages


def _pages_of(path: Path, account_id: str) -> Iterator[dict[str, Any]]:
    """The rows of ``account_id``'s pages in ``path``, one page in memory at a time."""
    tag = account_id[-16:].encode()
    with path.open("rb") as raw:
        while header := raw.read(20):
            page_tag, size = struct.unpack(">16sI", header)
            body = raw.read(size)
            if page_tag == tag:
                yield from orjson.loads(body).get("data", [])


def main() -> None:
    from _tenants import bench_environment

    workdir = bench_environment("adi-ingest-")
    # Registered first, so it runs last: after the embedded server has stopped (its own atexit).
    atexit.register(shutil.rmtree, workdir, True)

    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.meta.client import MetaGraphClient
    from adinsights_pipelines.defs.meta.loading import BATCH_ROWS, REGION_READ, load_insights
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    eng = engine(rt.db)
    proc, url = _start_simulator()
    try:
        client = MetaGraphClient(TOKEN, base_url=url)
        accounts = client.list_ad_accounts()
        until = datetime.now(UTC).date() - timedelta(days=1)  # a whole day in any time zone

        def timed_load(
            rows_of: Callable[[dict[str, Any], date, date], Any], n: int, expected: int | None
        ) -> tuple[float, float, float, int]:
            """(rows/s, peak MB, seconds, rows) of loading the ``n``-row window; every row
            written must have landed, and ``expected`` rows when given."""
            with eng.begin() as conn:
                conn.execute(sa.text("truncate raw.meta_insights"))
            since, last = _window(n, until)
            memory.start()
            started = time.perf_counter()
            written = sum(
                load_insights(eng, TENANT, a["currency"], rows_of(a, since, last), read=REGION_READ)
                for a in accounts
            )
            seconds = time.perf_counter() - started
            peak = memory.peak_mb()
            with eng.connect() as conn:
                landed = conn.execute(sa.text("select count(*) from raw.meta_insights")).scalar()
            if written != landed or (expected is not None and landed != expected):
                wanted = (
                    "every row written"
                    if expected is None
                    else f"{expected:,} rows (as end to end)"
                )
                raise SystemExit(f"the {n:,}-row window: expected {wanted}, wrote {written:,}, "
                                 f"found {landed:,}")  # fmt: skip
            return written / seconds, peak, seconds, written

        # Warm-up (connections, the simulator's object universe), not measured.
        load_insights(
            eng,
            TENANT,
            accounts[0]["currency"],
            client.iter_insights(accounts[0]["id"], until, until, breakdowns=("region",)),
            read=REGION_READ,
        )

        memory = PeakRss()
        results: dict[int, tuple[float, float, float, int]] = {}
        first: dict[int, dict[str, tuple[str, Any]]] = {}
        for n in SIZES:
            requests.delete(f"{url}/__sim__/requests", timeout=60)
            results[n] = timed_load(
                lambda a, s, u: client.iter_insights(a["id"], s, u, breakdowns=("region",)),
                n,
                None,
            )
            first[n] = _first_requests(url, accounts)
        ceilings: dict[int, float] = {}
        source: dict[int, float] = {}
        for n in SIZES:
            raw_pages = workdir / f"pages-{n}.bin"
            started = time.perf_counter()
            _fetch_raw(url, first[n], raw_pages)
            source[n] = results[n][3] / (time.perf_counter() - started)

            def from_file(
                account: dict[str, Any], since: date, until: date, f: Path = raw_pages
            ) -> Iterator[dict[str, Any]]:
                return _pages_of(f, account["id"])

            ceilings[n] = timed_load(from_file, n, results[n][3])[0]
            raw_pages.unlink()
    finally:
        proc.terminate()
        proc.join(10)

    print(
        f"Meta insights ingest, token {TOKEN} (2 accounts x 500 ads x 5 regions), "
        f"batches of {BATCH_ROWS}, PostgreSQL {rt.db.display}"
    )
    print(f"peak memory: {memory.method}")
    for n in SIZES:
        rate, peak, seconds, rows = results[n]
        print(
            f"{rows:>9,} rows: end to end {rate:>9,.0f} rows/s"
            f" ({seconds:5.1f} s, peak {peak:6.1f} MB)"
            f" | ceiling (same pages, no HTTP) {ceilings[n]:>9,.0f} rows/s"
            f" | ratio {rate / ceilings[n]:.2f}"
        )
    print(
        "the source alone (simulator + HTTP + JSON parse, no database): "
        + ", ".join(f"{source[n]:,.0f} rows/s at {results[n][3]:,}" for n in SIZES)
    )
    big, small = SIZES[-1], SIZES[0]
    rate, ceiling = results[big][0], ceilings[big]
    print(
        f"rows_per_s={rate:.0f} ceiling_rows_per_s={ceiling:.0f} ratio={rate / ceiling:.2f} "
        f"peak_mb_100k={results[small][1]:.1f} peak_mb_1m={results[big][1]:.1f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
