"""One row no view can interpret (a time PostgreSQL stores and Python cannot hold) is planted
directly in the database, as issue 21's webhook once stored it: every health, ops and status
view still answers, that tenant's entry says ``error`` with the reason (logged once), and the
other tenant's state and alerts are unaffected."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.alerts.delivery import SlackChannel
from adinsights_pipelines.defs.alerts.evaluate import evaluate_alerts
from adinsights_pipelines.defs.freshness_policies import State
from adinsights_pipelines.defs.tenants.partitions import TENANT_PARTITIONS
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.alert_sinks import WebhookSink
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES

GOOD, BAD = "good-co", "bad-co"
GOOD_CONNECTION = "11111111-1111-4111-8111-111111111111"
BAD_CONNECTION = "22222222-2222-4222-8222-222222222222"
# What the webhook stored: 9999-12-31T23:59:59-05:00 is this in UTC.
YEAR_10000 = "10000-01-01 04:59:59+00"


def plant(db: Database, now: datetime) -> str:
    """Two tenants, each with an Airbyte connection and a Meta account; the good tenant's
    last Airbyte job failed (an alert is due), the bad tenant's newest success finished in year
    10000 and its Meta success is ``infinity``. Returns an operator key."""
    with engine(db).begin() as conn:
        for tenant, connection, status in (
            (GOOD, GOOD_CONNECTION, "failed"),
            (BAD, BAD_CONNECTION, "succeeded"),
        ):
            add_tenant(conn, tenant, tenant)
            conn.execute(
                sa.text(
                    "insert into app.airbyte_connections (connection_id, tenant_id, provider, "
                    "source_account_id) values (:c, :t, 'google_ads', :a)"
                ),
                {"c": connection, "t": tenant, "a": connection[:10]},
            )
            conn.execute(
                sa.text(
                    "insert into app.airbyte_jobs (connection_id, job_id, tenant_id, status, "
                    "started_at, finished_at, error) values (:c, 7, :t, :s, :a, :b, :e)"
                ),
                {
                    "c": connection,
                    "t": tenant,
                    "s": status,
                    "a": now - timedelta(minutes=20),
                    "b": now - timedelta(minutes=10),
                    "e": "token revoked" if status == "failed" else None,
                },
            )
            conn.execute(
                sa.text(
                    "insert into app.meta_sync_state (tenant_id, account_id, last_job_status, "
                    "last_synced_at, last_success_at) values (:t, 'act_1', 'succeeded', :a, :a)"
                ),
                {"t": tenant, "a": now - timedelta(minutes=5)},
            )
        # the bad rows, written as a buggy writer (or a hand edit) would
        conn.execute(
            sa.text(
                "update app.airbyte_jobs set finished_at = cast(:ts as timestamptz) "
                "where tenant_id = :t"
            ),
            {"ts": YEAR_10000, "t": BAD},
        )
        conn.execute(
            sa.text(
                "update app.meta_sync_state set last_success_at = 'infinity' where tenant_id = :t"
            ),
            {"t": BAD},
        )
        return create_api_key(conn, tenant_id=None, operator=True)


@pytest.fixture
def planted(instance: DagsterInstance, product_env: Database) -> tuple[TestClient, str]:
    instance.add_dynamic_partitions(TENANT_PARTITIONS, [GOOD, BAD])
    key = plant(product_env, datetime.now(UTC))
    app = create_app(product_env, Settings().model_copy(update=NO_THROTTLES))
    return TestClient(app), key


def test_every_view_answers_and_reports_only_that_tenant_as_error(
    planted: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, key = planted
    auth = {"Authorization": f"Bearer {key}"}
    caplog.set_level(logging.ERROR, logger="adinsights.warehouse")

    sync = client.get("/api/ops/sync-health/", headers=auth)
    assert sync.status_code == 200
    tenants = {t["tenant_id"]: t for t in sync.json()["tenants"]}
    assert tenants[BAD]["state"] == "error"
    bad = {(c["kind"], c["connection"]): c for c in tenants[BAD]["connections"]}
    assert bad[("airbyte_connection", BAD_CONNECTION)]["state"] == "error"
    assert "10000-01-01" in bad[("airbyte_connection", BAD_CONNECTION)]["detail"]
    assert bad[("meta_account", "act_1")]["state"] == "error"
    assert "infinity" in bad[("meta_account", "act_1")]["detail"]
    good = {(c["kind"], c["connection"]): c for c in tenants[GOOD]["connections"]}
    assert good[("airbyte_connection", GOOD_CONNECTION)]["state"] == "failing"
    assert good[("meta_account", "act_1")]["state"] == "fresh"
    assert sync.json()["counts"]["error"] == 2

    overview = client.get("/api/ops/health-overview/", headers=auth)
    assert overview.status_code == 200
    cards = {c["service"]: c for c in overview.json()["cards"]}
    assert cards["airbyte"]["status"] == "error"
    assert cards["airbyte"]["counts"] == {
        "fresh": 0,
        "stale": 0,
        "failing": 1,
        "missing": 0,
        "error": 1,
    }
    assert f"{BAD} {BAD_CONNECTION}: unreadable row" in cards["airbyte"]["detail"]
    assert cards["meta_sync"]["status"] == "error"
    assert cards["database"]["status"] == "ok"

    social = client.get(f"/api/integrations/social/status/?tenant_id={BAD}", headers=auth)
    assert social.status_code == 200
    platforms = {p["platform"]: p for p in social.json()["platforms"]}
    assert platforms["google_ads"]["status"] == "error"
    assert "10000-01-01" in platforms["google_ads"]["reason"]
    assert platforms["meta"]["status"] == "error"
    assert platforms["ga4"]["status"] == "not_connected"
    good_social = client.get(f"/api/integrations/social/status/?tenant_id={GOOD}", headers=auth)
    assert {p["platform"]: p["status"] for p in good_social.json()["platforms"]} == {
        "meta": "not_connected",
        "google_ads": "started_not_complete",  # a connection, no successful job yet
        "ga4": "not_connected",
        "search_console": "not_connected",
    }

    health = client.get("/api/health/airbyte/", headers=auth)
    assert health.status_code == 503
    connections = {c["tenant_id"]: c for c in health.json()["connections"]}
    assert connections[BAD]["status"] == "error" and "10000" in connections[BAD]["error"]
    assert connections[GOOD]["status"] == "failing"

    telemetry = client.get("/api/airbyte/telemetry/", headers=auth)
    assert telemetry.status_code == 200
    states = {r["tenant_id"]: r["sync_status_state"] for r in telemetry.json()["results"]}
    assert states == {BAD: "error", GOOD: "missing"}

    metrics = client.get("/metrics/app/")
    assert metrics.status_code == 200
    samples = {
        (s.name, s.labels.get("tenant_id") or s.labels.get("source")): s.value
        for family in text_string_to_metric_families(metrics.text)
        for s in family.samples
    }
    assert samples[("app_metrics_source_up", "warehouse")] == 1.0
    assert samples[("app_metrics_unreadable_values", None)] == 2.0
    assert ("meta_sync_age_seconds", GOOD) in samples
    assert ("meta_sync_age_seconds", BAD) not in samples
    assert ("airbyte_sync_age_seconds", BAD) not in samples
    assert samples[("metrics_snapshot_age_seconds", BAD)] == float("inf")

    # Asked again: still answering, and each unreadable row was logged once per view.
    assert client.get("/api/ops/sync-health/", headers=auth).status_code == 200
    lines = [
        (r.view, r.tenant_id)
        for r in caplog.records
        if r.getMessage() == "unreadable row reported as error"
    ]
    assert lines.count(("airbyte_connection_health", BAD)) == 1
    assert lines.count(("meta_account_health", BAD)) == 1
    assert all(tenant == BAD for _, tenant in lines)


def test_the_alert_sensor_still_alerts_for_the_other_tenant(planted, instance) -> None:
    now = datetime.now(UTC)
    with WebhookSink() as slack:
        evaluation = evaluate_alerts(
            instance,
            engine(Database.from_url(str(Settings().database_url))),
            defs.resolve_asset_graph(),
            None,
            [SlackChannel(slack.url, retry_wait_seconds=0.01)],
            now,
        )
        posted = [str(p.body) for p in slack.posts]
    by_subject = {o.subject: o for o in evaluation.observations}
    good = by_subject[f"connection:airbyte:{GOOD_CONNECTION}"]
    assert good.state is State.FAIL and good.summary.endswith(f"failing for {GOOD}")
    bad = by_subject[f"connection:airbyte:{BAD_CONNECTION}"]
    assert bad.state is State.FAIL and bad.summary.endswith(f"cannot be read for {BAD}")
    assert "10000-01-01" in (bad.detail or "")
    assert by_subject[f"connection:meta:{BAD}:act_1"].state is State.FAIL
    assert by_subject[f"connection:meta:{GOOD}:act_1"].state is State.PASS
    assert any(f"connection failing for {GOOD}" in body for body in posted)
    assert any(f"cannot be read for {BAD}" in body for body in posted)
