"""The webhook use case (services/webhooks.py) against a real PostgreSQL and Dagster instance:
stored once, audited, reported to Dagster; replays, late statuses and conflicts change nothing."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from adinsights_pipelines.defs.airbyte.store import ConnectionNotFound, record_job
from adinsights_pipelines.defs.airbyte.webhook import WebhookJob
from adinsights_pipelines.services.webhooks import (
    CONFLICT,
    DUPLICATE,
    STORED,
    SUPERSEDED,
    record_webhook_job,
)
from adinsights_pipelines.warehouse.database import Database, engine
from tests.api.test_airbyte_webhook import audits
from tests.sql import one, query, scalar
from tests.tenants import add_google_ads_tenant

TENANT = "hooked"
ASSET = AssetKey("google_ads_campaign_performance")
STARTED = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def connection_id(database: Database) -> str:
    connection_id = str(uuid.uuid4())
    with engine(database).begin() as conn:
        add_google_ads_tenant(
            conn, TENANT, "Hooked", connection_id=connection_id, customer_id="123-456-7890"
        )
    return connection_id


Deliver = Callable[[WebhookJob], tuple[str, str]]


@pytest.fixture
def deliver(database: Database, instance: DagsterInstance) -> Deliver:
    """One delivery in its own transaction, as the route makes it: (outcome, stored status)."""

    def deliver(job: WebhookJob) -> tuple[str, str]:
        with engine(database).begin() as conn:
            receipt = record_webhook_job(conn, instance, job)
        assert receipt.connection.connection_id == job.connection_id  # whatever the outcome
        return receipt.outcome, receipt.status

    return deliver


def job(connection_id: str, status: str, job_id: int = 700) -> WebhookJob:
    return WebhookJob(
        connection_id=connection_id,
        job_id=job_id,
        status=status,
        records_synced=840,
        bytes_synced=65_536,
        duration_seconds=95.0,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=95),
        error="The refresh token was revoked" if status == "failed" else None,
    )


def stored_jobs(database: Database) -> list[tuple[int, str]]:
    sql = "select job_id, status from app.airbyte_jobs where tenant_id = :t"
    return [tuple(row) for row in query(database, sql, t=TENANT)]


WHERE = AssetRecordsFilter(asset_key=ASSET, asset_partitions=[TENANT])


def materializations(instance: DagsterInstance) -> list[str | None]:
    records = instance.fetch_materializations(WHERE, limit=10).records
    return [r.asset_materialization.description for r in records if r.asset_materialization]


def observations(instance: DagsterInstance) -> int:
    return len(instance.fetch_observations(WHERE, limit=10).records)


def test_a_first_delivery_is_stored_audited_and_materialized(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    assert deliver(job(connection_id, "succeeded")) == (STORED, "succeeded")
    assert stored_jobs(database) == [(700, "succeeded")]
    [audit] = audits(database, TENANT, "airbyte_job_webhook")
    assert (audit["job_id"], audit["status"], audit["records_synced"]) == (700, "succeeded", 840)
    assert materializations(instance) == [
        "Airbyte job 700 succeeded (reported by Airbyte's webhook)"
    ]


def test_a_failed_job_is_observed_not_materialized(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    assert deliver(job(connection_id, "failed")) == (STORED, "failed")
    assert stored_jobs(database) == [(700, "failed")]
    assert (materializations(instance), observations(instance)) == ([], 1)


def test_a_duplicate_delivery_is_deduplicated(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    deliver(job(connection_id, "succeeded"))
    assert deliver(job(connection_id, "succeeded")) == (DUPLICATE, "succeeded")
    assert stored_jobs(database) == [(700, "succeeded")]
    assert len(audits(database, TENANT, "airbyte_job_webhook")) == 1
    assert len(materializations(instance)) == 1


def test_a_late_running_status_is_refused_without_audit(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    deliver(job(connection_id, "succeeded"))
    assert deliver(job(connection_id, "running")) == (SUPERSEDED, "succeeded")
    assert stored_jobs(database) == [(700, "succeeded")]
    assert audits(database, TENANT, "airbyte_job_webhook_conflict") == []
    assert len(materializations(instance)) == 1


def test_a_terminal_status_flip_is_refused_and_audited_once(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    deliver(job(connection_id, "succeeded"))
    assert deliver(job(connection_id, "failed")) == (CONFLICT, "succeeded")
    assert deliver(job(connection_id, "failed")) == (CONFLICT, "succeeded")
    assert stored_jobs(database) == [(700, "succeeded")]
    assert audits(database, TENANT, "airbyte_job_webhook_conflict") == [
        {"job_id": 700, "status": "failed", "stored": "succeeded"}
    ]
    assert (len(materializations(instance)), observations(instance)) == (1, 0)


def test_running_then_terminal_moves_forward(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    assert deliver(job(connection_id, "running")) == (STORED, "running")
    assert deliver(job(connection_id, "succeeded")) == (STORED, "succeeded")
    assert stored_jobs(database) == [(700, "succeeded")]
    assert [a["status"] for a in audits(database, TENANT, "airbyte_job_webhook")] == [
        "running",
        "succeeded",
    ]


def test_an_unknown_connection_stores_nothing(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    with pytest.raises(ConnectionNotFound, match=r"^connection not found$"):
        deliver(job(str(uuid.uuid4()), "succeeded"))
    assert stored_jobs(database) == []
    assert audits(database, TENANT, "airbyte_job_webhook") == []


def test_a_stored_delivery_is_audited_and_reported_in_full(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    deliver(job(connection_id, "failed"))
    audit = one(
        database,
        "select actor, resource_type, resource_id, metadata from app.audit_log "
        "where tenant_id = :t and action = 'airbyte_job_webhook'",
        t=TENANT,
    )
    assert (audit.actor, audit.resource_type, audit.resource_id) == (
        "airbyte-webhook",
        "airbyte_connection",
        connection_id,
    )
    assert audit.metadata == {
        "job_id": 700,
        "status": "failed",
        "records_synced": 840,
        "bytes_synced": 65_536,
        "duration_seconds": 95.0,
        "error": "The refresh token was revoked",
    }
    [record] = instance.fetch_observations(WHERE, limit=10).records
    assert record.asset_observation is not None
    metadata = {k: v.value for k, v in record.asset_observation.metadata.items()}
    assert {k: metadata.get(k) for k in ("source", "tenant_id", "provider", "job_id")} == {
        "source": "airbyte_webhook",
        "tenant_id": TENANT,
        "provider": "google_ads",
        "job_id": 700,
    }
    assert (metadata["connection_id"], metadata["job_status"]) == (connection_id, "failed")


def webhook_heard(database: Database) -> bool:
    sql = "select webhook_received_at is not null from app.airbyte_jobs where tenant_id = :t"
    return bool(scalar(database, sql, t=TENANT))


def test_the_webhook_is_noted_as_heard_for_a_new_job_and_for_one_our_sync_stored(
    database: Database, instance: DagsterInstance, connection_id: str, deliver: Deliver
) -> None:
    deliver(job(connection_id, "running"))
    assert webhook_heard(database)
    # a job our own sync stored first: its webhook, a duplicate, is still heard
    with engine(database).begin() as conn:
        conn.execute(sa.text("delete from app.airbyte_jobs where tenant_id = :t"), {"t": TENANT})
        record_job(conn, TENANT, job(connection_id, "succeeded").outcome())
    assert not webhook_heard(database)
    assert deliver(job(connection_id, "succeeded")) == (DUPLICATE, "succeeded")
    assert webhook_heard(database)
