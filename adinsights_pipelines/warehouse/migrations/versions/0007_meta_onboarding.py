"""The Meta connector lifecycle: OAuth state nonces, the tenant's selection, onboarding state.

Revision ID: 0007_meta_onboarding
Revises: 0006_alert_state
Create Date: 2026-12-04

- ``app.meta_oauth_states``: one row per Login dialog URL handed out; the signed ``state``
  carries the nonce, and the callback consumes the row once (a replayed state finds it used).
- ``app.meta_selection``: the ad accounts and Pages a tenant chose to sync (the picker). With no
  row for a kind, every account (or Page) the token sees is synced, as before onboarding existed.
- ``app.meta_onboarding``: per tenant, the scopes the last grant lacked (the next dialog asks
  again with ``auth_type=rerequest``) and the latest sync started from the lifecycle API.
"""

from alembic import op

revision = "0007_meta_onboarding"
down_revision = "0006_alert_state"
branch_labels = None
depends_on = None

UPGRADE = """
create table app.meta_oauth_states (
    nonce       text primary key check (length(nonce) between 16 and 128),
    tenant_id   text not null references app.tenants (id) on delete cascade,
    created_at  timestamptz not null default now(),
    used_at     timestamptz
);
create index meta_oauth_states_created on app.meta_oauth_states (created_at);

create table app.meta_selection (
    tenant_id   text not null references app.tenants (id) on delete cascade,
    kind        text not null check (kind in ('ad_account', 'page')),
    object_id   text not null check (object_id ~ '^(act_)?[0-9]{1,30}$'),
    name        text,
    selected_at timestamptz not null default now(),
    primary key (tenant_id, kind, object_id)
);

create table app.meta_onboarding (
    tenant_id          text primary key references app.tenants (id) on delete cascade,
    missing_scopes     text[] not null default '{}',
    sync_run_ids       text[] not null default '{}',
    sync_requested_at  timestamptz,
    sync_finished_at   timestamptz,
    sync_status        text check (sync_status in ('running', 'succeeded', 'failed')),
    updated_at         timestamptz not null default now()
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(
        "drop table if exists app.meta_onboarding; drop table if exists app.meta_selection; "
        "drop table if exists app.meta_oauth_states"
    )
