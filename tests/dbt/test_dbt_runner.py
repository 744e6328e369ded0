"""dbt forked from the step process (defs/dbt/runner.py) behaves as dagster-dbt's subprocess.

Real dbt against this module's PostgreSQL: the same events for the same build, the same exit
code and parsed error for a failing command, Ctrl-C (dagster-dbt's termination) cancelling the
running query on the server, and the parent's own database session untouched by the child.
"""

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import AssetCheckEvaluation, AssetMaterialization, IntMetadataValue
from dagster_dbt import DbtCliInvocation

from adinsights_pipelines.defs.dbt.assets import MANIFEST, translator
from adinsights_pipelines.defs.dbt.project import dbt_environment, dbt_project
from adinsights_pipelines.defs.dbt.runner import (
    DbtResource,
    ForkedDbt,
    keep_partial_parse_state,
    partial_parse_state,
    stream_with_table_metadata,
)
from adinsights_pipelines.warehouse.database import engine
from tests.dbt.conftest import ModuleEnv

SEEDS = dbt_project.project_dir / "seeds"
GEO_TARGETS = len((SEEDS / "google_geo_targets.csv").read_text().splitlines()) - 1


@pytest.fixture(scope="module")
def env(module_env: ModuleEnv) -> Iterator[ModuleEnv]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in dbt_environment(module_env.db).items():
            mp.setenv(name, value)
        yield module_env


def resource(launch: str) -> DbtResource:
    return DbtResource(
        project_dir=str(dbt_project.project_dir),
        profiles_dir=str(dbt_project.profiles_dir),
        launch=launch,
    )


def invoke(launch: str, args: list[str], target: Path, **kwargs: Any) -> DbtCliInvocation:
    """``cli()`` as the asset calls it, writing its artifacts under ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    return resource(launch).cli(
        args,
        manifest=MANIFEST,
        dagster_dbt_translator=translator,
        target_path=target / launch,
        **kwargs,
    )


def events(launch: str, args: list[str], target: Path) -> list[tuple[str, str, bool]]:
    invocation = invoke(launch, args, target)
    out = []
    for event in invocation.stream():
        if isinstance(event, AssetMaterialization):
            out.append(("materialization", event.asset_key.to_user_string(), True))
        elif isinstance(event, AssetCheckEvaluation):
            out.append(
                (f"check {event.check_name}", event.asset_key.to_user_string(), event.passed)
            )
    assert invocation.is_successful()
    return sorted(out)


def test_a_forked_build_streams_what_a_subprocess_build_does(
    env: ModuleEnv, tmp_path: Path
) -> None:
    args = ["build", "--select", "resource_type:seed", "--indirect-selection", "cautious"]
    forked = events("fork", args, tmp_path)
    assert {key for kind, key, _ in forked if kind == "materialization"} == {
        "google_geo_targets",
        "jamaica_parishes",
    }
    assert any(e[0].startswith("check ") for e in forked)
    assert all(passed for _, _, passed in forked)
    assert forked == events("subprocess", args, tmp_path)


def test_a_build_that_raises_yields_what_it_built_first(env: ModuleEnv, tmp_path: Path) -> None:
    """With raise_on_error, the seeds built before a failing node keep their materializations."""
    # every seed's test, including those on views this module never builds: they error
    invocation = invoke("fork", ["build", "--select", "resource_type:seed"], tmp_path)
    built = []
    with pytest.raises(Exception, match="failed with exit code `1`"):
        for event in stream_with_table_metadata(invocation):
            if isinstance(event, AssetMaterialization):
                built.append(
                    (event.asset_key.to_user_string(), event.metadata["dagster/row_count"])
                )
    assert sorted(built) == [
        ("google_geo_targets", IntMetadataValue(GEO_TARGETS)),
        ("jamaica_parishes", IntMetadataValue(14)),
    ]


def failing(launch: str, target: Path) -> tuple[bool, int | None, str]:
    """Success, exit code and the errors dagster-dbt parsed from dbt's log lines."""
    args = ["show", "--inline", "select * from raw.no_such_table"]
    invocation = invoke(launch, args, target, raise_on_error=False)
    ok = invocation.is_successful()
    parsed = str(invocation.get_error()).partition("Errors parsed from dbt logs:")[2]
    return ok, invocation.process.returncode, parsed.strip()


def test_a_failing_command_fails_as_the_dbt_command_does(env: ModuleEnv, tmp_path: Path) -> None:
    forked = failing("fork", tmp_path)
    assert forked[:2] == (False, 2)  # dbt's exit code for an error outside a node
    assert 'relation "raw.no_such_table" does not exist' in forked[2]
    assert forked == failing("subprocess", tmp_path)


def sleeping_queries(conn: sa.Connection) -> list[Any]:
    return conn.execute(
        sa.text(
            "select pid from pg_stat_activity where query like '%pg_sleep(120)%' "
            "and pid <> pg_backend_pid()"
        )
    ).all()


def test_sigint_stops_the_child_and_cancels_its_query(env: ModuleEnv, tmp_path: Path) -> None:
    """What dagster-dbt does when a run is terminated: SIGINT, then wait for the exit."""
    args = ["show", "--inline", "select pg_sleep(120) as slept"]
    invocation = invoke("fork", args, tmp_path, raise_on_error=False)
    process = invocation.process
    assert isinstance(process, ForkedDbt)
    # autocommit: a transaction would read pg_stat_activity once and keep that snapshot
    with engine(env.db).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        deadline = time.monotonic() + 60
        while not sleeping_queries(conn):
            assert process.poll() is None, "dbt ended before its query started"
            assert time.monotonic() < deadline, "dbt's query never started"
            time.sleep(0.2)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        assert time.monotonic() - interrupted < 15
        assert code != 0
        # PostgreSQL cancels the query when dbt's connection goes: wait for it, not a fixed time
        deadline = time.monotonic() + 30
        while sleeping_queries(conn) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sleeping_queries(conn) == []
    assert invocation.is_successful() is False


def test_the_parents_database_session_outlives_the_child(env: ModuleEnv, tmp_path: Path) -> None:
    eng = sa.create_engine(env.db.sqlalchemy_url, pool_size=1)
    try:
        with eng.connect() as conn:
            before = conn.execute(sa.text("select pg_backend_pid()")).scalar_one()
            invocation = invoke("fork", ["show", "--inline", "select 1 as one"], tmp_path)
            invocation.wait()
            assert invocation.process.returncode == 0
            assert conn.execute(sa.text("select pg_backend_pid()")).scalar_one() == before
    finally:
        eng.dispose()


def test_an_unknown_launch_is_refused() -> None:
    with pytest.raises(Exception, match="launch must be one of fork, subprocess"):
        resource("thread")


def test_each_run_leaves_its_parse_to_the_next(
    env: ModuleEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parse made under another profile (a build-time manifest) costs one whole re-parse,
    once: the run that re-parsed leaves its state, and the run after it parses nothing."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "state"))
    state = partial_parse_state(dbt_project.project_dir)

    def run(name: str, args: list[str]) -> str:
        invocation = invoke("fork", args, tmp_path / name)
        invocation.wait()
        keep_partial_parse_state(invocation)
        assert invocation.process.returncode == 0
        return (tmp_path / name / "fork" / "dbt.log").read_text()

    with monkeypatch.context() as build_time:
        build_time.setenv("ADINSIGHTS_DBT_DBNAME", "the_build_machines_database")
        run("prepare", ["parse"])
    assert state.exists()
    prepared = state.read_bytes()

    first = run("first", ["show", "--inline", "select 1 as one"])
    assert "Unable to do partial parsing because profile has changed" in first
    assert state.read_bytes() != prepared
    second = run("second", ["show", "--inline", "select 2 as two"])
    assert "Unable to do partial parsing" not in second
