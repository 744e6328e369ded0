"""Facebook Page insights and post insights through the simulator's page endpoints."""

import logging

import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.warehouse.database import Database, engine
from tests.sql import query
from tests.tenants import onboard
from tests.test_encryption import dump_database


def stored_metrics(db: Database, table: str) -> list[str]:
    """The metrics in ``raw.<table>``, in order."""
    return [row.metric for row in query(db, f"select distinct metric from raw.{table} order by 1")]


def test_pages_land_daily_metrics_and_post_metrics_without_page_tokens(
    instance: DagsterInstance, product_env: Database, keyring
) -> None:
    onboard(product_env, instance, keyring, {"acme": {"meta": "sim_pages_acme"}})
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
    assert set(metrics) == {
        "page_media_view",
        "page_total_media_view_unique",
        "page_post_engagements",
        "page_follows",
    }
    assert all(days >= 20 for days in metrics.values())  # the 28-day window, per day
    assert posts >= 1 and reactions == "object" and orphans == 0
    assert "sim_page_" not in dump_database(product_env)  # page tokens are used, not stored


def test_a_metric_meta_retires_is_dropped_and_recorded_while_the_rest_loads(
    instance: DagsterInstance, product_env: Database, keyring, meta_sim
) -> None:
    """Meta retires ``page_follows`` and ``post_clicks`` (the simulator answers each with #100
    "The value must be a valid insights metric", which fails the whole request): the partition
    still materializes with the other metrics, and each dropped metric is in app.api_error_log
    (once per run: later pages and posts no longer ask for it), in the materialization metadata
    and in a warning of the run's event log."""
    onboard(product_env, instance, keyring, {"acme": {"meta": "sim_pages_acme"}})
    meta_sim.state.configure(retired_metrics=["page_follows", "post_clicks"])
    try:
        result = defs.resolve_job_def("meta_pages").execute_in_process(
            instance=instance, partition_key="acme"
        )
    finally:
        meta_sim.state.configure(retired_metrics=[])
    assert result.success

    assert stored_metrics(product_env, "meta_page_insights") == [
        "page_media_view",
        "page_post_engagements",
        "page_total_media_view_unique",
    ]
    assert stored_metrics(product_env, "meta_post_insights") == [
        "post_media_view",
        "post_reactions_by_type_total",
        "post_total_media_view_unique",
    ]
    logged = query(
        product_env,
        "select tenant_id, error_code, message from app.api_error_log "
        "where message like '%dropped%'",
    )
    assert sorted(logged) == [
        (
            "acme",
            100,
            "(#100) The value must be a valid insights metric: metric page_follows dropped, "
            "the other metrics were loaded",
        ),
        (
            "acme",
            100,
            "(#100) The value must be a valid insights metric: metric post_clicks dropped, "
            "the other metrics were loaded",
        ),
    ]
    dropped = {
        e.materialization.asset_key.path[0]: e.materialization.metadata["dropped_metrics"].value
        for e in result.get_asset_materialization_events()
    }
    assert dropped == {
        "meta_page_insights": ["page_follows"],
        "meta_post_insights": ["post_clicks"],
    }
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "page_follows" in (e.message or "")
    ]
    assert any("Meta rejected page_follows" in w for w in warnings)
