"""Evidence that the Dagster UI shows each asset's freshness state.

Runs the demo's work once (Meta simulator -> raw -> dbt -> snapshots) on a throw-away embedded
PostgreSQL (or ADINSIGHTS_DATABASE_URL if set), starts ``dagster-daemon`` until the freshness
daemon has recorded a state for the assets, starts ``dagster-webserver`` and takes headless
Chromium screenshots of the asset catalog and of an asset's page.

    .venv/bin/python scripts/ui_freshness_screenshot.py [OUTPUT_DIR]

Needs Debian's ``chromium`` (``apt-get install chromium``). Writes ``assets.png`` and
``metrics_snapshot.png`` into OUTPUT_DIR (default: docs/evidence/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ASSET_PAGES = {"assets.png": "/assets", "metrics_snapshot.png": "/assets/metrics_snapshot"}


def main() -> None:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/evidence").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium not found: apt-get install chromium")
    workdir = Path(tempfile.mkdtemp(prefix="adi-ui-"))
    os.environ.setdefault("ADINSIGHTS_DATA_DIR", str(workdir))
    os.environ["DAGSTER_HOME"] = str(workdir / "dagster_home")

    from adinsights_pipelines.demo import run_demo
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.ports import free_port
    from adinsights_pipelines.settings import PROJECT_ROOT

    run_demo(once=True, progress=lambda m: print(m, flush=True))
    bin_dir = Path(sys.executable).parent
    env = os.environ.copy()
    daemon = subprocess.Popen(  # noqa: S603 - our own venv's executables
        [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=(workdir / "daemon.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    port = free_port()
    web = subprocess.Popen(  # noqa: S603
        [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=(workdir / "webserver.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        from dagster import AssetKey

        instance = get_instance()
        deadline = time.monotonic() + 300
        key = AssetKey("metrics_snapshot")
        while not instance.get_freshness_state_records([key]) and time.monotonic() < deadline:
            time.sleep(2)
        states = instance.get_freshness_state_records([key])
        print(f"freshness daemon: metrics_snapshot {states.get(key)}")
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        for name, path in ASSET_PAGES.items():
            target = out_dir / name
            subprocess.run(  # noqa: S603
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--window-size=1600,1000",
                    "--virtual-time-budget=20000",
                    f"--screenshot={target}",
                    base + path,
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            print(f"screenshot {target}")
    finally:
        for child in (web, daemon):
            child.terminate()
        for child in (web, daemon):
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    main()
