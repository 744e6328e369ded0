import sqlalchemy as sa

from adinsights_pipelines.warehouse import migrate
from adinsights_pipelines.warehouse.database import Database, engine
from tests.sql import query

EXPECTED_TABLES = {
    ("app", "tenants"),
    ("app", "platform_credentials"),
    ("app", "api_keys"),
    ("app", "audit_log"),
    ("app", "api_error_log"),
    ("app", "meta_sync_state"),
    ("app", "airbyte_connections"),
    ("app", "airbyte_jobs"),
    ("app", "metrics_snapshots"),
    ("raw", "meta_ad_accounts"),
    ("raw", "meta_insights"),
}


def _tables(db: Database) -> set[tuple[str, str]]:
    rows = query(
        db,
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('app', 'raw')",
    )
    return {(r[0], r[1]) for r in rows}


def test_migrated_database_has_every_table_at_head(database: Database) -> None:
    assert _tables(database) >= EXPECTED_TABLES
    assert migrate.current_revision(database) == migrate.head_revision()


def test_rerunning_migrations_is_a_no_op(database: Database) -> None:
    with engine(database).begin() as conn:
        conn.execute(sa.text("insert into app.tenants (id, name) values ('keep-me', 'Keep')"))
    before, after = migrate.upgrade(database)
    assert before == after == migrate.head_revision()
    with engine(database).connect() as conn:
        assert conn.execute(sa.text("select name from app.tenants")).scalar() == "Keep"


def test_upgrade_builds_an_empty_database_from_nothing(pg_admin: Database) -> None:
    import uuid

    name = f"adi_fresh_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        pg_admin.sqlalchemy_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    fresh = pg_admin.with_database(name)
    try:
        assert migrate.current_revision(fresh) is None
        assert migrate.upgrade(fresh) == (None, migrate.head_revision())
        assert _tables(fresh) >= EXPECTED_TABLES
    finally:
        engine(fresh).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database "{name}" with (force)'))
        admin.dispose()
