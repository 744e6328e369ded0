"""Campaigns, ad sets and ads land with status, objective, budgets and Meta's times."""

from datetime import datetime

from dagster import DagsterInstance

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.meta.hierarchy import graph_time
from adinsights_pipelines.warehouse.database import Database
from tests.sql import one, scalar
from tests.tenants import onboard


def test_graph_time_parses_metas_offset_format() -> None:
    parsed = graph_time("2024-03-12T15:02:47-0700")
    assert parsed == datetime.fromisoformat("2024-03-12T22:02:47+00:00")
    assert graph_time(None) is None


def test_hierarchy_lands_consistent_campaigns_adsets_and_ads(
    instance: DagsterInstance, product_env: Database, keyring
) -> None:
    onboard(product_env, instance, keyring, {"acme": {"meta": "sim_hierarchy_acme"}})
    accounts = defs.resolve_job_def("meta_sync").execute_in_process(
        instance=instance, partition_key="acme", asset_selection=None
    )
    assert accounts.success
    for _ in range(2):  # a re-run upserts, never duplicates
        result = defs.resolve_job_def("meta_hierarchy_sync").execute_in_process(
            instance=instance, partition_key="acme"
        )
        assert result.success

    counts = one(
        product_env,
        "select (select count(*) from raw.meta_campaigns), "
        "(select count(*) from raw.meta_adsets), (select count(*) from raw.meta_ads)",
    )
    orphans = scalar(
        product_env,
        "select count(*) from raw.meta_ads a left join raw.meta_adsets s "
        "on s.tenant_id = a.tenant_id and s.adset_id = a.adset_id where s.adset_id is null",
    )
    campaign = one(
        product_env,
        "select status, effective_status, objective, daily_budget, created_time "
        "from raw.meta_campaigns limit 1",
    )
    # every ad seen in insights has its ad row
    missing = scalar(
        product_env,
        "select count(distinct i.ad_id) from raw.meta_insights i left join raw.meta_ads a "
        "on a.tenant_id = i.tenant_id and a.ad_id = i.ad_id where a.ad_id is null",
    )
    assert all(c > 0 for c in counts) and counts[0] <= counts[1] <= counts[2]
    assert orphans == 0 and missing == 0
    assert campaign.status and campaign.effective_status and campaign.objective
    assert campaign.created_time is not None
