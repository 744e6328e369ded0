"""Our Meta ad rows against Meta's own account totals, per ad account and day.

Every sync also reads each ad account's daily totals (``level=account``, no breakdown:
``raw.meta_insights_level``). Summed over our ad rows (``raw.meta_insights_ad``, read without a
breakdown), the same account and day must give the same spend (within one cent), impressions,
clicks and conversions; a difference means rows went missing (an archived ad, a failed page)
or were counted twice. Only complete days are compared: the account's current day (in its own
time zone) still moves between two reads seconds apart.

Conversions are compared when Meta listed actions on the account's row (at a level spanning ad
sets with different attribution settings it may leave them out) and both sides were counted
under the same conversion definition (a definition changed since the account row was read is
compared again after the next read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: Spend may differ by at most this (one cent: Meta's own rounding); counts must be equal.
SPEND_TOLERANCE = Decimal("0.01")


def reconcile_sql() -> str:
    """One row per (tenant, account, day) within ``:days`` with both sides, complete days only;
    ``:tenants`` (an array) null for every tenant."""
    return """
    with accounts as (
        select tenant_id, account_id,
               (now() at time zone coalesce(timezone_name, 'America/Jamaica'))::date as today
          from raw.meta_ad_accounts
         where cast(:tenants as text[]) is null or tenant_id = any(cast(:tenants as text[]))
    ),
    meta as (
        select l.tenant_id, l.account_id, l.date_start, l.spend, l.impressions, l.clicks,
               l.conversions, l.conversion_events, l.currency
          from raw.meta_insights_level l
          join accounts a on a.tenant_id = l.tenant_id and a.account_id = l.account_id
         where l.level = 'account'
           and l.date_start >= a.today - cast(:days as integer) and l.date_start < a.today
    ),
    ours as (
        select i.tenant_id, i.account_id, i.date_start, sum(i.spend) as spend,
               sum(i.impressions) as impressions, sum(i.clicks) as clicks,
               sum(i.conversions) as conversions,
               count(distinct i.conversion_events) as definitions,
               min(i.conversion_events) as conversion_events
          from raw.meta_insights_ad i
          join meta m on m.tenant_id = i.tenant_id and m.account_id = i.account_id
                     and m.date_start = i.date_start
         group by i.tenant_id, i.account_id, i.date_start
    ),
    regions as (
        -- an account-day loaded only by region (before the two reads): its region rows stand
        -- in for the totals, as in the fact; they carry no comparable conversions
        select r.tenant_id, r.account_id, r.date_start, sum(r.spend) as spend,
               sum(r.impressions) as impressions, sum(r.clicks) as clicks
          from raw.meta_insights r
          join meta m on m.tenant_id = r.tenant_id and m.account_id = r.account_id
                     and m.date_start = r.date_start
         where not exists (select 1 from raw.meta_insights_ad a
                            where a.tenant_id = r.tenant_id and a.account_id = r.account_id
                              and a.date_start = r.date_start)
         group by r.tenant_id, r.account_id, r.date_start
    )
    select meta.tenant_id, meta.account_id, meta.date_start, meta.currency,
           coalesce(ours.spend, regions.spend, 0) as our_spend, meta.spend as meta_spend,
           coalesce(ours.impressions, regions.impressions, 0) as our_impressions,
           meta.impressions as meta_impressions,
           coalesce(ours.clicks, regions.clicks, 0) as our_clicks, meta.clicks as meta_clicks,
           -- conversions compared when Meta listed actions and both sides were counted under
           -- one and the same definition (no ad rows at all: ours are 0)
           case when comparable then coalesce(ours.conversions, 0) end as our_conversions,
           case when comparable then meta.conversions end as meta_conversions
      from meta
      left join ours on ours.tenant_id = meta.tenant_id and ours.account_id = meta.account_id
                    and ours.date_start = meta.date_start
      left join regions on regions.tenant_id = meta.tenant_id
                       and regions.account_id = meta.account_id
                       and regions.date_start = meta.date_start
      cross join lateral (
          select meta.conversions is not null and regions.tenant_id is null
                 and (ours.tenant_id is null
                      or (ours.definitions = 1
                          and ours.conversion_events = meta.conversion_events)) as comparable
      ) as c
     order by meta.tenant_id, meta.account_id, meta.date_start
    """


@dataclass(frozen=True)
class AccountDay:
    tenant_id: str
    account_id: str
    day: date
    currency: str
    our_spend: Decimal
    meta_spend: Decimal
    our_impressions: int
    meta_impressions: int
    our_clicks: int
    meta_clicks: int
    #: None when not compared (Meta listed no actions, or another conversion definition).
    our_conversions: Decimal | None = None
    meta_conversions: Decimal | None = None

    @property
    def mismatches(self) -> list[str]:
        """What differs, as an operator reads it (empty: the day reconciles)."""
        out = []
        if abs(self.our_spend - self.meta_spend) > SPEND_TOLERANCE:
            out.append(f"spend ours {self.our_spend:.2f} vs Meta {self.meta_spend:.2f}")
        if self.our_impressions != self.meta_impressions:
            out.append(f"impressions ours {self.our_impressions} vs Meta {self.meta_impressions}")
        if self.our_clicks != self.meta_clicks:
            out.append(f"clicks ours {self.our_clicks} vs Meta {self.meta_clicks}")
        if (
            self.our_conversions is not None
            and self.meta_conversions is not None
            and self.our_conversions != self.meta_conversions
        ):
            out.append(
                f"conversions ours {conversion_text(self.our_conversions)} "
                f"vs Meta {conversion_text(self.meta_conversions)}"
            )
        return out


def conversion_text(value: Decimal) -> str:
    """A conversion count as an operator reads it: ``12``, ``3.5``."""
    return format(value.normalize(), "f")


def account_days(
    conn: Connection, days: int, tenants: Sequence[str] | None = None
) -> list[AccountDay]:
    """Every complete account-day within ``days`` for which Meta's account total was read
    (of ``tenants``, or of every tenant)."""
    rows = conn.execute(
        sa.text(reconcile_sql()),
        {"days": days, "tenants": list(tenants) if tenants is not None else None},
    ).all()
    return [
        AccountDay(
            r.tenant_id,
            r.account_id,
            r.date_start,
            r.currency,
            Decimal(r.our_spend),
            Decimal(r.meta_spend),
            int(r.our_impressions),
            int(r.meta_impressions),
            int(r.our_clicks),
            int(r.meta_clicks),
            Decimal(r.our_conversions) if r.our_conversions is not None else None,
            Decimal(r.meta_conversions) if r.meta_conversions is not None else None,
        )
        for r in rows
    ]


def violations_sql() -> str:
    """The contract's form of :func:`reconcile_sql`: one row per account-day that differs."""
    return f"""
    select tenant_id, 'meta'::text as platform,
           account_id || ' ' || date_start::text as subject,
           concat_ws('; ',
               case when abs(our_spend - meta_spend) > {SPEND_TOLERANCE}
                    then 'spend ours ' || round(our_spend, 2) || ' vs Meta '
                         || round(meta_spend, 2) end,
               case when our_impressions <> meta_impressions
                    then 'impressions ours ' || our_impressions || ' vs Meta '
                         || meta_impressions end,
               case when our_clicks <> meta_clicks
                    then 'clicks ours ' || our_clicks || ' vs Meta ' || meta_clicks end,
               case when our_conversions <> meta_conversions
                    then 'conversions ours ' || trim_scale(our_conversions) || ' vs Meta '
                         || trim_scale(meta_conversions) end)
               as detail
      from ({reconcile_sql()}) as days
     where abs(our_spend - meta_spend) > {SPEND_TOLERANCE}
        or our_impressions <> meta_impressions or our_clicks <> meta_clicks
        or our_conversions <> meta_conversions
    """


def summary(conn: Connection, days: int, tenants: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per tenant with Meta account totals in the window: what ``/api/ops/sync-health/``
    shows (the first 10 mismatched account-days listed)."""
    by_tenant: dict[str, list[AccountDay]] = {}
    for d in account_days(conn, days, tenants):
        by_tenant.setdefault(d.tenant_id, []).append(d)
    return {
        tenant: {
            "platform": "meta",
            "window_days": days,
            "days_compared": len(compared),
            "mismatched": sum(1 for d in compared if d.mismatches),
            "mismatches": [
                {"account_id": d.account_id, "day": d.day.isoformat(), "detail": "; ".join(m)}
                for d in compared
                if (m := d.mismatches)
            ][:10],
        }
        for tenant, compared in by_tenant.items()
    }
