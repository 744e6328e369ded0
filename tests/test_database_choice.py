"""`make test` picks its database itself: an explicit URL, a server that answers, or embedded."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from adinsights_pipelines.warehouse.database import Database
from tests.database_choice import ENV_VAR, choose


def _closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


@pytest.fixture
def server_parent() -> Path:
    """A folder for an embedded server, outside pytest's temporary tree: pytest resets that
    tree's root to mode 0700 whenever a session starts (each xdist worker's does), and the server
    runs as another user when we are root. The server deletes its data when this process exits."""
    return Path(tempfile.mkdtemp(prefix="adi-choice-"))


def test_an_explicit_url_wins_without_probing_anything(tmp_path: Path) -> None:
    chosen = choose(
        {ENV_VAR: "postgresql://ci@db.internal:6543/suite"},
        server_url=_closed_port_url(),
        embedded_parent=tmp_path,
    )
    assert chosen.admin.plain_url == "postgresql://ci@db.internal:6543/suite"
    assert not chosen.admin.embedded
    assert chosen.reason == f"{ENV_VAR} is set"
    assert list(tmp_path.iterdir()) == []  # no embedded server was started


def test_a_server_that_answers_is_used(pg_admin: Database, tmp_path: Path) -> None:
    # The suite's own server stands in for 127.0.0.1:5432 (it is an embedded one where the
    # machine has no server, which must answer the probe just the same).
    chosen = choose({}, server_url=pg_admin.plain_url, embedded_parent=tmp_path)
    assert chosen.admin.plain_url == pg_admin.plain_url
    assert not chosen.admin.embedded
    assert chosen.line.startswith("test database: PostgreSQL server at ")
    assert list(tmp_path.iterdir()) == []


def test_with_no_server_an_embedded_one_is_started_and_answers(server_parent: Path) -> None:
    closed = _closed_port_url()
    chosen = choose({}, server_url=closed, embedded_parent=server_parent, probe_timeout_s=1)
    assert chosen.admin.embedded
    assert chosen.reason.startswith(f"nothing answered at {closed}: ")
    assert chosen.line.startswith("test database: embedded PostgreSQL at postgresql://postgres@")
    # It listens on a socket in the folder it was given, not on the probed port.
    assert str(chosen.admin.url.query["host"]).startswith(str(server_parent.resolve()))
    eng = sa.create_engine(chosen.admin.sqlalchemy_url, poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar() == "postgres"
        # configured as the machine's server is: no autovacuum (the reload reaches new sessions
        # within moments)
        deadline = time.monotonic() + 10
        while True:
            with eng.connect() as conn:
                autovacuum = conn.execute(sa.text("show autovacuum")).scalar()
            if autovacuum == "off":
                break
            assert time.monotonic() < deadline, autovacuum
            time.sleep(0.1)
    finally:
        eng.dispose()


def test_an_empty_url_asks_for_an_embedded_server_even_when_one_answers(
    pg_admin: Database, server_parent: Path
) -> None:
    chosen = choose({ENV_VAR: ""}, server_url=pg_admin.plain_url, embedded_parent=server_parent)
    assert chosen.admin.embedded
    assert chosen.reason == f"{ENV_VAR} is set empty"
    assert chosen.admin.plain_url != pg_admin.plain_url
