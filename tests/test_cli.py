"""The CLI's answers to bad configuration: one line, non-zero, no traceback."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ADINSIGHTS_")}
    return subprocess.run(
        [sys.executable, "-m", "adinsights_pipelines.cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("adinsights: error:")]
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0]
    assert "Traceback" not in result.stderr


def test_malformed_database_url_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "migrate",
        env={"ADINSIGHTS_DATABASE_URL": "not a url", "ADINSIGHTS_DATA_DIR": str(tmp_path)},
    )
    assert_one_line_error(result, "ADINSIGHTS_DATABASE_URL is malformed")


def test_unreachable_database_is_one_line_without_password(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    url = f"postgresql://app:hunter2secret@127.0.0.1:{closed_port}/warehouse"
    result = run_cli(
        "migrate", env={"ADINSIGHTS_DATABASE_URL": url, "ADINSIGHTS_DATA_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, f"cannot reach database postgresql://app@127.0.0.1:{closed_port}")
    assert "hunter2secret" not in result.stderr + result.stdout


def test_invalid_port_setting_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "demo", env={"ADINSIGHTS_API_PORT": "eighty", "ADINSIGHTS_DATA_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, "ADINSIGHTS_API_PORT")


def test_demo_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "demo", env={"ADINSIGHTS_API_PORT": str(port), "ADINSIGHTS_DATA_DIR": str(tmp_path)}
        )
    assert_one_line_error(result, f"port {port} (ADINSIGHTS_API_PORT) is already in use")


@pytest.mark.parametrize(
    "args", [["--help"], ["tenants", "--help"], ["api-keys", "create", "--help"]]
)
def test_help_is_available(args: list[str], tmp_path: Path) -> None:
    result = run_cli(*args, env={"ADINSIGHTS_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0
    assert "Usage:" in result.stdout
