"""Meta insights in two reads: ad x day without a breakdown (the truth), and the region split.

Revision ID: 0011_meta_two_reads
Revises: 0010_unannounced_jobs
Create Date: 2026-12-05

Meta's ``region`` breakdown is a "Type 1" breakdown: with it the Insights API returns no
off-Meta action metrics (pixel and website purchases, leads...). So each account is read twice:

* ``raw.meta_insights_ad`` (new): one row per ad and day, read **without** a breakdown. It is
  the source of truth for spend, impressions, clicks, conversions and conversion value, and
  keeps Meta's ``actions`` and ``action_values`` (a change of conversion definition is counted
  again from them).
* ``raw.meta_insights`` stays the ad x day x region read, now asked only for what Meta returns
  with ``region`` (spend, impressions, clicks, reach): its ``conversions`` and
  ``conversion_value`` become nullable, null on rows of the region read (not read, which is not
  zero). Rows loaded before this revision keep their (on-Meta only) counts; the marts no longer
  read conversions from this table.

``app.meta_backfill_chunks`` journals each read of a chunk apart (``read``: ``ad`` or
``region``); rows of an earlier backfill were region reads.

Upgrading: the ad x day table starts empty. The next sync fills each account's lookback
window; re-read older history with ``adinsights meta-backfill`` (the runbook says how).
"""

from alembic import op

revision = "0011_meta_two_reads"
down_revision = "0010_unannounced_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table if not exists raw.meta_insights_ad (
            tenant_id             text not null,
            account_id            text not null,
            campaign_id           text not null,
            campaign_name         text,
            adset_id              text not null,
            adset_name            text,
            ad_id                 text not null,
            ad_name               text,
            date_start            date not null,
            date_stop             date not null,
            spend                 numeric(18, 4) not null default 0,
            impressions           bigint not null default 0,
            clicks                bigint not null default 0,
            reach                 bigint,
            conversions           numeric(18, 4) not null default 0,
            actions               jsonb not null default '[]',
            currency              text not null,
            action_values         jsonb not null default '[]',
            conversion_value      numeric(18, 4) not null default 0,
            conversions_by_event  jsonb not null default '{}',
            conversion_events     text,
            attribution_setting   text,
            _loaded_at            timestamptz not null default now(),
            primary key (tenant_id, ad_id, date_start)
        )
        """
    )
    op.execute(
        "create index if not exists meta_insights_ad_tenant_date "
        "on raw.meta_insights_ad (tenant_id, date_start)"
    )
    op.execute(
        "create index if not exists meta_insights_ad_loaded_at on raw.meta_insights_ad (_loaded_at)"
    )
    op.execute(
        """
        alter table raw.meta_insights
            alter column conversions drop not null,
            alter column conversions drop default,
            alter column conversion_value drop not null,
            alter column conversion_value drop default
        """
    )
    op.execute(
        """
        alter table app.meta_backfill_chunks
            add column if not exists read text not null default 'region'
                check (read in ('ad', 'region'))
        """
    )
    op.execute("alter table app.meta_backfill_chunks drop constraint meta_backfill_chunks_pkey")
    op.execute(
        "alter table app.meta_backfill_chunks "
        "add primary key (tenant_id, account_id, chunk_start, chunk_end, read)"
    )


def downgrade() -> None:
    op.execute("delete from app.meta_backfill_chunks where read <> 'region'")
    op.execute("alter table app.meta_backfill_chunks drop constraint meta_backfill_chunks_pkey")
    op.execute(
        "alter table app.meta_backfill_chunks "
        "add primary key (tenant_id, account_id, chunk_start, chunk_end)"
    )
    op.execute("alter table app.meta_backfill_chunks drop column if exists read")
    op.execute("update raw.meta_insights set conversions = 0 where conversions is null")
    op.execute("update raw.meta_insights set conversion_value = 0 where conversion_value is null")
    op.execute(
        """
        alter table raw.meta_insights
            alter column conversions set default 0,
            alter column conversions set not null,
            alter column conversion_value set default 0,
            alter column conversion_value set not null
        """
    )
    op.execute("drop table if exists raw.meta_insights_ad")
