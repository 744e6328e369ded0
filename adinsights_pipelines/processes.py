"""Stopping the child processes the product (and its benchmarks) start."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from typing import Any


def stop_processes(processes: Iterable[subprocess.Popen[Any]], timeout: float) -> None:
    """SIGTERM to every one of ``processes`` at once, then up to ``timeout`` seconds' wait for
    each; one still running then is killed, and reaped, so nothing outlives the call."""
    running = list(processes)
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
