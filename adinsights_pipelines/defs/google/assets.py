"""GA4 and Search Console direct sync: tenant-partitioned assets landing rows in ``raw.*``.

Each run exchanges the tenant's stored refresh token for an access token once, then re-reads
the lookback window of every active property or site of the tenant and upserts the rows by
natural key in batches (one transaction per batch), so a re-run never duplicates and a failure
leaves what was written before it. A revoked refresh token marks the credential
``reauth_required`` (reason ``credential_reauth_required``) and deletes nothing; one property or
site failing does not stop the others.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.google.client import (
    Ga4Client,
    GoogleApiError,
    InvalidGrantError,
    SearchConsoleClient,
    UnauthenticatedError,
)
from adinsights_pipelines.defs.google.resources import GoogleApiResource, GoogleApis
from adinsights_pipelines.defs.google.rows import (
    GA4_COLUMNS,
    GA4_KEY,
    GA4_TABLE,
    SEARCH_CONSOLE_COLUMNS,
    SEARCH_CONSOLE_KEY,
    SEARCH_CONSOLE_TABLE,
    RowShapeError,
    ga4_record,
    search_console_record,
)
from adinsights_pipelines.defs.google.sources import WebSource, active_sources, set_sync_state
from adinsights_pipelines.defs.resources import KeyringResource, WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions
from adinsights_pipelines.logs import log_context
from adinsights_pipelines.outside_apis.error_log import api_error_logger
from adinsights_pipelines.tenant_store import get_credential, mark_credential
from adinsights_pipelines.warehouse.bulk import copy_upsert

#: GA4 dates are in the property's time zone (the tenants' is Jamaica's).
JAMAICA = ZoneInfo("America/Jamaica")
#: Search Console dates are Pacific time.
PACIFIC = ZoneInfo("America/Los_Angeles")
#: Rows per COPY + upsert, each batch its own transaction.
BATCH_ROWS = 5000
LABELS = {"ga4": "GA4", "search_console": "Search Console"}


def lookback_window(today: date, lookback_days: int) -> tuple[date, date]:
    """The last ``lookback_days`` days, today included."""
    return today - timedelta(days=lookback_days - 1), today


def load_rows(
    engine: Engine,
    table: str,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    records: Iterable[tuple[Any, ...]],
    *,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Upsert ``records`` by ``key`` in batches, one transaction each; returns rows written.

    When ``records`` fails part-way, the batches before stay committed and the failing one
    leaves nothing; a re-run upserts, so nothing is duplicated.
    """
    written = 0
    rows: Iterator[tuple[Any, ...]] = iter(records)
    while batch := list(islice(rows, batch_rows)):
        with engine.begin() as conn:
            written += copy_upsert(conn, table, columns, key, batch)
    return written


def _refresh_token(engine: Engine, keyring: KeyringResource, tenant_id: str, provider: str) -> str:
    with engine.connect() as conn:
        credential = get_credential(conn, keyring.keyring(), tenant_id, provider)
    label = LABELS[provider]
    if credential is None:
        raise Failure(
            f"tenant {tenant_id} has no {label} credential "
            f"(adinsights credentials add --tenant {tenant_id} --platform {provider})"
        )
    if credential.token_status in ("invalid", "reauth_required"):
        raise Failure(
            f"tenant {tenant_id}: the {label} credential needs re-authorisation "
            f"(token_status={credential.token_status}); reconnect Google, then re-run"
        )
    return credential.access_token


def _credential_rejected(
    engine: Engine, tenant_id: str, provider: str, exc: GoogleApiError
) -> Failure:
    # invalid_grant: the consent was revoked or expired, only the user can grant it again.
    status = "reauth_required" if isinstance(exc, InvalidGrantError) else "invalid"
    with engine.begin() as conn:
        mark_credential(conn, tenant_id, provider, status, "credential_reauth_required")
    return Failure(
        f"tenant {tenant_id}: Google rejected the {LABELS[provider]} credential "
        f"(HTTP {exc.http_status}, {exc.reason or exc.status}); credential marked {status}, "
        "no data deleted"
    )


def _sources(engine: Engine, tenant_id: str, provider: str) -> list[WebSource]:
    with engine.connect() as conn:
        sources = active_sources(conn, tenant_id, provider)
    if not sources:
        kind = "property" if provider == "ga4" else "site"
        raise Failure(
            f"tenant {tenant_id} has no active {LABELS[provider]} {kind} "
            f"(adinsights web-analytics add --tenant {tenant_id} ...)"
        )
    return sources


def _set_state(engine: Engine, source: WebSource, status: str, **kw: Any) -> None:
    with engine.begin() as conn:
        set_sync_state(conn, source.id, status, **kw)


def _sync_sources(
    context: AssetExecutionContext,
    engine: Engine,
    provider: str,
    sources: list[WebSource],
    until: date,
    load_source: Callable[[WebSource], int],
) -> tuple[int, dict[str, int], dict[str, str]]:
    """Load each source; a credential failure stops the run, any other failure only its source."""
    tenant_id = context.partition_key
    written, per_source, failed = 0, dict[str, int](), dict[str, str]()
    for source in sources:
        _set_state(engine, source, "running")
        try:
            rows = load_source(source)
        except (InvalidGrantError, UnauthenticatedError) as exc:
            _set_state(engine, source, "failed", error="credential rejected")
            raise _credential_rejected(engine, tenant_id, provider, exc) from None
        except (GoogleApiError, RowShapeError) as exc:
            _set_state(engine, source, "failed", error=str(exc))
            failed[source.identifier] = str(exc)
            context.log.warning(
                "tenant %s %s %s failed: %s", tenant_id, provider, source.identifier, exc
            )
            continue
        _set_state(engine, source, "succeeded", through=until)
        written += rows
        per_source[source.identifier] = rows
        context.log.info("tenant %s %s %s: %d rows", tenant_id, provider, source.identifier, rows)
    if len(failed) == len(sources):
        raise Failure(
            f"tenant {tenant_id}: every {LABELS[provider]} source failed",
            metadata={"failed_sources": MetadataValue.json(failed)},
        )
    return written, per_source, failed


def _exchange(engine: Engine, tenant_id: str, provider: str, client: Any) -> None:
    """The one token exchange of this run, before any source is touched."""
    try:
        client.access_token()
    except InvalidGrantError as exc:
        raise _credential_rejected(engine, tenant_id, provider, exc) from None
    except GoogleApiError as exc:
        raise Failure(
            f"tenant {tenant_id}: the Google token exchange failed: {exc}; nothing was synced"
        ) from None


#: The client of the provider an asset syncs.
C = TypeVar("C", Ga4Client, SearchConsoleClient)


@dataclass(frozen=True)
class WebAnalyticsSync(Generic[C]):
    """One tenant's GA4 or Search Console sync in progress: what an asset body works with.

    ``client`` holds an exchanged access token; ``since``..``until`` is the lookback window in
    the API's own time zone.
    """

    tenant_id: str
    engine: Engine
    apis: GoogleApis
    client: C
    sources: list[WebSource]
    since: date
    until: date


#: Per provider: the time zone its dates are in, its lookback and its client.
_FEEDS: dict[str, tuple[ZoneInfo, Callable[[GoogleApis], int], Callable[..., Any]]] = {
    "ga4": (JAMAICA, lambda apis: apis.ga4_lookback_days, GoogleApis.ga4),
    "search_console": (
        PACIFIC,
        lambda apis: apis.search_console_lookback_days,
        GoogleApis.search_console,
    ),
}


def google_asset(
    provider: str, *, description: str
) -> Callable[
    [Callable[[AssetExecutionContext, WebAnalyticsSync[Any]], MaterializeResult]], AssetsDefinition
]:
    """A tenant-partitioned asset of group ``web_analytics`` around ``body(context, sync)``.

    The wrapper does what every Google asset does: log lines carry the tenant and run; the
    tenant must have an active source and a usable credential of ``provider``; the refresh
    token is exchanged once before any source is touched (a revoked grant marks the credential
    and fails only this tenant, deleting nothing); the client is closed afterwards.
    """
    zone, lookback_days, make_client = _FEEDS[provider]

    def wrap(
        body: Callable[[AssetExecutionContext, WebAnalyticsSync[Any]], MaterializeResult],
    ) -> AssetsDefinition:
        @asset(
            name=body.__name__,
            partitions_def=tenant_partitions,
            group_name="web_analytics",
            kinds={"python", "postgres"},
            description=description,
        )
        def _google_asset(
            context: AssetExecutionContext,
            warehouse: WarehouseResource,
            google: GoogleApiResource,
            keyring: KeyringResource,
        ) -> MaterializeResult:
            tenant_id = context.partition_key
            with log_context(tenant_id=tenant_id, run_id=context.run_id):
                engine, apis = warehouse.engine(), google.apis()
                sources = _sources(engine, tenant_id, provider)
                refresh_token = _refresh_token(engine, keyring, tenant_id, provider)
                client = make_client(
                    apis, refresh_token, on_error=api_error_logger(engine, tenant_id)
                )
                since, until = lookback_window(datetime.now(zone).date(), lookback_days(apis))
                try:
                    _exchange(engine, tenant_id, provider, client)
                    sync = WebAnalyticsSync(tenant_id, engine, apis, client, sources, since, until)
                    return body(context, sync)
                finally:
                    client.close()

        return _google_asset

    return wrap


@google_asset(
    "ga4",
    description=(
        "Daily GA4 sessions, users, page views, engaged sessions and key events by region and "
        "default channel group (raw.ga4_daily), re-reading the lookback window on every run."
    ),
)
def ga4_daily(
    context: AssetExecutionContext, sync: WebAnalyticsSync[Ga4Client]
) -> MaterializeResult:
    tenant_id, engine, apis, client = sync.tenant_id, sync.engine, sync.apis, sync.client

    def load(source: WebSource) -> int:
        rows = client.iter_report(
            source.identifier, sync.since, sync.until, page_size=apis.ga4_page_size
        )
        records = (ga4_record(tenant_id, source.identifier, r) for r in rows)
        return load_rows(engine, GA4_TABLE, GA4_COLUMNS, GA4_KEY, records)

    written, per_source, failed = _sync_sources(
        context, engine, "ga4", sync.sources, sync.until, load
    )
    quota = client.last_property_quota.get("tokensPerHour") or {}
    remaining = quota.get("remaining") if isinstance(quota, dict) else None
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "rows_upserted": written,
            "window_since": sync.since.isoformat(),
            "window_until": sync.until.isoformat(),
            "property_ids": MetadataValue.text(", ".join(s.identifier for s in sync.sources)),
            "rows_by_property": MetadataValue.json(per_source),
            "properties_failed": MetadataValue.json(failed),
            **({"property_tokens_per_hour_remaining": int(remaining)} if remaining else {}),
        }
    )


@google_asset(
    "search_console",
    description=(
        "Daily Search Console clicks, impressions, CTR and position by query, page, country and "
        "device (raw.search_console_daily), re-reading the lookback window; rows of days Google "
        "has not finalised are stored with data_state 'all' and become 'final' on a later run."
    ),
)
def search_console_daily(
    context: AssetExecutionContext, sync: WebAnalyticsSync[SearchConsoleClient]
) -> MaterializeResult:
    tenant_id, engine, apis, client = sync.tenant_id, sync.engine, sync.apis, sync.client
    fresh_rows = 0

    def load(source: WebSource) -> int:
        def records() -> Iterator[tuple[Any, ...]]:
            nonlocal fresh_rows
            for row in client.iter_rows(
                source.identifier,
                sync.since,
                sync.until,
                data_state=apis.search_console_data_state,
                row_limit=apis.search_console_row_limit,
            ):
                fresh_rows += row["data_state"] == "all"
                yield search_console_record(tenant_id, source.identifier, row)

        return load_rows(
            engine, SEARCH_CONSOLE_TABLE, SEARCH_CONSOLE_COLUMNS, SEARCH_CONSOLE_KEY, records()
        )

    written, per_source, failed = _sync_sources(
        context, engine, "search_console", sync.sources, sync.until, load
    )
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "rows_upserted": written,
            "rows_fresh": fresh_rows,
            "data_state": apis.search_console_data_state,
            "window_since": sync.since.isoformat(),
            "window_until": sync.until.isoformat(),
            "site_urls": MetadataValue.text(", ".join(s.identifier for s in sync.sources)),
            "rows_by_site": MetadataValue.json(per_source),
            "sites_failed": MetadataValue.json(failed),
        }
    )
