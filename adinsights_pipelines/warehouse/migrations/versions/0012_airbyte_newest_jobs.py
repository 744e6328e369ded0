"""Each Airbyte connection's and tenant's newest finished job and newest success, as index lookups.

Revision ID: 0012_airbyte_newest_jobs
Revises: 0011_meta_two_reads
Create Date: 2026-12-06

``sync_health.airbyte_connection_health`` (``/api/ops/sync-health/``, the health overview's
Airbyte card and the alert sensor's connection rule) orders a connection's finished jobs by
when they ended, ``coalesce(finished_at, recorded_at)``, and takes the newest success as
``max(finished_at)``. Neither matched an index: every request sorted each connection's whole
job history, and the newest success walked ``airbyte_jobs_finished`` backwards past every
other connection's newer jobs (the whole table for a connection that never succeeded). With
100 connections of 2,000 jobs each the statement took 56 ms; with the first two partial
indexes, 2.5 ms, however long the history grows.

``/metrics/app/`` reads each tenant's newest success by ``tenant_id``
(``api/telemetry.py::_TENANT_TIMES_SQL``) and walked the same index backwards: 107 ms per
scrape with two tenants whose jobs all failed among 200,000 jobs, 1.7 ms with the third.
"""

from alembic import op

revision = "0012_airbyte_newest_jobs"
down_revision = "0011_meta_two_reads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create index if not exists airbyte_jobs_newest_finished on app.airbyte_jobs
            (connection_id, (coalesce(finished_at, recorded_at)) desc, job_id desc)
            where status not in ('running', 'pending');
        create index if not exists airbyte_jobs_success_finished on app.airbyte_jobs
            (connection_id, finished_at) where status = 'succeeded';
        create index if not exists airbyte_jobs_tenant_success on app.airbyte_jobs
            (tenant_id, finished_at) where status = 'succeeded';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        drop index if exists app.airbyte_jobs_tenant_success;
        drop index if exists app.airbyte_jobs_success_finished;
        drop index if exists app.airbyte_jobs_newest_finished;
        """
    )
