"""Meta conversions counted once, with their value, and each tenant's conversion definition.

Revision ID: 0009_meta_conversions
Revises: 0008_fx_rates
Create Date: 2026-12-05

``raw.meta_insights`` keeps Meta's ``action_values`` beside ``actions`` and the figures derived
from both under the tenant's conversion definition: ``conversions`` (each event counted once),
``conversion_value``, ``conversions_by_event`` (``{"purchase": "5", "lead": "2"}``) and
``conversion_events``, the definition they were counted under (null: a row loaded before this
revision, counted by the old rule). ``attribution_setting`` is Meta's own label of the
attribution the row was read under (``7d_click_1d_view``, ``mixed``...).

``app.tenants.meta_conversion_events`` is the tenant's definition (null: the global default,
``ADINSIGHTS_META_CONVERSION_EVENTS``); ``meta_conversion_events_set_at`` tells when it last
changed. ``meta_attribution_windows`` (null: unified attribution, each ad set's own setting;
else one click and at most one view window) and ``meta_action_report_time`` are the tenant's
attribution setting; ``meta_attribution_set_at`` when it last changed (its history is re-read).

``raw.meta_insights_level`` holds Meta's daily totals per campaign and per ad account, read at
that level (``level=campaign`` / ``level=account``, no breakdown): reach counted by Meta at that
grain (never a sum of finer reaches) and the account totals the ad rows must add up to.

``raw.google_ads_campaign_performance.metrics_conversions_value`` is Google Ads' value of its
conversions (Airbyte's campaign performance stream carries ``metrics.conversions_value``).
"""

from alembic import op

revision = "0009_meta_conversions"
down_revision = "0008_fx_rates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        alter table raw.meta_insights
            add column if not exists action_values jsonb not null default '[]',
            add column if not exists conversion_value numeric(18, 4) not null default 0,
            add column if not exists conversions_by_event jsonb not null default '{}',
            add column if not exists conversion_events text,
            add column if not exists attribution_setting text
        """
    )
    # Meta's own totals at coarser levels: reach is not additive, so a campaign's or an
    # account's daily reach is read from Meta at that level; the account rows are also the
    # platform's totals to reconcile the ad rows with.
    op.execute(
        """
        create table if not exists raw.meta_insights_level (
            tenant_id             text not null,
            account_id            text not null,
            level                 text not null check (level in ('account', 'campaign')),
            object_id             text not null,
            object_name           text,
            date_start            date not null,
            spend                 numeric(18, 4) not null default 0,
            impressions           bigint not null default 0,
            clicks                bigint not null default 0,
            reach                 bigint,
            conversions           numeric(18, 4),
            conversion_value      numeric(18, 4),
            conversions_by_event  jsonb not null default '{}',
            conversion_events     text not null,
            attribution_setting   text,
            currency              text not null,
            _loaded_at            timestamptz not null default now(),
            primary key (tenant_id, level, object_id, date_start)
        )
        """
    )
    op.execute(
        "create index if not exists meta_insights_level_loaded_at "
        "on raw.meta_insights_level (_loaded_at)"
    )
    op.execute(
        "create index if not exists meta_insights_level_tenant_date "
        "on raw.meta_insights_level (tenant_id, date_start)"
    )
    # Google Ads' value of its (already deduplicated) conversions, as Airbyte's stream has it.
    op.execute(
        "alter table raw.google_ads_campaign_performance "
        "add column if not exists metrics_conversions_value double precision"
    )
    op.execute(
        """
        alter table app.tenants
            add column if not exists meta_conversion_events text[]
                check (meta_conversion_events is null or cardinality(meta_conversion_events) > 0),
            add column if not exists meta_conversion_events_set_at timestamptz,
            add column if not exists meta_attribution_windows text[]
                check (meta_attribution_windows is null
                       or cardinality(meta_attribution_windows) between 1 and 2),
            add column if not exists meta_action_report_time text not null default 'impression'
                check (meta_action_report_time in ('impression', 'conversion', 'mixed')),
            add column if not exists meta_attribution_set_at timestamptz
        """
    )


def downgrade() -> None:
    op.execute("drop table if exists raw.meta_insights_level")
    op.execute(
        "alter table raw.google_ads_campaign_performance "
        "drop column if exists metrics_conversions_value"
    )
    op.execute(
        """
        alter table app.tenants
            drop column if exists meta_attribution_set_at,
            drop column if exists meta_action_report_time,
            drop column if exists meta_attribution_windows,
            drop column if exists meta_conversion_events_set_at,
            drop column if exists meta_conversion_events
        """
    )
    op.execute(
        """
        alter table raw.meta_insights
            drop column if exists attribution_setting,
            drop column if exists conversion_events,
            drop column if exists conversions_by_event,
            drop column if exists conversion_value,
            drop column if exists action_values
        """
    )
