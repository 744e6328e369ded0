"""Bulk loading of Meta insight rows: COPY + upsert in batches, one transaction per batch.

Each account is read twice at the ad level (:data:`READS`), because Meta's ``region`` breakdown
is a "Type 1" breakdown that returns no off-Meta actions:

* ``ad``: ad x day without a breakdown, into ``raw.meta_insights_ad``: the source of truth for
  spend, impressions, clicks, conversions and conversion value;
* ``region``: ad x day x region, into ``raw.meta_insights``, asked only for what Meta returns
  with ``region`` (spend, impressions, clicks, reach): the parish split.

No Dagster here: the incremental sync, the async backfills and the benchmark all load through
:func:`load_insights`.
"""

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice, takewhile
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.client import INSIGHT_FIELDS, MetaGraphClient
from adinsights_pipelines.defs.meta.conversions import (
    DEFAULT_DEFINITION,
    UNIFIED,
    Attribution,
    ConversionDefinition,
)
from adinsights_pipelines.defs.meta.rows import (
    INSIGHT_COLUMNS,
    LEVEL_COLUMNS,
    REGION_COLUMNS,
    insight_record,
    level_record,
    region_record,
)
from adinsights_pipelines.warehouse.bulk import copy_upsert


@dataclass(frozen=True)
class InsightsRead:
    """One of the ad-level reads of an account: what is asked of Meta and where it lands."""

    name: str
    breakdowns: tuple[str, ...]
    fields: tuple[str, ...]
    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    record: Callable[..., tuple[Any, ...]]


#: What Meta returns with the ``region`` breakdown: no actions (a Type 1 breakdown).
REGION_FIELDS = (
    "account_id", "account_currency", "campaign_id", "campaign_name", "adset_id", "adset_name",
    "ad_id", "ad_name", "spend", "impressions", "clicks", "reach",
)  # fmt: skip
AD_READ = InsightsRead(
    name="ad",
    breakdowns=(),
    fields=INSIGHT_FIELDS,
    table="raw.meta_insights_ad",
    columns=INSIGHT_COLUMNS,
    key=("tenant_id", "ad_id", "date_start"),
    record=insight_record,
)
REGION_READ = InsightsRead(
    name="region",
    breakdowns=("region",),
    fields=REGION_FIELDS,
    table="raw.meta_insights",
    columns=REGION_COLUMNS,
    key=("tenant_id", "ad_id", "date_start", "region"),
    record=region_record,
)
#: Both ad-level reads, the truth first.
READS = (AD_READ, REGION_READ)
#: A read by name (the backfill journal's ``read`` column).
READ_BY_NAME = {read.name: read for read in READS}
#: Insight rows per COPY + upsert, each batch its own transaction (read at call time).
BATCH_ROWS = 5000
#: Batches fetched and shaped ahead of the one being written to PostgreSQL.
READ_AHEAD_BATCHES = 1

T = TypeVar("T")


def _batches(rows: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(rows, size)):
        yield batch


_END = object()


def _read_ahead(make: Callable[[threading.Event], Iterator[T]], depth: int) -> Iterator[T]:
    """The batches of ``make(stop)``, produced by a helper thread up to ``depth`` ahead.

    Fetching and shaping the next batch (HTTP, JSON) overlaps writing this one (PostgreSQL).
    The helper's exception is raised here, after the batches it produced before it; when the
    consumer stops early, ``stop`` is set and the helper is joined before this returns.
    """
    handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        batches: Iterator[T] | None = None
        try:
            batches = make(stop)
            for batch in batches:
                if not put(batch):
                    return
            put(_END)
        except BaseException as exc:
            put(_END, exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    context = contextvars.copy_context()  # log_context (tenant, run) for the client's logs
    helper = threading.Thread(
        target=context.run, args=(produce,), name="meta-insights-read-ahead", daemon=True
    )
    helper.start()
    try:
        while True:
            item, error = handoff.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        helper.join()


def load_insights(
    engine: Engine,
    tenant_id: str,
    currency: str,
    api_rows: Iterable[dict[str, Any]],
    *,
    batch_rows: int | None = None,
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
    read: InsightsRead = AD_READ,
) -> int:
    """Upsert Graph insight rows of one ad account (the answers to ``read``) into its table.

    COPY + one upsert per batch of ``batch_rows`` (default :data:`BATCH_ROWS`) rows, each batch
    its own transaction: when ``api_rows`` fails part-way (a Graph error, a crash), the batches
    before stay committed and the failing one leaves nothing; a re-run upserts by natural key,
    so nothing is duplicated. Conversions are counted under ``definition`` and
    ``attribution`` (the tenant's; the rows must have been read under that attribution).
    The next batch is fetched and shaped in a helper thread while
    this one is written; memory holds a few batches, whatever the number of rows. Returns how
    many rows were written; exceptions of ``api_rows`` propagate unchanged.
    """
    size = batch_rows or BATCH_ROWS

    def shaped(stop: threading.Event) -> Iterator[list[tuple[Any, ...]]]:
        rows = (
            read.record(tenant_id, currency, r, definition, attribution)
            for r in takewhile(lambda _: not stop.is_set(), api_rows)
        )
        return _batches(rows, size)

    written = 0
    for batch in _read_ahead(shaped, READ_AHEAD_BATCHES):
        with engine.begin() as conn:
            written += copy_upsert(conn, read.table, read.columns, read.key, batch)
    return written


def load_account_insights(
    engine: Engine,
    client: MetaGraphClient,
    tenant_id: str,
    account_id: str,
    currency: str,
    since: date,
    until: date,
    *,
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
) -> dict[str, int]:
    """Both ad-level reads of one account's ``since``..``until`` (paged GETs), each loaded into
    its table; the rows written per read."""
    return {
        read.name: load_insights(
            engine,
            tenant_id,
            currency,
            client.iter_insights(
                account_id,
                since,
                until,
                breakdowns=read.breakdowns,
                fields=read.fields,
                attribution=attribution,
            ),
            definition=definition,
            attribution=attribution,
            read=read,
        )
        for read in READS
    }


LEVEL_TABLE = "raw.meta_insights_level"
LEVEL_KEY = ("tenant_id", "level", "object_id", "date_start")
#: Fields of the campaign- and account-level reads (reach is counted by Meta at that level).
LEVEL_FIELDS = {
    "campaign": (
        "account_id", "account_currency", "campaign_id", "campaign_name", "spend",
        "impressions", "clicks", "reach", "actions", "action_values", "attribution_setting",
    ),
    "account": (
        "account_id", "account_name", "account_currency", "spend", "impressions", "clicks",
        "reach", "actions", "action_values", "attribution_setting",
    ),
}  # fmt: skip


def load_level_insights(
    engine: Engine,
    client: MetaGraphClient,
    tenant_id: str,
    account_id: str,
    currency: str,
    since: date,
    until: date,
    *,
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
) -> int:
    """Read one ad account's daily totals per campaign and for the account (``level=campaign``
    and ``level=account``, no breakdown: two cheap calls) into ``raw.meta_insights_level``.

    These are Meta's own figures at that grain: reach there is a count of people, never a sum
    of the ads' reaches, and the account rows are the totals the ad rows must add up to.
    """
    written = 0
    for level, fields in LEVEL_FIELDS.items():
        rows = client.iter_insights(
            account_id,
            since,
            until,
            level=level,
            breakdowns=(),
            fields=fields,
            attribution=attribution,
        )
        for batch in _batches(
            (level_record(tenant_id, currency, level, r, definition, attribution) for r in rows),
            BATCH_ROWS,
        ):
            with engine.begin() as conn:
                written += copy_upsert(conn, LEVEL_TABLE, LEVEL_COLUMNS, LEVEL_KEY, batch)
    return written
