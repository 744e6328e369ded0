"""A module-scoped product environment: dbt runs are slow, so one database per test module."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance

from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.warehouse.database import Database
from tests.conftest import ModuleEnvironment, disposing


@dataclass(frozen=True)
class ModuleEnv:
    db: Database
    instance: DagsterInstance
    workdir: Path
    environ: dict[str, str]


@pytest.fixture(scope="module")
def module_env(module_environment: ModuleEnvironment) -> Iterator[ModuleEnv]:
    """This module's own database, DAGSTER_HOME and Dagster instance (with environment)."""
    import os

    with module_environment("dbt") as (db, workdir, _):
        prepare_dagster_home(Settings(), db)
        environ = {k: v for k, v in os.environ.items()}
        with disposing(DagsterInstance.get()) as instance:
            yield ModuleEnv(db=db, instance=instance, workdir=workdir, environ=environ)
