"""dbt in Dagster, end to end on real PostgreSQL: marts, incremental runs, checks, blocking.

One database for the module and three dbt builds (dbt runs are slow), each a stage fixture
that captures what the tests assert on, since later stages change the warehouse:

1. ``first_build``: raw rows of two tenants (Meta, Google Ads via Airbyte, GA4, Search
   Console) -> job ``dbt_build`` -> marts, passed checks, a metrics snapshot;
2. ``incremental_rerun``: one Meta row and one Google Ads row of yesterday change, then the
   15-minute schedule ticks and its run request runs (the incremental and table models with
   their checks, and the checks on the staging views; views and seeds left as built). Every raw
   row was loaded within the re-read overlap, so the run re-computes them all: the rows without
   new data must not be written at all, and the two changed fact rows must be updated in place;
3. ``contract_gate``: ``adinsights check-contracts`` on marts made to disagree with raw;
4. ``broken_build``: a negative spend and a Google Ads customer of no tenant -> the checks
   fail, the run fails, the snapshot is refused, /api/health/dbt/ says failing.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS
from adinsights_pipelines.encryption import keyring_from_settings
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import engine
from api.app import create_app
from tests.cli import adinsights
from tests.dbt.conftest import ModuleEnv
from tests.sql import query, scalar

TODAY = date.today()
YESTERDAY = TODAY - timedelta(days=1)
DAYS = [TODAY - timedelta(days=n) for n in range(5, 0, -1)]  # five days up to yesterday
INCREMENTAL_MODELS = (
    "stg_google_ads__campaign_performance",
    "fct_ad_performance_daily",
    "agg_tenant_daily",
    "dim_campaigns",
    "fct_ga4_daily",
    "fct_search_console_daily",
)
#: Marts rebuilt whole on every tick (small: one row per account or campaign and day).
TABLE_MARTS = {"dim_accounts", "dim_ads", "fct_meta_reach_daily"}
INCREMENTAL_MARTS = (
    "fct_ad_performance_daily",
    "agg_tenant_daily",
    "dim_campaigns",
    "fct_ga4_daily",
    "fct_search_console_daily",
)
META_REGIONS = {  # Meta spelling -> expected parish
    "St. Andrew": "Saint Andrew",
    "Kingston Parish": "Kingston",
    "Saint Catherine Parish": "Saint Catherine",
    "Unknown": "Unknown",
    "Atlantis": "Unknown",
}


def spend(day: date, ad: str, region: str) -> Decimal:
    return Decimal(10 + day.day % 7 + len(ad) + len(region)) + Decimal("0.25")


def seed_raw(conn: sa.Connection) -> None:
    """Raw rows as the ingestion assets leave them, loaded two hours ago."""
    loaded = "now() - interval '2 hours'"
    for tenant, account, currency in (("alpha", "act_1", "JMD"), ("bravo", "act_2", "USD")):
        conn.execute(
            sa.text(
                f"insert into raw.meta_ad_accounts (tenant_id, account_id, name, currency, "
                f"account_status, _loaded_at) values (:t, :a, :a, :c, 1, {loaded})"
            ),
            {"t": tenant, "a": account, "c": currency},
        )
        conn.execute(
            sa.text(
                f"insert into raw.meta_campaigns (tenant_id, campaign_id, account_id, name, "
                f"status, effective_status, objective, _loaded_at) "
                f"values (:t, :c, :a, 'Campaign ' || :c, 'ACTIVE', 'ACTIVE', 'OUTCOME_SALES', "
                f"{loaded})"
            ),
            {"t": tenant, "a": account, "c": f"c_{tenant}"},
        )
    rows = []
    for day in DAYS:
        for ad in ("a1", "a2"):
            for region in META_REGIONS:
                rows.append(("alpha", "act_1", "c_alpha", ad, day, region, "JMD"))
        for region in ("Saint James Parish", "Unknown"):
            rows.append(("bravo", "act_2", "c_bravo", "b1", day, region, "USD"))
    conn.execute(
        sa.text(
            f"""
            insert into raw.meta_insights (tenant_id, account_id, campaign_id, campaign_name,
                adset_id, ad_id, date_start, date_stop, region, spend, impressions, clicks,
                reach, conversions, currency, _loaded_at)
            values (:t, :a, :c, 'Summer ' || :c, 's1', :ad, :d, :d, :r, :spend, 1000, 30, 600,
                    2, :cur, {loaded})
            """
        ),
        [
            {"t": t, "a": a, "c": c, "ad": ad, "d": d, "r": r, "cur": cur, "spend": spend(d, ad, r)}
            for t, a, c, ad, d, r, cur in rows
        ],
    )
    seed_charlie(conn, loaded)
    # Google Ads through Airbyte: alpha's customer, written with dashes in the connection.
    conn.execute(
        sa.text(
            "insert into app.airbyte_connections (connection_id, tenant_id, provider, "
            "source_account_id) values ('conn-alpha-gads', 'alpha', 'google_ads', '123-456-7890')"
        )
    )
    google = []
    for day in DAYS:
        for region in ("geoTargetConstants/9070002", "geoTargetConstants/1234", None):
            for copy, extracted in ((1, "3 hours"), (2, "2 hours")):  # a re-sync: newer copy
                google.append({"d": day, "r": region, "cost": 5_000_000 * copy, "ago": extracted})
    conn.execute(
        sa.text(
            """
            insert into raw.google_ads_campaign_performance (_airbyte_raw_id,
                _airbyte_extracted_at, customer_id, customer_currency_code, campaign_id,
                campaign_name, campaign_status, segments_date, segments_geo_target_region,
                metrics_cost_micros, metrics_impressions, metrics_clicks, metrics_conversions)
            values (gen_random_uuid()::text, now() - cast(:ago as interval), '1234567890', 'JMD',
                    'g1', 'Search', 'ENABLED', :d, :r, :cost, 500, 20, 1.5)
            """
        ),
        google,
    )
    conn.execute(
        sa.text(
            f"""
            insert into raw.ga4_daily (tenant_id, property_id, date, region,
                session_default_channel_group, sessions, total_users, new_users,
                screen_page_views, engaged_sessions, key_events, _loaded_at)
            select 'alpha', 'p1', d, r, 'Organic Search', 100, 80, 20, 300, 60, 3, {loaded}
            from unnest(cast(:days as date[])) d,
                 unnest(array['Saint Andrew Parish', '(not set)']) r
            """
        ),
        {"days": DAYS},
    )
    conn.execute(
        sa.text(
            f"""
            insert into raw.search_console_daily (tenant_id, site_url, date, query, page,
                country, device, clicks, impressions, ctr, position, _loaded_at)
            select 'alpha', 'https://alpha.example/', d, q, 'https://alpha.example/', 'jam',
                   'MOBILE', 4, 100, 0.04, 3.5, {loaded}
            from unnest(cast(:days as date[])) d, unnest(array['q1', 'q2']) q
            """
        ),
        {"days": DAYS},
    )


# charlie's account is read as the sync reads it now: ad x day without a breakdown (the truth)
# and ad x day x region (the parish split, no conversions). Yesterday the region rows cover
# less than the truth (ad c2 was deleted and has no region rows; ad c1 has 2 clicks outside any
# region row); DAYS[0] they cover more spend than the truth (Meta's per-region rounding).
CHARLIE_ADS = [  # ad, day, spend, impressions, clicks, conversions, conversion value
    ("c1", YESTERDAY, "30.00", 1000, 11, "7", "70.00"),
    ("c2", YESTERDAY, "5.00", 100, 0, "0", "0.00"),
    ("c1", DAYS[0], "9.00", 100, 2, "1", "10.00"),
]
CHARLIE_REGIONS = [  # ad, day, region, spend, impressions, clicks
    ("c1", YESTERDAY, "Kingston Parish", "20.00", 600, 6),
    ("c1", YESTERDAY, "St. Andrew", "10.00", 400, 3),
    ("c1", DAYS[0], "Kingston Parish", "5.00", 50, 1),
    ("c1", DAYS[0], "St. Andrew", "5.00", 50, 1),
]


def seed_charlie(conn: sa.Connection, loaded: str) -> None:
    conn.execute(
        sa.text(
            f"insert into raw.meta_ad_accounts (tenant_id, account_id, name, currency, "
            f"account_status, _loaded_at) values ('charlie', 'act_3', 'act_3', 'USD', 1, {loaded})"
        )
    )
    conn.execute(
        sa.text(
            f"""
            insert into raw.meta_insights_ad (tenant_id, account_id, campaign_id, campaign_name,
                adset_id, ad_id, date_start, date_stop, spend, impressions, clicks, conversions,
                conversion_value, currency, conversion_events, _loaded_at)
            values ('charlie', 'act_3', 'c_charlie', 'Leads', 's1', :ad, :d, :d, :spend, :imp,
                    :clicks, :conv, :value, 'USD', 'purchase,lead,complete_registration',
                    {loaded})
            """
        ),
        [
            dict(zip(("ad", "d", "spend", "imp", "clicks", "conv", "value"), row, strict=True))
            for row in CHARLIE_ADS
        ],
    )
    conn.execute(
        sa.text(
            f"""
            insert into raw.meta_insights (tenant_id, account_id, campaign_id, campaign_name,
                adset_id, ad_id, date_start, date_stop, region, spend, impressions, clicks,
                reach, currency, _loaded_at)
            values ('charlie', 'act_3', 'c_charlie', 'Leads', 's1', :ad, :d, :d, :r, :spend,
                    :imp, :clicks, 10, 'USD', {loaded})
            """
        ),
        [
            dict(zip(("ad", "d", "r", "spend", "imp", "clicks"), row, strict=True))
            for row in CHARLIE_REGIONS
        ],
    )


def run_job(
    name: str,
    instance: DagsterInstance,
    partition: str | None = None,
    assets: tuple[str, ...] | None = None,
) -> Any:
    """Run a job in process; ``assets`` runs a subset (dagster-dbt selects those models and
    their tests, as when an operator materializes a few assets)."""
    from adinsights_pipelines.definitions import defs

    return defs.resolve_job_def(name).execute_in_process(
        instance=instance,
        partition_key=partition,
        raise_on_error=False,
        tags={"tenant_id": partition} if partition else None,
        asset_selection=[AssetKey(a) for a in assets] if assets else None,
    )


def schedule_tick(instance: DagsterInstance) -> Any:
    """What ``dbt_build_every_15_minutes`` asks for now (the daemon's evaluation)."""
    from dagster import build_schedule_context

    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.defs.dbt.definitions import dbt_build_schedule

    # the daemon evaluates a schedule with the code location's repository on its context
    with build_schedule_context(
        instance=instance, repository_def=defs.get_repository_def()
    ) as context:
        return dbt_build_schedule(context)


def run_requested(instance: DagsterInstance, request: Any) -> Any:
    """Run a schedule's run request in process, as the daemon would launch it."""
    from adinsights_pipelines.definitions import defs

    job = defs.resolve_job_def("dbt_build")
    if request.asset_selection is not None:
        job = job.get_subset(
            asset_selection=set(request.asset_selection),
            asset_check_selection=set(request.asset_check_keys or ()),
        )
    return job.execute_in_process(instance=instance, raise_on_error=False, tags=request.tags)


def materialized_in(instance: DagsterInstance, run_id: str) -> set[str]:
    from dagster import DagsterEventType

    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return {r.event_log_entry.asset_materialization.asset_key.to_user_string() for r in records}


def row_versions(conn: sa.Connection) -> dict[str, dict[tuple[Any, ...], str]]:
    """Every incremental mart's rows by key -> xmin (the writing transaction)."""
    keys = {
        "fct_ad_performance_daily": (
            "tenant_id, platform, account_id, campaign_id, date_day, parish"
        ),
        "agg_tenant_daily": "tenant_id, date_day, platform, currency",
        "dim_campaigns": "tenant_id, platform, campaign_id",
        "fct_ga4_daily": "tenant_id, property_id, date_day, parish, channel_group",
        "fct_search_console_daily": "tenant_id, site_url, date_day, country, device",
    }
    return {
        mart: {
            tuple(row[:-1]): row[-1]
            for row in conn.execute(sa.text(f"select {key}, xmin::text from marts.{mart}"))
        }
        for mart, key in keys.items()
    }


def check_results(instance: DagsterInstance, run_id: str) -> dict[str, bool]:
    """Check name -> passed, for the evaluations stored by ``run_id``."""
    records = instance.get_records_for_run(run_id, of_type=_evaluation_type()).records
    return {
        r.event_log_entry.dagster_event.event_specific_data.check_name: (
            r.event_log_entry.dagster_event.event_specific_data.passed
        )
        for r in records
    }


def _evaluation_type() -> Any:
    from dagster import DagsterEventType

    return DagsterEventType.ASSET_CHECK_EVALUATION


def health(client: TestClient, key: str, clock: datetime | None = None) -> dict[str, Any]:
    state = client.app.state.adinsights  # type: ignore[attr-defined]
    state.clock = (lambda: clock) if clock else (lambda: datetime.now(UTC))
    response = client.get("/api/health/dbt/", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def env(module_env: ModuleEnv) -> Iterator[dict[str, Any]]:
    settings = Settings()
    with engine(module_env.db).begin() as conn:
        for tenant in ("alpha", "bravo"):
            add_tenant(conn, tenant, tenant.title())
        add_tenant(conn, "charlie", "Charlie", "USD")
        set_credential(conn, keyring_from_settings(settings), "alpha", "meta", "sim_alpha")
        set_credential(conn, keyring_from_settings(settings), "bravo", "meta", "sim_bravo")
        seed_raw(conn)
        key = create_api_key(conn, tenant_id="alpha")
    module_env.instance.add_dynamic_partitions(TENANT_PARTITIONS, ["alpha", "bravo"])
    with TestClient(create_app(module_env.db)) as client:
        yield {"env": module_env, "client": client, "key": key}


@pytest.fixture(scope="module")
def first_build(env: dict[str, Any]) -> dict[str, Any]:
    module_env, client, key = env["env"], env["client"], env["key"]
    before = health(client, key)
    tick_before = schedule_tick(module_env.instance)
    result = run_job("dbt_build", module_env.instance)
    tick_after = schedule_tick(module_env.instance)
    snapshot = run_job("metrics_snapshots", module_env.instance, "alpha")
    fact = query(
        module_env.db,
        "select tenant_id, platform, account_id, date_day, parish, parish_iso_code, "
        "spend, currency from marts.fct_ad_performance_daily",
    )
    # Meta's totals: the ad rows read without a breakdown; an account-day with none (loaded
    # before the two reads, as alpha's and bravo's) counts its region rows
    raw_meta = query(
        module_env.db,
        """
        select tenant_id, sum(spend) from (
            select tenant_id, spend from raw.meta_insights_ad
            union all
            select r.tenant_id, r.spend from raw.meta_insights r
            where not exists (select 1 from raw.meta_insights_ad a
                              where a.tenant_id = r.tenant_id
                                and a.account_id = r.account_id
                                and a.date_start = r.date_start)
        ) as meta group by tenant_id
        """,
    )
    charlie = query(
        module_env.db,
        "select date_day, parish, spend, impressions, clicks, conversions, "
        "conversion_value, conversions_estimated from marts.fct_ad_performance_daily "
        "where tenant_id = 'charlie' order by date_day, parish_iso_code nulls last",
    )
    ga4 = query(
        module_env.db, "select parish, sum(sessions) from marts.fct_ga4_daily group by parish"
    )
    search = query(
        module_env.db,
        "select date_day, clicks, impressions, ctr from marts.fct_search_console_daily",
    )
    accounts = query(
        module_env.db, "select tenant_id, platform, account_id, currency from marts.dim_accounts"
    )
    stored = scalar(
        module_env.db, "select payload from app.metrics_snapshots where tenant_id = 'alpha'"
    )
    with engine(module_env.db).connect() as conn:
        versions = row_versions(conn)
    return {
        "health_before": before,
        "tick_before": tick_before,
        "tick_after": tick_after,
        "result": result,
        "checks": check_results(module_env.instance, result.run_id),
        "snapshot": snapshot,
        "stored_snapshot": stored,
        "fact": fact,
        "raw_meta": dict(raw_meta),
        "charlie": [tuple(r) for r in charlie],
        "ga4": dict(ga4),
        "search": search,
        "accounts": accounts,
        "versions": versions,
        "health": health(client, key),
        "health_tomorrow": health(client, key, datetime.now(UTC) + timedelta(hours=25)),
    }


@pytest.fixture(scope="module")
def incremental_rerun(first_build: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    module_env = env["env"]
    with engine(module_env.db).begin() as conn:
        conn.execute(
            sa.text(
                "update raw.meta_insights set spend = spend + 10, _loaded_at = now() "
                "where tenant_id = 'alpha' and ad_id = 'a1' and date_start = :d "
                "and region = 'St. Andrew'"
            ),
            {"d": YESTERDAY},
        )
        conn.execute(  # Airbyte re-syncs yesterday: a third, newer copy of one row
            sa.text(
                """
                insert into raw.google_ads_campaign_performance (_airbyte_raw_id,
                    _airbyte_extracted_at, customer_id, customer_currency_code, campaign_id,
                    campaign_name, campaign_status, segments_date, segments_geo_target_region,
                    metrics_cost_micros, metrics_impressions, metrics_clicks,
                    metrics_conversions)
                values ('resync-1', now(), '1234567890', 'JMD', 'g1', 'Search', 'ENABLED', :d,
                        'geoTargetConstants/9070002', 25000000, 600, 25, 2)
                """
            ),
            {"d": YESTERDAY},
        )
    before = first_build["versions"]
    result = run_requested(module_env.instance, first_build["tick_after"])
    with engine(module_env.db).connect() as conn:
        versions = row_versions(conn)
        fact = {
            (r.platform, r.parish): r.spend
            for r in conn.execute(
                sa.text(
                    "select platform, parish, spend from marts.fct_ad_performance_daily "
                    "where tenant_id = 'alpha' and date_day = :d"
                ),
                {"d": YESTERDAY},
            )
        }
    return {
        "result": result,
        "before": before,
        "after": versions,
        "fact": fact,
        "materialized": materialized_in(module_env.instance, result.run_id),
        "checks": check_results(module_env.instance, result.run_id),
        "checked_assets": {
            r.event_log_entry.dagster_event.event_specific_data.asset_key.to_user_string()
            for r in module_env.instance.get_records_for_run(
                result.run_id, of_type=_evaluation_type()
            ).records
        },
    }


@pytest.fixture(scope="module")
def contract_gate(incremental_rerun: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """``adinsights check-contracts`` on good marts, then on marts that disagree with raw."""
    module_env = env["env"]
    clean = adinsights("check-contracts", "--days", "10", **module_env.environ)
    tamper = [
        "update marts.fct_ad_performance_daily set spend = spend + 5 "
        f"where tenant_id = 'bravo' and parish = 'Saint James' and date_day = '{YESTERDAY}'",
        "update marts.dim_accounts set currency = 'EUR' where account_id = 'act_1'",
    ]
    undo = [
        "update marts.fct_ad_performance_daily set spend = spend - 5 "
        f"where tenant_id = 'bravo' and parish = 'Saint James' and date_day = '{YESTERDAY}'",
        "update marts.dim_accounts set currency = 'JMD' where account_id = 'act_1'",
    ]
    with engine(module_env.db).begin() as conn:
        for statement in tamper:
            conn.execute(sa.text(statement))
        # bravo connects GA4, which has delivered nothing yet
        set_credential(conn, keyring_from_settings(Settings()), "bravo", "ga4", "refresh-token")
    violated = adinsights("check-contracts", "--days", "10", **module_env.environ)
    with engine(module_env.db).begin() as conn:
        for statement in undo:
            conn.execute(sa.text(statement))
    return {"clean": clean, "violated": violated}


@pytest.fixture(scope="module")
def broken_build(contract_gate: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    module_env, client, key = env["env"], env["client"], env["key"]
    instance = module_env.instance
    with engine(module_env.db).begin() as conn:
        conn.execute(
            sa.text(
                """
                insert into raw.meta_insights (tenant_id, account_id, campaign_id, ad_id,
                    adset_id, date_start, date_stop, region, spend, currency)
                values ('bravo', 'act_2', 'c_bravo', 'b9', 's1', :d, :d, 'Unknown', -75, 'USD')
                """
            ),
            {"d": TODAY},
        )
        conn.execute(
            sa.text(
                """
                insert into raw.google_ads_campaign_performance (_airbyte_raw_id,
                    _airbyte_extracted_at, customer_id, customer_currency_code, campaign_id,
                    segments_date, metrics_cost_micros)
                values ('orphan-1', now(), '999-000-1111', 'JMD', 'g9', :d, 1000000)
                """
            ),
            {"d": TODAY},
        )
    snapshots_before = len(
        instance.fetch_materializations(_snapshot_filter("alpha"), limit=100).records
    )
    # the staging models the broken rows reach (and their tests), as the 15-minute build would
    result = run_job(
        "dbt_build", instance, assets=("stg_meta__insights", "stg_google_ads__campaign_performance")
    )
    snapshot = run_job("metrics_snapshots", instance, "alpha")
    snapshots_after = len(
        instance.fetch_materializations(_snapshot_filter("alpha"), limit=100).records
    )
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [
            AssetCheckKey(AssetKey("stg_meta__insights"), "non_negative_stg_meta__insights_spend"),
            AssetCheckKey(
                AssetKey("stg_google_ads__campaign_performance"),
                "not_null_stg_google_ads__campaign_performance_tenant_id",
            ),
        ]
    )
    return {
        "result": result,
        "checks": check_results(instance, result.run_id),
        "latest": latest,
        "snapshot": snapshot,
        "snapshots_before": snapshots_before,
        "snapshots_after": snapshots_after,
        "health": health(client, key),
    }


def _snapshot_filter(tenant: str) -> Any:
    from dagster import AssetRecordsFilter

    return AssetRecordsFilter(asset_key=AssetKey("metrics_snapshot"), asset_partitions=[tenant])


# 1. first build ------------------------------------------------------------------------------


def test_dbt_build_succeeds_and_every_check_passes(first_build) -> None:
    assert first_build["result"].success
    checks = first_build["checks"]
    assert len(checks) > 40
    assert all(checks.values()), [name for name, passed in checks.items() if not passed]
    assert checks["marts_reconcile_with_raw_spend"] is True  # the data contracts ran too


def test_fact_spend_equals_raw_spend_for_every_tenant(first_build) -> None:
    fact_meta: dict[str, Decimal] = {}
    for row in first_build["fact"]:
        if row.platform == "meta":
            fact_meta[row.tenant_id] = fact_meta.get(row.tenant_id, Decimal(0)) + row.spend
    assert fact_meta == first_build["raw_meta"]


def test_regions_map_to_parishes_and_unknown_regions_are_kept(first_build) -> None:
    alpha_meta = {
        (r.parish, r.parish_iso_code)
        for r in first_build["fact"]
        if r.tenant_id == "alpha" and r.platform == "meta"
    }
    assert alpha_meta == {
        ("Saint Andrew", "JM-02"),
        ("Kingston", "JM-01"),
        ("Saint Catherine", "JM-14"),
        ("Unknown", None),
    }
    unknown = [
        r.spend
        for r in first_build["fact"]
        if r.tenant_id == "alpha" and r.platform == "meta" and r.parish == "Unknown"
    ]
    expected = sum(
        spend(d, ad, region)
        for d in DAYS
        for ad in ("a1", "a2")
        for region in ("Unknown", "Atlantis")
    )
    assert sum(unknown) == expected  # 'Unknown' and an unmatched region, both kept
    assert first_build["ga4"] == {"Saint Andrew": 500, "Unknown": 500}


def test_meta_totals_come_from_the_ad_rows_and_regions_only_split_them(first_build) -> None:
    """Worked by hand from CHARLIE_ADS / CHARLIE_REGIONS (the split rule of the fact)."""
    d = Decimal
    assert first_build["charlie"] == [
        # DAYS[0]: regions (5.00 + 5.00) exceed the truth (9.00): split in proportion,
        # 9 x 5/10 = 4.50 each; impressions 100 x 50/100 = 50 each; clicks 2 x 1/2 = 1 each;
        # the conversion (1, worth 10.00) by clicks 1:1 -> 0.5 and 5.00 each. Nothing is left
        # for 'Unknown', which has no row.
        (DAYS[0], "Kingston", d("4.5000"), 50, 1, d("0.5000"), d("5.0000"), True),
        (DAYS[0], "Saint Andrew", d("4.5000"), 50, 1, d("0.5000"), d("5.0000"), True),
        # Yesterday: truth 35.00 / 1100 / 11 clicks (c1 30.00 / 1000 / 11, deleted c2
        # 5.00 / 100 / 0); regions 20.00 + 10.00, 600 + 400, 6 + 3 clicks; the rest on Unknown:
        # 5.00, 100 impressions, 2 clicks. 7 conversions (value 70.00) by clicks 6 : 3 : 2,
        # cumulative rounding to 4 places:
        #   Kingston     7 x 6/11 = 3.81818 -> 3.8182             70 x 6/11 = 38.1818
        #   Saint Andrew 7 x 9/11 = 5.72727 -> 5.7273 - 3.8182 = 1.9091  57.2727 - 38.1818 = 19.0909
        #   Unknown      7 - 5.7273 = 1.2727                      70 - 57.2727 = 12.7273
        (YESTERDAY, "Kingston", d("20.0000"), 600, 6, d("3.8182"), d("38.1818"), True),
        (YESTERDAY, "Saint Andrew", d("10.0000"), 400, 3, d("1.9091"), d("19.0909"), True),
        (YESTERDAY, "Unknown", d("5.0000"), 100, 2, d("1.2727"), d("12.7273"), True),
    ]


def test_google_ads_rows_keep_the_newest_copy_in_currency_units(first_build) -> None:
    google = [r for r in first_build["fact"] if r.platform == "google_ads"]
    assert {r.tenant_id for r in google} == {"alpha"}  # customer 1234567890 -> alpha
    assert {r.account_id for r in google} == {"1234567890"}
    by_parish = {}
    for row in google:
        by_parish.setdefault(row.parish, []).append(row.spend)
    # criterion 9070002 is Saint Andrew; an unknown criterion and a null region are Unknown
    assert set(by_parish) == {"Saint Andrew", "Unknown"}
    assert by_parish["Saint Andrew"] == [Decimal("10.0000")] * len(DAYS)  # newest copy: 10
    assert by_parish["Unknown"] == [Decimal("20.0000")] * len(DAYS)
    assert ("alpha", "google_ads", "1234567890", "JMD") in {
        tuple(a) for a in first_build["accounts"]
    }


def test_search_console_totals_recompute_ctr(first_build) -> None:
    assert {(r.clicks, r.impressions, r.ctr) for r in first_build["search"]} == {(8, 200, 0.04)}


def test_metrics_snapshot_is_built_from_the_marts(first_build) -> None:
    assert first_build["snapshot"].success
    payload = first_build["stored_snapshot"]
    assert {p["platform"] for p in payload["by_platform"]} == {"meta", "google_ads"}
    assert "Saint Andrew" in {p["parish"] for p in payload["by_parish"]}


def test_dbt_health_is_stale_before_any_run_ok_after_one_stale_a_day_later(first_build) -> None:
    assert first_build["health_before"]["status"] == "stale"
    assert first_build["health_before"]["last_run_at"] is None
    body = first_build["health"]
    assert body["status"] == "ok"
    assert body["last_run_id"] == first_build["result"].run_id
    assert body["duration_seconds"] > 0
    assert body["counts"]["success"] >= 20 and "error" not in body["counts"]
    assert body["test_counts"]["pass"] > 40
    assert datetime.fromisoformat(body["last_run_at"]).tzinfo is not None
    assert first_build["health_tomorrow"]["status"] == "stale"


def test_dbt_health_needs_an_api_key(env) -> None:
    assert env["client"].get("/api/health/dbt/").status_code == 401


def test_materializations_carry_row_counts_and_columns(first_build, env) -> None:
    event = env["env"].instance.get_latest_materialization_event(
        AssetKey("fct_ad_performance_daily")
    )
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == len(first_build["fact"])
    columns = {c.name for c in metadata["dagster/column_schema"].schema.columns}
    assert {"tenant_id", "parish", "spend", "currency", "loaded_at"} <= columns


# 2. the incremental run ------------------------------------------------------------------


def test_the_schedule_builds_everything_until_views_and_seeds_are_built_from_this_code(
    first_build,
) -> None:
    from adinsights_pipelines.defs.dbt.assets import SCOPE_TAG, STATIC_FINGERPRINT, STATIC_TAG

    # No view or seed built yet: the tick asks for the whole job.
    assert first_build["tick_before"].asset_selection is None
    assert first_build["tick_before"].tags[SCOPE_TAG] == "full"
    # That build tagged its run with the views' and seeds' fingerprint...
    run = first_build["result"].dagster_run
    assert run.tags[STATIC_TAG] == STATIC_FINGERPRINT
    # ...so the next tick leaves views and seeds alone, and keeps every check but those that
    # read only seeds (the seeds' own and the parish lookups').
    tick = first_build["tick_after"]
    assert tick.tags[SCOPE_TAG] == "incremental"
    selected = {k.to_user_string() for k in tick.asset_selection}
    assert set(INCREMENTAL_MODELS) | TABLE_MARTS == selected
    checks = {(k.asset_key.to_user_string(), k.name) for k in tick.asset_check_keys}
    assert ("stg_meta__insights", "non_negative_stg_meta__insights_spend") in checks
    assert ("fct_ad_performance_daily", "marts_reconcile_with_raw_spend") in checks
    # a view test that reads sources (raw rows, app.tenants) still runs
    assert (
        "stg_meta__ad_accounts",
        "relationships_stg_meta__ad_accounts_tenant_id__id__source_app_tenants_",
    ) in checks
    assert not {asset for asset, _ in checks} & SEEDS_ONLY


def test_a_scheduled_run_builds_models_and_checks_views_without_rebuilding_them(
    incremental_rerun,
) -> None:
    assert incremental_rerun["result"].success
    assert incremental_rerun["materialized"] == set(INCREMENTAL_MODELS) | TABLE_MARTS
    checks = incremental_rerun["checks"]
    assert checks["non_negative_stg_meta__insights_spend"] is True  # a view's test still ran
    assert checks["marts_reconcile_with_raw_spend"] is True  # and the data contracts
    # the tests that read only seeds did not
    assert not incremental_rerun["checked_assets"] & SEEDS_ONLY


# Seeds and the views that read only seeds: their tests wait for the next full build.
SEEDS_ONLY = {
    "jamaica_parishes",
    "google_geo_targets",
    "stg_parish_aliases",
    "stg_google_geo_targets",
}


def test_a_changed_view_definition_changes_the_fingerprint() -> None:
    import copy

    from adinsights_pipelines.defs.dbt.assets import MANIFEST, static_fingerprint

    changed = copy.deepcopy(MANIFEST)
    changed["nodes"]["model.adinsights.stg_meta__insights"]["checksum"]["checksum"] = "edited"
    assert static_fingerprint(changed) != static_fingerprint(MANIFEST)
    mart = copy.deepcopy(MANIFEST)  # a table model is rebuilt every tick anyway
    mart["nodes"]["model.adinsights.fct_ad_performance_daily"]["checksum"]["checksum"] = "edited"
    assert static_fingerprint(mart) == static_fingerprint(MANIFEST)
    # a test on a seeds-only view is skipped by the ticks, so adding or editing one counts too
    fewer = copy.deepcopy(MANIFEST)
    alias_test = next(u for u in fewer["nodes"] if ".unique_stg_parish_aliases_alias_key" in u)
    del fewer["nodes"][alias_test]
    assert static_fingerprint(fewer) != static_fingerprint(MANIFEST)


def test_rerun_writes_no_row_without_new_data(incremental_rerun) -> None:
    assert incremental_rerun["result"].success
    before, after = incremental_rerun["before"], incremental_rerun["after"]
    # What had new data: yesterday's Saint Andrew rows of alpha (one Meta, one Google Ads row).
    with_new_data = {
        "fct_ad_performance_daily": {
            ("alpha", "meta", "act_1", "c_alpha", YESTERDAY, "Saint Andrew"),
            ("alpha", "google_ads", "1234567890", "g1", YESTERDAY, "Saint Andrew"),
        },
        "agg_tenant_daily": {
            ("alpha", YESTERDAY, "meta", "JMD"),
            ("alpha", YESTERDAY, "google_ads", "JMD"),
        },
        "dim_campaigns": {("alpha", "meta", "c_alpha"), ("alpha", "google_ads", "g1")},
        "fct_ga4_daily": set(),
        "fct_search_console_daily": set(),
    }
    for mart in INCREMENTAL_MARTS:
        assert after[mart].keys() == before[mart].keys(), mart  # nothing added or removed
        rewritten = {key for key in after[mart] if after[mart][key] != before[mart][key]}
        assert rewritten == with_new_data[mart], mart  # every other row: same transaction


def test_new_data_for_yesterday_updates_the_fact_in_place(incremental_rerun) -> None:
    run = incremental_rerun
    expected_meta = sum(spend(YESTERDAY, ad, "St. Andrew") for ad in ("a1", "a2")) + 10
    assert run["fact"][("meta", "Saint Andrew")] == expected_meta
    assert run["fact"][("google_ads", "Saint Andrew")] == Decimal("25.0000")  # newest copy
    assert run["fact"][("meta", "Kingston")] == sum(
        spend(YESTERDAY, ad, "Kingston Parish") for ad in ("a1", "a2")
    )


# 3. the data-contract gate -------------------------------------------------------------------


def test_check_contracts_passes_on_consistent_marts(contract_gate) -> None:
    clean = contract_gate["clean"]
    assert clean.returncode == 0, clean.stderr
    assert "marts_reconcile_with_raw_spend" in clean.stdout
    assert "FAIL" not in clean.stdout


def test_check_contracts_lists_violations_and_exits_non_zero(contract_gate) -> None:
    violated = contract_gate["violated"]
    assert violated.returncode != 0
    errors = [
        line for line in violated.stderr.splitlines() if line.startswith("adinsights: error:")
    ]
    assert errors == ["adinsights: error: 3 data-contract violations in 3 contracts"]
    table = violated.stdout.split("\n\n", 1)[1]  # after the per-contract summary
    rows = [line.split()[:4] for line in table.splitlines()[1:]]
    assert rows == [
        ["marts_reconcile_with_raw_spend", "bravo", "meta", str(YESTERDAY)],
        ["currency_consistent_per_account", "alpha", "meta", "act_1"],
        ["connected_ga4_has_rows", "bravo", "ga4", "tenant"],
    ]


# 4. broken raw rows --------------------------------------------------------------------------


def test_broken_raw_rows_fail_the_right_checks_and_the_run(broken_build) -> None:
    assert not broken_build["result"].success
    checks = broken_build["checks"]
    assert checks["non_negative_stg_meta__insights_spend"] is False
    assert checks["not_null_stg_google_ads__campaign_performance_tenant_id"] is False
    assert checks["non_negative_stg_meta__insights_clicks"] is True
    for record in broken_build["latest"].values():  # what the Dagster UI shows as failed
        assert record.evaluation is not None and record.evaluation.passed is False


def test_failed_blocking_checks_keep_the_snapshot_from_materializing(broken_build) -> None:
    assert not broken_build["snapshot"].success
    assert broken_build["snapshots_after"] == broken_build["snapshots_before"]
    failure = next(e for e in broken_build["snapshot"].all_events if e.is_step_failure)
    message = failure.event_specific_data.error.message
    assert "blocked by failed checks" in message
    assert "non_negative_stg_meta__insights_spend" in message


def test_dbt_health_is_failing_after_the_broken_build(broken_build) -> None:
    body = broken_build["health"]
    assert body["status"] == "failing"
    assert body["last_run_status"] == "failure"
    assert body["test_counts"]["fail"] >= 2
    assert body["counts"] == {"success": 2}  # both staging models built; their tests failed


def test_dbt_freshness_reports_stale_sources_and_exits_non_zero(broken_build, env) -> None:
    result = adinsights(
        "dbt-freshness",
        "--warn-hours", "1",
        "--error-hours", "1",
        "--select", "source:meta.ad_accounts",
        "--select", "source:meta.campaigns",
        **env["env"].environ,
    )  # fmt: skip
    assert result.returncode != 0
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert lines["meta.ad_accounts"][2] == "ERROR"  # loaded 2 hours ago, error after 1
    assert lines["meta.campaigns"][2] == "PASS"  # the daily hierarchy has its own thresholds
    errors = [line for line in result.stderr.splitlines() if line.startswith("adinsights: error:")]
    assert errors == ["adinsights: error: 1 sources past the error threshold: meta.ad_accounts"]
