"""The dbt project and its manifest.

Locally (``dagster dev``) the manifest is re-parsed on load; ``adinsights`` commands and the test
suite prepare it once before loading definitions; deployments prepare it at build time
(``dagster-dbt project prepare-and-package``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from adinsights_pipelines.settings import PROJECT_ROOT

# dagster-dbt finds `dbt` on PATH (its manifest preparer takes no executable setting). Put the
# interpreter's own bin folder first, so a virtualenv that is not activated still works.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join(filter(None, [_bin, os.environ.get("PATH")]))

dbt_project = DbtProject(
    project_dir=PROJECT_ROOT / "dbt_project",
    profiles_dir=PROJECT_ROOT / "dbt_project",
)


def prepare_manifest(force: bool = False) -> None:
    """Write ``target/manifest.json`` (``dbt parse``); needs no database connection."""
    if force or not dbt_project.manifest_path.exists():
        dbt_project.preparer.prepare(dbt_project)
