"""Raw tables for Google Ads (written by Airbyte), GA4 and Search Console.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

``raw.google_ads_campaign_performance`` has the shape Airbyte's Postgres destination gives the
google-ads source's campaign x day x region stream (dots in field names become underscores, plus
the ``_airbyte_*`` columns). It is created here so dbt compiles before the first sync; Airbyte
appends into it, so it has no primary key: staging dedupes on the natural key, newest
``_airbyte_extracted_at`` first. Rows carry the Google Ads ``customer_id``, which
``app.airbyte_connections.source_account_id`` maps to a tenant.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
alter table app.airbyte_connections add column source_account_id text;
create unique index airbyte_connections_source_account
    on app.airbyte_connections (provider, source_account_id);

create table raw.google_ads_campaign_performance (
    _airbyte_raw_id             text not null,
    _airbyte_extracted_at       timestamptz not null,
    _airbyte_meta               jsonb not null default '{}',
    _airbyte_generation_id      bigint,
    customer_id                 text not null,
    customer_currency_code      text,
    campaign_id                 text not null,
    campaign_name               text,
    campaign_status             text,
    segments_date               date not null,
    -- a geo target constant resource name, 'geoTargetConstants/<criterion id>'; null = unknown
    segments_geo_target_region  text,
    metrics_cost_micros         bigint,
    metrics_impressions         bigint,
    metrics_clicks              bigint,
    metrics_conversions         double precision
);
create index google_ads_campaign_performance_customer_date
    on raw.google_ads_campaign_performance (customer_id, segments_date);

create table raw.ga4_daily (
    tenant_id                      text not null,
    property_id                    text not null,
    date                           date not null,
    region                         text not null,
    session_default_channel_group  text not null,
    sessions                       bigint not null default 0,
    total_users                    bigint not null default 0,
    new_users                      bigint not null default 0,
    screen_page_views              bigint not null default 0,
    engaged_sessions               bigint not null default 0,
    key_events                     numeric(18, 4) not null default 0,
    _loaded_at                     timestamptz not null default now(),
    primary key (tenant_id, property_id, date, region, session_default_channel_group)
);

create table raw.search_console_daily (
    tenant_id    text not null,
    site_url     text not null,
    date         date not null,
    query        text not null,
    page         text not null,
    country      text not null,
    device       text not null,
    clicks       bigint not null default 0,
    impressions  bigint not null default 0,
    ctr          double precision not null default 0,
    position     double precision not null default 0,
    data_state   text not null default 'final' check (data_state in ('final', 'all')),
    _loaded_at   timestamptz not null default now(),
    primary key (tenant_id, site_url, date, query, page, country, device)
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(
        """
        drop table if exists raw.search_console_daily, raw.ga4_daily,
            raw.google_ads_campaign_performance;
        drop index if exists app.airbyte_connections_source_account;
        alter table app.airbyte_connections drop column if exists source_account_id;
        """
    )
