"""The Meta sync assets against the Graph API simulator, through a real Dagster instance."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, ExecuteInProcessResult

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.tenant_store import set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from tests.defs.conftest import MetaTenants
from tests.sql import one, query, scalar

LOOKBACK_DAYS = 5


@pytest.fixture
def tenants(meta_tenants: MetaTenants, meta_sim: MetaSimulator) -> Iterator[list[str]]:
    yield meta_tenants(LOOKBACK_DAYS, {t: f"sim_test_{t}" for t in ("acme", "globex")})
    meta_sim.state.clear_faults()


def sync(instance: DagsterInstance, tenant_id: str) -> ExecuteInProcessResult:
    return defs.resolve_job_def("meta_sync").execute_in_process(
        instance=instance, partition_key=tenant_id, raise_on_error=False
    )


def test_sync_lands_the_lookback_window_of_daily_ad_insights(
    instance: DagsterInstance, product_env: Database, tenants: list[str]
) -> None:
    assert sync(instance, "acme").success
    with engine(product_env).connect() as conn:
        spans = conn.execute(
            sa.text(
                "select i.account_id, a.timezone_name, min(i.date_start), max(i.date_start), "
                "count(*) from raw.meta_insights i join raw.meta_ad_accounts a "
                "on a.tenant_id = i.tenant_id and a.account_id = i.account_id "
                "where i.tenant_id = 'acme' group by 1, 2"
            )
        ).all()
        states = (
            conn.execute(
                sa.text("select last_job_status from app.meta_sync_state where tenant_id = 'acme'")
            )
            .scalars()
            .all()
        )
    assert len(spans) == 2
    for _, zone, first, last, rows in spans:
        # each account's lookback window ends on its own today (Meta's days are the account's)
        today = datetime.now(ZoneInfo(zone)).date()
        assert first == today - timedelta(days=LOOKBACK_DAYS - 1)
        assert last <= today and rows > 0
    assert states == ["succeeded", "succeeded"]
    assert (
        scalar(product_env, "select count(*) from raw.meta_insights where tenant_id='globex'") == 0
    )


def test_rerun_upserts_by_natural_key_without_duplicates(
    instance: DagsterInstance, product_env: Database, tenants: list[str]
) -> None:
    assert sync(instance, "acme").success
    first = scalar(product_env, "select count(*) from raw.meta_insights")
    spend = scalar(product_env, "select sum(spend) from raw.meta_insights")
    assert sync(instance, "acme").success
    assert scalar(product_env, "select count(*) from raw.meta_insights") == first
    assert scalar(product_env, "select sum(spend) from raw.meta_insights") == spend


def test_expired_token_marks_credential_and_deletes_nothing(
    instance: DagsterInstance, product_env: Database, tenants: list[str], keyring: LocalKeyring
) -> None:
    assert sync(instance, "acme").success
    rows_before = scalar(product_env, "select count(*) from raw.meta_insights")
    with engine(product_env).begin() as conn:
        set_credential(conn, keyring, "acme", "meta", "sim_expired_acme")

    assert not sync(instance, "acme").success

    credential = one(
        product_env,
        "select token_status, status_reason from app.platform_credentials where tenant_id = 'acme'",
    )
    error = one(
        product_env,
        "select endpoint, error_code, error_subcode, is_retryable "
        "from app.api_error_log where tenant_id = 'acme'",
    )
    assert tuple(credential) == ("reauth_required", "credential_reauth_required")
    assert scalar(product_env, "select count(*) from raw.meta_insights") == rows_before
    assert error.error_code == 190 and error.error_subcode == 463 and not error.is_retryable
    assert "sim_expired" not in error.endpoint and "access_token" not in error.endpoint
    assert sync(instance, "globex").success  # other tenants are unaffected


def test_denied_account_fails_alone_while_the_others_sync(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    assert sync(instance, "acme").success
    denied = scalar(
        product_env, "select min(account_id) from raw.meta_ad_accounts where tenant_id = 'acme'"
    )
    meta_sim.state.inject(
        f"{denied}/insights",
        count=1,
        http_status=403,
        code=200,
        is_transient=False,
        message="Permissions error",
    )
    assert sync(instance, "acme").success
    states = dict(
        query(
            product_env,
            "select account_id, last_job_status from app.meta_sync_state where tenant_id = 'acme'",
        )
    )
    assert states[denied] == "failed"
    assert [s for a, s in states.items() if a != denied] == ["succeeded"]


def test_transient_errors_are_retried_and_logged(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    meta_sim.state.inject("/insights", count=2, http_status=500, code=2, is_transient=True)
    assert sync(instance, "globex").success
    logged = scalar(
        product_env,
        "select count(*) from app.api_error_log where tenant_id = 'globex' and is_retryable",
    )
    assert logged == 2
    states = scalar(
        product_env,
        "select count(*) from app.meta_sync_state where tenant_id='globex' "
        "and last_job_status = 'succeeded'",
    )
    assert states == 2


def test_sync_reads_campaign_and_account_totals_with_meta_counted_reach(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    meta_sim.state.clear_requests()  # the simulator is shared with earlier tests
    assert sync(instance, "acme").success
    level_reads = [
        r.query
        for r in meta_sim.state.requests
        if r.path.endswith("/insights")
        and r.query.get("level") in ("campaign", "account")
        and "after" not in r.query  # later pages of the same read
    ]
    # one read per level and account, no breakdown, the tenant's attribution sent explicitly
    assert sorted(r["level"] for r in level_reads) == ["account"] * 2 + ["campaign"] * 2
    assert all("breakdowns" not in r for r in level_reads)
    assert all(r.get("use_unified_attribution_setting") == "true" for r in level_reads)
    with engine(product_env).connect() as conn:
        mismatched = conn.execute(
            sa.text(
                """
                -- each account-day's totals against the sum of its ad rows (all regions)
                with ads as (
                    select account_id, date_start, sum(spend) as spend,
                           sum(impressions) as impressions, sum(clicks) as clicks,
                           count(distinct campaign_id) as campaigns
                      from raw.meta_insights where tenant_id = 'acme'
                     group by account_id, date_start
                )
                select count(*) from ads
                  full join (select * from raw.meta_insights_level
                              where tenant_id = 'acme' and level = 'account') l
                    on l.object_id = ads.account_id and l.date_start = ads.date_start
                 where l.spend is distinct from ads.spend
                    or l.impressions is distinct from ads.impressions
                    or l.clicks is distinct from ads.clicks
                """
            )
        ).scalar_one()
        campaign_days = conn.execute(
            sa.text(
                "select count(*) from raw.meta_insights_level "
                "where tenant_id = 'acme' and level = 'campaign'"
            )
        ).scalar_one()
        expected_campaign_days = conn.execute(
            sa.text(
                "select count(distinct (campaign_id, date_start)) from raw.meta_insights "
                "where tenant_id = 'acme'"
            )
        ).scalar_one()
        bad_reach = conn.execute(
            sa.text(
                "select count(*) from raw.meta_insights_level where tenant_id = 'acme' "
                "and (reach is null or reach > impressions or reach < 1)"
            )
        ).scalar_one()
    assert mismatched == 0
    assert campaign_days == expected_campaign_days > 0
    assert bad_reach == 0
