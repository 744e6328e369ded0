"""``dbt source freshness`` on the raw tables, summarised for ``adinsights dbt-freshness``.

An empty raw table is reported ``empty`` (nothing connected feeds it yet), not as an error.
Thresholds come from the dbt vars ``freshness_warn_hours`` / ``freshness_error_hours`` (2 h and
4 h for the hourly feeds; the daily hierarchy has its own); dev and CI, which run on simulated
data, pass larger ones, as the runbook says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from adinsights_pipelines.defs.dbt.project import dbt_environment, dbt_project
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.warehouse.database import Database

ERROR_STATUSES = ("error", "runtime error")


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    relation: str
    status: str
    max_loaded_at: datetime | None
    age_hours: float | None
    message: str | None = None

    @property
    def is_error(self) -> bool:
        return self.status in ERROR_STATUSES


def _timestamp(raw: Any) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    # dbt reports an empty table as loaded in year 1
    return None if moment.year <= 1 else moment


def parse_sources_json(
    artifact: dict[str, Any], relations: dict[str, str]
) -> list[SourceFreshness]:
    """The results of a ``sources.json`` artifact; ``relations`` maps unique ids to tables."""
    parsed = []
    for result in artifact.get("results", []):
        unique_id = str(result.get("unique_id", ""))
        newest = _timestamp(result.get("max_loaded_at"))
        age = result.get("max_loaded_at_time_ago_in_s") if newest else None
        status = str(result.get("status", "unknown"))
        parsed.append(
            SourceFreshness(
                source=".".join(unique_id.split(".")[2:]) or unique_id,
                relation=relations.get(unique_id, ""),
                # An empty table is a source nobody has connected yet, not a stale one.
                status="empty" if newest is None and status not in ("runtime error",) else status,
                max_loaded_at=newest,
                age_hours=round(float(age) / 3600, 2) if age is not None else None,
                message=(result.get("error") or result.get("message") or None),
            )
        )
    return sorted(parsed, key=lambda r: r.source)


def _relations(manifest_path: Path) -> dict[str, str]:
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return {}
    return {
        unique_id: f"{node.get('schema')}.{node.get('identifier') or node.get('name')}"
        for unique_id, node in manifest.get("sources", {}).items()
    }


def freshness_vars(warn_hours: int | None, error_hours: int | None) -> dict[str, int]:
    overrides = {}
    if warn_hours is not None:
        overrides["freshness_warn_hours"] = warn_hours
    if error_hours is not None:
        overrides["freshness_error_hours"] = error_hours
    if warn_hours is not None and error_hours is not None and warn_hours > error_hours:
        raise AdinsightsError("--warn-hours must not be larger than --error-hours")
    return overrides


def run_source_freshness(
    db: Database,
    *,
    warn_hours: int | None = None,
    error_hours: int | None = None,
    select: Sequence[str] = (),
) -> list[SourceFreshness]:
    """Run ``dbt source freshness`` against ``db``; raise with dbt's reason if it cannot run."""
    dbt = shutil.which("dbt")
    if dbt is None:
        raise AdinsightsError("dbt is not installed in this environment (pip install dbt-postgres)")
    overrides = freshness_vars(warn_hours, error_hours)
    with tempfile.TemporaryDirectory(prefix="adi-freshness-") as workdir:
        output = Path(workdir) / "sources.json"
        args = [
            dbt, "source", "freshness",
            "--project-dir", str(dbt_project.project_dir),
            "--profiles-dir", str(dbt_project.profiles_dir),
            "--target-path", workdir,
            "--log-path", workdir,
            "--output", str(output),
        ]  # fmt: skip
        if overrides:
            args += ["--vars", json.dumps(overrides)]
        for selector in select:
            args += ["--select", selector]
        done = subprocess.run(  # noqa: S603 - our own dbt, no shell
            args,
            env={**os.environ, **dbt_environment(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if not output.exists():
            lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"exit code {done.returncode}"
            raise AdinsightsError(f"dbt source freshness did not run: {reason}")
        artifact = json.loads(output.read_text())
        return parse_sources_json(artifact, _relations(Path(workdir) / "manifest.json"))


def freshness_table(results: Sequence[SourceFreshness]) -> str:
    header = ("SOURCE", "TABLE", "STATUS", "NEWEST LOAD", "AGE (H)")
    rows = [
        (
            r.source,
            r.relation,
            r.status.upper(),
            r.max_loaded_at.isoformat(timespec="seconds") if r.max_loaded_at else "no rows",
            f"{r.age_hours:.2f}" if r.age_hours is not None else "-",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
