"""Airbyte's job-completion webhook as a use case: store the job, audit it and report it to
Dagster, once per job and status, under the job's advisory lock.

A job's state only moves forward: running to terminal, and a terminal status is final. A
replay, or a late ``running`` after the terminal status, changes nothing and reports nothing; a
terminal status disagreeing with the stored one is audited once as
``airbyte_job_webhook_conflict`` and not applied.

The route (``POST /api/airbyte/webhook/``) checks the secret, the media type and the size,
parses the payload and calls :func:`record_webhook_job` inside one transaction: when Dagster
cannot be told, nothing is stored and Airbyte may retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from dagster import AssetMaterialization, AssetObservation, DagsterInstance
from sqlalchemy.engine import Connection

from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.defs.airbyte.jobs import FAILED_STATUSES, SUCCEEDED
from adinsights_pipelines.defs.airbyte.metadata import outcome_metadata
from adinsights_pipelines.defs.airbyte.providers import provider_named
from adinsights_pipelines.defs.airbyte.store import (
    AirbyteConnectionRow,
    ConnectionNotFound,
    get_connection,
    note_webhook_received,
    record_job,
    stored_job_status,
)
from adinsights_pipelines.defs.airbyte.webhook import WebhookJob

ACTOR = "airbyte-webhook"
TERMINAL = (SUCCEEDED, *FAILED_STATUSES)

Outcome = Literal["stored", "duplicate", "superseded", "conflict"]
#: What a delivery did: stored it, or (nothing stored, nothing reported to Dagster) a replay
#: of what is stored, a stale non-terminal status after the terminal one, or a conflict: a
#: terminal status disagreeing with the stored terminal status (audited once, not applied).
STORED: Outcome = "stored"
DUPLICATE: Outcome = "duplicate"
SUPERSEDED: Outcome = "superseded"
CONFLICT: Outcome = "conflict"


@dataclass(frozen=True)
class WebhookReceipt:
    """The connection the job belongs to, what the delivery did and the job's status as stored
    afterwards (the stored one when the delivery was not applied)."""

    connection: AirbyteConnectionRow
    outcome: Outcome
    status: str


def record_webhook_job(
    conn: Connection, instance: DagsterInstance, job: WebhookJob
) -> WebhookReceipt:
    """Store ``job``, audit it and report it to Dagster, once per job and status.

    Runs in the caller's transaction (``engine.begin()``): the advisory lock is held until it
    ends, and an exception (Dagster unavailable) leaves nothing stored. Raises
    :class:`ConnectionNotFound` for a connection we do not know.
    """
    connection = get_connection(conn, job.connection_id)
    if connection is None:
        raise ConnectionNotFound("connection not found")
    # Two deliveries of the same job must not both count as new.
    conn.execute(
        sa.text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"airbyte-job:{job.connection_id}:{job.job_id}"},
    )
    previous = stored_job_status(conn, job.connection_id, job.job_id)
    if previous is not None:
        # a webhook arrived for a job we know: the webhook-silence rule counts it as heard
        note_webhook_received(conn, job.connection_id, job.job_id)
    if previous == job.status:
        return WebhookReceipt(connection, DUPLICATE, previous)
    if previous in TERMINAL:
        if job.status not in TERMINAL:
            return WebhookReceipt(connection, SUPERSEDED, previous)
        if not _conflict_audited(conn, connection.connection_id, job):
            _audit(
                conn,
                connection,
                "airbyte_job_webhook_conflict",
                {"job_id": job.job_id, "status": job.status, "stored": previous},
            )
        return WebhookReceipt(connection, CONFLICT, previous)
    record_job(conn, connection.tenant_id, job.outcome())
    note_webhook_received(conn, job.connection_id, job.job_id)
    _audit(
        conn,
        connection,
        "airbyte_job_webhook",
        {
            "job_id": job.job_id,
            "status": job.status,
            "records_synced": job.records_synced,
            "bytes_synced": job.bytes_synced,
            "duration_seconds": job.duration_seconds,
            "error": job.error,
        },
    )
    report_job_event(instance, connection, job)
    return WebhookReceipt(connection, STORED, job.status)


def report_job_event(
    instance: DagsterInstance, connection: AirbyteConnectionRow, job: WebhookJob
) -> None:
    """A runless event for the tenant's partition: a materialization when the job succeeded,
    an observation (history without freshness) otherwise. Nothing for a provider we do not
    model as an asset."""
    provider = provider_named(connection.provider)
    if provider is None:
        return
    metadata = {
        **outcome_metadata(connection.tenant_id, connection.provider, [job.outcome()]),
        "source": "airbyte_webhook",
    }
    kind: type[AssetMaterialization | AssetObservation] = (
        AssetMaterialization if job.status == SUCCEEDED else AssetObservation
    )
    event = kind(
        asset_key=provider.asset_name,
        partition=connection.tenant_id,
        metadata=metadata,
        description=f"Airbyte job {job.job_id} {job.status} (reported by Airbyte's webhook)",
    )
    instance.report_runless_asset_event(event)


def _audit(
    conn: Connection, connection: AirbyteConnectionRow, action: str, metadata: dict[str, object]
) -> None:
    record_audit(
        conn,
        tenant_id=connection.tenant_id,
        actor=ACTOR,
        action=action,
        resource_type="airbyte_connection",
        resource_id=connection.connection_id,
        metadata=metadata,
    )


def _conflict_audited(conn: Connection, connection_id: str, job: WebhookJob) -> bool:
    return (
        conn.execute(
            sa.text(
                "select 1 from app.audit_log where action = 'airbyte_job_webhook_conflict' "
                "and resource_id = :c and metadata @> cast(:m as jsonb) limit 1"
            ),
            {"c": connection_id, "m": json.dumps({"job_id": job.job_id, "status": job.status})},
        ).first()
        is not None
    )
