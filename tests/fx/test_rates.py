"""Fetching, importing and carrying forward rates, against the simulator and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance

from adinsights_pipelines.defs.fx import store
from adinsights_pipelines.defs.fx.providers import (
    OpenExchangeRates,
    ProviderError,
    RatesUnavailable,
    read_rates_csv,
)
from adinsights_pipelines.defs.fx.refresh import FxPlan, import_rates, refresh_rates
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.simulators.fx_rates import (
    SIM_APP_ID,
    FxRatesSimulator,
    FxSimState,
    environment,
    rate_for,
)
from adinsights_pipelines.warehouse.database import Database, engine
from tests.cli import adinsights
from tests.sql import query

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FRI, SAT, SUN, MON = date(2026, 11, 13), date(2026, 11, 14), date(2026, 11, 15), date(2026, 11, 16)


@pytest.fixture
def sim() -> Iterator[FxRatesSimulator]:
    with FxRatesSimulator(FxSimState(seed=3, clock=lambda: NOW)) as running:
        yield running


@pytest.fixture
def db(database: Database) -> Database:
    with engine(database).begin() as conn:
        conn.execute(sa.text("delete from raw.fx_rates_daily"))  # the suite's seeded history
    return database


def client(sim: FxRatesSimulator, app_id: str = SIM_APP_ID) -> OpenExchangeRates:
    return OpenExchangeRates(sim.url, app_id, wait_max_s=0.01)


def rows(db: Database) -> dict[date, tuple[Decimal, str, date | None, datetime]]:
    found = query(
        db,
        "select rate_date, rate, source, carried_from, _loaded_at from raw.fx_rates_daily "
        "where quote = 'JMD' order by rate_date",
    )
    return {r.rate_date: (r.rate, r.source, r.carried_from, r._loaded_at) for r in found}


def plan(start: date, end: date, reread: int = 0, carry: int = 5) -> FxPlan:
    return FxPlan(["JMD"], start, end, reread, carry)


def test_the_client_retries_transient_failures_and_names_refusals_without_the_app_id(
    sim: FxRatesSimulator,
) -> None:
    sim.state.inject("2026-11-13", count=2, http_status=503)
    assert client(sim).fetch(FRI, ["JMD"]).rates == {"JMD": rate_for(3, "JMD", FRI)}
    with pytest.raises(ProviderError) as refused:
        client(sim, "wrong-app-id-123").fetch(FRI, ["JMD"])
    assert "HTTP 401 invalid_app_id" in str(refused.value)
    assert "wrong-app-id-123" not in str(refused.value)
    with pytest.raises(RatesUnavailable):
        client(sim).fetch(date(2026, 11, 21), ["JMD"])  # tomorrow at the simulator


def test_weekends_take_fridays_rate_marked_carried_and_long_gaps_stay_missing(
    sim: FxRatesSimulator, db: Database
) -> None:
    sim.state.configure(
        skip_weekends=True, missing_days=["2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06"]
    )
    report = refresh_rates(engine(db), client(sim), plan(date(2026, 10, 30), MON, carry=3))
    assert SAT in report.unavailable and SUN in report.unavailable
    stored = rows(db)
    assert stored[SAT][:3] == (rate_for(3, "JMD", FRI), "openexchangerates", FRI)
    assert stored[SUN][:3] == (rate_for(3, "JMD", FRI), "openexchangerates", FRI)
    assert stored[MON][2] is None
    # Sat 31 Oct, Sun 1 Nov: Friday the 30th's rate. Tue 3 .. Sun 8 Nov unpublished: three
    # days take Monday the 2nd's rate (the carry limit here), then the days stay missing.
    assert [stored[date(2026, 10, 31)][2], stored[date(2026, 11, 1)][2]] == [date(2026, 10, 30)] * 2
    assert stored[date(2026, 11, 2)][2] is None
    assert [stored[date(2026, 11, d)][2] for d in (3, 4, 5)] == [date(2026, 11, 2)] * 3
    assert not {date(2026, 11, d) for d in (6, 7, 8)} & set(stored)
    with engine(db).connect() as conn:
        seen = store.overview(conn, ["JMD"], date(2026, 10, 30), MON)
    assert seen.missing_days == [date(2026, 11, d) for d in (6, 7, 8)]
    assert seen.latest_published == MON


def test_a_provider_correction_changes_only_that_day_and_the_days_carried_from_it(
    sim: FxRatesSimulator, db: Database
) -> None:
    sim.state.configure(skip_weekends=True)
    refresh_rates(engine(db), client(sim), plan(date(2026, 11, 12), date(2026, 11, 17)))
    before = rows(db)
    sim.state.configure(skip_weekends=True, corrections={"2026-11-13": {"JMD": "158.123456"}})
    report = refresh_rates(
        engine(db), client(sim), plan(date(2026, 11, 12), date(2026, 11, 17), reread=5)
    )
    after = rows(db)
    moved = {day for day in after if after[day][3] != before[day][3]}
    assert moved == {FRI, SAT, SUN}
    assert after[SAT][0] == Decimal("158.1234560000")
    assert report.counts.written == 1  # Friday; the others came back unchanged


def test_an_import_wins_over_the_provider_and_a_bad_file_writes_nothing(
    sim: FxRatesSimulator, db: Database, tmp_path: Path
) -> None:
    good = tmp_path / "boj.csv"
    good.write_text("date,base,quote,rate\n2026-11-13,USD,JMD,157.25\n")
    import_rates(engine(db), read_rates_csv(good), carry_through=MON, max_carry_days=5)
    refresh_rates(engine(db), client(sim), plan(FRI, MON, reread=5))
    stored = rows(db)
    assert stored[FRI][:3] == (Decimal("157.2500000000"), "csv:boj.csv", None)
    assert stored[SAT][1] == "openexchangerates"  # the provider publishes weekends
    bad = tmp_path / "bad.csv"
    bad.write_text("date,base,quote,rate\n2026-11-16,USD,JMD,157\n2026-11-17,EUR,JMD,1\n")
    with pytest.raises(AdinsightsError, match=r"bad\.csv line 3: base must be USD"):
        read_rates_csv(bad)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("date,base,quote,rate\n2026-11-16,USD,XYZ,1\n")
    with pytest.raises(AdinsightsError, match=r"line 2: 'XYZ' is not an ISO 4217 currency"):
        read_rates_csv(unknown)
    assert rows(db) == stored


def test_refresh_runs_the_asset_through_dagster_and_a_refusal_fails_in_one_line(
    instance: DagsterInstance,
    product_env: Database,
    sim: FxRatesSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with engine(product_env).begin() as conn:
        conn.execute(sa.text("delete from raw.fx_rates_daily"))
    for name, value in environment(sim.url).items():
        monkeypatch.setenv(name, value)
    done = adinsights("fx-rates", "refresh", "--since", "2026-11-10", "--until", "2026-11-16")
    assert done.returncode == 0, done.stderr
    assert "rates 2026-11-10 .. 2026-11-16 for " in done.stdout
    assert "7 days fetched" in done.stdout
    assert instance.get_latest_materialization_event(AssetKey("fx_rates_daily")) is not None
    assert rows(product_env)[FRI][:3] == (rate_for(3, "JMD", FRI), "openexchangerates", None)
    shown = adinsights(
        "fx-rates", "show", "--since", "2026-11-13", "--until", "2026-11-14", "--quote", "JMD"
    )
    assert shown.returncode == 0, shown.stderr
    assert f"2026-11-13  USD   JMD    {rate_for(3, 'JMD', FRI):>16f}" in shown.stdout
    monkeypatch.setenv("ADINSIGHTS_FX_APP_ID", "revoked-app-id-42")
    refused = adinsights("fx-rates", "refresh", "--since", "2026-11-10", "--until", "2026-11-16")
    assert refused.returncode == 2
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("adinsights: error: fx_rates_refresh failed (run ")
    assert "HTTP 401 invalid_app_id" in last and "revoked-app-id-42" not in refused.stderr


def test_reporting_currency_is_validated_and_its_change_audited(product_env: Database) -> None:
    assert adinsights("tenants", "add", "island-grill", "--name", "Island Grill").returncode == 0
    changed = adinsights("tenants", "update", "island-grill", "--reporting-currency", "usd")
    assert changed.returncode == 0, changed.stderr
    assert "tenant island-grill: reporting_currency JMD -> USD" in changed.stdout
    refused = adinsights("tenants", "update", "island-grill", "--reporting-currency", "XYZ")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "adinsights: error: 'XYZ' is not an ISO 4217 currency code (e.g. JMD, USD, EUR)"
    )
    with engine(product_env).connect() as conn:
        currency = conn.execute(
            sa.text("select reporting_currency from app.tenants where id = 'island-grill'")
        ).scalar_one()
        audit = conn.execute(
            sa.text(
                "select metadata from app.audit_log where tenant_id = 'island-grill' "
                "and action = 'tenant_updated'"
            )
        ).scalar_one()
    assert currency == "USD"
    assert audit == {"changes": {"reporting_currency": {"from": "JMD", "to": "USD"}}}
