"""What a dbt invocation did, in the shape the instance keeps and ``/api/health/dbt/`` serves.

Every run that executes the dbt assets is tagged ``adinsights/dbt=build`` and, when dbt has
finished, ``adinsights/dbt_results`` with the JSON summary of its ``run_results.json``: counts by
resource type and status, dbt's elapsed time and invocation id. The health endpoint then needs
only run records (two small queries), never the event log or the artifacts on disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

DBT_RUN_TAG = "adinsights/dbt"
DBT_RUN_TAG_VALUE = "build"
DBT_RESULTS_TAG = "adinsights/dbt_results"


def summarize_run_results(run_results: Mapping[str, Any]) -> dict[str, Any]:
    """Counts by resource type and status (``{"model": {"success": 12}, "test": {...}}``)."""
    counts: dict[str, dict[str, int]] = {}
    for result in run_results.get("results", []):
        resource_type = str(result.get("unique_id", "unknown.")).split(".", 1)[0]
        status = str(result.get("status") or "unknown")
        by_status = counts.setdefault(resource_type, {})
        by_status[status] = by_status.get(status, 0) + 1
    return {
        "counts": counts,
        "elapsed_seconds": round(float(run_results.get("elapsed_time") or 0.0), 3),
        "invocation_id": (run_results.get("metadata") or {}).get("invocation_id"),
    }


def unreadable_results(reason: str) -> dict[str, Any]:
    """The summary of a dbt invocation that wrote no run results (it failed to start)."""
    return {"counts": {}, "elapsed_seconds": None, "invocation_id": None, "error": reason}


def encode(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, separators=(",", ":"), sort_keys=True)


def decode(tag_value: str | None) -> dict[str, Any] | None:
    if not tag_value:
        return None
    try:
        decoded = json.loads(tag_value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None
