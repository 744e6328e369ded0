"""The cross-stream data contracts: pure SQL builders and the rules that use them.

Each contract is one SQL query over the warehouse that returns its violations, one row each,
with the columns ``tenant_id``, ``platform``, ``subject`` (what is wrong: a day, an account)
and ``detail``. No rows means the contract holds. The same rules back the Dagster asset checks
(defs/contracts/definitions.py) and ``adinsights check-contracts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.defs.contracts.reconcile import violations_sql as meta_totals_sql
from adinsights_pipelines.errors import AdinsightsError

#: The marts the contracts read; dbt builds them.
FACT = "marts.fct_ad_performance_daily"
ACCOUNTS = "marts.dim_accounts"
TENANT_DAILY = "marts.agg_tenant_daily"
GA4_FACT = "marts.fct_ga4_daily"
SEARCH_CONSOLE_FACT = "marts.fct_search_console_daily"
REQUIRED_MARTS = (FACT, ACCOUNTS, TENANT_DAILY, GA4_FACT, SEARCH_CONSOLE_FACT)

#: Where a connected platform's rows must show up: (mart, extra condition on that mart).
PLATFORM_MARTS: dict[str, tuple[str, str]] = {
    "meta": (TENANT_DAILY, "platform = 'meta'"),
    "google_ads": (TENANT_DAILY, "platform = 'google_ads'"),
    "ga4": (GA4_FACT, "true"),
    "search_console": (SEARCH_CONSOLE_FACT, "true"),
}


@dataclass(frozen=True)
class Violation:
    contract: str
    tenant_id: str | None
    platform: str | None
    subject: str
    detail: str


@dataclass(frozen=True)
class Contract:
    name: str
    #: The mart (Dagster asset key) the asset check is attached to.
    asset: str
    description: str
    #: A blocking contract keeps metrics snapshots from building while it fails.
    blocking: bool
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def reconcile_spend_sql() -> str:
    """Raw spend vs mart spend per (tenant, platform, day) within ``:days``.

    Raw is read as the marts read it: Meta ad rows read without a breakdown (the truth; the
    region rows only split it by parish, and stand in for it on account-days loaded before the
    two reads) by primary key, Google Ads rows deduplicated to
    the newest Airbyte copy and mapped to tenants through their connections. Days with raw loads
    newer than the mart's newest modelled load are skipped: the next dbt run models them.
    Spend differs when the gap exceeds ``:tolerance_abs`` or ``:tolerance_rel`` of raw spend.
    Raw is read tenant by tenant (lateral), through the (tenant, day) index.
    """
    return f"""
    with tenants as (
        select id as tenant_id from app.tenants
    ),
    meta_raw as (
        select tenants.tenant_id, 'meta'::text as platform, day.date_day, day.spend,
               day.loaded_at
        from tenants
        cross join lateral (
            select date_start as date_day, sum(spend) as spend, max(_loaded_at) as loaded_at
            from (
                select date_start, spend, _loaded_at
                from raw.meta_insights_ad
                where tenant_id = tenants.tenant_id
                  and date_start >= current_date - cast(:days as integer)
                union all
                -- account-days loaded only by region (before the two reads) count as the
                -- fact counts them: their region rows are their totals
                select regions.date_start, regions.spend, regions._loaded_at
                from raw.meta_insights as regions
                where regions.tenant_id = tenants.tenant_id
                  and regions.date_start >= current_date - cast(:days as integer)
                  and not exists (
                      select 1 from raw.meta_insights_ad as ads
                      where ads.tenant_id = regions.tenant_id
                        and ads.date_start = regions.date_start
                        and ads.account_id = regions.account_id)
            ) as meta_rows
            group by date_start
        ) as day
    ),
    google_customers as (
        select tenant_id, regexp_replace(source_account_id, '[^0-9]', '', 'g') as customer_id
        from app.airbyte_connections
        where provider = 'google_ads' and source_account_id is not null
    ),
    google_newest as (
        select distinct on (customer_id, campaign_id, segments_date, segments_geo_target_region)
               regexp_replace(customer_id, '[^0-9]', '', 'g') as customer_id,
               segments_date, metrics_cost_micros, _airbyte_extracted_at
        from raw.google_ads_campaign_performance
        where segments_date >= current_date - cast(:days as integer)
        order by customer_id, campaign_id, segments_date, segments_geo_target_region,
                 _airbyte_extracted_at desc
    ),
    google_raw as (
        select google_customers.tenant_id, 'google_ads'::text as platform,
               google_newest.segments_date as date_day,
               sum(coalesce(google_newest.metrics_cost_micros, 0)) / 1000000.0 as spend,
               max(google_newest._airbyte_extracted_at) as loaded_at
        from google_newest
        join google_customers using (customer_id)
        group by google_customers.tenant_id, google_newest.segments_date
    ),
    raw_days as (
        select * from meta_raw
        union all
        select * from google_raw
    ),
    mart_days as (
        select tenant_id, platform, date_day, sum(spend) as spend
        from {FACT}
        where date_day >= current_date - cast(:days as integer)
        group by tenant_id, platform, date_day
    ),
    modelled_through as (
        select platform, max(loaded_at) as loaded_at from {FACT} group by platform
    )
    select coalesce(raw_days.tenant_id, mart_days.tenant_id) as tenant_id,
           coalesce(raw_days.platform, mart_days.platform) as platform,
           coalesce(raw_days.date_day, mart_days.date_day)::text as subject,
           'raw spend ' || coalesce(round(raw_days.spend, 2)::text, 'none')
               || ', mart spend ' || coalesce(round(mart_days.spend, 2)::text, 'none') as detail
    from raw_days
    full outer join mart_days using (tenant_id, platform, date_day)
    left join modelled_through
        on modelled_through.platform = coalesce(raw_days.platform, mart_days.platform)
    where (raw_days.loaded_at is null
           or raw_days.loaded_at <= coalesce(modelled_through.loaded_at, '-infinity'))
      and abs(coalesce(raw_days.spend, 0) - coalesce(mart_days.spend, 0))
          > greatest(cast(:tolerance_abs as numeric),
                     cast(:tolerance_rel as numeric) * abs(coalesce(raw_days.spend, 0)))
    order by 1, 2, 3
    """


def platform_coverage_sql(platforms: Sequence[str]) -> str:
    """Active tenants with a connected platform among ``platforms`` but no rows in its mart.

    Connected: a stored credential for the platform, or an active Airbyte connection.
    """
    unknown = [p for p in platforms if p not in PLATFORM_MARTS]
    if unknown or not platforms:
        raise ValueError(f"no mart known for platforms {unknown or platforms}")
    has_rows = "\n".join(
        f"            when '{platform}' then exists (select 1 from {mart} as m "
        f"where m.tenant_id = connected.tenant_id and {condition})"
        for platform, (mart, condition) in PLATFORM_MARTS.items()
        if platform in platforms
    )
    listed = ", ".join(f"'{p}'" for p in platforms)
    return f"""
    with connected as (
        select tenant_id, provider as platform from app.platform_credentials
        where provider in ({listed})
        union
        select tenant_id, provider from app.airbyte_connections
        where is_active and provider in ({listed})
    )
    select connected.tenant_id, connected.platform, 'tenant' as subject,
           'connected, but no rows in the marts' as detail
    from connected
    join app.tenants on tenants.id = connected.tenant_id and tenants.status = 'active'
    where not (
        case connected.platform
{has_rows}
        end
    )
    order by 1, 2
    """


def currency_consistency_sql() -> str:
    """Accounts whose fact rows within ``:days`` carry more than one currency, or another
    currency than the account itself."""
    return f"""
    select fact.tenant_id, fact.platform, fact.account_id as subject,
           'fact currencies ' || string_agg(distinct fact.currency, ', ' order by fact.currency)
               || '; account currency ' || coalesce(max(accounts.currency), 'unknown')
               as detail
    from {FACT} as fact
    left join {ACCOUNTS} as accounts
        on accounts.tenant_id = fact.tenant_id
       and accounts.platform = fact.platform
       and accounts.account_id = fact.account_id
    where fact.date_day >= current_date - cast(:days as integer)
    group by fact.tenant_id, fact.platform, fact.account_id
    having count(distinct fact.currency) > 1
        or bool_or(accounts.currency is not null and accounts.currency <> fact.currency)
    order by 1, 2, 3
    """


def exchange_rate_coverage_sql() -> str:
    """Days within ``:days`` on which an account with spend has no exchange rate into its
    tenant's reporting currency (the fact's spend_reporting is null): one violation per tenant,
    platform and day, naming the currencies. The snapshot refuses to build for those tenants
    rather than add a wrong or zero amount."""
    return f"""
    select fact.tenant_id, fact.platform, fact.date_day::text as subject,
           'spend ' || string_agg(distinct fact.currency, ', ' order by fact.currency)
               || ' with no rate into ' || coalesce(max(fact.reporting_currency), 'unknown')
               || ' for ' || fact.date_day::text
               || ' (adinsights fx-rates show / import / refresh)' as detail
    from {FACT} as fact
    where fact.date_day >= current_date - cast(:days as integer)
      and fact.spend <> 0 and fact.spend_reporting is null
    group by fact.tenant_id, fact.platform, fact.date_day
    order by 1, 2, 3
    """


def contracts(
    days: int = 28,
    tolerance_abs: Decimal = Decimal("0.01"),
    tolerance_rel: Decimal = Decimal("0.0001"),
) -> list[Contract]:
    """Every contract, over the last ``days`` days where a window applies."""
    if days < 1:
        raise ValueError("days must be at least 1")
    return [
        Contract(
            name="marts_reconcile_with_raw_spend",
            asset="fct_ad_performance_daily",
            description=(
                "Spend per tenant, platform and day in fct_ad_performance_daily equals raw "
                f"spend (within {tolerance_abs} or {tolerance_rel:%} of it) over the window."
            ),
            blocking=True,
            sql=reconcile_spend_sql(),
            params={"days": days, "tolerance_abs": tolerance_abs, "tolerance_rel": tolerance_rel},
        ),
        Contract(
            name="meta_reconciles_with_account_totals",
            asset="fct_ad_performance_daily",
            description=(
                "Our Meta ad rows (read without a breakdown), summed per ad account and "
                "complete day over the window, equal Meta's own account totals "
                "(level=account): spend within 0.01, impressions, clicks and conversions "
                "exactly."
            ),
            blocking=True,
            sql=meta_totals_sql(),
            params={"days": days, "tenants": None},
        ),
        Contract(
            name="currency_consistent_per_account",
            asset="fct_ad_performance_daily",
            description=(
                "Each ad account has one currency in the fact over the window, the account's own."
            ),
            blocking=True,
            sql=currency_consistency_sql(),
            params={"days": days},
        ),
        Contract(
            name="spend_has_exchange_rate",
            asset="fct_ad_performance_daily",
            description=(
                "Every day with spend has an exchange rate into the tenant's reporting currency "
                "over the window (spend_reporting is never computed with a missing rate)."
            ),
            blocking=True,
            sql=exchange_rate_coverage_sql(),
            params={"days": days},
        ),
        Contract(
            name="connected_ad_platforms_have_rows",
            asset="agg_tenant_daily",
            description="Every active tenant with Meta or Google Ads connected has ad rows.",
            blocking=False,
            sql=platform_coverage_sql(["meta", "google_ads"]),
        ),
        Contract(
            name="connected_ga4_has_rows",
            asset="fct_ga4_daily",
            description="Every active tenant with GA4 connected has GA4 rows.",
            blocking=False,
            sql=platform_coverage_sql(["ga4"]),
        ),
        Contract(
            name="connected_search_console_has_rows",
            asset="fct_search_console_daily",
            description="Every active tenant with Search Console connected has rows.",
            blocking=False,
            sql=platform_coverage_sql(["search_console"]),
        ),
    ]


def require_marts(conn: Connection) -> None:
    """Fail with one line when dbt has not built the marts the contracts read."""
    missing = [
        name
        for name in REQUIRED_MARTS
        if conn.execute(sa.text("select to_regclass(:n)"), {"n": name}).scalar() is None
    ]
    if missing:
        raise AdinsightsError(
            f"the marts are not built yet ({', '.join(missing)}); run dbt (job dbt_build) first"
        )


def evaluate(conn: Connection, contract: Contract) -> list[Violation]:
    # The planner over-estimates these aggregates and would JIT-compile them for seconds, ten
    # times what they take (measured on 3 M raw rows): off for this transaction only.
    conn.execute(sa.text("set local jit = off"))
    rows = conn.execute(sa.text(contract.sql), contract.params).all()
    return [
        Violation(
            contract=contract.name,
            tenant_id=row.tenant_id,
            platform=row.platform,
            subject=str(row.subject),
            detail=str(row.detail),
        )
        for row in rows
    ]


def violations_table(violations: Sequence[Violation], limit: int | None = None) -> str:
    """A fixed-width table of violations, for terminals and Markdown code blocks."""
    header = ("CONTRACT", "TENANT", "PLATFORM", "SUBJECT", "DETAIL")
    shown = list(violations if limit is None else violations[:limit])
    rows = [(v.contract, v.tenant_id or "-", v.platform or "-", v.subject, v.detail) for v in shown]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + str(row[-1])
        for row in [header, *rows]
    ]
    if limit is not None and len(violations) > limit:
        lines.append(f"... and {len(violations) - limit} more")
    return "\n".join(lines)
