"""Meta Marketing API direct sync: tenant-partitioned assets that land rows in ``raw.meta_*``.

``meta_insights`` re-reads the attribution lookback window of every ad account on each run
(synchronous, paged GETs) and upserts by natural key: ad x day without a breakdown (the truth,
``raw.meta_insights_ad``), ad x day x region (the parish split, ``raw.meta_insights``) and the
campaign and account daily totals (``raw.meta_insights_level``). An account never synced before
first loads ``initial_sync_days`` of history through async report runs (:mod:`.backfill`).
"""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue

from adinsights_pipelines.defs.meta.backfill import backfill_account, settings_options
from adinsights_pipelines.defs.meta.client import MetaApiError, TokenInvalidError
from adinsights_pipelines.defs.meta.conversions import Attribution, ConversionDefinition
from adinsights_pipelines.defs.meta.loading import load_account_insights, load_level_insights
from adinsights_pipelines.defs.meta.rows import account_row
from adinsights_pipelines.defs.meta.sync import (
    MetaSync,
    conversion_definition,
    fail_if_every_account_failed,
    meta_asset,
    selected_ids,
    set_sync_state,
    tenant_attribution,
)
from adinsights_pipelines.defs.meta.windows import account_window, utc_now
from adinsights_pipelines.warehouse.upsert import upsert_rows

JAMAICA = ZoneInfo("America/Jamaica")


def insights_window(today: date, lookback_days: int) -> tuple[date, date]:
    """The attribution lookback: re-read the last ``lookback_days`` days, today included."""
    return today - timedelta(days=lookback_days - 1), today


@meta_asset(description="The tenant's Meta ad accounts (raw.meta_ad_accounts).")
def meta_ad_accounts(context: AssetExecutionContext, sync: MetaSync) -> MaterializeResult:
    tenant_id = sync.tenant_id
    chosen = selected_ids(sync.engine, tenant_id, "ad_account")
    rows = [
        account_row(tenant_id, a)
        for a in sync.client.list_ad_accounts()
        if chosen is None or a["id"] in chosen
    ]
    with sync.engine.begin() as conn:
        upsert_rows(conn, "raw.meta_ad_accounts", rows, ("tenant_id", "account_id"))
    context.log.info("tenant %s: %d Meta ad accounts", tenant_id, len(rows))
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "accounts": len(rows),
            "account_ids": MetadataValue.text(", ".join(r["account_id"] for r in rows)),
        }
    )


@meta_asset(
    deps=[meta_ad_accounts],
    description=(
        "Daily ad-level Meta insights, read twice: without a breakdown, the truth for spend, "
        "clicks, conversions and value (raw.meta_insights_ad), and by region for the parish "
        "split (raw.meta_insights; Meta returns no off-Meta actions with region); plus the "
        "campaign and account daily totals (raw.meta_insights_level). Each run re-reads the "
        "attribution lookback window and upserts by natural key; an account's first sync loads "
        "its history through async report runs."
    ),
)
def meta_insights(context: AssetExecutionContext, sync: MetaSync) -> MaterializeResult:
    tenant_id, engine, settings, client = sync.tenant_id, sync.engine, sync.settings, sync.client
    now = utc_now()
    with engine.connect() as conn:
        accounts: list[tuple[str, str, date | None, str | None]] = [
            (row.account_id, row.currency, row.synced_through, row.timezone_name)
            for row in conn.execute(
                sa.text(
                    """
                    select a.account_id, a.currency, s.synced_through, a.timezone_name
                    from raw.meta_ad_accounts a
                    left join app.meta_sync_state s
                      on s.tenant_id = a.tenant_id and s.account_id = a.account_id
                    where a.tenant_id = :t
                      and (not exists (select 1 from app.meta_selection x
                                        where x.tenant_id = a.tenant_id and x.kind = 'ad_account')
                           or exists (select 1 from app.meta_selection x
                                       where x.tenant_id = a.tenant_id and x.kind = 'ad_account'
                                         and x.object_id = a.account_id))
                    order by a.account_id
                    """
                ),
                {"t": tenant_id},
            )
        ]
    if not accounts:
        raise Failure(f"tenant {tenant_id} has no Meta ad accounts; materialize meta_ad_accounts")
    # Each account's today and lookback are in its own time zone (windows.py); the metadata
    # gives the span of them all.
    windows = {a[0]: account_window(a[3], settings.lookback_days, now) for a in accounts}
    since = min(w.since for w in windows.values())
    until = max(w.until for w in windows.values())

    definition = conversion_definition(engine, settings, tenant_id)
    attribution = tenant_attribution(engine, tenant_id)
    written, region_rows, level_rows = 0, 0, 0
    failed, first_synced = dict[str, str](), list[str]()
    for account_id, currency, synced_through, _ in accounts:
        window = windows[account_id]
        set_sync_state(engine, tenant_id, account_id, "running")
        first_sync = synced_through is None and settings.initial_sync_days > settings.lookback_days
        read_since = (
            window.until - timedelta(days=settings.initial_sync_days - 1)
            if first_sync
            else window.since
        )
        try:
            if first_sync:
                per_read = _first_sync(
                    context, sync, account_id, currency, window.today, definition, attribution
                )
                first_synced.append(account_id)
            else:
                per_read = load_account_insights(
                    engine,
                    client,
                    tenant_id,
                    account_id,
                    currency,
                    window.since,
                    window.until,
                    definition=definition,
                    attribution=attribution,
                )
            level_rows += load_level_insights(
                engine,
                client,
                tenant_id,
                account_id,
                currency,
                read_since,
                window.until,
                definition=definition,
                attribution=attribution,
            )
        except TokenInvalidError:
            set_sync_state(engine, tenant_id, account_id, "failed", error="token rejected")
            raise  # meta_asset flags the credential and fails the tenant
        except MetaApiError as exc:
            # One account failing (access denied, retries exhausted) must not stop the others.
            set_sync_state(engine, tenant_id, account_id, "failed", error=str(exc))
            failed[account_id] = str(exc)
            context.log.warning("tenant %s account %s failed: %s", tenant_id, account_id, exc)
            continue
        set_sync_state(engine, tenant_id, account_id, "succeeded", through=window.until)
        written += per_read.get("ad", 0)
        region_rows += per_read.get("region", 0)
        context.log.info(
            "tenant %s account %s: %d ad-day rows, %d region rows %s..%s",
            tenant_id,
            account_id,
            per_read.get("ad", 0),
            per_read.get("region", 0),
            read_since,
            window.until,
        )

    fail_if_every_account_failed(tenant_id, accounts, failed, "every Meta account failed")
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            # both ad-level reads, as the backfill job counts them; then each read apart
            "rows_upserted": written + region_rows,
            "ad_rows_upserted": written,
            "region_rows_upserted": region_rows,
            "level_rows_upserted": level_rows,
            "window_since": since.isoformat(),
            "window_until": until.isoformat(),
            "accounts_succeeded": len(accounts) - len(failed),
            "accounts_failed": MetadataValue.json(failed),
            "accounts_first_synced": MetadataValue.json(first_synced),
        }
    )


def _first_sync(
    context: AssetExecutionContext,
    sync: MetaSync,
    account_id: str,
    currency: str,
    today: date,
    definition: ConversionDefinition,
    attribution: Attribution,
) -> dict[str, int]:
    """An account's history (``initial_sync_days`` up to its ``today``) through async report
    runs; the rows loaded per read."""
    settings = sync.settings
    until = today
    since = until - timedelta(days=settings.initial_sync_days - 1)
    result = backfill_account(
        sync.engine,
        sync.client,
        sync.tenant_id,
        account_id,
        currency,
        since,
        until,
        **settings_options(settings),
        progress=context.log.info,
        definition=definition,
        attribution=attribution,
    )
    return result.rows_by_read
