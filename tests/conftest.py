"""Fixtures: a real PostgreSQL per test, a real Dagster instance on it, the Meta simulator.

The server is chosen once per run (``tests/database_choice.py``): ``ADINSIGHTS_TEST_DATABASE_URL``
when set, else the server at 127.0.0.1:5432 when one answers, else an embedded PostgreSQL that
every xdist worker shares. Each test gets its own database cloned from a migrated template,
dropped afterwards: nothing leaks between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from filelock import FileLock

from adinsights_pipelines.defs.dbt.project import prepare_manifest
from adinsights_pipelines.demo import DemoResult, run_demo
from adinsights_pipelines.encryption import LocalKeyring, keyring_from_settings
from adinsights_pipelines.instance import dagster_environment, prepare_dagster_home
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.alert_sinks import SmtpSink, WebhookSink
from adinsights_pipelines.simulators.fx_rates import rate_for
from adinsights_pipelines.simulators.google import GoogleSimulator
from adinsights_pipelines.simulators.google import environment as google_environment
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.warehouse import migrate
from adinsights_pipelines.warehouse.database import Database, engine_for
from tests import dagster_internals as test_internals
from tests import database_choice
from tests.scripted import Scripted

TEST_DATABASE = pytest.StashKey[database_choice.TestDatabase]()


def pytest_configure(config: pytest.Config) -> None:
    """Choose the suite's database in the controller; xdist workers inherit its URL."""
    if hasattr(config, "workerinput"):
        return
    choice = database_choice.choose(os.environ)
    config.stash[TEST_DATABASE] = choice
    os.environ[database_choice.ENV_VAR] = choice.admin.plain_url


def pytest_report_header(config: pytest.Config) -> str | None:
    choice = config.stash.get(TEST_DATABASE, None)
    return choice.line if choice else None


def _admin_execute(admin: Database, *statements: str) -> None:
    eng = sa.create_engine(
        admin.sqlalchemy_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with eng.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        eng.dispose()


@pytest.fixture(scope="session")
def pg_admin() -> Database:
    """The server chosen in ``pytest_configure`` (its URL is in the environment of every worker)."""
    return Database.from_url(os.environ[database_choice.ENV_VAR])


#: Every test database starts with a rate history (the exchange-rate simulator's series), so
#: the marts can convert the USD and JMD spend other tests load; the tests of exchange rates
#: themselves delete it first (``tests/fx``).
SEEDED_RATES = (date(2024, 1, 1), date(2027, 12, 31), ("JMD", "EUR", "GBP", "CAD"))
SEEDED_RATES_SOURCE = "test-fixture"


def seed_exchange_rates(db: Database) -> None:
    first, last, quotes = SEEDED_RATES
    rows = [
        {"d": first + timedelta(days=n), "q": quote, "r": rate_for(0, quote, first + timedelta(n))}
        for n in range((last - first).days + 1)
        for quote in quotes
    ]
    with engine_for(db.sqlalchemy_url).begin() as conn:
        conn.execute(
            sa.text(
                "insert into raw.fx_rates_daily (rate_date, base, quote, rate, source, fetched_at)"
                " values (:d, 'USD', :q, :r, :s, now())"
            ),
            [{**row, "s": SEEDED_RATES_SOURCE} for row in rows],
        )


@pytest.fixture(scope="session")
def template_database(pg_admin: Database) -> Iterator[str]:
    name = f"adi_tpl_{uuid.uuid4().hex[:10]}"
    _admin_execute(pg_admin, f'create database "{name}"')
    template = pg_admin.with_database(name)
    migrate.upgrade(template)
    seed_exchange_rates(template)
    engine_for(template.sqlalchemy_url).dispose()
    yield name
    _admin_execute(pg_admin, f'drop database if exists "{name}" with (force)')


@contextmanager
def cloned_database(pg_admin: Database, template: str) -> Iterator[Database]:
    name = f"adi_t_{uuid.uuid4().hex[:12]}"
    _admin_execute(pg_admin, f'create database "{name}" template "{template}"')
    db = pg_admin.with_database(name)
    try:
        yield db
    finally:
        engine_for(db.sqlalchemy_url).dispose()
        _admin_execute(pg_admin, f'drop database if exists "{name}" with (force)')


@pytest.fixture
def database(pg_admin: Database, template_database: str) -> Iterator[Database]:
    """A migrated warehouse database of this test's own."""
    with cloned_database(pg_admin, template_database) as db:
        yield db


class OwnEnvironment(NamedTuple):
    db: Database
    workdir: Path
    monkeypatch: pytest.MonkeyPatch


ModuleEnvironment = Callable[[str], AbstractContextManager[OwnEnvironment]]


@pytest.fixture(scope="session")
def module_environment(
    pg_admin: Database, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> ModuleEnvironment:
    """``with module_environment(name) as (db, workdir, mp)``, for a module's (or package's)
    fixture: a migrated database of its own, the environment pointed at it (a new folder
    ``workdir`` named after ``name`` for the data and DAGSTER_HOME) until the end, and the
    MonkeyPatch that undoes it then, to set more with."""

    @contextmanager
    def environment(name: str) -> Iterator[OwnEnvironment]:
        workdir = tmp_path_factory.mktemp(name)
        with cloned_database(pg_admin, template_database) as db, pytest.MonkeyPatch.context() as mp:
            point_environment_at(mp, db, workdir, "http://unused.invalid")
            yield OwnEnvironment(db, workdir, mp)

    return environment


def point_environment_at(
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
    workdir: Path,
    meta_url: str,
    google_url: str = "http://unused.invalid",
) -> None:
    """The environment our commands and the code location see, pointed at ``db``."""
    monkeypatch.setenv("ADINSIGHTS_DATABASE_URL", db.plain_url)
    monkeypatch.setenv("ADINSIGHTS_DATA_DIR", str(workdir / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dagster_home"))
    monkeypatch.setenv("ADINSIGHTS_META_GRAPH_URL", meta_url)
    monkeypatch.setenv("ADINSIGHTS_META_APP_ID", "sim-app")
    monkeypatch.setenv("ADINSIGHTS_META_APP_SECRET", "sim-app-secret-0123456789")
    monkeypatch.setenv("ADINSIGHTS_META_REPORT_POLL_SECONDS", "0.01")
    # Back-off stays base-2 exponential with jitter, in hundredths of the production waits.
    monkeypatch.setenv("ADINSIGHTS_META_RETRY_BASE_SECONDS", "0.01")
    # `adinsights demo` exports where its Airbyte simulator listens; cleared and restored.
    for name in (
        "ADINSIGHTS_AIRBYTE_URL",
        "ADINSIGHTS_AIRBYTE_WORKSPACE_ID",
        "ADINSIGHTS_AIRBYTE_POLL_INTERVAL_SECONDS",
        # and its exchange-rate simulator
        "ADINSIGHTS_FX_PROVIDER",
        "ADINSIGHTS_FX_API_URL",
        "ADINSIGHTS_FX_APP_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in google_environment(google_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ADINSIGHTS_GOOGLE_CLIENT_ID", "sim-client.apps.example")
    monkeypatch.setenv("ADINSIGHTS_GOOGLE_CLIENT_SECRET", "sim-client-secret-9876543210")
    # prepare_dagster_home() exports these; registering them here restores them afterwards.
    for name in dagster_environment(Settings(), db):
        monkeypatch.setenv(name, os.environ.get(name, ""))


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> None:
    """``dbt parse`` once per run: pytest-xdist workers share dbt_project/target."""
    if os.environ.get("ADINSIGHTS_TEST_REUSE_DBT_MANIFEST") == "1":
        # `make mutation` runs one pytest session per mutant: the first one parses.
        prepare_manifest()
        return
    if worker_id == "master":
        prepare_manifest(force=True)
        return
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker
    with FileLock(str(shared / "dbt-manifest.lock")):
        marker = shared / "dbt-manifest.done"
        if not marker.exists():
            prepare_manifest(force=True)
            marker.touch()


@pytest.fixture(scope="session")
def meta_sim() -> Iterator[MetaSimulator]:
    with MetaSimulator(port=0) as sim:
        yield sim


@pytest.fixture(scope="session")
def google_sim() -> Iterator[GoogleSimulator]:
    with GoogleSimulator(port=0) as sim:
        yield sim


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    """A loopback server answering from a script (the clients' tests of odd answers)."""
    server = Scripted()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def product_env(
    database: Database,
    tmp_path: Path,
    meta_sim: MetaSimulator,
    google_sim: GoogleSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Database:
    """The environment our commands and the code location see, pointed at this test's database."""
    point_environment_at(monkeypatch, database, tmp_path, meta_sim.url, google_sim.url)
    return database


@pytest.fixture(autouse=True)
def no_dagster_instance_left_in_effect(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves a Dagster instance in effect fails, naming itself.

    Dagster reads the instance in effect when it loads definitions; one left there after it has
    gone fails a later, unrelated test ("Attempted to resolve undefined DagsterInstance
    weakref"). Two ways the tests did that: ``with instance:`` in fixtures of different scopes
    (use :func:`disposing`), and a schedule or sensor context built without ``with``, whose
    ``context.instance`` enters an instance that nothing leaves (use ``with
    build_sensor_context(...) as context:``).
    """
    before = test_internals.instance_storage_in_effect()
    yield
    if test_internals.instance_storage_in_effect() is not before:
        pytest.fail(f"{request.node.nodeid} left a Dagster instance in effect")


@contextmanager
def disposing(instance: DagsterInstance) -> Iterator[DagsterInstance]:
    """``instance``, disposed at the end.

    Not ``with instance:``: that also makes it the instance in effect (a context variable Dagster
    reads when it loads definitions), and fixtures of different scopes do not unwind those in
    order. A module's instance set up before the package's, and torn down first, left the
    package's teardown restoring the module's instance, gone by then: later tests that loaded
    definitions failed with "Attempted to resolve undefined DagsterInstance weakref".
    """
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.fixture
def instance(product_env: Database) -> Iterator[DagsterInstance]:
    """A real Dagster instance storing runs and events in this test's PostgreSQL database."""
    prepare_dagster_home(Settings(), product_env)
    with disposing(DagsterInstance.get()) as inst:
        yield inst


@pytest.fixture(scope="module")
def demo_run(module_environment: ModuleEnvironment) -> Iterator[tuple[Database, DemoResult]]:
    """One whole demo pass (simulator -> raw -> dbt -> snapshots -> API) for a test module."""
    with module_environment("demo") as (db, _, _):
        result = run_demo(once=True, progress=lambda message: None)
        yield db, result


@pytest.fixture
def slack() -> Iterator[WebhookSink]:
    """A loopback Slack incoming webhook that records what the alerts post."""
    with WebhookSink() as sink:
        yield sink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A loopback SMTP server that records the alert mails."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def keyring(product_env: Database) -> LocalKeyring:
    """The keyring our commands and assets use in this environment (a local master key)."""
    return keyring_from_settings(Settings())


#: The files (and the package) that take longest, started first: a worker that drew one of
#: them last would run it alone while the other sat idle (the runbook file takes ~3 minutes).
SLOW_FIRST = (
    "tests/test_operations_doc.py",
    "tests/test_end_to_end.py",
    "tests/api/",
    "tests/dbt/",
    # the real-browser onboarding and the lifecycle (a minute or more each): last, they left
    # one worker alone for minutes at the end of a run
    "tests/onboarding/",
    "tests/meta/test_golden.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next(
            (i for i, slow in enumerate(SLOW_FIRST) if path.startswith(slow)), len(SLOW_FIRST)
        )

    items.sort(key=rank)  # stable: each file keeps its own order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadfile``, tests/api goes to one worker as a whole.

    Its package-scoped ``api_world`` runs a real dbt build (20-40 s). With one work unit per
    file, the worker left the package between files and pytest tore the fixture down, so a run
    built it about six times; as one unit, it is built once. Every other file stays a unit.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    # xdist otherwise hands out the units with the most tests first, whatever their duration,
    # which left the one-test runbook file for last: keep the collection order (SLOW_FIRST).
    config.option.loadscopereorder = False

    class FilesWithApiPackage(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/api" if path.startswith("tests/api/") else path

    return FilesWithApiPackage(config, log)
