"""Meta's account totals against our ad rows, on rows written by hand: what is compared, when
conversions are compared, and the account-days loaded only by region (before the two reads)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from adinsights_pipelines.defs.contracts.reconcile import account_days, violations_sql
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine

DEFINITION = "purchase,lead,complete_registration"
# complete days of the account (America/Jamaica): yesterday and the day before
YESTERDAY = datetime.now(ZoneInfo("America/Jamaica")).date() - timedelta(days=1)
BEFORE = YESTERDAY - timedelta(days=1)


def _level(conn: sa.Connection, account: str, day: date, spend: str, conversions: str | None,
           events: str = DEFINITION) -> None:  # fmt: skip
    conn.execute(
        sa.text(
            "insert into raw.meta_insights_level (tenant_id, account_id, level, object_id, "
            "date_start, spend, impressions, clicks, conversions, conversion_events, currency) "
            "values ('rec', :a, 'account', :a, :d, :s, 100, 10, :c, :e, 'USD')"
        ),
        {"a": account, "d": day, "s": spend, "c": conversions, "e": events},
    )


def _ad(conn: sa.Connection, account: str, ad: str, day: date, spend: str, conversions: str,
        events: str = DEFINITION) -> None:  # fmt: skip
    conn.execute(
        sa.text(
            "insert into raw.meta_insights_ad (tenant_id, account_id, campaign_id, adset_id, "
            "ad_id, date_start, date_stop, spend, impressions, clicks, conversions, currency, "
            "conversion_events) values ('rec', :a, 'c1', 's1', :ad, :d, :d, :s, 50, 5, :c, "
            "'USD', :e)"
        ),
        {"a": account, "ad": ad, "d": day, "s": spend, "c": conversions, "e": events},
    )


def test_conversions_are_compared_only_under_one_definition_and_region_days_stand_in(
    database: Database,
) -> None:
    with engine(database).begin() as conn:
        add_tenant(conn, "rec", "Reconcile", "USD")
        for account in ("act_1", "act_2", "act_3"):
            conn.execute(
                sa.text(
                    "insert into raw.meta_ad_accounts (tenant_id, account_id, currency, "
                    "timezone_name) values ('rec', :a, 'USD', 'America/Jamaica')"
                ),
                {"a": account},
            )
        # act_1 yesterday: spend and counts agree, conversions 3 + 4 = 7 vs Meta's 9
        _level(conn, "act_1", YESTERDAY, "20.00", "9")
        _ad(conn, "act_1", "a1", YESTERDAY, "12.00", "3")
        _ad(conn, "act_1", "a2", YESTERDAY, "8.00", "4")
        # act_1 the day before: Meta listed no actions on the account row: not compared
        _level(conn, "act_1", BEFORE, "20.00", None)
        _ad(conn, "act_1", "a1", BEFORE, "12.00", "3")
        _ad(conn, "act_1", "a2", BEFORE, "8.00", "4")
        # act_2 yesterday: our rows were counted under two definitions: not compared
        _level(conn, "act_2", YESTERDAY, "20.00", "1")
        _ad(conn, "act_2", "b1", YESTERDAY, "12.00", "3")
        _ad(conn, "act_2", "b2", YESTERDAY, "8.00", "4", events="lead")
        # act_3 yesterday: loaded only by region (before the two reads): the region rows are
        # the totals (12.00 + 8.00, 2 x 50 impressions, 2 x 5 clicks); conversions not compared
        _level(conn, "act_3", YESTERDAY, "20.00", "5")
        for region, spend in (("Kingston", "12.00"), ("St. Andrew", "8.00")):
            conn.execute(
                sa.text(
                    "insert into raw.meta_insights (tenant_id, account_id, campaign_id, "
                    "adset_id, ad_id, date_start, date_stop, region, spend, impressions, "
                    "clicks, currency) values ('rec', 'act_3', 'c1', 's1', 'r1', :d, :d, :r, "
                    ":s, 50, 5, 'USD')"
                ),
                {"d": YESTERDAY, "r": region, "s": spend},
            )
    with engine(database).connect() as conn:
        compared = {(d.account_id, d.day): d for d in account_days(conn, 3, ["rec"])}
        violations = conn.execute(sa.text(violations_sql()), {"days": 3, "tenants": ["rec"]}).all()
    assert sorted(compared) == [
        ("act_1", BEFORE),
        ("act_1", YESTERDAY),
        ("act_2", YESTERDAY),
        ("act_3", YESTERDAY),
    ]
    mismatch = compared[("act_1", YESTERDAY)]
    assert (mismatch.our_conversions, mismatch.meta_conversions) == (Decimal(7), Decimal(9))
    assert mismatch.mismatches == ["conversions ours 7 vs Meta 9"]
    for key in (("act_1", BEFORE), ("act_2", YESTERDAY), ("act_3", YESTERDAY)):
        day = compared[key]
        assert (day.our_conversions, day.meta_conversions, day.mismatches) == (None, None, [])
    region_day = compared[("act_3", YESTERDAY)]
    assert (region_day.our_spend, region_day.our_impressions, region_day.our_clicks) == (
        Decimal("20.00"),
        100,
        10,
    )
    assert [(v.subject, v.detail) for v in violations] == [
        (f"act_1 {YESTERDAY}", "conversions ours 7 vs Meta 9")
    ]
