"""The dbt manifest is read when the assets are asked for, and parsed again when stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from adinsights_pipelines.defs.dbt.project import manifest_is_stale

ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path) -> tuple[Path, Path]:
    """A project whose files are a minute old, and its manifest written 30 s ago."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fct.sql").write_text("select 1")
    (tmp_path / "dbt_project.yml").write_text("name: p\n")
    manifest = tmp_path / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
    for path in (tmp_path / "models" / "fct.sql", tmp_path / "dbt_project.yml"):
        age(path, 60)
    age(manifest, 30)
    return tmp_path, manifest


def age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime - seconds, stat.st_mtime - seconds))


def test_a_manifest_newer_than_every_project_file_is_current(tmp_path: Path) -> None:
    root, manifest = project(tmp_path)
    assert not manifest_is_stale(root, manifest)


def test_a_model_added_after_the_manifest_makes_it_stale(tmp_path: Path) -> None:
    root, manifest = project(tmp_path)
    (root / "models" / "new_model.sql").write_text("select 2")
    assert manifest_is_stale(root, manifest)


def test_what_dbt_writes_itself_does_not_make_it_stale(tmp_path: Path) -> None:
    root, manifest = project(tmp_path)
    (root / "target" / "run_results.json").write_text("{}")
    (root / "logs").mkdir()
    (root / "logs" / "dbt.log").write_text("")
    (root / ".user.yml").write_text("id: x\n")
    assert not manifest_is_stale(root, manifest)


def test_a_missing_manifest_is_stale(tmp_path: Path) -> None:
    root, manifest = project(tmp_path)
    manifest.unlink()
    assert manifest_is_stale(root, manifest)


def test_importing_the_dbt_assets_module_reads_no_manifest() -> None:
    code = (
        "import adinsights_pipelines.defs.dbt.assets as a; "
        "print(a.current_manifest.cache_info().currsize, a.failed_nodes({}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "[]"]
