"""Insights for a date range through Meta's asynchronous report runs, chunk by chunk.

An account's first sync and every backfill (``adinsights meta-backfill``, the
``meta_insights_backfill`` job) use this path: the range is cut into chunks of
``chunk_days``; each chunk is read twice, like the incremental sync (:data:`.loading.READS`:
ad x day without a breakdown, and by region); up to ``concurrency`` report runs are started
(``POST act_<id>/insights``) and polled together through the batch endpoint, with waits growing
from ``poll_seconds`` to 30 s; a completed run's rows are read page by page and loaded like the
incremental sync (COPY + upsert, one transaction per batch).

``app.meta_backfill_chunks`` is the journal that makes it resumable: each read of a chunk is
``running`` (with its report run id), ``done`` (with the rows it loaded) or ``failed``. A
re-run of the same range skips ``done`` chunks, picks still-valid report runs back up (a run
that finished but whose rows failed to load is read again, not asked for again) and starts
new runs for the rest; when every chunk of the range is done the journal rows are removed, so a
later backfill of the same range reads Meta again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.client import MetaApiError, MetaGraphClient, ReportRun
from adinsights_pipelines.defs.meta.conversions import (
    DEFAULT_DEFINITION,
    UNIFIED,
    Attribution,
    ConversionDefinition,
)
from adinsights_pipelines.defs.meta.loading import READ_BY_NAME, READS, load_insights
from adinsights_pipelines.defs.resources import MetaSyncSettings

log = logging.getLogger(__name__)

POLL_MAX_S = 30.0
#: Meta serves insights for the last 37 months only (older answers code 3018).
MAX_MONTHS_BACK = 37


class ReportRunFailed(MetaApiError):
    """A report run ended ``Job Failed`` / ``Job Skipped`` twice, or never finished in time."""


@dataclass(frozen=True)
class Chunk:
    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class Work:
    """One read (``ad`` or ``region``) of one chunk: one report run."""

    chunk: Chunk
    read: str

    def __str__(self) -> str:
        return f"{self.chunk} ({self.read})"


@dataclass(frozen=True)
class BackfillResult:
    chunks: int
    #: Chunks whose every read an earlier attempt had already loaded.
    skipped: int
    #: Rows loaded, both reads together.
    rows: int
    rows_by_read: dict[str, int]


def plan_chunks(since: date, until: date, days: int) -> list[Chunk]:
    """``since``..``until`` cut into consecutive chunks of ``days`` days (the last may be short)."""
    if since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    if days < 1:
        raise ValueError("chunk days must be at least 1")
    chunks, start = [], since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        chunks.append(Chunk(start, end))
        start = end + timedelta(days=1)
    return chunks


def earliest_allowed(today: date) -> date:
    """The oldest day Meta still answers insights for: 37 months before ``today``."""
    month_index = today.year * 12 + today.month - 1 - MAX_MONTHS_BACK
    year, month = divmod(month_index, 12)
    day = min(today.day, 28)
    return date(year, month + 1, day)


def backfill_window(today: date, since: date, until: date) -> tuple[date, date]:
    """Check a requested backfill range against what Meta serves (ValueError says why)."""
    if since > until:
        raise ValueError(f"since {since} is after until {until}")
    if until > today:
        raise ValueError(f"until {until} is in the future (today is {today} in America/Jamaica)")
    oldest = earliest_allowed(today)
    if since < oldest:
        raise ValueError(f"since {since} is older than Meta keeps insights (37 months: {oldest})")
    return since, until


def settings_options(settings: MetaSyncSettings) -> dict[str, Any]:
    """:func:`backfill_account`'s tuning keywords, from the Meta settings."""
    return {
        "chunk_days": settings.chunk_days,
        "concurrency": settings.report_concurrency,
        "poll_seconds": settings.report_poll_seconds,
        "timeout_seconds": settings.report_timeout_seconds,
    }


def poll_waits(first: float) -> Callable[[], float]:
    """Successive waits between polls: ``first``, doubling, capped at 30 s."""
    state = {"next": first}

    def wait() -> float:
        current = state["next"]
        state["next"] = min(POLL_MAX_S, current * 2)
        return current

    return wait


@dataclass
class _Journal:
    engine: Engine
    tenant_id: str
    account_id: str

    def _span(self, chunks: list[Chunk]) -> dict[str, object]:
        return {
            "t": self.tenant_id,
            "a": self.account_id,
            "s": chunks[0].start,
            "e": chunks[-1].end,
        }

    def _key(self, work: Work) -> dict[str, object]:
        chunk = work.chunk
        return {
            "t": self.tenant_id,
            "a": self.account_id,
            "s": chunk.start,
            "e": chunk.end,
            "r": work.read,
        }

    def plan(self, works: list[Work]) -> dict[Work, tuple[str, str | None]]:
        """Record ``works`` (those already there keep their state); their (status, run id)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    insert into app.meta_backfill_chunks
                        (tenant_id, account_id, chunk_start, chunk_end, read, status)
                    values (:t, :a, :s, :e, :r, 'running')
                    on conflict do nothing
                    """
                ),
                [self._key(w) for w in works],
            )
            rows = conn.execute(
                sa.text(
                    """
                    select chunk_start, chunk_end, read, status, report_run_id
                    from app.meta_backfill_chunks
                    where tenant_id = :t and account_id = :a
                      and chunk_start >= :s and chunk_end <= :e
                    """
                ),
                self._span([work.chunk for work in works]),
            ).all()
        wanted = set(works)
        found = {
            Work(Chunk(r.chunk_start, r.chunk_end), r.read): (r.status, r.report_run_id)
            for r in rows
        }
        return {work: state for work, state in found.items() if work in wanted}

    def mark(
        self,
        work: Work,
        status: str,
        *,
        run_id: str | None = None,
        rows: int = 0,
        error: str | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    update app.meta_backfill_chunks
                    set status = :status, report_run_id = coalesce(:run, report_run_id),
                        rows_loaded = :rows,
                        error = :error, updated_at = now()
                    where tenant_id = :t and account_id = :a
                      and chunk_start = :s and chunk_end = :e and read = :r
                    """
                ),
                {**self._key(work), "status": status, "run": run_id, "rows": rows, "error": error},
            )

    def finish(self, chunks: list[Chunk]) -> None:
        """Every chunk of the range is done: the journal of this range is no longer needed."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    delete from app.meta_backfill_chunks
                    where tenant_id = :t and account_id = :a
                      and chunk_start >= :s and chunk_end <= :e and status = 'done'
                    """
                ),
                self._span(chunks),
            )


def backfill_account(
    engine: Engine,
    client: MetaGraphClient,
    tenant_id: str,
    account_id: str,
    currency: str,
    since: date,
    until: date,
    *,
    chunk_days: int = 7,
    concurrency: int = 3,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 3600.0,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
) -> BackfillResult:
    """Load ``since``..``until`` of one ad account through async report runs.

    Raises the client's :class:`MetaApiError` (token rejected, access denied, retries spent)
    or :class:`ReportRunFailed`; what was loaded before stays, and a re-run resumes.
    """
    chunks = plan_chunks(since, until, chunk_days)
    works = [Work(chunk, read.name) for chunk in chunks for read in READS]
    journal = _Journal(engine, tenant_id, account_id)
    state = journal.plan(works)
    say = progress or (lambda message: None)
    label = account_id if account_id.startswith("act_") else f"act_{account_id}"

    queue: deque[Work] = deque()
    in_flight: dict[str, Work] = {}
    started: dict[str, float] = {}
    retried: set[Work] = set()
    finished = 0
    for work in works:
        status, run_id = state[work]
        if status == "done":
            finished += 1
        elif run_id and _still_usable(client, run_id):
            # An earlier attempt's run, still running or finished on Meta's side (its rows
            # may have failed to load): picked back up instead of asking Meta again.
            in_flight[run_id] = work
            started[run_id] = clock()
        else:
            queue.append(work)
    skipped = sum(all(state[Work(c, r.name)][0] == "done" for r in READS) for c in chunks)
    if finished:
        say(f"{label}: {finished} of {len(works)} chunk reads already loaded")

    rows_by_read = {read.name: 0 for read in READS}
    loaded = finished
    wait = poll_waits(poll_seconds)
    current: Work | None = None
    try:
        while queue or in_flight:
            while queue and len(in_flight) < concurrency:
                current = queue.popleft()
                read = READ_BY_NAME[current.read]
                run_id = client.start_insights_report(
                    account_id,
                    current.chunk.start,
                    current.chunk.end,
                    breakdowns=read.breakdowns,
                    fields=read.fields,
                    attribution=attribution,
                )
                journal.mark(current, "running", run_id=run_id)
                in_flight[run_id], started[run_id] = current, clock()
            current = None
            sleep(wait())
            statuses = client.report_runs(list(in_flight))
            for run_id, run in statuses.items():
                work = in_flight[run_id]
                if run.completed:
                    del in_flight[run_id]
                    current = work
                    rows = load_insights(
                        engine,
                        tenant_id,
                        currency,
                        client.iter_report_rows(run_id),
                        definition=definition,
                        attribution=attribution,
                        read=READ_BY_NAME[work.read],
                    )
                    journal.mark(work, "done", run_id=run_id, rows=rows)
                    current = None
                    rows_by_read[work.read] += rows
                    loaded += 1
                    wait = poll_waits(poll_seconds)
                    say(
                        f"{label}: chunk {work} loaded, {rows:,} rows "
                        f"({loaded}/{len(works)} chunk reads)"
                    )
                elif run.failed:
                    del in_flight[run_id]
                    if work in retried:
                        current = work
                        raise ReportRunFailed(
                            f"report run {run_id} for {work} ended '{run.async_status}' twice",
                            http_status=None,
                            endpoint=f"/{client.api_version}/{run_id}",
                        )
                    retried.add(work)
                    log.warning("report run %s for %s: %s; starting it again", run_id, work, run)
                    queue.appendleft(work)
            for run_id, since_start in list(started.items()):
                if run_id in in_flight and clock() - since_start > timeout_seconds:
                    current = in_flight.pop(run_id)
                    raise ReportRunFailed(
                        f"report run {run_id} for {current} did not finish in "
                        f"{timeout_seconds:.0f} s",
                        http_status=None,
                        endpoint=f"/{client.api_version}/{run_id}",
                    )
    except BaseException as exc:
        if current is not None:
            # The read being started, loaded or given up on; runs still in flight stay
            # 'running' with their ids, so a re-run can pick them back up.
            journal.mark(current, "failed", error=str(exc)[:500])
        raise
    journal.finish(chunks)
    return BackfillResult(
        chunks=len(chunks),
        skipped=skipped,
        rows=sum(rows_by_read.values()),
        rows_by_read=rows_by_read,
    )


def _still_usable(client: MetaGraphClient, run_id: str) -> bool:
    """Whether an earlier attempt's report run can still be polled and read."""
    try:
        run: ReportRun = client.report_runs([run_id])[run_id]
    except (MetaApiError, KeyError):
        return False
    return not run.failed
