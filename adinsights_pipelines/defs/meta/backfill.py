"""Insights for a date range through Meta's asynchronous report runs, chunk by chunk.

An account's first sync and every backfill (``adinsights meta-backfill``, the
``meta_insights_backfill`` job) use this path: the range is cut into chunks of
``chunk_days``; up to ``concurrency`` report runs are started (``POST act_<id>/insights``)
and polled together through the batch endpoint, with waits growing from ``poll_seconds`` to
30 s; a completed run's rows are read page by page and loaded like the incremental sync
(COPY + upsert, one transaction per batch).

``app.meta_backfill_chunks`` is the journal that makes it resumable: each chunk is
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
from adinsights_pipelines.defs.meta.loading import load_insights
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
class BackfillResult:
    chunks: int
    skipped: int
    rows: int


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

    def _key(self, chunk: Chunk) -> dict[str, object]:
        return {"t": self.tenant_id, "a": self.account_id, "s": chunk.start, "e": chunk.end}

    def plan(self, chunks: list[Chunk]) -> dict[Chunk, tuple[str, str | None]]:
        """Record ``chunks`` (those already there keep their state); their (status, run id)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    insert into app.meta_backfill_chunks
                        (tenant_id, account_id, chunk_start, chunk_end, status)
                    values (:t, :a, :s, :e, 'running')
                    on conflict do nothing
                    """
                ),
                [self._key(c) for c in chunks],
            )
            rows = conn.execute(
                sa.text(
                    """
                    select chunk_start, chunk_end, status, report_run_id
                    from app.meta_backfill_chunks
                    where tenant_id = :t and account_id = :a
                      and chunk_start >= :s and chunk_end <= :e
                    """
                ),
                {
                    "t": self.tenant_id,
                    "a": self.account_id,
                    "s": chunks[0].start,
                    "e": chunks[-1].end,
                },
            ).all()
        wanted = set(chunks)
        return {
            Chunk(r.chunk_start, r.chunk_end): (r.status, r.report_run_id)
            for r in rows
            if Chunk(r.chunk_start, r.chunk_end) in wanted
        }

    def mark(
        self,
        chunk: Chunk,
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
                      and chunk_start = :s and chunk_end = :e
                    """
                ),
                {**self._key(chunk), "status": status, "run": run_id, "rows": rows, "error": error},
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
                {
                    "t": self.tenant_id,
                    "a": self.account_id,
                    "s": chunks[0].start,
                    "e": chunks[-1].end,
                },
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
    journal = _Journal(engine, tenant_id, account_id)
    state = journal.plan(chunks)
    say = progress or (lambda message: None)
    label = account_id if account_id.startswith("act_") else f"act_{account_id}"

    queue: deque[Chunk] = deque()
    in_flight: dict[str, Chunk] = {}
    started: dict[str, float] = {}
    retried: set[Chunk] = set()
    skipped = 0
    for chunk in chunks:
        status, run_id = state[chunk]
        if status == "done":
            skipped += 1
        elif run_id and _still_usable(client, run_id):
            # An earlier attempt's run, still running or finished on Meta's side (its rows
            # may have failed to load): picked back up instead of asking Meta again.
            in_flight[run_id] = chunk
            started[run_id] = clock()
        else:
            queue.append(chunk)
    if skipped:
        say(f"{label}: {skipped} of {len(chunks)} chunks already loaded")

    rows_total, loaded = 0, skipped
    wait = poll_waits(poll_seconds)
    current: Chunk | None = None
    try:
        while queue or in_flight:
            while queue and len(in_flight) < concurrency:
                current = queue.popleft()
                run_id = client.start_insights_report(
                    account_id, current.start, current.end, attribution=attribution
                )
                journal.mark(current, "running", run_id=run_id)
                in_flight[run_id], started[run_id] = current, clock()
            current = None
            sleep(wait())
            statuses = client.report_runs(list(in_flight))
            for run_id, run in statuses.items():
                chunk = in_flight[run_id]
                if run.completed:
                    del in_flight[run_id]
                    current = chunk
                    rows = load_insights(
                        engine,
                        tenant_id,
                        currency,
                        client.iter_report_rows(run_id),
                        definition=definition,
                        attribution=attribution,
                    )
                    journal.mark(chunk, "done", run_id=run_id, rows=rows)
                    current = None
                    rows_total += rows
                    loaded += 1
                    wait = poll_waits(poll_seconds)
                    say(
                        f"{label}: chunk {chunk} loaded, {rows:,} rows "
                        f"({loaded}/{len(chunks)} chunks)"
                    )
                elif run.failed:
                    del in_flight[run_id]
                    if chunk in retried:
                        current = chunk
                        raise ReportRunFailed(
                            f"report run {run_id} for {chunk} ended '{run.async_status}' twice",
                            http_status=None,
                            endpoint=f"/{client.api_version}/{run_id}",
                        )
                    retried.add(chunk)
                    log.warning("report run %s for %s: %s; starting it again", run_id, chunk, run)
                    queue.appendleft(chunk)
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
            # The chunk being started, loaded or given up on; runs still in flight stay
            # 'running' with their ids, so a re-run can pick them back up.
            journal.mark(current, "failed", error=str(exc)[:500])
        raise
    journal.finish(chunks)
    return BackfillResult(chunks=len(chunks), skipped=skipped, rows=rows_total)


def _still_usable(client: MetaGraphClient, run_id: str) -> bool:
    """Whether an earlier attempt's report run can still be polled and read."""
    try:
        run: ReportRun = client.report_runs([run_id])[run_id]
    except (MetaApiError, KeyError):
        return False
    return not run.failed
