"""Initial warehouse: app and raw schemas.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PROVIDERS = "('meta', 'google_ads', 'ga4', 'search_console')"

UPGRADE = f"""
create schema if not exists app;
create schema if not exists raw;

create table app.tenants (
    id          text primary key check (id ~ '^[a-z0-9][a-z0-9-]{{1,62}}$'),
    name        text not null,
    status      text not null default 'active' check (status in ('active', 'inactive')),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

-- Per-tenant data-encryption keys (DEKs), stored wrapped by the master key (envelope encryption).
create table app.tenant_data_keys (
    tenant_id      text not null references app.tenants (id) on delete cascade,
    version        integer not null check (version > 0),
    wrapped_key    bytea not null,
    master_key_id  text not null,
    created_at     timestamptz not null default now(),
    primary key (tenant_id, version)
);

create table app.platform_credentials (
    id                   bigserial primary key,
    tenant_id            text not null references app.tenants (id) on delete cascade,
    provider             text not null check (provider in {PROVIDERS}),
    -- AES-256-GCM under the tenant's DEK, (tenant, provider) as associated data. Never plaintext.
    token_ciphertext     bytea not null,
    dek_version          integer not null,
    token_status         text not null default 'valid'
                         check (token_status in
                             ('valid', 'expiring', 'invalid', 'reauth_required')),
    token_expires_at     timestamptz,
    scopes               text[] not null default '{{}}',
    status_reason        text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    unique (tenant_id, provider),
    foreign key (tenant_id, dek_version) references app.tenant_data_keys (tenant_id, version)
);

create table app.api_keys (
    id            bigserial primary key,
    prefix        text not null unique,
    key_hash      text not null,
    role          text not null check (role in ('tenant', 'operator')),
    tenant_id     text references app.tenants (id) on delete cascade,
    label         text not null default '',
    created_at    timestamptz not null default now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    check ((role = 'tenant') = (tenant_id is not null))
);

create table app.audit_log (
    id             bigserial primary key,
    tenant_id      text references app.tenants (id) on delete set null,
    actor          text not null,
    action         text not null,
    resource_type  text not null,
    resource_id    text,
    metadata       jsonb not null default '{{}}',
    created_at     timestamptz not null default now()
);
-- Serves /api/audit-logs/ keyset paging (newest first, id breaks ties).
create index audit_log_tenant_created on app.audit_log (tenant_id, created_at desc, id desc);

create table app.api_error_log (
    id            bigserial primary key,
    provider      text not null,
    tenant_id     text,
    endpoint      text not null,
    http_status   integer,
    error_code    integer,
    error_subcode integer,
    message       text,
    is_retryable  boolean not null,
    occurred_at   timestamptz not null default now()
);
create index api_error_log_occurred on app.api_error_log (occurred_at desc);

create table app.meta_sync_state (
    tenant_id         text not null references app.tenants (id) on delete cascade,
    account_id        text not null,
    last_job_status   text not null check (last_job_status in ('running', 'succeeded', 'failed')),
    last_job_error    text,
    last_synced_at    timestamptz,
    last_success_at   timestamptz,
    synced_through    date,
    updated_at        timestamptz not null default now(),
    primary key (tenant_id, account_id)
);

-- Backfills through Meta's async report runs, chunk by chunk: a re-run skips finished chunks.
create table app.meta_backfill_chunks (
    tenant_id      text not null references app.tenants (id) on delete cascade,
    account_id     text not null,
    chunk_start    date not null,
    chunk_end      date not null,
    status         text not null check (status in ('running', 'done', 'failed')),
    report_run_id  text,
    rows_loaded    bigint not null default 0,
    error          text,
    updated_at     timestamptz not null default now(),
    primary key (tenant_id, account_id, chunk_start, chunk_end)
);

create table app.airbyte_connections (
    connection_id           text primary key,
    tenant_id               text not null references app.tenants (id) on delete cascade,
    provider                text not null check (provider in {PROVIDERS}),
    sync_interval_minutes   integer not null default 60 check (sync_interval_minutes > 0),
    is_active               boolean not null default true,
    created_at              timestamptz not null default now()
);

create table app.airbyte_jobs (
    connection_id     text not null references app.airbyte_connections (connection_id)
                      on delete cascade,
    job_id            bigint not null,
    tenant_id         text not null,
    status            text not null,
    records_synced    bigint,
    bytes_synced      bigint,
    duration_seconds  double precision,
    started_at        timestamptz,
    finished_at       timestamptz,
    error             text,
    recorded_at       timestamptz not null default now(),
    primary key (connection_id, job_id)
);

create table app.metrics_snapshots (
    tenant_id              text primary key references app.tenants (id) on delete cascade,
    payload                jsonb not null,
    row_totals             jsonb not null default '{{}}',
    snapshot_generated_at  timestamptz not null,
    duration_ms            integer,
    dagster_run_id         text
);

create table raw.meta_ad_accounts (
    tenant_id       text not null,
    account_id      text not null,
    name            text,
    currency        text not null,
    timezone_name   text,
    account_status  integer,
    _loaded_at      timestamptz not null default now(),
    primary key (tenant_id, account_id)
);

create table raw.meta_insights (
    tenant_id      text not null,
    account_id     text not null,
    campaign_id    text not null,
    campaign_name  text,
    adset_id       text not null,
    adset_name     text,
    ad_id          text not null,
    ad_name        text,
    date_start     date not null,
    date_stop      date not null,
    region         text not null,
    spend          numeric(18, 4) not null default 0,
    impressions    bigint not null default 0,
    clicks         bigint not null default 0,
    reach          bigint not null default 0,
    conversions    numeric(18, 4) not null default 0,
    actions        jsonb not null default '[]',
    currency       text not null,
    _loaded_at     timestamptz not null default now(),
    primary key (tenant_id, ad_id, date_start, region)
);
create index meta_insights_tenant_date on raw.meta_insights (tenant_id, date_start);

-- Hierarchy: budgets are in the account currency's minor units, as Meta sends them.
create table raw.meta_campaigns (
    tenant_id         text not null,
    campaign_id       text not null,
    account_id        text not null,
    name              text,
    status            text,
    effective_status  text,
    objective         text,
    daily_budget      numeric(18, 0),
    created_time      timestamptz,
    updated_time      timestamptz,
    _loaded_at        timestamptz not null default now(),
    primary key (tenant_id, campaign_id)
);
create index meta_campaigns_account on raw.meta_campaigns (tenant_id, account_id);

create table raw.meta_adsets (
    tenant_id         text not null,
    adset_id          text not null,
    campaign_id       text not null,
    account_id        text not null,
    name              text,
    status            text,
    effective_status  text,
    daily_budget      numeric(18, 0),
    created_time      timestamptz,
    updated_time      timestamptz,
    _loaded_at        timestamptz not null default now(),
    primary key (tenant_id, adset_id)
);
create index meta_adsets_campaign on raw.meta_adsets (tenant_id, campaign_id);

create table raw.meta_ads (
    tenant_id         text not null,
    ad_id             text not null,
    adset_id          text not null,
    campaign_id       text not null,
    account_id        text not null,
    name              text,
    status            text,
    effective_status  text,
    created_time      timestamptz,
    updated_time      timestamptz,
    _loaded_at        timestamptz not null default now(),
    primary key (tenant_id, ad_id)
);
create index meta_ads_adset on raw.meta_ads (tenant_id, adset_id);

create table raw.meta_pages (
    tenant_id   text not null,
    page_id     text not null,
    name        text,
    category    text,
    _loaded_at  timestamptz not null default now(),
    primary key (tenant_id, page_id)
);

create table raw.meta_page_insights (
    tenant_id   text not null,
    page_id     text not null,
    metric      text not null,
    period      text not null,
    end_time    timestamptz not null,
    value       numeric(20, 4),
    _loaded_at  timestamptz not null default now(),
    primary key (tenant_id, page_id, metric, period, end_time)
);

create table raw.meta_posts (
    tenant_id      text not null,
    post_id        text not null,
    page_id        text not null,
    message        text,
    permalink_url  text,
    created_time   timestamptz,
    _loaded_at     timestamptz not null default now(),
    primary key (tenant_id, post_id)
);

create table raw.meta_post_insights (
    tenant_id   text not null,
    post_id     text not null,
    metric      text not null,
    period      text not null,
    value       jsonb not null,
    _loaded_at  timestamptz not null default now(),
    primary key (tenant_id, post_id, metric, period)
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(
        """
        drop table if exists raw.meta_insights, raw.meta_ad_accounts, raw.meta_campaigns,
            raw.meta_adsets, raw.meta_ads, raw.meta_pages, raw.meta_page_insights, raw.meta_posts,
            raw.meta_post_insights;
        drop table if exists app.metrics_snapshots, app.airbyte_jobs, app.airbyte_connections,
            app.meta_backfill_chunks, app.meta_sync_state, app.api_error_log, app.audit_log,
            app.api_keys, app.platform_credentials, app.tenant_data_keys, app.tenants;
        """
    )
