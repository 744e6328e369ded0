"""``raw.fx_rates_daily``: published, imported and carried-forward daily rates (SQL only).

A row's ``_loaded_at`` moves only when its rate, source or carried-from day changes: dbt
re-converts exactly the days whose rows moved, so a provider correction for one past day
re-converts that day and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.defs.fx.providers import BASE, PublishedRates

TABLE = "raw.fx_rates_daily"


@dataclass(frozen=True)
class WriteCounts:
    written: int = 0
    unchanged: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(self.written + other.written, self.unchanged + other.unchanged)


def write_published(
    conn: Connection, batches: Iterable[PublishedRates], *, overwrite_other_sources: bool
) -> WriteCounts:
    """Upsert published rates; rows whose rate is unchanged keep their ``_loaded_at``.

    A provider's refresh (``overwrite_other_sources=False``) replaces carried-forward rows and
    its own rows, never a rate imported from another source (contractual rates win); an import
    replaces anything.
    """
    rows = [
        {
            "d": batch.day,
            "b": batch.base,
            "q": quote,
            "r": rate,
            "s": batch.source,
            "f": batch.fetched_at,
        }
        for batch in batches
        for quote, rate in batch.rates.items()
    ]
    if not rows:
        return WriteCounts()
    guard = (
        ""
        if overwrite_other_sources
        else "and (stored.carried_from is not null or stored.source = excluded.source)"
    )
    written = 0
    for row in rows:
        changed = conn.execute(
            sa.text(
                f"""
                insert into {TABLE} as stored
                    (rate_date, base, quote, rate, source, fetched_at, carried_from, _loaded_at)
                values (:d, :b, :q, :r, :s, :f, null, now())
                on conflict (rate_date, base, quote) do update
                   set rate = excluded.rate, source = excluded.source,
                       fetched_at = excluded.fetched_at, carried_from = null,
                       _loaded_at = now()
                 where (stored.rate, stored.source, stored.carried_from)
                       is distinct from (excluded.rate, excluded.source, null::date)
                   {guard}
                returning 1
                """
            ),
            row,
        ).first()
        written += changed is not None
    return WriteCounts(written, len(rows) - written)


def fill_carried_forward(
    conn: Connection, quotes: Sequence[str], through: date, max_carry_days: int
) -> int:
    """Give every day without a published rate, from each quote's first published day through
    ``through``, the last published rate at most ``max_carry_days`` earlier (``carried_from``
    set); days further from any published rate stay missing, and carried rows whose published
    day has since arrived or moved away are removed. Returns how many rows were written."""
    if not quotes:
        return 0
    params = {"quotes": list(quotes), "through": through, "max_carry": max_carry_days, "b": BASE}
    wanted = f"""
        with firsts as (
            select quote, min(rate_date) as first_day from {TABLE}
             where base = :b and quote = any(:quotes) and carried_from is null
             group by quote
        ),
        days as (
            select firsts.quote, d::date as day
              from firsts, generate_series(firsts.first_day, cast(:through as date), '1 day') as d
        )
        select days.day, days.quote, last.rate, last.source, last.rate_date as carried_from
          from days
          join lateral (
              select rate_date, rate, source from {TABLE} p
               where p.base = :b and p.quote = days.quote and p.carried_from is null
                 and p.rate_date <= days.day
               order by p.rate_date desc limit 1
          ) as last on last.rate_date < days.day
                   and last.rate_date >= days.day - cast(:max_carry as integer)
    """
    removed = conn.execute(
        sa.text(
            f"""
            delete from {TABLE} as stored
             where stored.base = :b and stored.quote = any(:quotes)
               and stored.carried_from is not null and stored.rate_date <= :through
               and not exists (
                   select 1 from ({wanted}) w
                    where w.day = stored.rate_date and w.quote = stored.quote)
            """
        ),
        params,
    ).rowcount
    written = conn.execute(
        sa.text(
            f"""
            insert into {TABLE} as stored
                (rate_date, base, quote, rate, source, fetched_at, carried_from, _loaded_at)
            select w.day, :b, w.quote, w.rate, w.source, now(), w.carried_from, now()
              from ({wanted}) w
            on conflict (rate_date, base, quote) do update
               set rate = excluded.rate, source = excluded.source,
                   fetched_at = excluded.fetched_at, carried_from = excluded.carried_from,
                   _loaded_at = now()
             where stored.carried_from is not null
               and (stored.rate, stored.source, stored.carried_from)
                   is distinct from (excluded.rate, excluded.source, excluded.carried_from)
            """
        ),
        params,
    ).rowcount
    return int(written) + int(removed)


def published_days(conn: Connection, quotes: Sequence[str], start: date, end: date) -> set[date]:
    """Days in [start, end] on which every one of ``quotes`` has a published (not carried) rate."""
    wanted = sorted(set(quotes) - {BASE})
    if not wanted:
        return set()
    rows: Iterable[date] = conn.execute(
        sa.text(
            f"""
            select rate_date from {TABLE}
             where base = :b and quote = any(:quotes) and carried_from is null
               and rate_date between :start and :end
             group by rate_date having count(distinct quote) = :n
            """
        ),
        {"b": BASE, "quotes": wanted, "start": start, "end": end, "n": len(wanted)},
    ).scalars()
    return set(rows)


def currencies_in_use(conn: Connection) -> set[str]:
    """Tenants' reporting currencies and the ad accounts' currencies the marts know."""
    found: set[str] = set(
        conn.execute(sa.text("select distinct reporting_currency from app.tenants")).scalars()
    )
    has_marts = conn.execute(sa.text("select to_regclass('marts.agg_tenant_daily')")).scalar()
    if has_marts:
        found |= set(
            conn.execute(sa.text("select distinct currency from marts.agg_tenant_daily")).scalars()
        )
    return {c for c in found if c}


def earliest_data_day(conn: Connection) -> date | None:
    """The first day of any tenant's ad data (Meta insights, Google Ads via Airbyte)."""
    days = [
        conn.execute(sa.text("select min(date_start) from raw.meta_insights_ad")).scalar(),
        conn.execute(sa.text("select min(date_start) from raw.meta_insights")).scalar(),
        conn.execute(
            sa.text("select min(segments_date) from raw.google_ads_campaign_performance")
        ).scalar(),
    ]
    found = [d for d in days if d is not None]
    return min(found) if found else None


@dataclass(frozen=True)
class RateRow:
    rate_date: date
    quote: str
    rate: Decimal
    source: str
    carried_from: date | None
    fetched_at: datetime


def rate_rows(
    conn: Connection, start: date, end: date, quotes: Sequence[str] | None = None
) -> list[RateRow]:
    rows = conn.execute(
        sa.text(
            f"""
            select rate_date, quote, rate, source, carried_from, fetched_at from {TABLE}
             where base = :b and rate_date between :start and :end
               and (cast(:quotes as text[]) is null or quote = any(:quotes))
             order by rate_date, quote
            """
        ),
        {"b": BASE, "start": start, "end": end, "quotes": list(quotes) if quotes else None},
    ).all()
    return [RateRow(**r._mapping) for r in rows]


@dataclass(frozen=True)
class RatesOverview:
    latest_published: date | None
    latest_day: date | None
    carried_days: list[date]
    missing_days: list[date]
    quotes: list[str]
    sources: list[str]


def overview(conn: Connection, quotes: Sequence[str], start: date, end: date) -> RatesOverview:
    """Over [start, end]: the newest published day, days carried forward and days with no rate
    for some quote (from the first day of ad data or ``start``, whichever is later)."""
    wanted = sorted(set(quotes) - {BASE})
    row = conn.execute(
        sa.text(
            f"""
            select max(rate_date) filter (where carried_from is null) as published,
                   max(rate_date) as latest
              from {TABLE} where base = :b and quote = any(:quotes)
            """
        ),
        {"b": BASE, "quotes": wanted},
    ).one()
    carried: Iterable[date] = conn.execute(
        sa.text(
            f"""
            select distinct rate_date from {TABLE}
             where base = :b and quote = any(:quotes) and carried_from is not null
               and rate_date between :start and :end order by rate_date
            """
        ),
        {"b": BASE, "quotes": wanted, "start": start, "end": end},
    ).scalars()
    missing: Iterable[date] = conn.execute(
        sa.text(
            f"""
            select d::date from generate_series(cast(:start as date), cast(:end as date),
                                                '1 day') as d
             where (select count(distinct quote) from {TABLE}
                     where base = :b and quote = any(:quotes) and rate_date = d::date) < :n
             order by 1
            """
        ),
        {"b": BASE, "quotes": wanted, "start": start, "end": end, "n": len(wanted)},
    ).scalars()
    sources: Iterable[str] = conn.execute(
        sa.text(
            f"select distinct source from {TABLE} where base = :b and quote = any(:quotes) "
            "and rate_date between :start and :end order by 1"
        ),
        {"b": BASE, "quotes": wanted, "start": start, "end": end},
    ).scalars()
    return RatesOverview(
        row.published,
        row.latest,
        list(carried),
        list(missing) if wanted else [],
        wanted,
        list(sources),
    )


def day_span(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
