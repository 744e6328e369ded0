"""The per-tenant metrics snapshot: what ``/api/metrics/combined/`` serves.

Pure SQL over the dbt marts. The snapshot asset stores the unfiltered payload in
``app.metrics_snapshots``; filtered API calls compute the same payload live and store nothing.
The API reads stored snapshots through ``services/snapshots.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.currencies import DEFAULT_REPORTING_CURRENCY, minor_units
from adinsights_pipelines.defs.meta.conversions import Attribution, ConversionDefinition
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.settings import load_settings

MART = "marts.fct_ad_performance_daily"
RATES = "raw.fx_rates_daily"
MEASURES = (
    "sum(spend) as spend, sum(impressions) as impressions, sum(clicks) as clicks, "
    "sum(conversions) as conversions, sum(conversion_value) as conversion_value, "
    "count(*) as rows, "
    # null when a row with spend has no rate: never a partial sum presented as a total
    "case when bool_and(spend_reporting is not null or spend = 0) "
    "then coalesce(sum(spend_reporting), 0) end as spend_reporting, "
    "case when bool_and(conversion_value_reporting is not null or conversion_value = 0) "
    "then coalesce(sum(conversion_value_reporting), 0) end as conversion_value_reporting"
)


class MissingExchangeRates(AdinsightsError):
    """Days with spend and no exchange rate into the reporting currency."""

    def __init__(self, reporting_currency: str, missing: list[tuple[date, str]]) -> None:
        self.reporting_currency = reporting_currency
        self.missing = missing
        days = ", ".join(f"{day} ({currency})" for day, currency in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        super().__init__(
            f"no exchange rate into {reporting_currency} for days with spend: {days}{more}; "
            "import or refresh the rates (adinsights fx-rates import / refresh), then run dbt"
        )


@dataclass(frozen=True)
class SnapshotFilters:
    start_date: date | None = None
    end_date: date | None = None
    parish: str | None = None
    #: Another reporting currency than the tenant's, converted live (a filtered answer).
    currency: str | None = None

    @property
    def is_empty(self) -> bool:
        return (
            self.start_date is None
            and self.end_date is None
            and self.parish is None
            and self.currency is None
        )


def _where(tenant_id: str, filters: SnapshotFilters) -> tuple[str, dict[str, Any]]:
    clauses = ["tenant_id = :tenant_id"]
    params: dict[str, Any] = {"tenant_id": tenant_id}
    if filters.start_date:
        clauses.append("date_day >= :start_date")
        params["start_date"] = filters.start_date
    if filters.end_date:
        clauses.append("date_day <= :end_date")
        params["end_date"] = filters.end_date
    if filters.parish:
        clauses.append("lower(parish) = lower(:parish)")
        params["parish"] = filters.parish
    return " and ".join(clauses), params


def _converted(where: str, live: bool) -> str:
    """The tenant's fact rows with their reporting amounts: as dbt stored them, or converted
    live into ``:reporting_currency`` with the same definitions (fx_rate = rate(reporting) /
    rate(currency), both per 1 USD, 10 places; spend_reporting = round(spend * fx_rate, 6))."""
    columns = (
        "tenant_id, platform, campaign_id, campaign_name, date_day, parish, spend, impressions, "
        "clicks, conversions, conversion_value, conversions_estimated, currency"
    )
    if not live:
        return f"""
        with converted as (
            select {columns}, spend_reporting, conversion_value_reporting, reporting_currency,
                   fx_rate, fx_rate_date
            from {MART} where {where}
        )"""
    return f"""
        with facts as (
            select {columns} from {MART} where {where}
        ),
        pairs as (
            select pair.date_day, pair.currency,
                   case when pair.currency = cast(:reporting_currency as text) then 1::numeric
                        else round((case when cast(:reporting_currency as text) = 'USD' then 1
                                         else to_rate.rate end)
                                   / (case when pair.currency = 'USD' then 1
                                           else from_rate.rate end), 10)
                   end as fx_rate,
                   case when pair.currency <> cast(:reporting_currency as text) then
                       least(case when pair.currency = 'USD' then null
                                  else coalesce(from_rate.carried_from, from_rate.rate_date) end,
                             case when cast(:reporting_currency as text) = 'USD' then null
                                  else coalesce(to_rate.carried_from, to_rate.rate_date) end)
                   end as fx_rate_date
            from (select distinct date_day, currency from facts) as pair
            left join {RATES} as from_rate
                on from_rate.base = 'USD' and from_rate.rate_date = pair.date_day
               and from_rate.quote = pair.currency
            left join {RATES} as to_rate
                on to_rate.base = 'USD' and to_rate.rate_date = pair.date_day
               and to_rate.quote = cast(:reporting_currency as text)
        ),
        converted as (
            select facts.*, round(facts.spend * pairs.fx_rate, 6) as spend_reporting,
                   round(facts.conversion_value * pairs.fx_rate, 6)
                       as conversion_value_reporting,
                   cast(:reporting_currency as text) as reporting_currency, pairs.fx_rate,
                   case when pairs.fx_rate is not null then pairs.fx_rate_date end
                       as fx_rate_date
            from facts join pairs using (date_day, currency)
        )"""


def _measures(row: Any) -> dict[str, Any]:
    """An entry's sums in its own currency (money as decimal strings), and the ratios computed
    from those sums."""
    impressions, clicks = int(row.impressions or 0), int(row.clicks or 0)
    return {
        "spend": decimal_string(row.spend or Decimal(0), row.currency),
        "impressions": impressions,
        "clicks": clicks,
        "conversions": _conversions(row.conversions),
        "conversion_value": decimal_string(row.conversion_value or Decimal(0), row.currency),
        **ratios(
            row.spend or Decimal(0),
            impressions,
            clicks,
            row.conversions or Decimal(0),
            row.conversion_value or Decimal(0),
            row.currency,
        ),
    }


def ratios(
    spend: Decimal,
    impressions: int,
    clicks: int,
    conversions: Decimal,
    conversion_value: Decimal,
    currency: str,
) -> dict[str, Any]:
    """The ratios an agency reports, each from summed parts (never an average of ratios) and
    null where its denominator is zero. Money ratios (cpc, cpm, cost_per_conversion) are
    decimal strings in ``currency``; ctr is clicks per impression (6 places), roas conversion
    value per unit of spend (4 places)."""
    return {
        "ctr": round(clicks / impressions, 6) if impressions else None,
        "cpc": decimal_string(spend / clicks, currency) if clicks else None,
        "cpm": decimal_string(spend * 1000 / impressions, currency) if impressions else None,
        "cost_per_conversion": (
            decimal_string(spend / conversions, currency) if conversions else None
        ),
        "roas": (
            float((conversion_value / spend).quantize(Decimal("0.0001"), ROUND_HALF_UP))
            if spend
            else None
        ),
    }


def _conversions(value: Decimal | None) -> float:
    """A count, not money: a JSON number (fractional: Google's are, and so are Meta's parish
    estimates), 2 places."""
    return float(round(value or Decimal(0), 2))


def decimal_string(value: Decimal | None, currency: str) -> str | None:
    """Money as the contract serves it: a decimal string in the currency's minor units,
    rounded half up (``"1938.90"``); ``None`` stays ``None``."""
    if value is None:
        return None
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return str(Decimal(value).quantize(exponent, rounding=ROUND_HALF_UP))


def tenant_reporting_currency(conn: Connection, tenant_id: str) -> str:
    found = conn.execute(
        sa.text("select reporting_currency from app.tenants where id = :t"), {"t": tenant_id}
    ).scalar_one_or_none()
    return str(found or DEFAULT_REPORTING_CURRENCY)


def tenant_meta_settings(conn: Connection, tenant_id: str) -> tuple[list[str], str]:
    """The tenant's Meta conversion events (its own, else the global definition) and the label
    of its attribution setting (``unified``, ``7d_click,1d_view``...)."""
    row = conn.execute(
        sa.text(
            "select meta_conversion_events, meta_attribution_windows, meta_action_report_time "
            "from app.tenants where id = :t"
        ),
        {"t": tenant_id},
    ).one_or_none()
    own = row.meta_conversion_events if row else None
    events = ConversionDefinition.parse(own or load_settings().meta_conversion_events).events
    windows = row.meta_attribution_windows if row else None
    attribution = Attribution.parse(
        ",".join(windows) if windows else None, row.meta_action_report_time if row else None
    )
    return list(events), attribution.label


def compute_payload(
    conn: Connection, tenant_id: str, filters: SnapshotFilters | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """(payload, row_totals) for one tenant.

    Original amounts are never summed across currencies; every entry also carries its spend in
    the reporting currency (the tenant's, or ``filters.currency`` converted live), and the
    answer has one total and a daily series in it. Raises :class:`MissingExchangeRates` naming
    the days when a day with spend has no rate.
    """
    filters = filters or SnapshotFilters()
    where, params = _where(tenant_id, filters)
    reporting = filters.currency or tenant_reporting_currency(conn, tenant_id)
    # The stored conversion is the tenant's current currency once dbt has caught up with a
    # change of it; until then (or for another currency) convert live, with the same rules.
    stale = conn.execute(
        sa.text(
            f"select exists (select 1 from {MART} where {where} "
            "and reporting_currency is distinct from :reporting_currency)"
        ),
        {**params, "reporting_currency": reporting},
    ).scalar()
    params["reporting_currency"] = reporting
    converted = _converted(where, live=bool(stale))

    def query(sql: str) -> list[Any]:
        return list(conn.execute(sa.text(f"{converted} {sql}"), params).all())

    missing = query(
        "select date_day, currency from converted "
        "where spend <> 0 and spend_reporting is null "
        "group by date_day, currency order by date_day, currency"
    )
    if missing:
        raise MissingExchangeRates(reporting, [(r.date_day, r.currency) for r in missing])

    def grouped(columns: str, order: str, extra: str = "") -> list[Any]:
        return query(
            f"select {columns}, {MEASURES}{extra} from converted group by {columns} "
            f"order by {order}"
        )

    def reporting_fields(row: Any) -> dict[str, Any]:
        return {
            "spend_reporting": decimal_string(row.spend_reporting, reporting),
            "conversion_value_reporting": decimal_string(row.conversion_value_reporting, reporting),
            "reporting_currency": reporting,
        }

    by_currency = grouped("currency", "currency")
    [everything] = query(f"select {MEASURES} from converted")
    span = query("select min(date_day) as lo, max(date_day) as hi from converted")[0]
    [rates] = query(
        f"""
        select min(converted.fx_rate_date) as first_rate, max(converted.fx_rate_date) as last_rate,
               coalesce(array_agg(distinct r.source)
                        filter (where r.source is not null), '{{}}') as sources,
               coalesce(array_agg(distinct converted.date_day)
                        filter (where r.carried_from is not null), '{{}}') as carried
        from converted
        left join {RATES} as r
            on r.base = 'USD' and r.rate_date = converted.date_day
           and r.quote in (converted.currency, converted.reporting_currency)
        where converted.currency <> converted.reporting_currency
        """
    )
    daily: dict[date, dict[str, Any]] = {}
    for row in grouped("date_day, currency, fx_rate, fx_rate_date", "date_day, currency"):
        day = daily.setdefault(
            row.date_day,
            {
                "date": row.date_day.isoformat(),
                "spend": Decimal(0),
                "impressions": 0,
                "clicks": 0,
                "conversions": Decimal(0),
                "conversion_value": Decimal(0),
                "by_currency": [],
            },
        )
        day["spend"] += row.spend_reporting or Decimal(0)
        day["impressions"] += int(row.impressions or 0)
        day["clicks"] += int(row.clicks or 0)
        day["conversions"] += row.conversions or Decimal(0)
        day["conversion_value"] += row.conversion_value_reporting or Decimal(0)
        day["by_currency"].append(
            {
                "currency": row.currency,
                "spend": decimal_string(row.spend, row.currency),
                "fx_rate": str(row.fx_rate.normalize()) if row.fx_rate is not None else None,
                "fx_rate_date": row.fx_rate_date.isoformat() if row.fx_rate_date else None,
                "spend_reporting": decimal_string(row.spend_reporting, reporting),
            }
        )
    meta_events, meta_attribution = tenant_meta_settings(conn, tenant_id)
    payload = {
        "tenant_id": tenant_id,
        "date_range": {
            "start": span.lo.isoformat() if span.lo else None,
            "end": span.hi.isoformat() if span.hi else None,
        },
        "filters": {
            "start_date": filters.start_date.isoformat() if filters.start_date else None,
            "end_date": filters.end_date.isoformat() if filters.end_date else None,
            "parish": filters.parish,
            "currency": filters.currency,
        },
        "reporting_currency": reporting,
        "fx": {
            "sources": sorted(rates.sources),
            "rates_from": rates.first_rate.isoformat() if rates.first_rate else None,
            "rates_to": rates.last_rate.isoformat() if rates.last_rate else None,
            "carried_forward_days": sorted(d.isoformat() for d in rates.carried),
            "definition": (
                "spend_reporting = spend x fx_rate of the row's day (the ad account's date); "
                "fx_rate = rate(reporting) / rate(currency), units per 1 USD; a day without a "
                "published rate uses the last one (carried_forward_days)"
            ),
        },
        "definitions": {
            "meta_events": meta_events,
            "meta_attribution": meta_attribution,
            "meta": (
                "each event of meta_events counted once, through one action type of its alias "
                "family (omni_/aggregate first), under meta_attribution (unified: each ad "
                "set's own attribution setting; else the click and view windows named)"
            ),
            "google_ads": "conversions and conversions_value as Google Ads reports them "
            "(its conversion actions, deduplicated by Google)",
            "meta_parish": (
                "Meta reports no conversions by region: a parish's Meta conversions and "
                "conversion_value are each campaign-day's, allocated by the parish's share of "
                "clicks (conversions_estimated); spend, impressions and clicks follow Meta's "
                "region rows (what they leave out is on Unknown), and parish totals add up "
                "exactly to the platform's"
            ),
            "ratios": "from summed parts, null when the denominator is zero: ctr = clicks / "
            "impressions, cpc = spend / clicks, cpm = spend x 1000 / impressions, "
            "cost_per_conversion = spend / conversions, roas = conversion_value / spend",
        },
        "total_reporting": {
            "currency": reporting,
            "spend": decimal_string(everything.spend_reporting or Decimal(0), reporting),
            "impressions": int(everything.impressions or 0),
            "clicks": int(everything.clicks or 0),
            "conversions": _conversions(everything.conversions),
            "conversion_value": decimal_string(
                everything.conversion_value_reporting or Decimal(0), reporting
            ),
            **ratios(
                everything.spend_reporting or Decimal(0),
                int(everything.impressions or 0),
                int(everything.clicks or 0),
                everything.conversions or Decimal(0),
                everything.conversion_value_reporting or Decimal(0),
                reporting,
            ),
        },
        "totals": [
            {"currency": r.currency, **_measures(r), **reporting_fields(r)} for r in by_currency
        ],
        "by_platform": [
            {"platform": r.platform, "currency": r.currency, **_measures(r), **reporting_fields(r)}
            for r in grouped("platform, currency", "platform, currency")
        ],
        "by_campaign": [
            {
                "platform": r.platform,
                "campaign_id": r.campaign_id,
                "campaign_name": r.campaign_name,
                "currency": r.currency,
                **_measures(r),
                **reporting_fields(r),
            }
            for r in grouped(
                "platform, campaign_id, campaign_name, currency", "spend desc, campaign_id"
            )
        ],
        "by_parish": [
            {
                "parish": r.parish,
                "currency": r.currency,
                **_measures(r),
                **reporting_fields(r),
                "conversions_estimated": bool(r.conversions_estimated),
            }
            for r in grouped(
                "parish, currency",
                "spend desc, parish",
                ", bool_or(conversions_estimated) as conversions_estimated",
            )
        ],
        "by_day": [
            {
                "date": d["date"],
                "reporting_currency": reporting,
                "spend_reporting": decimal_string(d["spend"], reporting),
                "impressions": d["impressions"],
                "clicks": d["clicks"],
                "conversions": _conversions(d["conversions"]),
                "conversion_value_reporting": decimal_string(d["conversion_value"], reporting),
                **ratios(
                    d["spend"],
                    d["impressions"],
                    d["clicks"],
                    d["conversions"],
                    d["conversion_value"],
                    reporting,
                ),
                "by_currency": d["by_currency"],
            }
            for d in daily.values()
        ],
    }
    row_totals = {"fct_ad_performance_daily": sum(int(r.rows) for r in by_currency)}
    return payload, row_totals


def store_snapshot(
    conn: Connection,
    tenant_id: str,
    payload: dict[str, Any],
    row_totals: dict[str, int],
    *,
    duration_ms: int,
    dagster_run_id: str | None,
) -> datetime:
    """Replace the tenant's stored snapshot; returns the new ``snapshot_generated_at``."""
    generated_at: datetime = conn.execute(
        sa.text(
            """
            insert into app.metrics_snapshots (tenant_id, payload, row_totals,
                snapshot_generated_at, duration_ms, dagster_run_id)
            values (:t, cast(:p as jsonb), cast(:rt as jsonb), now(), :d, :run)
            on conflict (tenant_id) do update set
                payload = excluded.payload, row_totals = excluded.row_totals,
                snapshot_generated_at = excluded.snapshot_generated_at,
                duration_ms = excluded.duration_ms, dagster_run_id = excluded.dagster_run_id
            returning snapshot_generated_at
            """
        ),
        {
            "t": tenant_id,
            "p": json.dumps(payload),
            "rt": json.dumps(row_totals),
            "d": duration_ms,
            "run": dagster_run_id,
        },
    ).scalar_one()
    return generated_at
