"""Run the warehouse's Alembic migrations (on start and by ``adinsights migrate``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from adinsights_pipelines.warehouse.database import Database, engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE_SCHEMA = "app"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", db.sqlalchemy_url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with engine(db).connect() as conn:
        has_schema = conn.execute(
            sa.text("select 1 from information_schema.schemata where schema_name = :s"),
            {"s": VERSION_TABLE_SCHEMA},
        ).scalar()
        if not has_schema:
            return None
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": VERSION_TABLE_SCHEMA})
        return ctx.get_current_revision()


def upgrade(db: Database) -> tuple[str | None, str]:
    """Bring the warehouse to the newest revision; a no-op when it is already there.

    Returns (revision before, revision after).
    """
    before = current_revision(db)
    head = head_revision()
    if before != head:
        command.upgrade(alembic_config(db), "head")
    return before, head
