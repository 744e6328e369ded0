"""The listing service (services/listings.py) over real raw tables: keyset pages that visit
every row once, in order, only the tenant's; filters; one shape over two insight tables."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from adinsights_pipelines.defs.google.rows import GA4_COLUMNS
from adinsights_pipelines.services import listings
from adinsights_pipelines.services.listings import (
    GA4_DAILY,
    META_CAMPAIGNS,
    META_INSIGHTS,
    META_REGION_INSIGHTS,
    listing,
    page,
    raw_table,
)
from adinsights_pipelines.warehouse.database import Database, engine

DAY = date(2026, 5, 1)


@pytest.fixture
def ga4_rows(database: Database) -> Database:
    """Two tenants with the same property: 3 days x 2 regions x 2 channels each."""
    rows = [
        {"t": t, "day": DAY + timedelta(days=d), "region": region, "channel": channel}
        for t in ("acme", "other")
        for d in range(3)
        for region in ("Kingston", "Saint Andrew")
        for channel in ("Direct", "Organic Search")
    ]
    with engine(database).begin() as conn:
        conn.execute(
            sa.text(
                "insert into raw.ga4_daily (tenant_id, property_id, date, region, "
                "session_default_channel_group, sessions, key_events) "
                "values (:t, '510000001', :day, :region, :channel, 7, 1.5)"
            ),
            rows,
        )
    return database


def test_pages_visit_every_row_once_in_keyset_order(ga4_rows: Database) -> None:
    seen, after = [], None
    with engine(ga4_rows).connect() as conn:
        while True:
            found = page(conn, GA4_DAILY, "acme", limit=5, after=after)
            assert len(found.rows) <= 5
            seen += found.rows
            if found.last_key is None:
                break
            after = found.last_key
    keys = [tuple(r[k] for k in GA4_DAILY.order) for r in seen]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == 12
    first = seen[0]
    assert list(first) == [c for c in GA4_COLUMNS if c != "tenant_id"]  # the loader's columns
    assert (first["sessions"], first["key_events"]) == (7, Decimal("1.5000"))


def test_filters_narrow_the_tenants_rows(ga4_rows: Database) -> None:
    with engine(ga4_rows).connect() as conn:
        found = page(
            conn,
            GA4_DAILY,
            "acme",
            limit=50,
            equal={"region": "Kingston"},
            one_of={"session_default_channel_group": ["Direct"]},
            days=(DAY + timedelta(days=1), DAY + timedelta(days=2)),
        )
        unfiltered = page(conn, GA4_DAILY, "acme", limit=50, one_of={"region": []})
    assert [(r["date"], r["region"]) for r in found.rows] == [
        (DAY + timedelta(days=1), "Kingston"),
        (DAY + timedelta(days=2), "Kingston"),
    ]
    assert found.last_key is None
    assert len(unfiltered.rows) == 12  # an empty value list does not filter


def test_both_insight_tables_answer_one_shape() -> None:
    names = [c.key for c in META_INSIGHTS.fields]
    assert names == [c.key for c in META_REGION_INSIGHTS.fields] == list(listings.INSIGHT_FIELDS)
    assert META_CAMPAIGNS.order == ("campaign_id",) and META_INSIGHTS.date_keys == {"date_start"}


def test_a_column_the_loader_does_not_declare_fails_at_definition() -> None:
    table = raw_table("raw.ga4_daily", ("tenant_id", "date"))
    with pytest.raises(KeyError):
        listing(table, ("date", "sessions"), ("date",))
    with pytest.raises(KeyError):
        listing(table, ("date",), ("date", "region"))
