"""The webhook-silence rule's jobs without a webhook, by when our sync recorded their end.

Revision ID: 0010_unannounced_jobs
Revises: 0009_meta_conversions
Create Date: 2026-12-05

The rule (``defs/alerts/observe.py::webhook_facts``) now decides whether a job ended after the
newest webhook on the database's clock: the job's ``recorded_at`` against the webhook's
receipt, both ``now()``, instead of Airbyte's whole-second ``finished_at`` (another host's
clock). This partial index holds only the jobs no webhook announced, so the alert sensor's
query each minute and every ``/metrics/app/`` scrape stay index lookups however long the job
history grows.
"""

from alembic import op

revision = "0010_unannounced_jobs"
down_revision = "0009_meta_conversions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "create index if not exists airbyte_jobs_unannounced on app.airbyte_jobs (recorded_at) "
        "where webhook_received_at is null"
    )


def downgrade() -> None:
    op.execute("drop index if exists app.airbyte_jobs_unannounced")
