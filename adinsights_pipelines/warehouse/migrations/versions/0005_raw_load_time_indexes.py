"""Indexes on the raw tables' load-time columns, for dbt's incremental models.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Every incremental dbt model reads only the raw rows loaded after its watermark (the newest load
it has modelled), and the blocking tests on the large staging models look only at rows not yet
modelled. Without an index on the load-time column each of those reads is a scan of the whole
raw table, so a 15-minute dbt cycle would cost in proportion to history instead of new data.
(Airbyte may re-create its table on a schema change; the index then has to be re-created.)
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = (
    ("meta_insights_loaded_at", "raw.meta_insights", "_loaded_at"),
    ("ga4_daily_loaded_at", "raw.ga4_daily", "_loaded_at"),
    ("search_console_daily_loaded_at", "raw.search_console_daily", "_loaded_at"),
    (
        "google_ads_campaign_performance_extracted_at",
        "raw.google_ads_campaign_performance",
        "_airbyte_extracted_at",
    ),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.execute(f"create index if not exists {name} on {table} ({column})")


def downgrade() -> None:
    for name, _, _ in INDEXES:
        op.execute(f"drop index if exists raw.{name}")
