"""``/api/ops/sync-health/`` and ``/api/ops/health-overview/`` over real warehouse rows and a real
Dagster instance."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from dagster import AssetMaterialization, DagsterInstance
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import engine
from api.app import create_app
from tests.dagster_internals import DaemonHeartbeat

SYNC, OVERVIEW = "/api/ops/sync-health/", "/api/ops/health-overview/"


@pytest.fixture
def world(instance: DagsterInstance, product_env) -> Iterator[tuple[TestClient, dict[str, str]]]:
    now = datetime.now(UTC)
    with engine(product_env).begin() as conn:
        for tenant in ("acme", "blue"):
            add_tenant(conn, tenant, tenant)
        conn.execute(
            sa.text(
                "insert into app.meta_sync_state (tenant_id, account_id, last_job_status, "
                "last_job_error, last_synced_at, last_success_at) values "
                "('acme', 'act_1', 'succeeded', null, :fresh, :fresh), "
                "('acme', 'act_2', 'failed', '(#200) access denied', :fresh, :old), "
                "('blue', 'act_3', 'succeeded', null, :old, :old)"
            ),
            {"fresh": now - timedelta(minutes=10), "old": now - timedelta(hours=5)},
        )
        conn.execute(
            sa.text(
                "insert into app.airbyte_connections (connection_id, tenant_id, provider) values "
                "('conn-acme-gads', 'acme', 'google_ads'), ('conn-acme-ga4', 'acme', 'ga4'), "
                "('conn-blue-gads', 'blue', 'google_ads')"
            )
        )
        conn.execute(
            sa.text(
                "insert into app.airbyte_jobs (connection_id, job_id, tenant_id, status, "
                "records_synced, finished_at, error) values "
                "('conn-acme-gads', 1, 'acme', 'succeeded', 120, :recent, null), "
                "('conn-blue-gads', 7, 'blue', 'succeeded', 90, :old, null), "
                "('conn-blue-gads', 8, 'blue', 'failed', 0, :recent, 'source timed out')"
            ),
            {"recent": now - timedelta(minutes=20), "old": now - timedelta(hours=3)},
        )
        conn.execute(
            sa.text(
                "insert into app.metrics_snapshots (tenant_id, payload, snapshot_generated_at) "
                "values ('acme', '{}', :at)"
            ),
            {"at": now - timedelta(minutes=10)},
        )
        keys = {
            "acme": create_api_key(conn, tenant_id="acme"),
            "operator": create_api_key(conn, tenant_id=None, operator=True),
        }
    instance.add_dynamic_partitions(TENANT_PARTITIONS, ["acme", "blue"])
    instance.report_runless_asset_event(AssetMaterialization("meta_insights", partition="acme"))
    for daemon in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - 5, daemon, "test", None))
    with TestClient(create_app(product_env)) as client:
        yield client, keys


def get(client: TestClient, url: str, key: str, **params) -> dict:
    response = client.get(url, params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def connections(tenant: dict) -> dict[tuple[str, str], dict]:
    return {(c["kind"], c["connection"]): c for c in tenant["connections"]}


def test_sync_health_rolls_up_every_tenant_for_an_operator(world) -> None:
    client, keys = world
    body = get(client, SYNC, keys["operator"])
    assert [t["tenant_id"] for t in body["tenants"]] == ["acme", "blue"]
    acme, blue = body["tenants"]
    a = connections(acme)
    assert a[("meta_account", "act_1")]["state"] == "fresh"
    assert a[("meta_account", "act_2")]["state"] == "failing"
    assert a[("meta_account", "act_2")]["detail"] == "(#200) access denied"
    assert a[("airbyte_connection", "conn-acme-gads")]["state"] == "fresh"
    assert a[("airbyte_connection", "conn-acme-gads")]["age_minutes"] == pytest.approx(20, abs=1)
    assert a[("airbyte_connection", "conn-acme-ga4")]["state"] == "missing"
    assert a[("asset", "meta_insights")] | {"age_minutes": None, "last_synced_at": None} == {
        "platform": "meta",
        "kind": "asset",
        "connection": "meta_insights",
        "state": "fresh",
        "last_synced_at": None,
        "age_minutes": None,
        "last_job_status": None,
        "detail": None,
    }
    assert a[("metrics_snapshot", "metrics_snapshot")]["state"] == "fresh"
    assert acme["state"] == "failing"
    assert acme["counts"] == {"fresh": 4, "stale": 0, "failing": 1, "missing": 1, "error": 0}
    b = connections(blue)
    assert b[("meta_account", "act_3")]["state"] == "stale"
    failing = b[("airbyte_connection", "conn-blue-gads")]
    assert (failing["state"], failing["last_job_status"]) == ("failing", "failed")
    assert failing["detail"] == "job 8: source timed out"
    assert b[("metrics_snapshot", "metrics_snapshot")]["state"] == "missing"
    assert blue["counts"] == {"fresh": 0, "stale": 1, "failing": 1, "missing": 1, "error": 0}
    assert body["counts"] == {"fresh": 4, "stale": 1, "failing": 2, "missing": 2, "error": 0}


def test_sync_health_is_tenant_scoped_and_pages(world) -> None:
    client, keys = world
    own = get(client, SYNC, keys["acme"])
    assert [t["tenant_id"] for t in own["tenants"]] == ["acme"]
    assert own["counts"] == {"fresh": 4, "stale": 0, "failing": 1, "missing": 1, "error": 0}
    refused = client.get(
        SYNC, params={"tenant_id": "blue"}, headers={"Authorization": f"Bearer {keys['acme']}"}
    )
    assert refused.status_code == 403
    one = get(client, SYNC, keys["operator"], tenant_id="blue")
    assert [t["tenant_id"] for t in one["tenants"]] == ["blue"]

    first = get(client, SYNC, keys["operator"], limit=1)
    assert [t["tenant_id"] for t in first["tenants"]] == ["acme"] and first["next_cursor"]
    second = get(client, SYNC, keys["operator"], limit=1, cursor=first["next_cursor"])
    assert [t["tenant_id"] for t in second["tenants"]] == ["blue"]
    assert second["next_cursor"] is None
    bad = client.get(
        SYNC, params={"cursor": "%%%"}, headers={"Authorization": f"Bearer {keys['operator']}"}
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert client.get(SYNC).status_code == 401


def test_health_overview_has_a_card_per_service(world, monkeypatch) -> None:
    client, keys = world
    monkeypatch.setenv("ADINSIGHTS_SUPERSET_HEALTH_URL", "http://127.0.0.1:1/health")
    body = get(client, OVERVIEW, keys["operator"])
    cards = {c["service"]: c for c in body["cards"]}
    assert list(cards) == [
        "api",
        "database",
        "dagster_daemon",
        "dbt",
        "airbyte",
        "meta_sync",
        "metrics_snapshots",
        "fx_rates",
        "superset",
        "meta_api_version",
    ]
    assert cards["api"]["status"] == "ok"
    assert cards["database"]["status"] == "ok"
    daemon = cards["dagster_daemon"]
    assert daemon["status"] == "ok"
    assert daemon["detail"].startswith("scheduler heartbeat")
    assert 4 <= daemon["heartbeat_age_seconds"]["SCHEDULER"] < 60
    assert (cards["dbt"]["status"], cards["dbt"]["detail"]) == (
        "stale",
        "no dbt_build run has finished yet",
    )
    assert cards["airbyte"]["status"] == "failing"
    assert cards["airbyte"]["counts"] == {
        "fresh": 1,
        "stale": 0,
        "failing": 1,
        "missing": 1,
        "error": 0,
    }
    assert cards["meta_sync"]["status"] == "failing"
    assert cards["metrics_snapshots"]["status"] == "ok"  # blue is too new to be overdue
    assert cards["fx_rates"]["status"] == "ok"  # the suite's rate history covers every day
    assert cards["fx_rates"]["quotes"] == ["JMD"]  # the tenants' reporting currency
    assert cards["fx_rates"]["missing_days"] == []
    assert cards["superset"]["status"] == "error"
    assert body["status"] == "degraded"

    own = {c["service"]: c for c in get(client, OVERVIEW, keys["acme"])["cards"]}
    assert own["airbyte"]["counts"] == {
        "fresh": 1,
        "stale": 0,
        "failing": 0,
        "missing": 1,
        "error": 0,
    }
    assert own["airbyte"]["status"] == "no_recent_sync"


def test_daemon_card_reports_a_stopped_daemon(world, instance) -> None:
    client, keys = world
    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - 600, "SCHEDULER", "test", None))
    cards = {c["service"]: c for c in get(client, OVERVIEW, keys["operator"])["cards"]}
    daemon = cards["dagster_daemon"]
    assert daemon["status"] == "stale"
    assert "late or missing: SCHEDULER" in daemon["detail"]
    instance.wipe_daemon_heartbeats()
    cards = {c["service"]: c for c in get(client, OVERVIEW, keys["operator"])["cards"]}
    assert cards["dagster_daemon"]["status"] == "missing"


def test_meta_api_version_card_goes_ok_warning_error_as_the_clock_passes_the_sunset(
    world, monkeypatch
) -> None:
    """v25.0's Marketing API sunset is 2027-02-23 (graph_versions.toml): ok until 90 days
    before, warning from then, error from the sunset day on."""
    client, keys = world
    monkeypatch.setenv("ADINSIGHTS_META_API_VERSION", "v25.0")
    seen = []
    for moment in (
        datetime(2026, 11, 24, 12, tzinfo=UTC),  # 91 days before
        datetime(2026, 11, 25, 12, tzinfo=UTC),  # 90 days before
        datetime(2027, 2, 22, 12, tzinfo=UTC),  # the last day
        datetime(2027, 2, 23, 0, 30, tzinfo=UTC),  # sunset day
    ):
        with time_machine.travel(moment, tick=False):
            cards = {c["service"]: c for c in get(client, OVERVIEW, keys["operator"])["cards"]}
        card = cards["meta_api_version"]
        seen.append((card["status"], card["days_left"]))
        assert (card["version"], card["sunset"], card["latest"]) == (
            "v25.0",
            "2027-02-23",
            "v27.0",
        )
    assert seen == [("ok", 91), ("warning", 90), ("warning", 1), ("error", 0)]
    assert "move to v27.0" in card["detail"]

    monkeypatch.setenv("ADINSIGHTS_META_API_VERSION", "v26.0")
    card = {c["service"]: c for c in get(client, OVERVIEW, keys["operator"])["cards"]}[
        "meta_api_version"
    ]
    assert (card["status"], card["sunset"]) == ("ok", None)


def test_fx_rates_card_names_carried_forward_and_missing_days(world, product_env) -> None:
    client, keys = world
    today = datetime.now(UTC).date()
    carried, missing = today - timedelta(days=6), today - timedelta(days=3)
    with engine(product_env).begin() as conn:
        conn.execute(
            sa.text("delete from raw.fx_rates_daily where rate_date in (:m, :t)"),
            {"m": missing, "t": today},
        )
        conn.execute(
            sa.text(
                "update raw.fx_rates_daily set carried_from = rate_date - 1 "
                "where rate_date = :c and quote = 'JMD'"
            ),
            {"c": carried},
        )
    card = next(
        c for c in get(client, OVERVIEW, keys["operator"])["cards"] if c["service"] == "fx_rates"
    )
    assert card["status"] == "stale"
    assert card["missing_days"] == [missing.isoformat()]
    assert card["carried_forward_days"] == [carried.isoformat()]
    assert f"missing {missing.isoformat()}" in card["detail"]
    assert "1 carried-forward and 1 missing days in the last 30" in card["detail"]


def test_meta_sync_card_lists_accounts_whose_zone_is_not_the_reporting_zone(
    world, product_env, monkeypatch
) -> None:
    client, keys = world
    with engine(product_env).begin() as conn:
        conn.execute(
            sa.text(
                "insert into raw.meta_ad_accounts (tenant_id, account_id, name, currency, "
                "timezone_name, account_status) values "
                "('acme', 'act_1', 'Kingston', 'JMD', 'America/Jamaica', 1), "
                "('acme', 'act_2', 'Tokyo', 'JPY', 'Asia/Tokyo', 1), "
                "('acme', 'act_5', 'No zone', 'JMD', null, 1), "
                "('blue', 'act_3', 'New York', 'USD', 'America/New_York', 1), "
                "('blue', 'act_4', 'Not chosen', 'USD', 'Europe/London', 1)"
            )
        )
        # blue chose act_3 only: act_4 is not synced, its zone does not matter
        conn.execute(
            sa.text(
                "insert into app.meta_selection (tenant_id, kind, object_id) "
                "values ('blue', 'ad_account', 'act_3')"
            )
        )

    def meta_card(key: str) -> dict:
        cards = {c["service"]: c for c in get(client, OVERVIEW, key)["cards"]}
        return cards["meta_sync"]

    card = meta_card(keys["operator"])
    assert card["reporting_timezone"] == "America/Jamaica"
    assert card["timezone_mismatch"] == [
        {
            "tenant_id": "acme",
            "platform": "meta",
            "account_id": "act_2",
            "timezone_name": "Asia/Tokyo",
        },
        {
            "tenant_id": "blue",
            "platform": "meta",
            "account_id": "act_3",
            "timezone_name": "America/New_York",
        },
    ]
    assert card["status"] == "failing"  # a fact to know, not a failure: the status is the sync's
    # a tenant key sees its own accounts only
    assert [m["account_id"] for m in meta_card(keys["acme"])["timezone_mismatch"]] == ["act_2"]

    monkeypatch.setenv("ADINSIGHTS_REPORTING_TIMEZONE", "Asia/Tokyo")
    card = meta_card(keys["operator"])
    assert card["reporting_timezone"] == "Asia/Tokyo"
    assert [(m["account_id"], m["timezone_name"]) for m in card["timezone_mismatch"]] == [
        ("act_1", "America/Jamaica"),
        ("act_3", "America/New_York"),
    ]


def test_the_reporting_zone_must_be_an_iana_zone() -> None:
    from pydantic import ValidationError

    from adinsights_pipelines.settings import Settings

    assert Settings().reporting_timezone == "America/Jamaica"
    assert Settings(reporting_timezone="Europe/London").reporting_timezone == "Europe/London"
    with pytest.raises(ValidationError, match="'Mars/Olympus' is not an IANA time zone"):
        Settings(reporting_timezone="Mars/Olympus")
