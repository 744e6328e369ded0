"""The production Dagster instance config (deploy/dagster.yaml): Dagster's own validation loads
it against a real PostgreSQL, and its queued run coordinator keeps one run per tenant and a
bounded number per provider."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.settings import PROJECT_ROOT
from adinsights_pipelines.warehouse.database import Database
from tests.conftest import cloned_database, disposing
from tests.dagster_internals import (
    code_location_job_origin,
    runs_to_dequeue,
    validated_instance_config,
)

PRODUCTION_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"


@pytest.fixture(scope="module")
def production_instance(
    pg_admin: Database, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagsterInstance]:
    """The production config, with its DAGSTER_PG_* pointing at a database of this module's."""
    tmp_path = tmp_path_factory.mktemp("production")
    with cloned_database(pg_admin, template_database) as db, pytest.MonkeyPatch.context() as mp:
        url = sa.engine.make_url(db.sqlalchemy_url)
        mp.setenv("DAGSTER_PG_HOST", url.host or "localhost")
        mp.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
        mp.setenv("DAGSTER_PG_USERNAME", url.username or "postgres")
        mp.setenv("DAGSTER_PG_PASSWORD", url.password or "")
        mp.setenv("DAGSTER_PG_DB", url.database or "")
        mp.setenv("DAGSTER_MAX_CONCURRENT_RUNS", "10")
        mp.setenv("DAGSTER_COMPUTE_LOGS_DIR", str(tmp_path / "compute_logs"))
        home = tmp_path / "home"
        home.mkdir()
        config = yaml.safe_load(PRODUCTION_YAML.read_text())
        socket_dir = url.query.get("host")
        if socket_dir:  # the embedded server listens on a unix socket only: libpq's host param
            config["storage"]["postgres"]["postgres_db"]["params"] = {"host": socket_dir}
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        with disposing(DagsterInstance.from_config(str(home))) as instance:
            yield instance


@pytest.fixture
def empty_queue(production_instance: DagsterInstance) -> DagsterInstance:
    production_instance.wipe()  # no runs left from the module's other tests
    return production_instance


def test_production_config_passes_dagsters_validation(production_instance: DagsterInstance) -> None:
    config = validated_instance_config(str(PRODUCTION_YAML.parent))
    assert config["run_retries"] == {
        "enabled": True,
        "max_retries": 2,
        "retry_on_asset_or_op_failure": False,
    }
    assert config["run_monitoring"]["enabled"] is True
    # Loaded for real: storage on PostgreSQL, the queued coordinator with its limits.
    assert type(production_instance.run_storage).__name__ == "PostgresRunStorage"
    queue = production_instance.get_concurrency_config().run_queue_config
    assert queue is not None and queue.max_concurrent_runs == 10
    limits = {(limit["key"], str(limit.get("value"))): limit["limit"] for limit in
              queue.tag_concurrency_limits}  # fmt: skip
    assert limits[("provider", "meta")] == 4
    assert production_instance.run_retries_max_retries == 2


def queue_runs(
    instance: DagsterInstance, *runs: tuple[str, str, DagsterRunStatus]
) -> dict[str, str]:
    """Runs of meta_sync for (name, tenant, status); name -> run id."""
    job = defs.resolve_job_def("meta_sync")
    # Queued runs name the job of a code location, as runs launched from the UI do.
    origin = code_location_job_origin("adinsights_pipelines.definitions", "adinsights", "meta_sync")
    ids = {}
    for name, tenant, status in runs:
        run = instance.create_run_for_job(
            job,
            status=status,
            remote_job_origin=origin,
            tags={"dagster/partition": tenant, "tenant_id": tenant, "provider": "meta"},
        )
        ids[name] = run.run_id
    return ids


def next_dequeued(instance: DagsterInstance) -> set[str]:
    return {run.run_id for run in runs_to_dequeue(instance)}


def test_one_run_per_tenant_while_other_tenants_go_ahead(empty_queue: DagsterInstance) -> None:
    production_instance = empty_queue
    ids = queue_runs(
        production_instance,
        ("acme_first", "acme", DagsterRunStatus.QUEUED),
        ("acme_second", "acme", DagsterRunStatus.QUEUED),
        ("globex", "globex", DagsterRunStatus.QUEUED),
    )
    assert next_dequeued(production_instance) == {ids["acme_first"], ids["globex"]}

    # acme's first run is in progress: its second waits, a new tenant still goes ahead.
    production_instance.report_run_canceled(production_instance.get_run_by_id(ids["globex"]))
    queue_runs(production_instance, ("acme_running", "acme", DagsterRunStatus.STARTED))
    more = queue_runs(production_instance, ("initech", "initech", DagsterRunStatus.QUEUED))
    assert next_dequeued(production_instance) == {more["initech"]}


def test_meta_runs_across_tenants_are_capped_by_the_provider_limit(
    empty_queue: DagsterInstance,
) -> None:
    production_instance = empty_queue
    queued = queue_runs(
        production_instance,
        *((f"t{n}", f"tenant-{n}", DagsterRunStatus.QUEUED) for n in range(6)),
    )
    chosen = next_dequeued(production_instance)
    assert len(chosen) == 4 and chosen <= set(queued.values())
