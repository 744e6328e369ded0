"""Run the ``adinsights`` command as an operator would: a separate process, this environment."""

from __future__ import annotations

import os
import subprocess
import sys


def adinsights(
    *args: str, stdin: str | None = None, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    """``adinsights ARGS`` with this process's environment plus ``env``; never raises for a
    non-zero exit (the tests read ``returncode``, ``stdout`` and ``stderr``)."""
    return subprocess.run(
        [sys.executable, "-m", "adinsights_pipelines.cli", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def add_meta_token(tenant: str, token: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``adinsights credentials add`` of ``tenant``'s Meta token, typed on stdin."""
    return adinsights(
        "credentials", "add", "--tenant", tenant, "--platform", "meta", stdin=f"{token}\n", **env
    )
