"""The dbt project and its manifest.

Locally (``dagster dev``) the manifest is re-parsed on load; ``adinsights`` commands and the test
suite prepare it once before loading definitions, and again whenever a file of the dbt project
changed after it was written (a model added in a dev checkout would otherwise be missing from
the assets while dbt, which re-parses, builds it); deployments prepare it at build time
(``dagster-dbt project prepare-and-package``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

from adinsights_pipelines.settings import PROJECT_ROOT
from adinsights_pipelines.warehouse.database import Database

# dagster-dbt finds `dbt` on PATH (its manifest preparer takes no executable setting). Put the
# interpreter's own bin folder first, so a virtualenv that is not activated still works.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join(filter(None, [_bin, os.environ.get("PATH")]))

dbt_project = DbtProject(
    project_dir=PROJECT_ROOT / "dbt_project",
    profiles_dir=PROJECT_ROOT / "dbt_project",
)


#: What dbt writes or installs inside the project folder (and hidden files such as its
#: ``.user.yml``): not part of the project's definitions.
GENERATED = frozenset({"target", "logs", "dbt_packages"})


def manifest_is_stale(project_dir: Path, manifest_path: Path) -> bool:
    """Whether ``manifest_path`` is missing or older than a file of the dbt project."""
    if not manifest_path.exists():
        return True
    written = manifest_path.stat().st_mtime
    for path in project_dir.rglob("*"):
        top = path.relative_to(project_dir).parts[0]
        if top in GENERATED or top.startswith("."):
            continue
        if path.is_file() and path.stat().st_mtime > written:
            return True
    return False


def prepare_manifest(force: bool = False) -> None:
    """Write ``target/manifest.json`` (``dbt parse``) when missing or stale; needs no database
    connection."""
    if force or manifest_is_stale(dbt_project.project_dir, dbt_project.manifest_path):
        dbt_project.preparer.prepare(dbt_project)


def load_manifest() -> dict[str, Any]:
    """The prepared manifest, with relations that name no database.

    ``dbt parse`` writes the database of the environment it ran in (at build time: any, or
    none) into every relation. Dagster reads relations from this manifest to count rows and read
    columns after each model builds, on whatever database the run's dbt uses: relations must
    not point at the database the manifest happened to be parsed against (PostgreSQL refuses
    cross-database references). dbt itself re-parses, with the run's profile, at every run.
    """
    manifest: dict[str, Any] = json.loads(dbt_project.manifest_path.read_text())
    for section in ("nodes", "sources", "seeds"):
        for node in manifest.get(section, {}).values():
            if node.get("database") is None:
                continue
            node["database"] = None
            if node.get("schema") and (node.get("alias") or node.get("identifier")):
                name = node.get("identifier") if section == "sources" else node.get("alias")
                node["relation_name"] = f'"{node["schema"]}"."{name}"'
    return manifest


def dbt_environment(db: Database) -> dict[str, str]:
    """The environment a dbt process needs: where the warehouse is (profiles.yml reads it).

    dbt's sessions run without JIT (the incremental models touch a few thousand rows, but the
    planner cannot tell before it runs them and would spend seconds compiling each query) and
    with 64 MB of work_mem (the marts' grouping and sorting stay in memory instead of spilling)
    and hash tables allowed 4x that (``hash_mem_multiplier``): the fact's grouping of a few
    hundred thousand re-read rows then hashes instead of sorting them all on text keys (0.6 s
    instead of 1.2 s in ``benchmarks/dbt_incremental.py``).
    """
    return {
        **db.dbt_env(),
        "PGOPTIONS": "-c jit=off -c work_mem=64MB -c hash_mem_multiplier=4",
    }
