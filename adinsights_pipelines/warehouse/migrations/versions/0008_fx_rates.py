"""Daily exchange rates and each tenant's reporting currency.

Revision ID: 0008_fx_rates
Revises: 0007_meta_onboarding
Create Date: 2026-12-04

``raw.fx_rates_daily`` holds one rate per (day, base, quote): published by the configured
provider or imported from a CSV of contractual rates, or carried forward from the last published
day (``carried_from`` set) for a day without one. ``_loaded_at`` moves only when a row's rate
changes, so dbt re-converts only the days whose rate changed.

``app.tenants.reporting_currency`` (ISO 4217, default JMD) is the currency a tenant's totals are
converted to; ``reporting_currency_set_at`` (when it last changed) tells dbt which tenants to
re-convert.
"""

from alembic import op

revision = "0008_fx_rates"
down_revision = "0007_meta_onboarding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table if not exists raw.fx_rates_daily (
            rate_date     date not null,
            base          text not null check (base ~ '^[A-Z]{3}$'),
            quote         text not null check (quote ~ '^[A-Z]{3}$'),
            rate          numeric(24, 10) not null check (rate > 0),
            source        text not null,
            fetched_at    timestamptz not null,
            carried_from  date check (carried_from < rate_date),
            _loaded_at    timestamptz not null default now(),
            primary key (rate_date, base, quote)
        )
        """
    )
    op.execute(
        "create index if not exists fx_rates_daily_loaded_at on raw.fx_rates_daily (_loaded_at)"
    )
    op.execute(
        "alter table app.tenants add column if not exists reporting_currency text not null "
        "default 'JMD' check (reporting_currency ~ '^[A-Z]{3}$')"
    )
    # Null until the currency is changed: a new tenant has nothing to re-convert.
    op.execute(
        "alter table app.tenants add column if not exists reporting_currency_set_at timestamptz"
    )


def downgrade() -> None:
    op.execute("alter table app.tenants drop column if exists reporting_currency_set_at")
    op.execute("alter table app.tenants drop column if exists reporting_currency")
    op.execute("drop table if exists raw.fx_rates_daily")
