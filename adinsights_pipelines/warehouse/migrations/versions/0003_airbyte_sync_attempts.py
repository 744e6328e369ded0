"""Airbyte sync attempts: the last attempt per connection, and a fast "newest success" lookup.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

A sync can fail before Airbyte hands out a job (the server is down, the connection id is
wrong), so ``app.airbyte_jobs`` alone cannot show it; health must still report ``failing``.
``app.airbyte_connections`` therefore remembers the last attempt (when, how it ended, why).
The partial index serves "newest successful job per connection" for health and telemetry
without reading a connection's whole job history.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
alter table app.airbyte_connections
    add column last_attempt_at      timestamptz,
    add column last_attempt_status  text
        check (last_attempt_status in ('started', 'succeeded', 'failed')),
    add column last_attempt_error   text;

create index airbyte_jobs_succeeded
    on app.airbyte_jobs (connection_id, job_id desc) where status = 'succeeded';
create index airbyte_connections_tenant on app.airbyte_connections (tenant_id);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(
        """
        drop index if exists app.airbyte_connections_tenant;
        drop index if exists app.airbyte_jobs_succeeded;
        alter table app.airbyte_connections
            drop column if exists last_attempt_error,
            drop column if exists last_attempt_status,
            drop column if exists last_attempt_at;
        """
    )
