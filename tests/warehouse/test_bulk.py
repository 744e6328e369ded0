"""copy_upsert against a real, migrated PostgreSQL: COPY into staging, one upsert by key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from adinsights_pipelines.warehouse.bulk import copy_upsert
from adinsights_pipelines.warehouse.database import Database, engine
from tests.sql import query

TABLE = "raw.meta_insights"
KEY = ("tenant_id", "ad_id", "date_start", "region")
DAY = date(2025, 6, 1)


def insight(ad_id: str, *, spend: Any = "12.34", region: str = "Kingston Parish", **kw: Any):
    row = {
        "tenant_id": "acme",
        "account_id": "act_1",
        "campaign_id": "c1",
        "campaign_name": "Campaign",
        "adset_id": "s1",
        "adset_name": "Ad set",
        "ad_id": ad_id,
        "ad_name": f"Ad {ad_id}",
        "date_start": DAY,
        "date_stop": DAY,
        "region": region,
        "spend": spend,
        "impressions": 100,
        "clicks": 7,
        "reach": 80,
        "conversions": "2",
        "actions": [{"action_type": "lead", "value": "2"}],
        "currency": "JMD",
    }
    row.update(kw)
    return row


COLUMNS = list(insight("x"))


def load(db: Database, rows: list[dict[str, Any]]) -> int:
    with engine(db).begin() as conn:
        return copy_upsert(conn, TABLE, COLUMNS, KEY, rows, json_columns=("actions",))


def test_inserts_rows_with_exact_numerics_and_json(database: Database) -> None:
    rows = [insight("a1"), insight("a2", spend="0.0001"), insight("a3", spend=Decimal("99.5"))]
    assert load(database, rows) == 3
    got = query(
        database,
        "select ad_id, spend, conversions, date_start, actions, jsonb_typeof(actions) "
        "from raw.meta_insights order by ad_id",
    )
    assert [(r.ad_id, r.spend) for r in got] == [
        ("a1", Decimal("12.3400")),
        ("a2", Decimal("0.0001")),
        ("a3", Decimal("99.5000")),
    ]
    assert all(r.conversions == Decimal(2) and r.date_start == DAY for r in got)
    assert got[0].actions == [{"action_type": "lead", "value": "2"}]
    assert got[0].jsonb_typeof == "array"


def test_updates_by_natural_key_and_touches_loaded_at(database: Database) -> None:
    load(database, [insight("a1"), insight("a2")])
    before = dict(query(database, "select ad_id, _loaded_at from raw.meta_insights"))

    assert load(database, [insight("a1", spend="50.00", clicks=9), insight("a3")]) == 2

    got = {
        r.ad_id: r
        for r in query(database, "select ad_id, spend, clicks, _loaded_at from raw.meta_insights")
    }
    assert sorted(got) == ["a1", "a2", "a3"]
    assert (got["a1"].spend, got["a1"].clicks) == (Decimal("50.0000"), 9)
    assert got["a1"]._loaded_at > before["a1"]
    assert got["a2"]._loaded_at == before["a2"]  # not in the second batch: untouched


def test_same_key_twice_in_a_batch_last_wins(database: Database) -> None:
    rows = [
        insight("a1", spend="1.00"),
        insight("a2"),
        insight("a1", spend="3.00"),
        insight("a1", spend="2.00", region="Saint Ann Parish"),  # another key
    ]
    assert load(database, rows) == 3
    got = query(database, "select ad_id, region, spend from raw.meta_insights order by 1, 2")
    assert [tuple(r) for r in got] == [
        ("a1", "Kingston Parish", Decimal("3.0000")),
        ("a1", "Saint Ann Parish", Decimal("2.0000")),
        ("a2", "Kingston Parish", Decimal("12.3400")),
    ]


def test_a_bad_row_rolls_back_the_whole_batch(database: Database) -> None:
    load(database, [insight("kept", spend="5.00")])
    bad_numeric = [insight("b1"), insight("b2", spend="not a number"), insight("kept", spend="9")]
    with pytest.raises(sa.exc.DataError):
        load(database, bad_numeric)
    missing_not_null = [insight("c1"), insight("c2", campaign_id=None)]
    with pytest.raises(sa.exc.IntegrityError):
        load(database, missing_not_null)

    got = query(database, "select ad_id, spend from raw.meta_insights")
    assert [tuple(r) for r in got] == [("kept", Decimal("5.0000"))]


def test_runs_in_the_callers_transaction(database: Database) -> None:
    eng = engine(database)
    with eng.connect() as conn:
        assert copy_upsert(conn, TABLE, COLUMNS, KEY, [insight("a1")], ("actions",)) == 1
        # Twice in one transaction: each call stages in its own temporary table.
        assert copy_upsert(conn, TABLE, COLUMNS, KEY, [insight("a2")], ("actions",)) == 1
        conn.rollback()
    assert query(database, "select count(*) from raw.meta_insights")[0][0] == 0

    with eng.connect() as conn:
        copy_upsert(conn, TABLE, COLUMNS, KEY, [insight("a1")], ("actions",))
        conn.commit()
    assert query(database, "select count(*) from raw.meta_insights")[0][0] == 1


def test_sequences_and_other_tables(database: Database) -> None:
    columns = ("tenant_id", "account_id", "name", "currency")
    rows = [("acme", "act_1", "One", "JMD"), ("acme", "act_2", "Two", "USD")]
    with engine(database).begin() as conn:
        assert copy_upsert(conn, "raw.meta_ad_accounts", columns, columns[:2], rows) == 2
        assert copy_upsert(conn, "raw.meta_ad_accounts", columns, columns[:2], []) == 0
        copy_upsert(
            conn, "raw.meta_ad_accounts", columns, columns[:2], [("acme", "act_1", "Uno", "JMD")]
        )
    got = query(database, "select account_id, name from raw.meta_ad_accounts order by 1")
    assert [tuple(r) for r in got] == [("act_1", "Uno"), ("act_2", "Two")]


@pytest.mark.parametrize(
    ("table", "columns", "key"),
    [
        ("raw.meta_insights; drop table app.tenants", ["ad_id"], ["ad_id"]),
        (TABLE, ["ad_id", "spend = 0 --"], ["ad_id"]),
        (TABLE, ["ad_id", "spend"], ["region"]),
        (TABLE, ["ad_id", "spend"], []),
    ],
)
def test_rejects_bad_identifiers(database: Database, table: str, columns, key) -> None:
    with engine(database).begin() as conn, pytest.raises(ValueError):
        copy_upsert(conn, table, columns, key, [dict.fromkeys(columns, "x")])
