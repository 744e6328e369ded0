"""The Dagster instance: DAGSTER_HOME prepared from the project's ``dagster.yaml``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from adinsights_pipelines.settings import PROJECT_ROOT, Settings
from adinsights_pipelines.warehouse.database import Database

INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster.yaml"


def dagster_environment(settings: Settings, db: Database) -> dict[str, str]:
    """What every process of ours (CLI, webserver, daemon, runs, API) needs in its environment."""
    return {
        "DAGSTER_HOME": str(settings.resolved_dagster_home),
        "ADINSIGHTS_DATABASE_URL": db.plain_url,
        "ADINSIGHTS_DAGSTER_STORAGE_URL": db.dagster_url,
        **db.dbt_env(),
    }


def prepare_dagster_home(settings: Settings, db: Database) -> Path:
    """Create DAGSTER_HOME with our dagster.yaml and export the environment it refers to."""
    home = settings.resolved_dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if settings.dagster_home is None or not target.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    os.environ.update(dagster_environment(settings, db))
    return home


def get_instance() -> DagsterInstance:
    return DagsterInstance.get()
