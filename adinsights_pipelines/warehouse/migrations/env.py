"""Alembic environment: online migrations only, serialised by an advisory lock."""

import sqlalchemy as sa
from alembic import context

MIGRATION_LOCK_ID = 7_420_001  # any constant; several processes may start at once

config = context.config
connectable = sa.create_engine(
    config.get_main_option("sqlalchemy.url") or "", poolclass=sa.pool.NullPool
)

with connectable.connect() as connection:
    connection.execute(sa.text("select pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.execute(sa.text("create schema if not exists app"))
    connection.commit()
    try:
        context.configure(
            connection=connection,
            version_table_schema="app",
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(sa.text("select pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
connectable.dispose()
