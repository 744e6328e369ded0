"""The GA4 and Search Console assets against the Google simulator, through a real Dagster
instance and PostgreSQL."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, build_schedule_context
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.google.assets import JAMAICA, PACIFIC
from adinsights_pipelines.defs.google.definitions import ga4_sync_hourly
from adinsights_pipelines.defs.google.sources import add_source, deactivate_source
from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.simulators.google import GoogleSimulator
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.sql import query, scalar
from tests.test_encryption import dump_database

GA4_LOOKBACK = 3
SC_LOOKBACK = 5
SOURCES = {
    "acme": {
        "ga4": ["310000101", "310000102"],
        "search_console": ["https://www.acme.jm/"],
    },
    "globex": {"ga4": ["310000201"], "search_console": ["sc-domain:globex.jm"]},
}


def token(tenant_id: str) -> str:
    return f"sim_assets_{tenant_id}_refresh"


@pytest.fixture
def tenants(
    instance: DagsterInstance,
    product_env: Database,
    google_sim: GoogleSimulator,
    keyring: LocalKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[str]]:
    monkeypatch.setenv("ADINSIGHTS_GA4_LOOKBACK_DAYS", str(GA4_LOOKBACK))
    monkeypatch.setenv("ADINSIGHTS_SEARCH_CONSOLE_LOOKBACK_DAYS", str(SC_LOOKBACK))
    # Small pages so every sync pages; short waits between retries.
    monkeypatch.setenv("ADINSIGHTS_GA4_PAGE_SIZE", "100")
    monkeypatch.setenv("ADINSIGHTS_SEARCH_CONSOLE_ROW_LIMIT", "150")
    monkeypatch.setenv("ADINSIGHTS_GOOGLE_BACKOFF_MAX_S", "0.05")
    google_sim.state.reset()
    with engine(product_env).begin() as conn:
        for tenant_id, sources in SOURCES.items():
            add_tenant(conn, tenant_id, tenant_id.title())
            for provider, identifiers in sources.items():
                set_credential(conn, keyring, tenant_id, provider, token(tenant_id))
                for identifier in identifiers:
                    add_source(conn, tenant_id, provider, identifier)
        add_tenant(conn, "no-web", "No Web Analytics")
    instance.add_dynamic_partitions("tenant", [*SOURCES, "no-web"])
    yield list(SOURCES)
    google_sim.state.reset()


def social_status(db: Database, tenant_id: str) -> dict[str, tuple[str, str | None]]:
    with engine(db).begin() as conn:
        key = create_api_key(conn, tenant_id=tenant_id)
    with TestClient(create_app(db)) as client:
        answer = client.get(
            "/api/integrations/social/status/", headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 200
    return {p["platform"]: (p["status"], p["reason"]) for p in answer.json()["platforms"]}


def sync(instance: DagsterInstance, job: str, tenant_id: str) -> ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=tenant_id, raise_on_error=False
    )


def materialization_metadata(instance: DagsterInstance, key: str, tenant_id: str) -> dict:
    event = instance.get_latest_materialization_event(AssetKey(key))
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.partition == tenant_id
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_web_analytics_assets_are_tenant_partitioned_in_their_group() -> None:
    graph = defs.resolve_asset_graph()
    for key in ("ga4_daily", "search_console_daily"):
        node = graph.get(AssetKey(key))
        assert getattr(node.partitions_def, "name", None) == "tenant"
        assert node.group_name == "web_analytics"


def test_ga4_sync_lands_the_lookback_window_for_each_property(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    google_sim: GoogleSimulator,
) -> None:
    assert sync(instance, "ga4_sync", "acme").success

    today = datetime.now(JAMAICA).date()
    span = query(
        product_env,
        "select property_id, min(date), max(date), count(*) from raw.ga4_daily "
        "where tenant_id = 'acme' group by property_id order by property_id",
    )
    assert [r[0] for r in span] == SOURCES["acme"]["ga4"]
    for _, first, last, count in span:
        assert first == today - timedelta(days=GA4_LOOKBACK - 1) and last == today
        assert count > 100  # more than one page of 100
    assert scalar(product_env, "select count(*) from raw.ga4_daily where tenant_id <> 'acme'") == 0
    assert "Saint Andrew Parish" in {
        r[0] for r in query(product_env, "select distinct region from raw.ga4_daily")
    }
    offsets = [r.body["offset"] for r in google_sim.state.requests if ":runReport" in r.path]
    assert 0 in offsets and max(offsets) >= 100
    assert google_sim.state.request_count("/token") == 1  # one exchange per run

    metadata = materialization_metadata(instance, "ga4_daily", "acme")
    total = scalar(product_env, "select count(*) from raw.ga4_daily")
    assert metadata["rows_upserted"] == total
    assert metadata["window_since"] == (today - timedelta(days=GA4_LOOKBACK - 1)).isoformat()
    assert metadata["window_until"] == today.isoformat()
    assert metadata["property_ids"] == ", ".join(SOURCES["acme"]["ga4"])
    states = query(
        product_env,
        "select last_job_status, synced_through from app.web_analytics_sources "
        "where tenant_id = 'acme' and provider = 'ga4'",
    )
    assert states == [("succeeded", today)] * 2


def test_ga4_rerun_updates_recent_days_in_place(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    google_sim: GoogleSimulator,
) -> None:
    old_day = datetime.now(JAMAICA).date() - timedelta(days=30)
    with engine(product_env).begin() as conn:
        conn.execute(
            sa.text(
                "insert into raw.ga4_daily (tenant_id, property_id, date, region, "
                "session_default_channel_group, sessions) "
                "values ('globex', '310000201', :d, 'Kingston Parish', 'Direct', 999)"
            ),
            {"d": old_day},
        )
    assert sync(instance, "ga4_sync", "globex").success
    count_sql = "select count(*) from raw.ga4_daily where tenant_id = 'globex'"
    recent_sql = "select sum(sessions) from raw.ga4_daily where tenant_id = 'globex' and date = :d"
    today = datetime.now(JAMAICA).date()
    first_count = scalar(product_env, count_sql)
    first_sessions = scalar(product_env, recent_sql, d=today)

    google_sim.state.advance(timedelta(hours=12))  # GA4 keeps processing today's data
    assert sync(instance, "ga4_sync", "globex").success

    assert scalar(product_env, count_sql) == first_count  # updated in place, no duplicates
    assert scalar(product_env, recent_sql, d=today) > first_sessions
    # Outside the lookback window nothing is touched.
    assert scalar(product_env, recent_sql.replace("sum(sessions)", "max(sessions)"), d=old_day) == (
        999
    )


def test_search_console_rows_move_from_all_to_final(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    google_sim: GoogleSimulator,
) -> None:
    assert sync(instance, "search_console_sync", "acme").success
    today = datetime.now(PACIFIC).date()
    by_state = dict(
        query(
            product_env,
            "select data_state, count(distinct date) from raw.search_console_daily "
            "where tenant_id = 'acme' group by data_state",
        )
    )
    assert by_state == {"all": 3, "final": SC_LOOKBACK - 3}
    fresh_before = dict(
        query(
            product_env,
            "select date, sum(clicks) from raw.search_console_daily "
            "where tenant_id = 'acme' and data_state = 'all' group by date",
        )
    )
    count_before = scalar(product_env, "select count(*) from raw.search_console_daily")
    starts = [r.body["startRow"] for r in google_sim.state.requests if "searchAnalytics" in r.path]
    assert starts[:2] == [0, 150]  # paged by startRow
    metadata = materialization_metadata(instance, "search_console_daily", "acme")
    assert metadata["rows_upserted"] == count_before and metadata["rows_fresh"] > 0
    assert metadata["site_urls"] == "https://www.acme.jm/"

    google_sim.state.advance(timedelta(days=3))  # Google finalises the fresh days
    assert sync(instance, "search_console_sync", "acme").success

    assert scalar(product_env, "select count(*) from raw.search_console_daily") == count_before
    assert {
        r[0] for r in query(product_env, "select distinct data_state from raw.search_console_daily")
    } == {"final"}
    fresh_after = dict(
        query(
            product_env,
            "select date, sum(clicks) from raw.search_console_daily "
            "where tenant_id = 'acme' and date = any(:days) group by date",
            days=list(fresh_before),
        )
    )
    assert all(fresh_after[d] >= fresh_before[d] for d in fresh_before)
    assert max(fresh_before) == today


def test_revoked_refresh_token_marks_reauth_and_keeps_rows(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    google_sim: GoogleSimulator,
    capfd: pytest.CaptureFixture[str],
) -> None:
    first = sync(instance, "ga4_sync", "acme")
    assert first.success
    rows_before = scalar(product_env, "select count(*) from raw.ga4_daily")
    google_sim.state.revoke(token("acme"))

    failed = sync(instance, "ga4_sync", "acme")
    assert not failed.success
    credential = query(
        product_env,
        "select token_status, status_reason from app.platform_credentials "
        "where tenant_id = 'acme' and provider = 'ga4'",
    )
    assert credential == [("reauth_required", "credential_reauth_required")]
    assert scalar(product_env, "select count(*) from raw.ga4_daily") == rows_before
    error = query(
        product_env,
        "select provider, endpoint, http_status, is_retryable, message from app.api_error_log "
        "where tenant_id = 'acme'",
    )
    assert [tuple(e[:4]) for e in error] == [("ga4", "/token", 400, False)]
    assert token("acme") not in error[0].message

    exchanges = google_sim.state.request_count("/token")
    assert not sync(instance, "ga4_sync", "acme").success  # fails fast: no call to Google
    assert google_sim.state.request_count("/token") == exchanges
    # Other tenants are unaffected.
    assert sync(instance, "ga4_sync", "globex").success

    platforms = social_status(product_env, "acme")
    assert platforms["ga4"] == ("started_not_complete", "credential_reauth_required")
    assert platforms["search_console"] == ("started_not_complete", "no_accounts_synced")
    assert social_status(product_env, "globex")["ga4"] == ("active", None)

    # Neither the refresh token nor any access token is stored or logged anywhere.
    access_tokens = list(google_sim.state._grants)
    haystacks = [dump_database(product_env), *capfd.readouterr()]
    haystacks += [repr(r) for run in (first, failed) for r in instance.all_logs(run.run_id)]
    for secret in (token("acme"), *access_tokens):
        assert all(secret not in text for text in haystacks)


def test_transient_errors_are_retried_and_logged(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    google_sim: GoogleSimulator,
) -> None:
    google_sim.state.inject(":runReport", count=2, http_status=503)
    google_sim.state.inject("searchAnalytics", count=1, http_status=429)
    assert sync(instance, "ga4_sync", "globex").success
    assert sync(instance, "search_console_sync", "globex").success
    logged = query(
        product_env,
        "select provider, http_status, is_retryable, endpoint from app.api_error_log "
        "where tenant_id = 'globex' order by id",
    )
    assert [tuple(r[:3]) for r in logged] == [
        ("ga4", 503, True),
        ("ga4", 503, True),
        ("search_console", 429, True),
    ]
    assert logged[2].endpoint == (
        "/webmasters/v3/sites/sc-domain%3Aglobex.jm/searchAnalytics/query"
    )


def test_denied_property_fails_alone(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    google_sim: GoogleSimulator,
) -> None:
    denied, allowed = SOURCES["acme"]["ga4"]
    google_sim.state.configure(deny_properties=[denied])
    assert sync(instance, "ga4_sync", "acme").success
    states = dict(
        query(
            product_env,
            "select property_id, last_job_status from app.web_analytics_sources "
            "where tenant_id = 'acme' and provider = 'ga4'",
        )
    )
    assert states == {denied: "failed", allowed: "succeeded"}
    stored = {r[0] for r in query(product_env, "select distinct property_id from raw.ga4_daily")}
    assert stored == {allowed}
    metadata = materialization_metadata(instance, "ga4_daily", "acme")
    assert list(metadata["properties_failed"]) == [denied]

    google_sim.state.configure(deny_properties=[denied, allowed])
    assert not sync(instance, "ga4_sync", "acme").success  # every property failed


def test_schedule_runs_only_tenants_with_an_active_source(
    product_env: Database, keyring: LocalKeyring, tmp_path
) -> None:
    with engine(product_env).begin() as conn:
        for tenant_id in ("acme", "globex", "no-web", "gone"):
            add_tenant(conn, tenant_id, tenant_id)
        add_source(conn, "acme", "ga4", "310000101")
        add_source(conn, "globex", "ga4", "310000201")
        add_source(conn, "globex", "search_console", "sc-domain:globex.jm")
        add_source(conn, "no-web", "search_console", "sc-domain:no-web.jm")
        add_source(conn, "gone", "ga4", "310000301")
        deactivate_source(conn, "gone", "ga4", "310000301")
    (tmp_path / "instance").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "instance")) as instance:
        instance.add_dynamic_partitions("tenant", ["acme", "globex", "no-web", "gone"])
        with build_schedule_context(
            instance=instance,
            resources={"warehouse": WarehouseResource(database_url=product_env.plain_url)},
            scheduled_execution_time=datetime(2026, 3, 2, 9, tzinfo=JAMAICA),
            repository_def=defs.get_repository_def(),
        ) as context:
            requests = ga4_sync_hourly.evaluate_tick(context).run_requests or []
    assert sorted((r.partition_key, r.tags["tenant_id"]) for r in requests) == [
        ("acme", "acme"),
        ("globex", "globex"),
    ]
    assert ga4_sync_hourly.cron_schedule == "0 6-22 * * *"
    assert ga4_sync_hourly.execution_timezone == "America/Jamaica"
