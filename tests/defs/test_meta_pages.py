"""Facebook Page insights and post insights through the simulator's page endpoints."""

import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.tenants import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from tests.test_encryption import dump_database


def test_pages_land_daily_metrics_and_post_metrics_without_page_tokens(
    instance: DagsterInstance, product_env: Database, keyring
) -> None:
    with engine(product_env).begin() as conn:
        add_tenant(conn, "acme", "Acme")
        set_credential(conn, keyring, "acme", "meta", "sim_pages_acme")
    instance.add_dynamic_partitions("tenant", ["acme"])
    for _ in range(2):  # re-runs upsert, never duplicate
        result = defs.resolve_job_def("meta_pages").execute_in_process(
            instance=instance, partition_key="acme"
        )
        assert result.success

    with engine(product_env).connect() as conn:
        pages = conn.execute(sa.text("select count(*) from raw.meta_pages")).scalar_one()
        metrics = dict(
            conn.execute(
                sa.text(
                    "select metric, count(distinct end_time) from raw.meta_page_insights "
                    "group by metric"
                )
            ).all()
        )
        posts = conn.execute(sa.text("select count(*) from raw.meta_posts")).scalar_one()
        reactions = conn.execute(
            sa.text(
                "select jsonb_typeof(value) from raw.meta_post_insights "
                "where metric = 'post_reactions_by_type_total' limit 1"
            )
        ).scalar()
        orphans = conn.execute(
            sa.text(
                "select count(*) from raw.meta_post_insights i left join raw.meta_posts p "
                "using (tenant_id, post_id) where p.post_id is null"
            )
        ).scalar_one()
    assert pages >= 1
    assert set(metrics) >= {"page_impressions", "page_post_engagements"}
    assert all(days >= 20 for days in metrics.values())  # the 28-day window, per day
    assert posts >= 1 and reactions == "object" and orphans == 0
    assert "sim_page_" not in dump_database(product_env)  # page tokens are used, not stored
