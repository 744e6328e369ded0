"""Meta Marketing API direct sync: tenant-partitioned assets that land rows in ``raw.meta_*``."""

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from itertools import islice, takewhile
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.client import (
    ApiCallFailure,
    MetaApiError,
    MetaGraphClient,
    TokenInvalidError,
)
from adinsights_pipelines.defs.meta.rows import INSIGHT_COLUMNS, account_row, insight_record
from adinsights_pipelines.defs.resources import (
    KeyringResource,
    MetaGraphResource,
    WarehouseResource,
)
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions
from adinsights_pipelines.logs import log_context
from adinsights_pipelines.tenants import get_credential, mark_credential
from adinsights_pipelines.warehouse.bulk import copy_upsert
from adinsights_pipelines.warehouse.upsert import upsert_rows

JAMAICA = ZoneInfo("America/Jamaica")
INSIGHTS_TABLE = "raw.meta_insights"
INSIGHTS_KEY = ("tenant_id", "ad_id", "date_start", "region")
#: Insight rows per COPY + upsert, each batch its own transaction (read at call time).
BATCH_ROWS = 5000
#: Batches fetched and shaped ahead of the one being written to PostgreSQL.
READ_AHEAD_BATCHES = 1

T = TypeVar("T")


def insights_window(today: date, lookback_days: int) -> tuple[date, date]:
    """The attribution lookback: re-read the last ``lookback_days`` days, today included."""
    return today - timedelta(days=lookback_days - 1), today


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
) -> int:
    """Upsert Graph insight rows of one ad account into ``raw.meta_insights``.

    COPY + one upsert per batch of ``batch_rows`` (default :data:`BATCH_ROWS`) rows, each batch
    its own transaction: when ``api_rows`` fails part-way (a Graph error, a crash), the batches
    before stay committed and the failing one leaves nothing; a re-run upserts by natural key,
    so nothing is duplicated. The next batch is fetched and shaped in a helper thread while
    this one is written; memory holds a few batches, whatever the number of rows. Returns how
    many rows were written; exceptions of ``api_rows`` propagate unchanged.
    """
    size = batch_rows or BATCH_ROWS

    def shaped(stop: threading.Event) -> Iterator[list[tuple[Any, ...]]]:
        rows = (
            insight_record(tenant_id, currency, r)
            for r in takewhile(lambda _: not stop.is_set(), api_rows)
        )
        return _batches(rows, size)

    written = 0
    for batch in _read_ahead(shaped, READ_AHEAD_BATCHES):
        with engine.begin() as conn:
            written += copy_upsert(conn, INSIGHTS_TABLE, INSIGHT_COLUMNS, INSIGHTS_KEY, batch)
    return written


def _error_logger(engine: Engine, tenant_id: str) -> Callable[[ApiCallFailure], None]:
    """Every failed Graph call goes to ``app.api_error_log`` in its own transaction."""

    def log_failure(failure: ApiCallFailure) -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    insert into app.api_error_log (provider, tenant_id, endpoint, http_status,
                        error_code, error_subcode, message, is_retryable, occurred_at)
                    values (:provider, :tenant_id, :endpoint, :http_status, :code, :subcode,
                        :message, :is_retryable, :occurred_at)
                    """
                ),
                {
                    "provider": failure.provider,
                    "tenant_id": tenant_id,
                    "endpoint": failure.endpoint,
                    "http_status": failure.http_status,
                    "code": failure.code,
                    "subcode": failure.subcode,
                    "message": failure.message,
                    "is_retryable": failure.is_retryable,
                    "occurred_at": failure.occurred_at,
                },
            )

    return log_failure


def _client(
    engine: Engine, meta: MetaGraphResource, keyring: KeyringResource, tenant_id: str
) -> MetaGraphClient:
    with engine.connect() as conn:
        credential = get_credential(conn, keyring.keyring(), tenant_id, "meta")
    if credential is None:
        raise Failure(f"tenant {tenant_id} has no Meta credential")
    if credential.token_status in ("invalid", "reauth_required"):
        raise Failure(
            f"tenant {tenant_id}: Meta credential needs re-authorisation "
            f"(token_status={credential.token_status}); reconnect Meta, then re-run"
        )
    base_url, api_version, _ = meta.resolved()
    return MetaGraphClient(
        credential.access_token,
        base_url=base_url,
        api_version=api_version,
        on_error=_error_logger(engine, tenant_id),
    )


def _token_rejected(engine: Engine, tenant_id: str, exc: TokenInvalidError) -> Failure:
    status = "reauth_required" if exc.subcode in (458, 459, 460, 463, 464, 467) else "invalid"
    with engine.begin() as conn:
        mark_credential(conn, tenant_id, "meta", status, "credential_reauth_required")
    return Failure(
        f"tenant {tenant_id}: Meta rejected the access token (code {exc.code}, "
        f"subcode {exc.subcode}); credential marked {status}, no data deleted"
    )


@asset(
    partitions_def=tenant_partitions,
    group_name="meta",
    kinds={"python", "postgres"},
    description="The tenant's Meta ad accounts (raw.meta_ad_accounts).",
)
def meta_ad_accounts(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    meta: MetaGraphResource,
    keyring: KeyringResource,
) -> MaterializeResult:
    with log_context(tenant_id=context.partition_key, run_id=context.run_id):
        return _sync_accounts(context, warehouse, meta, keyring)


def _sync_accounts(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    meta: MetaGraphResource,
    keyring: KeyringResource,
) -> MaterializeResult:
    tenant_id = context.partition_key
    engine = warehouse.engine()
    client = _client(engine, meta, keyring, tenant_id)
    try:
        accounts = client.list_ad_accounts()
    except TokenInvalidError as exc:
        raise _token_rejected(engine, tenant_id, exc) from None
    rows = [account_row(tenant_id, a) for a in accounts]
    with engine.begin() as conn:
        upsert_rows(conn, "raw.meta_ad_accounts", rows, ("tenant_id", "account_id"))
    context.log.info("tenant %s: %d Meta ad accounts", tenant_id, len(rows))
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "accounts": len(rows),
            "account_ids": MetadataValue.text(", ".join(r["account_id"] for r in rows)),
        }
    )


def _set_state(engine: Engine, tenant_id: str, account_id: str, status: str, **kw: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                insert into app.meta_sync_state as s
                    (tenant_id, account_id, last_job_status, last_job_error, last_synced_at,
                     last_success_at, synced_through)
                values (:t, :a, :status, :error, now(),
                        case when :status = 'succeeded' then now() end, :through)
                on conflict (tenant_id, account_id) do update set
                    last_job_status = excluded.last_job_status,
                    last_job_error = excluded.last_job_error,
                    last_synced_at = now(),
                    last_success_at = coalesce(excluded.last_success_at, s.last_success_at),
                    synced_through = coalesce(excluded.synced_through, s.synced_through),
                    updated_at = now()
                """
            ),
            {
                "t": tenant_id,
                "a": account_id,
                "status": status,
                "error": kw.get("error"),
                "through": kw.get("through"),
            },
        )


@asset(
    partitions_def=tenant_partitions,
    group_name="meta",
    deps=[meta_ad_accounts],
    kinds={"python", "postgres"},
    description=(
        "Daily ad-level Meta insights with the region breakdown (raw.meta_insights), re-reading "
        "the attribution lookback window on every run and upserting by natural key."
    ),
)
def meta_insights(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    meta: MetaGraphResource,
    keyring: KeyringResource,
) -> MaterializeResult:
    with log_context(tenant_id=context.partition_key, run_id=context.run_id):
        return _sync_insights(context, warehouse, meta, keyring)


def _sync_insights(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    meta: MetaGraphResource,
    keyring: KeyringResource,
) -> MaterializeResult:
    tenant_id = context.partition_key
    engine = warehouse.engine()
    client = _client(engine, meta, keyring, tenant_id)
    _, _, lookback_days = meta.resolved()
    since, until = insights_window(datetime.now(JAMAICA).date(), lookback_days)
    with engine.connect() as conn:
        accounts: list[tuple[str, str]] = [
            (row.account_id, row.currency)
            for row in conn.execute(
                sa.text(
                    "select account_id, currency from raw.meta_ad_accounts "
                    "where tenant_id = :t order by account_id"
                ),
                {"t": tenant_id},
            )
        ]
    if not accounts:
        raise Failure(f"tenant {tenant_id} has no Meta ad accounts; materialize meta_ad_accounts")

    written, failed = 0, dict[str, str]()
    for account_id, currency in accounts:
        _set_state(engine, tenant_id, account_id, "running")
        try:
            account_rows = load_insights(
                engine, tenant_id, currency, client.iter_insights(account_id, since, until)
            )
        except TokenInvalidError as exc:
            _set_state(engine, tenant_id, account_id, "failed", error="token rejected")
            raise _token_rejected(engine, tenant_id, exc) from None
        except MetaApiError as exc:
            # One account failing (access denied, retries exhausted) must not stop the others.
            _set_state(engine, tenant_id, account_id, "failed", error=str(exc))
            failed[account_id] = str(exc)
            context.log.warning("tenant %s account %s failed: %s", tenant_id, account_id, exc)
            continue
        _set_state(engine, tenant_id, account_id, "succeeded", through=until)
        written += account_rows
        context.log.info(
            "tenant %s account %s: %d insight rows %s..%s",
            tenant_id,
            account_id,
            account_rows,
            since,
            until,
        )

    if len(failed) == len(accounts):
        raise Failure(
            f"tenant {tenant_id}: every Meta account failed",
            metadata={"failed_accounts": MetadataValue.json(failed)},
        )
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "rows_upserted": written,
            "window_since": since.isoformat(),
            "window_until": until.isoformat(),
            "accounts_succeeded": len(accounts) - len(failed),
            "accounts_failed": MetadataValue.json(failed),
        }
    )
