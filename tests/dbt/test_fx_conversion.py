"""One reporting currency per tenant, at daily exchange rates: raw -> dbt -> snapshot -> API.

A tenant with a JMD Google Ads account (via Airbyte) and a USD Meta account, Thursday
2026-11-12 to Monday 2026-11-16. Rates are the Bank of Jamaica's kind: imported from CSV with
the real ``adinsights fx-rates import``, published Friday and Monday only, so the weekend takes
Friday's rate (carried forward) and Thursday has none at first. Every expected figure below is
worked out by hand from the rows and rates written here.

Stages (module fixtures, since dbt runs are slow):

1. ``first_build``: Friday's and Monday's rates -> dbt -> the snapshot is refused, naming
   Thursday (spend, no rate);
2. ``thursday_imported``: Thursday's rate imported, dbt's 15-minute run re-converts that day only,
   the snapshot builds with one JMD total.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.cli import adinsights
from tests.dbt.conftest import ModuleEnv
from tests.dbt.test_dbt_pipeline import run_job, run_requested, schedule_tick
from tests.sql import one, query

TENANT = "island-grill"
THU, FRI, SAT, SUN, MON = (date(2026, 11, d) for d in range(12, 17))
DAYS = (THU, FRI, SAT, SUN, MON)
#: Google Ads (JMD) and Meta (USD) spend per day, one row each.
GOOGLE_JMD = dict(
    zip(DAYS, ("10000.00", "12500.50", "8000.25", "7500.00", "11000.75"), strict=True)
)
META_USD = dict(zip(DAYS, ("40.00", "50.25", "30.10", "20.05", "60.40"), strict=True))


def seed_raw(conn: sa.Connection) -> None:
    loaded = "now() - interval '2 hours'"
    conn.execute(
        sa.text(
            f"insert into raw.meta_ad_accounts (tenant_id, account_id, name, currency, "
            f"account_status, _loaded_at) values (:t, 'act_9', 'Grill USD', 'USD', 1, {loaded})"
        ),
        {"t": TENANT},
    )
    conn.execute(
        sa.text(
            f"""
            insert into raw.meta_insights (tenant_id, account_id, campaign_id, campaign_name,
                adset_id, ad_id, date_start, date_stop, region, spend, impressions, clicks,
                reach, conversions, currency, _loaded_at)
            values (:t, 'act_9', 'm1', 'Grill Meta', 's1', 'a1', :d, :d, 'Kingston Parish',
                    :spend, 1000, 10, 500, 1, 'USD', {loaded})
            """
        ),
        [{"t": TENANT, "d": day, "spend": Decimal(usd)} for day, usd in META_USD.items()],
    )
    conn.execute(
        sa.text(
            "insert into app.airbyte_connections (connection_id, tenant_id, provider, "
            "source_account_id) values ('conn-grill', :t, 'google_ads', '111-222-3333')"
        ),
        {"t": TENANT},
    )
    conn.execute(
        sa.text(
            """
            insert into raw.google_ads_campaign_performance (_airbyte_raw_id,
                _airbyte_extracted_at, customer_id, customer_currency_code, campaign_id,
                campaign_name, campaign_status, segments_date, segments_geo_target_region,
                metrics_cost_micros, metrics_impressions, metrics_clicks, metrics_conversions)
            values (gen_random_uuid()::text, now() - interval '2 hours', '1112223333', 'JMD',
                    'g1', 'Grill Search', 'ENABLED', :d, null, :micros, 500, 20, 1)
            """
        ),
        [{"d": day, "micros": int(Decimal(jmd) * 1_000_000)} for day, jmd in GOOGLE_JMD.items()],
    )


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("date,base,quote,rate\n" + "".join(f"{d},USD,JMD,{r}\n" for d, r in rows))
    return path


def fact_rows(db: Database) -> dict[tuple[str, date], Any]:
    rows = query(
        db,
        "select platform, date_day, spend, currency, spend_reporting, reporting_currency, "
        "fx_rate, fx_rate_date, xmin::text as version "
        "from marts.fct_ad_performance_daily where tenant_id = :t",
        t=TENANT,
    )
    return {(r.platform, r.date_day): r for r in rows}


def snapshot_generated_at(db: Database) -> datetime:
    """When the tenant's stored snapshot was made (it has exactly one)."""
    sql = "select snapshot_generated_at from app.metrics_snapshots where tenant_id = :t"
    return one(db, sql, t=TENANT).snapshot_generated_at


def rebuild_dbt(instance: Any) -> Any:
    """What the 15-minute tick runs (incremental), after a first full build."""
    return run_requested(instance, schedule_tick(instance))


@pytest.fixture(scope="module")
def env(module_env: ModuleEnv) -> Iterator[dict[str, Any]]:
    with engine(module_env.db).begin() as conn:
        # Only this module's rates: the suite's seeded history would cover every day.
        conn.execute(sa.text("delete from raw.fx_rates_daily"))
        add_tenant(conn, TENANT, "Island Grill")  # reporting currency: JMD by default
        seed_raw(conn)
        key = create_api_key(conn, tenant_id=TENANT)
    module_env.instance.add_dynamic_partitions(TENANT_PARTITIONS, [TENANT])
    with TestClient(create_app(module_env.db)) as client:
        yield {"env": module_env, "client": client, "key": key}


@pytest.fixture(scope="module")
def first_build(env: dict[str, Any]) -> dict[str, Any]:
    module_env = env["env"]
    imported = adinsights(
        "fx-rates",
        "import",
        str(
            write_csv(
                module_env.workdir / "boj-rates.csv",
                [("2026-11-13", "157.2500"), ("2026-11-16", "157.8000")],
            )
        ),
    )
    dbt = run_job("dbt_build", module_env.instance)
    snapshot = run_job("metrics_snapshots", module_env.instance, TENANT)
    contracts = adinsights("check-contracts", "--days", "400", "--tenant-id", TENANT)
    rates = query(
        module_env.db,
        "select rate_date, rate, source, carried_from from raw.fx_rates_daily "
        "where rate_date between :a and :b order by rate_date",
        a=THU,
        b=MON,
    )
    fact = fact_rows(module_env.db)
    return {
        "imported": imported,
        "dbt": dbt,
        "snapshot": snapshot,
        "contracts": contracts,
        "rates": rates,
        "fact": fact,
    }


@pytest.fixture(scope="module")
def thursday_imported(first_build: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    module_env, client, key = env["env"], env["client"], env["key"]
    imported = adinsights(
        "fx-rates",
        "import",
        str(write_csv(module_env.workdir / "boj-thursday.csv", [("2026-11-12", "156.9000")])),
        "--source",
        "boj",
    )
    dbt = rebuild_dbt(module_env.instance)
    snapshot = run_job("metrics_snapshots", module_env.instance, TENANT)
    fact = fact_rows(module_env.db)
    stored_at = snapshot_generated_at(module_env.db)
    headers = {"Authorization": f"Bearer {key}"}
    cached = client.get("/api/metrics/combined/", headers=headers)
    in_usd = client.get("/api/metrics/combined/?currency=USD", headers=headers)
    not_a_currency = client.get("/api/metrics/combined/?currency=XYZ", headers=headers)
    no_eur_rates = client.get("/api/metrics/combined/?currency=EUR", headers=headers)
    cached_after = client.get("/api/metrics/combined/", headers=headers)
    stored_after = snapshot_generated_at(module_env.db)
    return {
        "imported": imported,
        "dbt": dbt,
        "snapshot": snapshot,
        "fact": fact,
        "cached": cached,
        "in_usd": in_usd,
        "not_a_currency": not_a_currency,
        "no_eur_rates": no_eur_rates,
        "cached_after": cached_after,
        "stored_at": stored_at,
        "stored_after": stored_after,
    }


def test_import_stores_published_days_and_carries_friday_over_the_weekend(
    first_build: dict[str, Any],
) -> None:
    assert first_build["imported"].returncode == 0, first_build["imported"].stderr
    assert "imported 2 days (2026-11-13 .. 2026-11-16) of JMD" in first_build["imported"].stdout
    rates = [(r.rate_date, r.rate, r.source, r.carried_from) for r in first_build["rates"]]
    assert rates == [
        (FRI, Decimal("157.2500000000"), "csv:boj-rates.csv", None),
        (SAT, Decimal("157.2500000000"), "csv:boj-rates.csv", FRI),
        (SUN, Decimal("157.2500000000"), "csv:boj-rates.csv", FRI),
        (MON, Decimal("157.8000000000"), "csv:boj-rates.csv", None),
    ]


def test_marts_keep_original_amounts_and_convert_each_day_at_its_rate(
    first_build: dict[str, Any],
) -> None:
    assert first_build["dbt"].success
    fact = first_build["fact"]
    saturday = fact[("meta", SAT)]
    assert (saturday.spend, saturday.currency) == (Decimal("30.1000"), "USD")
    assert saturday.reporting_currency == "JMD"
    assert saturday.fx_rate == Decimal("157.2500000000")
    assert saturday.fx_rate_date == FRI  # carried from Friday
    assert saturday.spend_reporting == Decimal("4733.225000")  # 30.10 x 157.25
    monday = fact[("meta", MON)]
    assert monday.spend_reporting == Decimal("9531.120000")  # 60.40 x 157.80
    google_friday = fact[("google_ads", FRI)]  # JMD into JMD: no rate needed
    assert (google_friday.spend, google_friday.fx_rate) == (Decimal("12500.5000"), Decimal(1))
    assert google_friday.spend_reporting == Decimal("12500.500000")
    assert google_friday.fx_rate_date is None
    thursday = fact[("meta", THU)]  # no rate at all: nothing, rather than zero
    assert thursday.spend_reporting is None and thursday.fx_rate is None


def test_a_day_with_spend_and_no_rate_blocks_the_snapshot_and_names_the_day(
    first_build: dict[str, Any],
) -> None:
    result = first_build["snapshot"]
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "no exchange rate into JMD for days with spend: 2026-11-12 (USD)" in message
    contracts = first_build["contracts"]
    assert contracts.returncode == 2
    assert "spend_has_exchange_rate" in contracts.stdout
    assert "spend USD with no rate into JMD for 2026-11-12" in contracts.stdout


def test_importing_the_missing_rate_reconverts_only_that_day(
    first_build: dict[str, Any], thursday_imported: dict[str, Any]
) -> None:
    assert thursday_imported["imported"].returncode == 0, thursday_imported["imported"].stderr
    assert thursday_imported["dbt"].success
    before, after = first_build["fact"], thursday_imported["fact"]
    assert set(before) == set(after)
    changed = {key for key in after if after[key].version != before[key].version}
    assert changed == {("meta", THU)}
    thursday = after[("meta", THU)]
    assert thursday.spend_reporting == Decimal("6276.000000")  # 40.00 x 156.90
    assert thursday.fx_rate_date == THU


def test_one_jmd_total_equals_the_hand_computed_sum_across_the_weekend(
    thursday_imported: dict[str, Any],
) -> None:
    assert thursday_imported["snapshot"].success
    body = thursday_imported["cached"].json()
    payload = body["payload"]
    assert payload["reporting_currency"] == "JMD"
    # Google Ads JMD: 10000.00 + 12500.50 + 8000.25 + 7500.00 + 11000.75 = 49001.50
    # Meta USD x that day's rate:
    #   Thu 40.00 x 156.90 = 6276.00      Fri 50.25 x 157.25 = 7901.8125
    #   Sat 30.10 x 157.25 = 4733.225     Sun 20.05 x 157.25 = 3152.8625 (Friday's rate)
    #   Mon 60.40 x 157.80 = 9531.12      sum 31595.02
    # Total 49001.50 + 31595.02 = 80596.52
    assert payload["total_reporting"]["currency"] == "JMD"
    assert payload["total_reporting"]["spend"] == "80596.52"
    # the original currencies stay beside it, unconverted
    totals = {t["currency"]: t for t in payload["totals"]}
    assert totals["USD"]["spend"] == "200.80" and totals["USD"]["spend_reporting"] == "31595.02"
    assert totals["JMD"]["spend"] == "49001.50" and totals["JMD"]["spend_reporting"] == "49001.50"
    platforms = {p["platform"]: p["spend_reporting"] for p in payload["by_platform"]}
    assert platforms == {"google_ads": "49001.50", "meta": "31595.02"}
    # one campaign per platform: each campaign's reporting amount is its platform's
    campaigns = [
        (c["campaign_id"], c["currency"], c["spend_reporting"], c["reporting_currency"])
        for c in payload["by_campaign"]
    ]
    assert sorted(campaigns) == [("g1", "JMD", "49001.50", "JMD"), ("m1", "USD", "31595.02", "JMD")]
    assert {p["reporting_currency"] for p in payload["by_parish"]} == {"JMD"}
    days = {d["date"]: d for d in payload["by_day"]}
    assert list(days) == ["2026-11-12", "2026-11-13", "2026-11-14", "2026-11-15", "2026-11-16"]
    saturday = days["2026-11-14"]
    assert saturday["spend_reporting"] == "12733.48"  # 8000.25 + 4733.225
    usd = next(c for c in saturday["by_currency"] if c["currency"] == "USD")
    assert usd == {
        "currency": "USD",
        "spend": "30.10",
        "fx_rate": "157.25",
        "fx_rate_date": "2026-11-13",
        "spend_reporting": "4733.23",
    }
    assert payload["fx"]["sources"] == ["boj", "csv:boj-rates.csv"]
    assert (payload["fx"]["rates_from"], payload["fx"]["rates_to"]) == ("2026-11-12", "2026-11-16")
    assert payload["fx"]["carried_forward_days"] == ["2026-11-14", "2026-11-15"]


def test_another_reporting_currency_is_answered_live_without_touching_the_snapshot(
    thursday_imported: dict[str, Any],
) -> None:
    answer = thursday_imported["in_usd"]
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["cached"] is False
    payload = body["payload"]
    assert payload["reporting_currency"] == "USD"
    # Meta USD 200.80 as is; JMD x round(1 / rate, 10), each row to 6 places:
    #   10000.00 x 0.0063734863 = 63.734863   12500.50 x 0.0063593005 = 79.494436
    #    8000.25 x 0.0063593005 = 50.875994    7500.00 x 0.0063593005 = 47.694754
    #   11000.75 x 0.0063371356 = 69.713244   sum 311.513291
    # Total 200.80 + 311.513291 = 512.313291 -> 512.31
    assert payload["total_reporting"] == {
        "currency": "USD",
        "spend": "512.31",
        "impressions": 7500,
        "clicks": 150,
        "conversions": 10.0,
        # these rows carry no conversion value
        "conversion_value": "0.00",
        "ctr": 0.02,
        # ratios of the unrounded total 512.313291: / 150 clicks = 3.4154,
        # x 1000 / 7500 impressions = 68.3084, / 10 conversions = 51.2313
        "cpc": "3.42",
        "cpm": "68.31",
        "cost_per_conversion": "51.23",
        "roas": 0.0,
    }
    # the stored snapshot and its timestamp are unchanged, and still in JMD
    assert thursday_imported["stored_after"] == thursday_imported["stored_at"]
    after = thursday_imported["cached_after"].json()
    assert after["payload"]["reporting_currency"] == "JMD"
    assert (
        after["snapshot_generated_at"]
        == thursday_imported["cached"].json()["snapshot_generated_at"]
    )


def test_a_currency_without_rates_or_not_a_currency_is_refused_with_the_reason(
    thursday_imported: dict[str, Any],
) -> None:
    bad = thursday_imported["not_a_currency"]
    assert bad.status_code == 400
    assert "'XYZ' is not an ISO 4217 code" in bad.json()["detail"]
    no_rates = thursday_imported["no_eur_rates"]
    assert no_rates.status_code == 409
    assert no_rates.headers["content-type"].startswith("application/problem+json")
    problem = no_rates.json()
    assert problem["type"] == "https://adinsights.dev/problems/exchange-rate-missing"
    assert problem["detail"].startswith(
        "no exchange rate into EUR for days with spend: 2026-11-12 (JMD), 2026-11-12 (USD), "
    )


@pytest.fixture(scope="module")
def switched_to_usd(thursday_imported: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    module_env = env["env"]
    changed = adinsights("tenants", "update", TENANT, "--reporting-currency", "USD")
    dbt = rebuild_dbt(module_env.instance)
    snapshot = run_job("metrics_snapshots", module_env.instance, TENANT)
    fact = fact_rows(module_env.db)
    payload = one(
        module_env.db, "select payload from app.metrics_snapshots where tenant_id = :t", t=TENANT
    ).payload
    return {"changed": changed, "dbt": dbt, "snapshot": snapshot, "fact": fact, "payload": payload}


def test_a_new_reporting_currency_reconverts_the_tenants_history(
    switched_to_usd: dict[str, Any],
) -> None:
    assert switched_to_usd["changed"].returncode == 0, switched_to_usd["changed"].stderr
    assert switched_to_usd["dbt"].success and switched_to_usd["snapshot"].success
    fact = switched_to_usd["fact"]
    assert {row.reporting_currency for row in fact.values()} == {"USD"}
    assert fact[("google_ads", THU)].spend_reporting == Decimal("63.734863")  # x 0.0063734863
    assert fact[("meta", THU)].fx_rate == Decimal(1)
    # the stored snapshot now says what the live USD answer said
    assert switched_to_usd["payload"]["total_reporting"]["spend"] == "512.31"
