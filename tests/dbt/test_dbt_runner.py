"""What the dbt asset's step adds to dagster-dbt (defs/dbt/runner.py), on real dbt and PostgreSQL:
the metadata stream tells Dagster what dagster-dbt's own chain does, a failing run still reports
what it built, and each run's parse state is the next run's starting point."""

import inspect
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetCheckEvaluation, AssetMaterialization, IntMetadataValue
from dagster_dbt import DbtCliInvocation, DbtCliResource

from adinsights_pipelines.defs.dbt.assets import MANIFEST, translator
from adinsights_pipelines.defs.dbt.project import dbt_environment, dbt_project
from adinsights_pipelines.defs.dbt.runner import (
    keep_partial_parse_state,
    partial_parse_state,
    stream_with_table_metadata,
)
from tests.dbt.conftest import ModuleEnv

SEEDS = dbt_project.project_dir / "seeds"
GEO_TARGETS = len((SEEDS / "google_geo_targets.csv").read_text().splitlines()) - 1


@pytest.fixture(scope="module")
def env(module_env: ModuleEnv) -> Iterator[ModuleEnv]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in dbt_environment(module_env.db).items():
            mp.setenv(name, value)
        yield module_env


def invoke(args: list[str], target: Path, **kwargs: Any) -> DbtCliInvocation:
    """``cli()`` as the asset calls it (dagster-dbt's own resource), artifacts under ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    resource = DbtCliResource(
        project_dir=str(dbt_project.project_dir), profiles_dir=str(dbt_project.profiles_dir)
    )
    return resource.cli(
        args,
        manifest=MANIFEST,
        dagster_dbt_translator=translator,
        target_path=target,
        **kwargs,
    )


def summary(stream: Iterable[Any]) -> list[tuple[str, str, Any]]:
    """What a stream told Dagster: each materialization with its row count, each check's result."""
    out: list[tuple[str, str, Any]] = []
    for event in stream:
        if isinstance(event, AssetMaterialization):
            row_count = event.metadata.get("dagster/row_count")
            columns = event.metadata.get("dagster/column_schema")
            out.append((event.asset_key.to_user_string(), "rows", row_count))
            out.append((event.asset_key.to_user_string(), "has columns", columns is not None))
        elif isinstance(event, AssetCheckEvaluation):
            out.append(
                (event.asset_key.to_user_string(), f"check {event.check_name}", event.passed)
            )
    return sorted(out, key=repr)


def test_the_metadata_stream_tells_dagster_what_dagster_dbts_chain_does(
    env: ModuleEnv, tmp_path: Path
) -> None:
    args = ["build", "--select", "resource_type:seed", "--indirect-selection", "cautious"]
    ours = summary(stream_with_table_metadata(invoke(args, tmp_path / "ours")))
    theirs = summary(
        invoke(args, tmp_path / "theirs")
        .stream()
        .fetch_row_counts()
        .fetch_column_metadata(with_column_lineage=False)
    )
    assert ("jamaica_parishes", "rows", IntMetadataValue(14)) in ours
    assert ("google_geo_targets", "rows", IntMetadataValue(GEO_TARGETS)) in ours
    assert ("jamaica_parishes", "has columns", True) in ours
    assert any(kind.startswith("check ") for _, kind, _ in ours)
    assert ours == theirs


def test_the_dagster_dbt_internals_we_call_still_exist_as_we_call_them() -> None:
    """dagster_dbt_internals reaches two private functions: an upgrade that renames them or
    changes their parameters must fail here, not in a production run."""
    from dagster_dbt.core import dbt_event_iterator

    assert list(inspect.signature(dbt_event_iterator._fetch_row_count_metadata).parameters) == [
        "invocation",
        "event",
    ]
    assert list(inspect.signature(dbt_event_iterator._fetch_column_metadata).parameters) == [
        "invocation",
        "event",
        "with_column_lineage",
    ]


def test_a_build_that_raises_yields_what_it_built_first(env: ModuleEnv, tmp_path: Path) -> None:
    """With raise_on_error, the seeds built before a failing node keep their materializations."""
    # every seed's test, including those on views this module never builds: they error
    invocation = invoke(["build", "--select", "resource_type:seed"], tmp_path)
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


def test_each_run_leaves_its_parse_to_the_next(
    env: ModuleEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parse made under another profile (a build-time manifest) costs one whole re-parse,
    once: the run that re-parsed leaves its state, and the run after it parses nothing."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "state"))
    state = partial_parse_state(dbt_project.project_dir)

    def run(name: str, args: list[str]) -> str:
        invocation = invoke(args, tmp_path / name)
        invocation.wait()
        keep_partial_parse_state(invocation)
        assert invocation.process.returncode == 0
        return (tmp_path / name / "dbt.log").read_text()

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
