"""First syncs and backfills through Meta's async report runs: chunked, polled in batches,
resumable without re-reading finished chunks."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dagster import AssetKey, DagsterInstance

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.meta.assets import JAMAICA
from adinsights_pipelines.defs.meta.backfill import (
    Chunk,
    ReportRunFailed,
    backfill_account,
    backfill_window,
    earliest_allowed,
    plan_chunks,
    poll_waits,
)
from adinsights_pipelines.defs.meta.client import MetaApiError, MetaGraphClient
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.outside_apis.error_log import api_error_logger
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.warehouse.database import Database, engine
from tests.cli import adinsights
from tests.sql import query
from tests.tenants import onboard

TOKEN = "sim_backfill_t"
TODAY = datetime.now(JAMAICA).date()
INITIAL_DAYS, CHUNK_DAYS, LOOKBACK_DAYS = 12, 4, 3
SINCE = TODAY - timedelta(days=INITIAL_DAYS - 1)


def no_sleep(seconds: float) -> None:
    """Retry back-off and poll waits without the wait."""


# --- pure --------------------------------------------------------------------------------------


def test_plan_chunks_cover_the_range_without_gaps_or_overlap() -> None:
    chunks = plan_chunks(date(2026, 1, 1), date(2026, 1, 10), 4)
    assert chunks == [
        Chunk(date(2026, 1, 1), date(2026, 1, 4)),
        Chunk(date(2026, 1, 5), date(2026, 1, 8)),
        Chunk(date(2026, 1, 9), date(2026, 1, 10)),
    ]
    assert plan_chunks(date(2026, 1, 1), date(2026, 1, 1), 7) == [
        Chunk(date(2026, 1, 1), date(2026, 1, 1))
    ]
    with pytest.raises(ValueError, match="after"):
        plan_chunks(date(2026, 1, 2), date(2026, 1, 1), 7)


def test_backfill_window_rejects_reversed_future_and_older_than_37_months() -> None:
    today = date(2026, 11, 27)
    assert earliest_allowed(today) == date(2023, 10, 27)
    assert backfill_window(today, date(2026, 1, 1), date(2026, 2, 1)) == (
        date(2026, 1, 1),
        date(2026, 2, 1),
    )
    with pytest.raises(ValueError, match="after"):
        backfill_window(today, date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="future"):
        backfill_window(today, date(2026, 11, 1), date(2026, 11, 28))
    with pytest.raises(ValueError, match="37 months"):
        backfill_window(today, date(2023, 10, 26), date(2024, 1, 1))


def test_poll_waits_double_up_to_thirty_seconds() -> None:
    wait = poll_waits(2.0)
    assert [wait() for _ in range(7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


# --- against the simulator ---------------------------------------------------------------------


@pytest.fixture
def acme(
    instance: DagsterInstance,
    product_env: Database,
    meta_sim: MetaSimulator,
    keyring: LocalKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    monkeypatch.setenv("ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS", str(LOOKBACK_DAYS))
    monkeypatch.setenv("ADINSIGHTS_META_INITIAL_SYNC_DAYS", str(INITIAL_DAYS))
    monkeypatch.setenv("ADINSIGHTS_META_BACKFILL_CHUNK_DAYS", str(CHUNK_DAYS))
    monkeypatch.setenv("ADINSIGHTS_META_REPORT_CONCURRENCY", "2")
    onboard(product_env, instance, keyring, {"acme": {"meta": TOKEN}})
    meta_sim.state.clear_requests()
    yield "acme"
    meta_sim.state.clear_faults()
    meta_sim.state.reset_knobs()


def report_starts(meta_sim: MetaSimulator, account_id: str = "") -> int:
    """Report runs started: ``POST act_<id>/insights``."""
    return sum(
        1
        for r in meta_sim.state.requests
        if r.method == "POST" and r.path.endswith("/insights") and account_id in r.path
    )


def insight_totals(db: Database, account_id: str | None = None) -> tuple[Any, ...]:
    """(rows, distinct natural keys, distinct days, first day, last day, spend) of the ad rows
    read without a breakdown; the region rows must cover the same days with the same spend."""
    (row,) = query(
        db,
        "select count(*), count(distinct (ad_id, date_start)), "
        "count(distinct date_start), min(date_start), max(date_start), sum(spend) "
        "from raw.meta_insights_ad where tenant_id = 'acme' "
        "and (cast(:a as text) is null or account_id = :a)",
        a=account_id,
    )
    (region,) = query(
        db,
        "select count(distinct date_start), min(date_start), max(date_start), sum(spend) "
        "from raw.meta_insights where tenant_id = 'acme' "
        "and (cast(:a as text) is null or account_id = :a)",
        a=account_id,
    )
    assert tuple(region) == tuple(row)[2:], "the two reads cover different days or spend"
    return tuple(row)


def stored_rows(db: Database) -> int:
    """Rows of both ad-level reads (what a backfill reports as written)."""
    (row,) = query(
        db,
        "select (select count(*) from raw.meta_insights_ad where tenant_id = 'acme') "
        "+ (select count(*) from raw.meta_insights where tenant_id = 'acme')",
    )
    return int(row[0])


def account_todays(db: Database) -> dict[str, date]:
    """Each of acme's ad accounts' today, in the account's own time zone."""
    return {
        r.account_id: datetime.now(ZoneInfo(r.timezone_name or "America/Jamaica")).date()
        for r in query(
            db,
            "select account_id, timezone_name from raw.meta_ad_accounts where tenant_id = 'acme'",
        )
    }


def journal(db: Database) -> list[tuple[date, date, str, str, bool]]:
    """(start, end, read, status, has a report run) per read of a chunk."""
    return [
        (r.chunk_start, r.chunk_end, r.read, r.status, r.report_run_id is not None)
        for r in query(
            db,
            "select chunk_start, chunk_end, read, status, report_run_id "
            "from app.meta_backfill_chunks order by chunk_start, read",
        )
    ]


def sync(instance: DagsterInstance) -> Any:
    return defs.resolve_job_def("meta_sync").execute_in_process(
        instance=instance, partition_key="acme", raise_on_error=False
    )


@pytest.fixture
def synced(instance: DagsterInstance, acme: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """acme after a first sync that read its accounts and the 3-day lookback window only."""
    monkeypatch.setenv("ADINSIGHTS_META_INITIAL_SYNC_DAYS", str(LOOKBACK_DAYS))
    assert sync(instance).success
    return acme


def test_first_sync_loads_history_through_report_runs_polled_in_batches(
    instance: DagsterInstance, product_env: Database, acme: str, meta_sim: MetaSimulator
) -> None:
    result = sync(instance)
    assert result.success

    rows, keys, days, first, last, _ = insight_totals(product_env)
    assert rows == keys > 0
    todays = account_todays(product_env)
    for account, today in todays.items():  # each account's history ends on its own today
        since = today - timedelta(days=INITIAL_DAYS - 1)
        assert insight_totals(product_env, account)[2:5] == (INITIAL_DAYS, since, today)
    # Two accounts x three 4-day chunks x two reads (without a breakdown, and by region), two
    # report runs in flight, polled in one batch call.
    assert report_starts(meta_sim) == 12
    bodies = [r.query for r in meta_sim.state.requests if r.method == "POST"
              and r.path.endswith("/insights")]  # fmt: skip
    assert sorted(b.get("breakdowns", "") for b in bodies) == [""] * 6 + ["region"] * 6
    batch_polls = [r for r in meta_sim.state.requests if r.method == "POST" and r.path == "/"]
    assert batch_polls and all(r.status == 200 for r in batch_polls)
    assert journal(product_env) == []  # finished backfills leave no journal behind
    states = query(
        product_env,
        "select last_job_status, synced_through from app.meta_sync_state where tenant_id='acme'",
    )
    assert sorted(tuple(s) for s in states) == sorted(
        ("succeeded", today) for today in todays.values()
    )
    (mat,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path == ["meta_insights"]
    ]
    assert len(mat.metadata["accounts_first_synced"].value) == 2

    # The next run is incremental: the lookback window by plain GETs, no report runs.
    assert sync(instance).success
    assert report_starts(meta_sim) == 12
    assert insight_totals(product_env)[:5] == (rows, keys, days, first, last)


def first_account(meta_sim: MetaSimulator) -> dict[str, Any]:
    accounts = MetaGraphClient(TOKEN, base_url=meta_sim.url).list_ad_accounts()
    return min(accounts, key=lambda a: a["id"])


def client_for(db: Database, meta_sim: MetaSimulator) -> MetaGraphClient:
    return MetaGraphClient(
        TOKEN, base_url=meta_sim.url, on_error=api_error_logger(engine(db), "acme"), sleep=no_sleep
    )


def backfill(db: Database, meta_sim: MetaSimulator, account: dict[str, Any], **kw: Any) -> Any:
    options: dict[str, Any] = {"chunk_days": CHUNK_DAYS, "poll_seconds": 0.01, "sleep": no_sleep}
    options.update(kw)
    return backfill_account(
        engine(db),
        client_for(db, meta_sim),
        "acme",
        account["id"],
        account["currency"],
        SINCE,
        TODAY,
        **options,
    )


def test_a_failed_chunk_keeps_finished_chunks_and_the_rerun_reads_only_the_rest(
    product_env: Database, acme: str, meta_sim: MetaSimulator
) -> None:
    account = first_account(meta_sim)

    def fail_third_start(message: str) -> None:
        # Both reads of chunks 1 and 2 are loaded; Graph fails before chunk 3's first run starts.
        if "(4/6 chunk reads)" in message:
            meta_sim.state.inject(f"{account['id']}/insights", count=5, http_status=500, code=2)

    with pytest.raises(MetaApiError) as raised:
        backfill(product_env, meta_sim, account, concurrency=1, progress=fail_third_start)
    assert (raised.value.http_status, raised.value.code) == (500, 2)

    rows, keys, days, first, last, _ = insight_totals(product_env)
    assert rows == keys and (days, first, last) == (8, SINCE, SINCE + timedelta(days=7))
    first, second = (
        (SINCE, SINCE + timedelta(days=3)),
        (SINCE + timedelta(days=4), SINCE + timedelta(days=7)),
    )
    third = (SINCE + timedelta(days=8), TODAY)
    assert [(s, e, read, status) for s, e, read, status, _ in journal(product_env)] == [
        (*first, "ad", "done"),
        (*first, "region", "done"),
        (*second, "ad", "done"),
        (*second, "region", "done"),
        (*third, "ad", "failed"),
        (*third, "region", "running"),  # planned, never started
    ]
    logged = query(
        product_env,
        "select endpoint, http_status, error_code, is_retryable from app.api_error_log",
    )
    assert len(logged) == 5
    assert {tuple(r) for r in logged} == {(f"/v26.0/{account['id']}/insights", 500, 2, True)}

    meta_sim.state.clear_requests()
    result = backfill(product_env, meta_sim, account, concurrency=1)
    assert report_starts(meta_sim) == 2  # only chunk 3 is read again, both reads
    assert (result.chunks, result.skipped) == (3, 2)
    rows, keys, days, first, last, _ = insight_totals(product_env)
    assert rows == keys and (days, first, last) == (INITIAL_DAYS, SINCE, TODAY)
    assert journal(product_env) == []


def test_a_rerun_picks_up_report_runs_still_in_flight(
    product_env: Database, acme: str, meta_sim: MetaSimulator
) -> None:
    account = first_account(meta_sim)
    injected: list[bool] = []

    def break_row_reads(seconds: float) -> None:
        # Three runs are started (chunk 1's two reads, chunk 2's first); reading the first
        # finished one's rows now fails.
        if not injected:
            meta_sim.state.inject("/insights", count=5, http_status=503, code=2)
            injected.append(True)

    with pytest.raises(MetaApiError):
        backfill(product_env, meta_sim, account, concurrency=3, sleep=break_row_reads)
    assert report_starts(meta_sim) == 3
    statuses = [(status, has_run) for *_, status, has_run in journal(product_env)]
    assert sorted(statuses) == [
        ("failed", True),
        ("running", False),
        ("running", False),
        ("running", False),
        ("running", True),
        ("running", True),
    ]

    meta_sim.state.clear_requests()
    result = backfill(product_env, meta_sim, account, concurrency=3)
    # The three runs are reused (two still in flight, one finished whose rows failed to load);
    # only the three reads never started are started.
    assert report_starts(meta_sim) == 3
    assert result.skipped == 0
    rows, keys, days, *_ = insight_totals(product_env)
    assert rows == keys and days == INITIAL_DAYS
    assert journal(product_env) == []


def test_a_report_run_that_fails_is_started_once_more(
    product_env: Database, acme: str, meta_sim: MetaSimulator
) -> None:
    account = first_account(meta_sim)
    meta_sim.state.fail_next_report_run = True
    result = backfill(product_env, meta_sim, account, concurrency=1)
    assert report_starts(meta_sim) == 6 + 1
    assert result.rows > 0 and insight_totals(product_env)[2] == INITIAL_DAYS


def test_a_report_run_that_never_finishes_fails_its_chunk_after_the_timeout(
    product_env: Database, acme: str, meta_sim: MetaSimulator
) -> None:
    account = first_account(meta_sim)
    meta_sim.state.report_polls_to_complete = 10_000
    ticks = iter(range(0, 10_000, 60))  # every look at the clock: one more minute

    with pytest.raises(ReportRunFailed, match="did not finish in 300 s"):
        backfill(
            product_env,
            meta_sim,
            account,
            concurrency=1,
            timeout_seconds=300,
            clock=lambda: float(next(ticks)),
        )
    assert journal(product_env)[0][2:4] == ("ad", "failed")
    assert insight_totals(product_env)[0] == 0


# --- operator entry points -----------------------------------------------------------------------


def test_meta_backfill_command_loads_the_range_and_audits_it(
    product_env: Database, synced: str
) -> None:
    since, until = SINCE, TODAY - timedelta(days=LOOKBACK_DAYS)

    bad = adinsights("meta-backfill", "--tenant-id", "acme", "--since", "2026-02-01", "--until",
                     "2026-01-01")  # fmt: skip
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("adinsights: error: since 2026-02-01")

    done = adinsights(
        "meta-backfill", "--tenant-id", "acme", "--since", str(since), "--until", str(until)
    )
    assert done.returncode == 0, done.stderr
    assert "chunk reads)" in done.stderr  # progress per read of each chunk
    assert "backfilled acme" in done.stdout
    rows, keys, days, first, last, _ = insight_totals(product_env)
    assert rows == keys and (days, first, last) == (INITIAL_DAYS, SINCE, TODAY)
    (audit,) = query(
        product_env, "select action, metadata from app.audit_log where action = 'meta_backfill'"
    )
    assert audit.metadata["since"] == str(since) and audit.metadata["rows"] > 0


def test_backfill_job_records_a_meta_insights_materialization(
    instance: DagsterInstance, product_env: Database, synced: str
) -> None:
    before = instance.get_latest_materialization_event(AssetKey("meta_insights"))
    result = defs.resolve_job_def("meta_insights_backfill").execute_in_process(
        instance=instance,
        run_config={
            "ops": {
                "backfill_meta_insights": {
                    "config": {"tenant_id": "acme", "since": str(SINCE), "until": str(TODAY)}
                }
            }
        },
    )
    assert result.success
    latest = instance.get_latest_materialization_event(AssetKey("meta_insights"))
    assert latest is not None and before is not None and latest.run_id == result.run_id
    mat = latest.asset_materialization
    assert mat is not None and mat.partition == "acme"
    assert mat.metadata["rows_upserted"].value == stored_rows(product_env)


def test_changing_the_attribution_setting_re_reads_history_and_rows_carry_it(
    instance: DagsterInstance, product_env: Database, synced: str, meta_sim: MetaSimulator
) -> None:
    sent = [r.query for r in meta_sim.state.requests if r.path.endswith("/insights")]
    assert sent and all(p.get("use_unified_attribution_setting") == "true" for p in sent)
    assert all(p.get("action_report_time") == "impression" for p in sent)
    labels = {r.attribution_setting for r in query(product_env, ROWS_SETTING)}
    assert labels <= {"7d_click_1d_view", "1d_click"} and labels  # each ad set's own (Meta's)
    rows_before, _, _, first_day, _, _ = insight_totals(product_env)  # the stored history

    meta_sim.state.clear_requests()
    changed = adinsights("tenants", "update", "acme", "--attribution", "1d_view, 7d_click")
    assert changed.returncode == 0, changed.stderr
    assert "tenant acme: meta_attribution unified -> 7d_click,1d_view" in changed.stdout
    assert f"re-reading acme's Meta insights {first_day}..{TODAY}" in changed.stdout

    starts = [
        r.query
        for r in meta_sim.state.requests
        if r.method == "POST" and r.path.endswith("/insights")
    ]
    assert starts, "the history is re-read through async report runs"
    assert all(p.get("action_attribution_windows") == "7d_click,1d_view" for p in starts)
    assert not any("use_unified_attribution_setting" in p for p in starts)

    rows = query(product_env, ROWS_SETTING)
    # every stored day of every account was read again (an account whose own days start later
    # than another's may gain a day)
    assert len(rows) >= rows_before
    assert f"re-read {stored_rows(product_env):,} rows" in changed.stdout
    assert {r.attribution_setting for r in rows} == {"7d_click,1d_view"}
    # each row's conversions are its counted action types' 7-day-click plus 1-day-view values
    (mismatched,) = query(
        product_env,
        """
        select count(*) from raw.meta_insights_ad i
         where tenant_id = 'acme'
           and conversions <> (
               select coalesce(sum(coalesce((a->>'7d_click')::numeric, 0)
                                   + coalesce((a->>'1d_view')::numeric, 0)), 0)
                 from jsonb_each(i.conversions_by_event) e,
                      jsonb_array_elements(i.actions) a
                where a->>'action_type' = e.value->>'action_type')
        """,
    )
    assert mismatched[0] == 0
    (windows,) = query(
        product_env, "select meta_attribution_windows from app.tenants where id = 'acme'"
    )
    assert windows[0] == ["7d_click", "1d_view"]
    audits = query(
        product_env,
        "select action, metadata from app.audit_log where tenant_id = 'acme' "
        "and action in ('tenant_updated', 'meta_backfill') order by id",
    )
    assert [(a.action, a.metadata.get("reason")) for a in audits] == [
        ("tenant_updated", None),
        ("meta_backfill", "attribution setting changed"),
    ]

    retired = adinsights("tenants", "update", "acme", "--attribution", "7d_click,28d_view")
    assert retired.returncode == 2
    assert (
        "Meta stopped returning 7-day and 28-day view windows on 2026-01-12"
        in (retired.stderr.strip().splitlines()[-1])
    )
    twice = adinsights("tenants", "update", "acme", "--attribution", "1d_click,7d_click")
    assert twice.returncode == 2 and "would count a conversion twice" in twice.stderr


ROWS_SETTING = (
    "select ad_id, date_start, attribution_setting from raw.meta_insights_ad "
    "where tenant_id = 'acme'"
)
