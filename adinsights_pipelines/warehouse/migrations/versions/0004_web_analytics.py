"""Per-tenant web analytics sources: GA4 properties and Search Console sites, with sync state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

A tenant may have several GA4 properties and Search Console sites; each row names one, and its
``last_*`` columns record how the latest sync of that source went (what
``/api/integrations/social/status/`` reports). The Google credential itself (an OAuth refresh
token) lives encrypted in ``app.platform_credentials`` under provider ``ga4`` or
``search_console``.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
create table app.web_analytics_sources (
    id               bigserial primary key,
    tenant_id        text not null references app.tenants (id) on delete cascade,
    provider         text not null check (provider in ('ga4', 'search_console')),
    -- GA4: the numeric property id (without 'properties/'); Search Console: the site URL as
    -- Search Console spells it ('https://www.example.com/' or 'sc-domain:example.com').
    property_id      text check (property_id ~ '^[0-9]{1,20}$'),
    site_url         text check (length(site_url) between 1 and 2048),
    is_active        boolean not null default true,
    last_job_status  text check (last_job_status in ('running', 'succeeded', 'failed')),
    last_job_error   text,
    last_synced_at   timestamptz,
    last_success_at  timestamptz,
    synced_through   date,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    check ((provider = 'ga4' and property_id is not null and site_url is null)
        or (provider = 'search_console' and site_url is not null and property_id is null)),
    unique (tenant_id, provider, property_id),
    unique (tenant_id, provider, site_url)
);
create index web_analytics_sources_active
    on app.web_analytics_sources (provider, tenant_id) where is_active;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop table if exists app.web_analytics_sources")
