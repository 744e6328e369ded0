"""The contract's snapshot cache rules for ``GET /api/metrics/combined/``, on a cheap fixture.

- unfiltered: the stored snapshot, unchanged between calls (``cached: true``), and a newer
  stored snapshot at once;
- ``cache=false``: recomputed from the marts, stored, answered with the new timestamp;
- filtered: computed live, nothing stored, the stored snapshot's timestamp alongside.

The fixture is a migrated database with a hand-written fact table in place of dbt's
``marts.fct_ad_performance_daily`` (the columns the snapshot reads) and no Dagster run, so each
test costs a database clone instead of a dbt build: cheap enough for ``make mutation``. The dbt
side of the same rules is covered end to end by ``tests/api/test_metrics_combined.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.defs.snapshots.payload import store_snapshot
from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES
from tests.conftest import ModuleEnvironment, disposing
from tests.sql import one

URL = "/api/metrics/combined/"
TENANT = "cache-co"
STORED = {"marker": "the stored snapshot"}
GENERATED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

FACTS = """
create schema if not exists marts;
create table marts.fct_ad_performance_daily (
    tenant_id text, platform text, campaign_id text, campaign_name text, date_day date,
    parish text, spend numeric, impressions bigint, clicks bigint, conversions numeric,
    currency text, spend_reporting numeric, reporting_currency text, fx_rate numeric,
    fx_rate_date date, conversion_value numeric, conversion_value_reporting numeric,
    conversions_estimated boolean not null default false
)
"""
ROWS = [
    # tenant, day, parish, spend, impressions, clicks, conversions
    (TENANT, "2026-05-01", "Kingston", "10.00", 100, 5, "1"),
    (TENANT, "2026-05-02", "Saint Andrew", "20.00", 300, 15, "2"),
    ("other-co", "2026-05-01", "Kingston", "99.00", 9000, 900, "9"),
]


def write_facts(conn: sa.Connection) -> None:
    """The hand-written fact table with :data:`ROWS` (JMD, the reporting currency: rate 1)."""
    for statement in FACTS.split(";"):
        conn.execute(sa.text(statement))
    conn.execute(
        sa.text(
            "insert into marts.fct_ad_performance_daily values (:t, 'meta', 'c1', "
            "'Campaign', cast(:d as date), :p, cast(:s as numeric), :i, :c, "
            "cast(:v as numeric), 'JMD', cast(:s as numeric), 'JMD', 1, cast(:d as date), "
            "0, 0)"
        ),
        [{"t": t, "d": d, "p": p, "s": s, "i": i, "c": c, "v": v} for t, d, p, s, i, c, v in ROWS],
    )


@dataclass
class World:
    db: Database
    client: TestClient
    headers: dict[str, str]

    def get(self, **params: str) -> dict[str, Any]:
        response = self.client.get(URL, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].lower() == "application/json"
        body: dict[str, Any] = response.json()
        return body

    def stored(self) -> tuple[datetime, dict[str, Any]] | None:
        with engine(self.db).connect() as conn:
            row = conn.execute(
                sa.text(
                    "select snapshot_generated_at, payload from app.metrics_snapshots "
                    "where tenant_id = :t"
                ),
                {"t": TENANT},
            ).one_or_none()
        return (row.snapshot_generated_at, row.payload) if row else None

    def store(self, payload: dict[str, Any], run_id: str | None = None) -> datetime:
        with engine(self.db).begin() as conn:
            return store_snapshot(conn, TENANT, payload, {}, duration_ms=1, dagster_run_id=run_id)

    def execute(self, sql: str, **params: Any) -> None:
        with engine(self.db).begin() as conn:
            conn.execute(sa.text(sql), params)


@pytest.fixture(scope="module")
def module_world(module_environment: ModuleEnvironment) -> Iterator[World]:
    with module_environment("cache") as (db, _, _):
        settings = Settings()
        with engine(db).begin() as conn:
            add_tenant(conn, TENANT, "Cache Co", reporting_currency="JMD")
            add_tenant(conn, "other-co", "Other Co", reporting_currency="JMD")
            key = create_api_key(conn, tenant_id=TENANT)
            write_facts(conn)
        prepare_dagster_home(settings, db)
        app = create_app(db, settings.model_copy(update=NO_THROTTLES))
        with TestClient(app) as client:
            yield World(db, client, {"Authorization": f"Bearer {key}"})


@pytest.fixture
def world(module_world: World) -> World:
    """The module's world with the tenant's stored snapshot reset to ``STORED``."""
    module_world.execute("delete from app.metrics_snapshots")
    module_world.store(STORED)
    return module_world


def test_unfiltered_calls_serve_the_stored_snapshot_unchanged(world: World) -> None:
    stored = world.stored()
    assert stored is not None
    first, second = world.get(), world.get()
    assert first == second
    assert first["payload"] == STORED  # the stored payload, not a computed one
    assert (first["tenant_id"], first["source"], first["cached"]) == (TENANT, "warehouse", True)
    assert first["snapshot_generated_at"] == stored[0].isoformat()
    assert first["materialization"] is None
    assert world.stored() == stored  # nothing was written
    assert world.get(cache="true") == first


def test_a_newer_stored_snapshot_is_served_at_once(world: World) -> None:
    world.get()  # the API now holds the first one
    newer = world.store({"marker": "newer"})
    body = world.get()
    assert body["payload"] == {"marker": "newer"}
    assert body["snapshot_generated_at"] == newer.isoformat()
    world.execute("delete from app.metrics_snapshots where tenant_id = :t", t=TENANT)
    gone = world.get()
    assert (gone["payload"], gone["snapshot_generated_at"], gone["snapshot_age_minutes"]) == (
        {},
        None,
        None,
    )
    assert gone["cached"] is True


def test_the_snapshot_age_is_in_minutes_with_one_decimal(world: World) -> None:
    world.execute("update app.metrics_snapshots set snapshot_generated_at = :at", at=GENERATED)
    with time_machine.travel(GENERATED + timedelta(minutes=30, seconds=20), tick=False):
        body = world.get()
    assert body["snapshot_generated_at"] == "2026-05-01T12:00:00+00:00"
    assert body["snapshot_age_minutes"] == 30.3


def test_a_snapshot_from_a_run_whose_event_is_not_recorded_has_no_materialization(
    world: World,
) -> None:
    world.store({"marker": "from a run"}, run_id="0f6a1c2e-run-not-in-the-instance")
    body = world.get()
    assert body["payload"] == {"marker": "from a run"} and body["materialization"] is None


def test_cache_false_recomputes_stores_and_answers_the_new_snapshot(world: World) -> None:
    before = world.stored()
    assert before is not None
    body = world.get(cache="false")
    after = world.stored()
    assert after is not None and after[0] > before[0]
    assert body["cached"] is False and body["materialization"] is None
    assert body["snapshot_generated_at"] == after[0].isoformat()
    assert 0 <= body["snapshot_age_minutes"] <= 0.1
    payload = body["payload"]
    assert payload == after[1]  # what it answered is what it stored
    assert payload["tenant_id"] == TENANT
    assert payload["date_range"] == {"start": "2026-05-01", "end": "2026-05-02"}
    total = payload["total_reporting"]
    assert (total["currency"], total["spend"], total["impressions"], total["clicks"]) == (
        "JMD",
        "30.00",
        400,
        20,
    )
    made = one(
        world.db,
        "select duration_ms, dagster_run_id, row_totals from app.metrics_snapshots "
        "where tenant_id = :t",
        t=TENANT,
    )
    assert (made.duration_ms, made.dagster_run_id) == (0, None)  # no Dagster run made it
    assert made.row_totals == {"fct_ad_performance_daily": 2}  # the tenant's two fact rows
    again = world.get()  # and the next unfiltered call serves it from the store
    assert (again["payload"], again["cached"]) == (payload, True)
    assert again["snapshot_generated_at"] == body["snapshot_generated_at"]


@pytest.mark.parametrize(
    ("params", "impressions", "spend"),
    [
        ({"parish": "kingston"}, 100, "10.00"),
        ({"start_date": "2026-05-02"}, 300, "20.00"),
        ({"end_date": "2026-05-01"}, 100, "10.00"),
        (
            {"start_date": "2026-05-01", "end_date": "2026-05-02", "parish": "Saint Andrew"},
            300,
            "20.00",
        ),
    ],
)
def test_filtered_calls_are_live_and_store_nothing(
    world: World, params: dict[str, str], impressions: int, spend: str
) -> None:
    stored = world.stored()
    assert stored is not None
    body = world.get(**params)
    assert body["cached"] is False and body["materialization"] is None
    total = body["payload"]["total_reporting"]
    assert (total["impressions"], total["spend"]) == (impressions, spend)
    # the stored snapshot's timestamp, which a live answer never changes
    assert body["snapshot_generated_at"] == stored[0].isoformat()
    assert world.stored() == stored
    # cache=false does not make a filtered call store anything either
    assert world.get(cache="false", **params)["payload"]["total_reporting"] == total
    assert world.stored() == stored


def test_a_filtered_call_without_a_stored_snapshot_has_no_timestamp(world: World) -> None:
    world.execute("delete from app.metrics_snapshots")
    body = world.get(parish="Kingston")
    assert (body["snapshot_generated_at"], body["snapshot_age_minutes"]) == (None, None)
    assert body["payload"]["total_reporting"]["clicks"] == 5
    assert world.stored() is None


def test_another_reporting_currency_is_converted_live(world: World) -> None:
    body = world.get(currency="USD")
    assert body["cached"] is False
    assert body["payload"]["reporting_currency"] == "USD"
    assert body["payload"]["filters"]["currency"] == "USD"
    assert world.stored() is not None and world.stored()[1] == STORED  # type: ignore[index]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"currency": "usd"}, "currency must be three capital letters"),
        ({"currency": ""}, "currency must be three capital letters"),
        ({"currency": "XYZ"}, "currency: 'XYZ' is not an ISO 4217 code such as JMD or USD"),
        ({"source": "spreadsheet"}, "source must be one of: warehouse"),
        ({"cache": "maybe"}, "cache must be true or false"),
        ({"parish": "x" * 65}, "parish is too long (at most 64 characters)"),
    ],
)
def test_bad_parameters_are_400s(world: World, params: dict[str, str], detail: str) -> None:
    response = world.client.get(URL, params=params, headers=world.headers)
    assert response.status_code == 400
    assert response.json()["detail"] == detail


def test_a_parish_of_64_characters_is_a_filter(world: World) -> None:
    body = world.get(parish="x" * 64)
    assert body["cached"] is False
    assert body["payload"]["filters"]["parish"] == "x" * 64
    assert body["payload"]["total_reporting"]["clicks"] == 0


def test_a_missing_exchange_rate_is_a_409(world: World) -> None:
    stored = world.stored()
    # the test database holds rates for JMD, EUR, GBP and CAD only
    response = world.client.get(URL, params={"currency": "TTD"}, headers=world.headers)
    assert response.status_code == 409
    assert response.json()["type"].endswith("exchange-rate-missing")
    assert response.json()["detail"].startswith(
        "no exchange rate into TTD for days with spend: 2026-05-01 (JMD), 2026-05-02 (JMD)"
    )
    assert world.stored() == stored  # nothing was touched


def test_a_recompute_without_the_exchange_rates_is_a_409_and_keeps_the_stored_one(
    world: World,
) -> None:
    stored = world.stored()
    world.execute("update app.tenants set reporting_currency = 'TTD' where id = :t", t=TENANT)
    try:
        response = world.client.get(URL, params={"cache": "false"}, headers=world.headers)
    finally:
        world.execute("update app.tenants set reporting_currency = 'JMD' where id = :t", t=TENANT)
    assert response.status_code == 409
    problem = response.json()
    assert (problem["status"], problem["type"].rsplit("/", 1)[-1]) == (
        409,
        "exchange-rate-missing",
    )
    assert problem["detail"].startswith(
        "no exchange rate into TTD for days with spend: 2026-05-01 (JMD), 2026-05-02 (JMD)"
    )
    assert world.stored() == stored  # the stored snapshot is kept


def test_a_snapshot_from_a_recorded_run_carries_its_materialization(world: World) -> None:
    from dagster import DagsterInstance, StaticPartitionsDefinition, asset, materialize

    @asset(name="metrics_snapshot", partitions_def=StaticPartitionsDefinition([TENANT, "other-co"]))
    def metrics_snapshot() -> None:
        """Stands for the snapshot job's run: the test stores the row itself."""

    with disposing(DagsterInstance.get()) as instance:
        started = datetime.now(UTC)
        run = materialize([metrics_snapshot], instance=instance, partition_key=TENANT)
        # a later run for another tenant: the tenant's own partition decides
        other = materialize([metrics_snapshot], instance=instance, partition_key="other-co")
        assert run.success and other.success
    world.store({"marker": "from the run"}, run_id=run.run_id)
    body = world.get()
    found = body["materialization"]
    assert found is not None and found["run_id"] == run.run_id
    assert started <= datetime.fromisoformat(found["materialized_at"]) <= datetime.now(UTC)
    assert world.get()["materialization"] == found  # kept with the cached entry
    world.store({"marker": "recomputed"})  # cache=false stores no run id
    assert world.get()["materialization"] is None
