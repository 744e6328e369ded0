"""The API starts, and answers its ops endpoints, without the code location or dbt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("adinsights_pipelines.definitions", "adinsights_pipelines.defs.dbt.assets", "dagster_dbt")


def test_the_app_and_its_freshness_policies_load_without_the_code_location() -> None:
    code = (
        "import json, sys\n"
        "from api.app import create_app\n"
        "from api.state import ingestion_definitions\n"
        "at_start = [m for m in HEAVY if m in sys.modules]\n"
        "nodes = list(ingestion_definitions().resolve_asset_graph().asset_nodes)\n"
        "after = [m for m in HEAVY if m in sys.modules]\n"
        "print(json.dumps([at_start, after, len(nodes)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{code}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    at_start, after, nodes = json.loads(result.stdout.splitlines()[-1])
    assert at_start == []
    assert after == []
    assert nodes > 5  # the Meta, Airbyte and web-analytics assets
