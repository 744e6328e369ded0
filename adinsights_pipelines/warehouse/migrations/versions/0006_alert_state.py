"""The alert evaluation's state, shared by the alert sensor and on-demand runs.

Revision ID: 0006_alert_state
Revises: 0005
Create Date: 2026-12-04

The alert sensor kept its cursor (what each channel was last told per subject) in Dagster's
sensor state, written by the daemon after the tick returned. An on-demand evaluation
(``adinsights alerts run``, ``POST /api/alerts/run/``) needs the same cursor, and both must never
announce the same transition twice: the cursor now lives here, read and written inside one
transaction that holds an advisory lock (``defs/alerts/run.py``).

``app.airbyte_jobs.webhook_received_at`` records when Airbyte's webhook for a job reached us
(also when our own sync had stored the job first, which the audit trail does not show: its
``airbyte_job_webhook`` event is once per job and status). With its indexes it serves the
webhook-silence alert (the newest webhook, the jobs that finished after it) and the
sync-to-webhook delay metric.
"""

from alembic import op

revision = "0006_alert_state"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table app.alert_state (
            name            text primary key,
            cursor          text not null,
            evaluated_at    timestamptz not null,
            manual_run_at   timestamptz
        )
        """
    )
    op.execute("alter table app.airbyte_jobs add column webhook_received_at timestamptz")
    op.execute("create index audit_log_action_created on app.audit_log (action, created_at)")
    op.execute("create index airbyte_jobs_finished on app.airbyte_jobs (finished_at)")
    op.execute(
        "create index airbyte_jobs_webhook_received on app.airbyte_jobs (webhook_received_at)"
    )


def downgrade() -> None:
    op.execute("drop index if exists app.airbyte_jobs_webhook_received")
    op.execute("drop index if exists app.airbyte_jobs_finished")
    op.execute("alter table app.airbyte_jobs drop column if exists webhook_received_at")
    op.execute("drop index if exists app.audit_log_action_created")
    op.execute("drop table if exists app.alert_state")
