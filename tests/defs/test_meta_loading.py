"""Bulk loading of Meta insights: batches commit one by one, a crash loses at most one batch,
a re-run completes without duplicates; and the client shrinking pages Graph finds too big."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, ExecuteInProcessResult

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.meta import loading
from adinsights_pipelines.defs.meta.assets import JAMAICA
from adinsights_pipelines.defs.meta.client import ApiCallFailure, MetaApiError, MetaGraphClient
from adinsights_pipelines.defs.meta.loading import REGION_READ, load_insights
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.warehouse.database import Database, engine
from tests.defs.conftest import MetaTenants
from tests.sql import one

# 200 ads in each of the two ad accounts: 3-6 regions x 5 days -> 3,000-6,000 region rows per
# account, 6-12 pages of 500 (the loading mechanics are exercised on the region read, the
# larger of an account's two ad-level reads).
TOKEN = "sim_loading_ads200_t"
LOOKBACK_DAYS = 5
UNTIL = datetime.now(JAMAICA).date()
SINCE = UNTIL - timedelta(days=LOOKBACK_DAYS - 1)
REGION = ("region",)


def no_sleep(seconds: float) -> None:
    """Retry back-off without the wait: the client's own ``sleep`` hook."""


def totals(db: Database, tenant_id: str, account_id: str | None = None) -> tuple[int, int, Any]:
    """(rows, distinct natural keys, sum of spend) of a tenant (and account) in raw."""
    row = one(
        db,
        "select count(*), count(distinct (ad_id, date_start, region)), sum(spend) "
        "from raw.meta_insights where tenant_id = :t "
        "and (cast(:a as text) is null or account_id = :a)",
        t=tenant_id,
        a=account_id,
    )
    return row[0], row[1], row[2]


def first_account(meta_sim: MetaSimulator) -> dict[str, Any]:
    accounts = MetaGraphClient(TOKEN, base_url=meta_sim.url).list_ad_accounts()
    return min(accounts, key=lambda a: a["id"])


def test_crash_between_batches_keeps_whole_batches_and_a_rerun_completes(
    database: Database, meta_sim: MetaSimulator
) -> None:
    eng = engine(database)
    account = first_account(meta_sim)
    failures: list[ApiCallFailure] = []
    client = MetaGraphClient(TOKEN, base_url=meta_sim.url, on_error=failures.append, sleep=no_sleep)

    def fault_after(rows: Iterator[dict[str, Any]], n: int) -> Iterator[dict[str, Any]]:
        # Graph starts failing (5 times: more than the client retries) while page 3 is read.
        for i, row in enumerate(rows):
            if i == n:
                meta_sim.state.inject("/insights", count=5, http_status=500, code=2)
            yield row

    try:
        rows = client.iter_insights(account["id"], SINCE, UNTIL, breakdowns=REGION)
        with pytest.raises(MetaApiError) as raised:
            load_insights(
                eng,
                "acme",
                account["currency"],
                fault_after(rows, 1200),
                batch_rows=400,
                read=REGION_READ,
            )
    finally:
        meta_sim.state.clear_faults()
    assert (raised.value.http_status, raised.value.code) == (500, 2)
    assert len(failures) == 5
    # Pages 1-3 (1,500 rows) arrived: three whole batches of 400 committed, the fourth
    # (300 rows) was still being filled and left nothing.
    assert totals(database, "acme")[:2] == (1200, 1200)

    clean = load_insights(
        eng,
        "clean",
        account["currency"],
        client.iter_insights(account["id"], SINCE, UNTIL, breakdowns=REGION),
        read=REGION_READ,
    )
    rerun = load_insights(
        eng,
        "acme",
        account["currency"],
        client.iter_insights(account["id"], SINCE, UNTIL, breakdowns=REGION),
        batch_rows=400,
        read=REGION_READ,
    )
    assert rerun == clean >= 3000
    count, keys, spend = totals(database, "acme")
    assert (count, keys) == (clean, clean)
    assert (count, keys, spend) == totals(database, "clean")


def test_consumer_failure_stops_the_read_ahead(database: Database, meta_sim: MetaSimulator) -> None:
    account = first_account(meta_sim)
    client = MetaGraphClient(TOKEN, base_url=meta_sim.url)
    before = meta_sim.state.request_count(f"{account['id']}/insights")
    threads = threading.active_count()
    # No tenant: the NOT NULL tenant_id fails the first batch in PostgreSQL.
    with pytest.raises(sa.exc.IntegrityError):
        load_insights(
            engine(database),
            None,
            account["currency"],
            client.iter_insights(account["id"], SINCE, UNTIL, breakdowns=REGION),
            batch_rows=100,
            read=REGION_READ,
        )
    assert threading.active_count() == threads  # the helper thread was joined
    fetched = meta_sim.state.request_count(f"{account['id']}/insights") - before
    assert fetched == 1  # it stopped within the first page instead of reading the account
    with engine(database).connect() as conn:
        assert conn.execute(sa.text("select count(*) from raw.meta_insights")).scalar() == 0


# --- the asset, through Dagster ------------------------------------------------------------


@pytest.fixture
def tenants(
    meta_tenants: MetaTenants, meta_sim: MetaSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    monkeypatch.setattr(loading, "BATCH_ROWS", 300)
    yield meta_tenants(LOOKBACK_DAYS, {t: TOKEN for t in ("acme", "globex")})
    meta_sim.state.clear_faults()
    meta_sim.state.latency_s = 0.0


def sync(instance: DagsterInstance, tenant_id: str) -> ExecuteInProcessResult:
    return defs.resolve_job_def("meta_sync").execute_in_process(
        instance=instance, partition_key=tenant_id, raise_on_error=False
    )


def states(db: Database, tenant_id: str) -> dict[str, tuple[str, str | None]]:
    with engine(db).connect() as conn:
        return {
            r.account_id: (r.last_job_status, r.last_job_error)
            for r in conn.execute(
                sa.text(
                    "select account_id, last_job_status, last_job_error "
                    "from app.meta_sync_state where tenant_id = :t"
                ),
                {"t": tenant_id},
            )
        }


def test_sync_interrupted_mid_account_then_rerun_lands_every_row_once(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    account = first_account(meta_sim)["id"]
    insights_path = f"{account}/insights"
    start = len(meta_sim.state.requests)
    # Each Graph call takes 0.2 s, so once two pages of the first account's region read (its
    # second ad-level read, after the one without a breakdown) are answered, the fault below is
    # in place before the simulator looks at the third request.
    meta_sim.state.latency_s = 0.2
    injected = threading.Event()

    def region_pages() -> int:
        return sum(
            1
            for r in meta_sim.state.requests[start:]
            if insights_path in r.path and "region" in r.query.get("breakdowns", "")
        )

    def inject_mid_stream() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if region_pages() >= 2:
                meta_sim.state.inject(
                    insights_path, count=1, http_status=400, code=100, is_transient=False
                )
                meta_sim.state.latency_s = 0.0
                injected.set()
                return
            time.sleep(0.005)

    injector = threading.Thread(target=inject_mid_stream, daemon=True)
    injector.start()
    result = sync(instance, "acme")
    injector.join()
    assert injected.is_set()
    assert result.success  # the other account synced

    rows, keys, _ = totals(product_env, "acme", account)
    # The two answered pages (1,000 rows) hold three whole batches; never the whole account.
    assert 900 <= rows < 3000
    assert rows == keys and rows % 300 == 0  # whole batches only, no duplicates
    status, error = states(product_env, "acme")[account]
    assert status == "failed" and "code 100" in (error or "")
    other = [s for a, (s, _) in states(product_env, "acme").items() if a != account]
    assert other == ["succeeded"]

    assert sync(instance, "acme").success
    assert sync(instance, "globex").success  # a clean run of the same token
    assert {s for s, _ in states(product_env, "acme").values()} == {"succeeded"}
    acme, globex = totals(product_env, "acme"), totals(product_env, "globex")
    assert acme == globex
    assert acme[0] == acme[1] > rows


# --- the client: "Please reduce the amount of data you're asking for" ------------------------


@pytest.fixture
def row_ceiling(meta_sim: MetaSimulator) -> Iterator[Any]:
    def set_ceiling(rows: int | None) -> None:
        meta_sim.state.max_rows_per_request = rows

    yield set_ceiling
    meta_sim.state.max_rows_per_request = None
    meta_sim.state.clear_faults()


def test_client_halves_the_page_limit_when_graph_asks_for_less_data(
    meta_sim: MetaSimulator, row_ceiling: Any, caplog: pytest.LogCaptureFixture
) -> None:
    account = first_account(meta_sim)["id"]
    since = UNTIL - timedelta(days=1)
    failures: list[ApiCallFailure] = []
    sleeps: list[float] = []
    client = MetaGraphClient(
        TOKEN, base_url=meta_sim.url, on_error=failures.append, sleep=sleeps.append
    )
    full = list(client.iter_insights(account, since, UNTIL, breakdowns=REGION))
    start = len(meta_sim.state.requests)

    row_ceiling(100)
    with caplog.at_level("INFO", logger="adinsights_pipelines.defs.meta.client"):
        shrunk = list(client.iter_insights(account, since, UNTIL, breakdowns=REGION))

    assert shrunk == full
    calls = meta_sim.state.requests[start:]
    assert [c.query["limit"] for c in calls[:4]] == ["500", "250", "125", "62"]
    assert [c.status for c in calls[:4]] == [500, 500, 500, 200]
    assert {c.query["limit"] for c in calls[3:]} == {"62"}  # paging.next keeps the smaller size
    assert all(c.status == 200 for c in calls[3:])
    # at least one page per 62 rows (Meta may hold fewer rows on a page than the limit: it
    # leaves out rows without delivery)
    assert len(calls) >= 3 + -(-len(full) // 62)
    assert [(f.http_status, f.code) for f in failures] == [(500, 1)] * 3  # each one reported
    assert sleeps == []  # not a back-off retry
    assert "page limit 500 -> 250" in caplog.text


def test_client_gives_up_at_the_minimum_page_limit(
    meta_sim: MetaSimulator, row_ceiling: Any
) -> None:
    account = first_account(meta_sim)["id"]
    failures: list[ApiCallFailure] = []
    client = MetaGraphClient(TOKEN, base_url=meta_sim.url, on_error=failures.append)
    start = len(meta_sim.state.requests)
    row_ceiling(10)
    with pytest.raises(MetaApiError) as raised:
        list(client.iter_insights(account, UNTIL, UNTIL, breakdowns=REGION))
    assert (raised.value.http_status, raised.value.code) == (500, 1)
    limits = [c.query["limit"] for c in meta_sim.state.requests[start:]]
    assert limits == ["500", "250", "125", "62", "31", "25"]
    assert len(failures) == 6


def test_reduce_data_on_a_later_page_shrinks_from_there(
    meta_sim: MetaSimulator, row_ceiling: Any
) -> None:
    account = first_account(meta_sim)["id"]
    client = MetaGraphClient(TOKEN, base_url=meta_sim.url)
    full = list(client.iter_insights(account, SINCE, UNTIL, limit=400, breakdowns=REGION))

    def fault_after(rows: Iterator[dict[str, Any]], n: int) -> Iterator[dict[str, Any]]:
        for i, row in enumerate(rows):
            if i == n:
                meta_sim.state.inject(
                    "/insights",
                    count=1,
                    http_status=500,
                    code=1,
                    is_transient=False,
                    message="Please reduce the amount of data you're asking for, then retry "
                    "your request",
                )
            yield row

    start = len(meta_sim.state.requests)
    again = list(
        fault_after(client.iter_insights(account, SINCE, UNTIL, limit=400, breakdowns=REGION), 500)
    )
    assert again == full
    limits = [c.query["limit"] for c in meta_sim.state.requests[start:]]
    assert limits[:5] == ["400", "400", "400", "200", "200"]


def test_iter_pages_memory_does_not_grow_with_pages(meta_sim: MetaSimulator) -> None:
    """Consumed pages are released: memory stays flat over many pages (a generator check)."""
    import gc
    import tracemalloc

    account = first_account(meta_sim)["id"]
    client = MetaGraphClient(TOKEN, base_url=meta_sim.url)

    def peak(days: int) -> int:
        gc.collect()
        tracemalloc.start()
        for _ in client.iter_insights(
            account, UNTIL - timedelta(days=days - 1), UNTIL, breakdowns=REGION
        ):
            pass
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return high

    small, large = peak(1), peak(5)
    assert large < small * 1.5
