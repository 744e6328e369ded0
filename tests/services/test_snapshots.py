"""Snapshot reads (services/snapshots.py) over a hand-written fact table: the stored snapshot
and its timestamp, recompute-and-store, a live answer that stores nothing; money as decimal
strings with the currency."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from adinsights_pipelines.defs.snapshots.payload import SnapshotFilters
from adinsights_pipelines.services.snapshots import (
    live_snapshot,
    recompute_snapshot,
    stored_generated_at,
    stored_snapshot,
)
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from tests.api.test_snapshot_cache_policy import TENANT, write_facts


@pytest.fixture
def conn(database: Database) -> Iterator[sa.Connection]:
    with engine(database).begin() as conn:
        add_tenant(conn, TENANT, "Cache Co", reporting_currency="JMD")
        write_facts(conn)
    with engine(database).connect() as conn:
        yield conn


def test_no_snapshot_reads_as_none(conn: sa.Connection) -> None:
    assert (stored_generated_at(conn, TENANT), stored_snapshot(conn, TENANT)) == (None, None)


def test_recompute_stores_what_it_answers_with_money_as_decimal_strings(
    conn: sa.Connection,
) -> None:
    payload, generated_at = recompute_snapshot(conn, TENANT)
    stored = stored_snapshot(conn, TENANT)
    assert stored is not None and stored_generated_at(conn, TENANT) == generated_at
    assert (stored.payload, stored.snapshot_generated_at, stored.dagster_run_id) == (
        payload,
        generated_at,
        None,
    )
    [total] = payload["totals"]
    assert (total["currency"], total["spend"], total["spend_reporting"]) == (
        "JMD",
        "30.00",
        "30.00",
    )
    assert (total["impressions"], total["conversions"], total["ctr"]) == (400, 3.0, 0.05)
    assert [(p["parish"], p["spend"]) for p in payload["by_parish"]] == [
        ("Saint Andrew", "20.00"),
        ("Kingston", "10.00"),
    ]


def test_a_live_answer_stores_nothing_and_carries_the_stored_timestamp(
    conn: sa.Connection,
) -> None:
    _, generated_at = recompute_snapshot(conn, TENANT)
    before = stored_snapshot(conn, TENANT)
    payload, timestamp = live_snapshot(conn, TENANT, SnapshotFilters(parish="kingston"))
    assert timestamp == generated_at
    assert payload["total_reporting"]["spend"] == "10.00"
    assert stored_snapshot(conn, TENANT) == before
