"""The demo path, end to end: simulator -> raw -> dbt -> snapshot -> API."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from adinsights_pipelines.demo import DEMO_GOOGLE_ADS, DEMO_TENANTS
from tests.sql import one, query, scalar


def test_demo_lands_rows_in_raw_marts_snapshot_and_api(demo_run) -> None:
    db, result = demo_run
    tenant = result.tenant_id
    raw_spend = one(
        db, "select sum(spend), count(*) from raw.meta_insights_ad where tenant_id = :t", t=tenant
    )
    mart_spend = scalar(
        db,
        "select sum(spend) from marts.fct_ad_performance_daily "
        "where tenant_id = :t and platform = 'meta'",
        t=tenant,
    )
    mart_total = scalar(
        db, "select sum(spend) from marts.fct_ad_performance_daily where tenant_id = :t", t=tenant
    )
    stored = one(
        db,
        "select payload, snapshot_generated_at from app.metrics_snapshots where tenant_id = :t",
        t=tenant,
    )
    assert raw_spend[1] > 0 and raw_spend[0] > 0
    assert mart_spend == raw_spend[0]  # nothing lost between raw and the mart
    assert mart_total > mart_spend  # Google Ads (through Airbyte) is in the same fact
    api_spend = sum(Decimal(str(t["spend"])) for t in result.snapshot["payload"]["totals"])
    assert api_spend == round(mart_total, 2)
    assert result.snapshot["tenant_id"] == tenant
    assert result.snapshot["snapshot_generated_at"] == stored.snapshot_generated_at.isoformat()
    assert result.snapshot["payload"] == stored.payload


def test_demo_records_materializations_per_tenant_partition(demo_run) -> None:
    instance = DagsterInstance.get()
    for key in (
        "meta_insights",
        "google_ads_campaign_performance",
        "ga4_daily",
        "search_console_daily",
        "metrics_snapshot",
    ):
        partitions = instance.get_materialized_partitions(AssetKey(key))
        assert partitions == {t[0] for t in DEMO_TENANTS}, key
    assert instance.get_latest_materialization_event(AssetKey("fct_ad_performance_daily"))


def test_demo_syncs_each_tenants_google_ads_through_airbyte(demo_run) -> None:
    db, _ = demo_run
    landed = query(
        db,
        """
        select c.tenant_id, r.customer_id, min(r.customer_currency_code) as currency,
               count(*) as rows, sum(j.records_synced) / count(*) as records
          from raw.google_ads_campaign_performance r
          join app.airbyte_connections c
            on c.provider = 'google_ads' and c.source_account_id = r.customer_id
          join app.airbyte_jobs j
            on j.connection_id = c.connection_id
           and j.job_id = cast(r._airbyte_meta->>'sync_id' as bigint)
         group by 1, 2 order by 1
        """,
    )
    assert [(r.tenant_id, r.customer_id, r.currency) for r in landed] == [
        (tenant, customer, currency) for tenant, (customer, currency) in DEMO_GOOGLE_ADS.items()
    ]
    assert all(r.rows == r.records > 0 for r in landed)


def test_demo_once_runs_on_embedded_postgres_with_no_server_configured(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADINSIGHTS_", "DAGSTER_HOME"))}
    env["ADINSIGHTS_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "adinsights_pipelines.cli", "demo", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "embedded PostgreSQL" in done.stderr
    assert "demo complete" in done.stderr
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
    assert "API check: /api/metrics/combined/ -> " in done.stderr
    assert "API check: /api/analytics/web/ga4/ -> " in done.stderr


def test_demo_tenant_reports_one_jmd_total_for_its_jmd_and_usd_accounts(demo_run) -> None:
    """acme-jamaica: a JMD Google Ads account and a USD Meta account, one JMD total."""
    db, result = demo_run
    payload = result.snapshot["payload"]
    assert payload["reporting_currency"] == "JMD"
    totals = {t["currency"]: t for t in payload["totals"]}
    assert set(totals) == {"JMD", "USD"}
    assert payload["fx"]["sources"] and payload["fx"]["rates_from"]
    accounts = query(
        db,
        "select platform, currency from marts.dim_accounts where tenant_id = :t "
        "and currency is not null",
        t=result.tenant_id,
    )
    # each day's USD spend at that day's JMD rate, straight from the stored rates
    by_hand = scalar(
        db,
        """
        select round(sum(case when fact.currency = 'JMD' then fact.spend
                              else round(fact.spend * rates.rate, 6) end), 2)
        from marts.fct_ad_performance_daily as fact
        left join raw.fx_rates_daily as rates
            on rates.rate_date = fact.date_day and rates.base = 'USD'
           and rates.quote = 'JMD'
        where fact.tenant_id = :t
        """,
        t=result.tenant_id,
    )
    assert ("google_ads", "JMD") in accounts and ("meta", "USD") in accounts
    assert Decimal(payload["total_reporting"]["spend"]) == by_hand
    usd = sum(Decimal(t["spend_reporting"]) for t in payload["totals"])
    assert abs(usd - by_hand) <= Decimal("0.01")  # two entries, each rounded to the cent


def test_demo_conversions_are_counted_once_and_carry_their_value_to_the_api(demo_run) -> None:
    """Meta lists a purchase under several action types: the raw rows (ad x day, read without a
    breakdown: Meta returns pixel purchases only there) count each event once (the
    omni_/aggregate type), the fact and the API serve that count, its value and the ratios of
    the summed parts."""
    db, result = demo_run
    tenant = result.tenant_id
    raw = one(
        db,
        """
        select sum(conversions) as conversions, sum(conversion_value) as value,
               sum(spend) as spend,
               count(*) filter (where conversion_events is null) as uncounted,
               -- the old rule: six overlapping purchase/lead/registration types summed
               sum((select coalesce(sum((a->>'value')::numeric), 0)
                      from jsonb_array_elements(actions) a
                     where a->>'action_type' in ('purchase', 'lead',
                           'complete_registration', 'offsite_conversion.fb_pixel_purchase',
                           'offsite_conversion.fb_pixel_lead',
                           'onsite_conversion.purchase'))) as old_rule
        from raw.meta_insights_ad where tenant_id = :t
        """,
        t=tenant,
    )
    fact = one(
        db,
        "select sum(conversions), sum(conversion_value) "
        "from marts.fct_ad_performance_daily where tenant_id = :t and platform = 'meta'",
        t=tenant,
    )
    assert raw.uncounted == 0
    assert raw.conversions > 0 and raw.value > 0
    assert tuple(fact) == (raw.conversions, raw.value)
    meta = next(p for p in result.snapshot["payload"]["by_platform"] if p["platform"] == "meta")
    assert Decimal(meta["conversion_value"]) == round(raw.value, 2)
    assert meta["roas"] == float(round(raw.value / raw.spend, 4))
    assert Decimal(meta["cost_per_conversion"]) == round(raw.spend / raw.conversions, 2)
    # Meta lists each purchase under overlapping types: the old sum counted some twice
    assert raw.old_rule > raw.conversions
    definitions = result.snapshot["payload"]["definitions"]
    assert definitions["meta_events"] == ["purchase", "lead", "complete_registration"]
    assert definitions["meta_attribution"] == "unified"


def test_demo_serves_reach_only_as_meta_counted_it(demo_run) -> None:
    """Reach is not additive: the fact has no reach column, and fct_meta_reach_daily holds
    Meta's own campaign and account reach, each at most its impressions."""
    db, result = demo_run
    columns = query(
        db,
        "select column_name from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'fct_ad_performance_daily'",
    )
    fact_columns = {row.column_name for row in columns}
    levels = dict(
        query(
            db,
            "select level, count(*) from marts.fct_meta_reach_daily "
            "where tenant_id = :t and reach <= impressions and reach > 0 group by level",
            t=result.tenant_id,
        )
    )
    days = scalar(
        db,
        "select count(distinct (account_id, date_start)) from raw.meta_insights "
        "where tenant_id = :t",
        t=result.tenant_id,
    )
    assert "reach" not in fact_columns and "conversion_value" in fact_columns
    assert levels["account"] == days  # one account reach per account and day with delivery
    assert levels["campaign"] >= days
