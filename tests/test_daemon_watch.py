"""The watcher is watched: a real ``dagster-daemon`` against the test's instance is killed
(SIGKILL); ``/api/health/`` turns 503 within the heartbeat threshold and
``dagster_daemon_heartbeat_age_seconds`` grows. And ``adinsights demo``'s supervisor reports a
child that died and starts it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from dagster import DagsterInstance
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from adinsights_pipelines.demo import Child, Supervisor
from adinsights_pipelines.settings import PROJECT_ROOT, Settings
from adinsights_pipelines.warehouse.database import Database
from api.app import create_app
from tests.api.conftest import NO_THROTTLES

#: Short for the test; above the daemon's 30 s heartbeat interval, or a live daemon looks dead.
THRESHOLD = 40.0


def heartbeat_ages(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics/app/").text
    return {
        s.labels["daemon_type"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "dagster_daemon_heartbeat_age_seconds"
    }


def liveness_check(stale_after: float) -> subprocess.CompletedProcess[str]:
    """deploy/docker-compose.yaml's daemon health check, failing past ``stale_after`` seconds
    (Dagster's check allows its 30 s heartbeat interval plus the tolerance)."""
    compose = yaml.safe_load((PROJECT_ROOT / "deploy" / "docker-compose.yaml").read_text())
    command = compose["services"]["daemon"]["healthcheck"]["test"][1:]  # after "CMD"
    command = [
        f"DAGSTER_DAEMON_HEARTBEAT_TOLERANCE={stale_after - 30:.0f}"
        if part.startswith("DAGSTER_DAEMON_HEARTBEAT_TOLERANCE=")
        else part
        for part in command
    ]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_a_killed_daemon_turns_health_503_within_the_threshold_and_the_metric_grows(
    instance: DagsterInstance, product_env: Database, tmp_path: Path
) -> None:
    settings = Settings().model_copy(
        update={
            **NO_THROTTLES,
            "daemon_heartbeat_stale_seconds": THRESHOLD,
            "metrics_cache_seconds": 0.0,
        }
    )
    client = TestClient(create_app(product_env, settings))
    assert client.get("/api/health/").json()["checks"]["dagster_daemon"]["status"] == "missing"

    log = (tmp_path / "daemon.log").open("ab")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            health = client.get("/api/health/")
            if health.status_code == 200 and health.json()["status"] == "ok":
                break
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-2000:]
            assert time.monotonic() < deadline, health.json()
            time.sleep(1)
        ages = heartbeat_ages(client)
        assert ages and all(age < THRESHOLD for age in ages.values())
        assert "SENSOR" in ages and "SCHEDULER" in ages
        assert liveness_check(THRESHOLD).returncode == 0  # compose's health check: healthy

        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        killed_at = time.monotonic()
        while True:
            health = client.get("/api/health/")
            if health.status_code == 503:
                break
            assert health.status_code == 200
            assert time.monotonic() - killed_at < THRESHOLD + 5, "still 200 past the threshold"
            time.sleep(1)
        # the newest beat was at most one interval old when it was killed
        assert time.monotonic() - killed_at <= THRESHOLD + 5
        body = health.json()
        assert body["status"] == "degraded"
        assert body["checks"]["dagster_daemon"]["status"] == "stale"
        assert body["checks"]["database"] == {"status": "ok"}

        first = heartbeat_ages(client)
        time.sleep(2)
        second = heartbeat_ages(client)
        assert set(second) == set(ages)
        assert all(second[d] >= first[d] + 1.5 for d in second)
        assert max(second.values()) > THRESHOLD
        failed = liveness_check(THRESHOLD)  # and compose's health check now fails
        assert failed.returncode == 1 and "not running" in failed.stdout
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
        log.close()


def test_the_demo_supervisor_reports_and_restarts_a_child_that_died(tmp_path: Path) -> None:
    said: list[str] = []
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    child = Child("dagster-daemon", sleeper, tmp_path / "daemon.log")
    supervisor = Supervisor([child], notify=said.append, interval=0.2)
    supervisor.start()
    try:
        first = child.process
        assert first is not None and first.poll() is None
        assert supervisor.check() == []  # alive: nothing to do

        child.started_at -= 60  # it had been running a while (not a crash loop)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        deadline = time.monotonic() + 10
        while child.process is first:
            assert time.monotonic() < deadline, said
            time.sleep(0.05)
        assert child.restarts == 1
        assert child.process is not None and child.process.poll() is None
        assert said[0] == (
            f"dagster-daemon exited (code -9); restarting it (log: {tmp_path / 'daemon.log'})"
        )
        assert said[1] == f"dagster-daemon restarted (pid {child.process.pid})"
    finally:
        supervisor.stop()
    assert child.process.poll() is not None  # stop() ends what it started


def test_a_child_that_keeps_dying_is_restarted_with_a_delay(tmp_path: Path) -> None:
    said: list[str] = []
    crashing = [sys.executable, "-c", "raise SystemExit(3)"]
    child = Child("dagster-webserver", crashing, tmp_path / "web.log")
    supervisor = Supervisor([child], notify=said.append, interval=3600)  # checked by hand
    supervisor.start()
    try:
        assert child.process is not None
        child.process.wait(timeout=30)
        assert supervisor.check() == []  # died at once: restarted only after a delay
        assert said == [
            f"dagster-webserver exited (code 3); restarting it in 1s (log: {tmp_path / 'web.log'})"
        ]
        time.sleep(1.1)
        assert supervisor.check() == ["dagster-webserver"]
        assert child.restarts == 1
    finally:
        supervisor.stop()
