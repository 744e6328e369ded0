"""docs/operations.md is executable: every fenced ``sh`` block runs, in order, against a demo.

The mechanism, kept small:

- Every block fenced as ```` ```sh ```` runs with ``bash`` under ``set -euo pipefail``, in
  document order, each in a fresh shell (a block that needs a value computes it itself).
- The shell sees the variables the runbook's top defines for the operator (``API_URL``,
  ``OPERATOR_KEY``, ``TENANT_KEY``, ``TENANT``, ``OTHER_TENANT``) and the product's own
  environment (``ADINSIGHTS_*``), pointed at one demo run: two demo tenants fully
  materialized, the Meta, Google and Airbyte simulators answering, and ``adinsights serve-api``
  on a free loopback port so that ``curl`` lines hit the real API.
- A block passes when it exits 0. Leading comment lines adjust that:
  ``# expect: exit N`` (the block must exit N) and ``# expect: contains TEXT`` (stdout or
  stderr must contain TEXT; repeatable). Anything else a block asserts, it asserts itself
  (``jq -e``, ``grep -q``, ``curl -sf``), so a wrong path, a mistyped option (click exits 2)
  or a broken expectation fails the block.
- Other fences (``text``, ``json``, ``yaml``, ...) never run. Commands that cannot run to
  completion (they serve until stopped) may appear only in non-``sh`` blocks and only if they
  are listed in ``NOT_RUNNABLE``; every ``adinsights`` command must appear in an ``sh`` block
  unless it is listed there.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import requests

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.cli.main import cli
from adinsights_pipelines.demo import DEMO_GOOGLE_ADS, DEMO_TENANTS, DemoResult
from adinsights_pipelines.settings import PROJECT_ROOT
from adinsights_pipelines.simulators.airbyte import AirbyteSimState, AirbyteSimulator
from adinsights_pipelines.simulators.fx_rates import FxRatesSimulator
from adinsights_pipelines.simulators.fx_rates import environment as fx_environment
from adinsights_pipelines.simulators.google import GoogleSimulator
from adinsights_pipelines.simulators.google import environment as google_environment
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.warehouse.database import Database, engine

DOC = PROJECT_ROOT / "docs" / "operations.md"

#: Commands that serve until stopped: shown in non-``sh`` blocks with a sentence saying why.
NOT_RUNNABLE = (
    "adinsights demo",  # without --once it serves the product until Ctrl-C
    "adinsights serve-api",
    "adinsights simulate",  # loopback simulators for development, each serves until stopped
    "dagster-webserver",
    "dagster-daemon",
    "docker compose",  # the deployment's own tooling, not available on the test machine
    "kubectl",
)

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
EXPECT = re.compile(r"^#\s*expect:\s*(?P<kind>exit|contains)\s+(?P<value>.+?)\s*$")


@dataclass
class Block:
    line: int  # where the block's first line is in the document (1-based)
    lang: str
    code: str
    expect_exit: int = 0
    expect_contains: list[str] = field(default_factory=list)

    def label(self) -> str:
        first = next((s for s in self.code.splitlines() if s and not s.startswith("#")), "")
        return f"docs/operations.md:{self.line}: {first[:70]}"


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block with its language and, for ``sh``, its expectations."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening["indent"], opening["lang"]
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"docs/operations.md: unclosed fence opened before line {i}")
        block = Block(line=i - len(body) + 1, lang=lang, code="\n".join(body) + "\n")
        for source in body:
            if not source.startswith("#"):
                break  # markers are the block's leading comment lines
            marker = EXPECT.match(source)
            if marker and marker["kind"] == "exit":
                block.expect_exit = int(marker["value"])
            elif marker:
                block.expect_contains.append(marker["value"])
        blocks.append(block)
        i += 1
    return blocks


def run_block(block: Block, env: dict[str, str], cwd: Path) -> str | None:
    """Run one block; ``None`` when it met its expectations, else why not (with its output)."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + block.code],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return f"{block.label()}: still running after 300 s"
    output = done.stdout + done.stderr
    problems = []
    if done.returncode != block.expect_exit:
        problems.append(f"exit {done.returncode}, expected {block.expect_exit}")
    problems += [f"output lacks {text!r}" for text in block.expect_contains if text not in output]
    if not problems:
        return None
    took = time.monotonic() - started
    return (
        f"{block.label()}: {'; '.join(problems)} ({took:.1f}s)\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def operations_environment(
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
    demo: DemoResult,
    workdir: Path,
    meta_url: str,
    google_url: str,
) -> Iterator[dict[str, str]]:
    """The operator's shell after a demo run: simulators up, the API served, keys at hand.

    Yields the environment the blocks run with.
    """
    # The demo's own simulators stopped with it; these answer the same tokens and connections.
    airbyte_state = AirbyteSimState(database_url=db.plain_url)
    airbyte_state.configure(job_duration_s=0.3)
    for customer_id, currency in DEMO_GOOGLE_ADS.values():
        airbyte_state.add_connection(customer_id, currency=currency, database_url=db.plain_url)
    with (
        AirbyteSimulator(airbyte_state, port=0) as airbyte,
        FxRatesSimulator(port=0) as fx_rates,
    ):
        for name, value in fx_environment(fx_rates.url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ADINSIGHTS_META_GRAPH_URL", meta_url)
        for name, value in google_environment(google_url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_URL", airbyte.url)
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_WORKSPACE_ID", airbyte_state.workspace_id)
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_POLL_INTERVAL_SECONDS", "0.1")
        # As in production, the master key and the webhook secret come from the environment
        # (the demo created a local key file; the same key, named explicitly).
        data_dir = Path(os.environ["ADINSIGHTS_DATA_DIR"])
        monkeypatch.setenv("ADINSIGHTS_MASTER_KEY", (data_dir / "master.key").read_text().strip())
        monkeypatch.setenv("ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET", secrets.token_hex(32))
        port = _free_port()
        monkeypatch.setenv("ADINSIGHTS_API_PORT", str(port))
        with engine(db).begin() as conn:
            operator_key = create_api_key(
                conn, tenant_id=None, operator=True, label="on-call", actor="test"
            )
        # The tokens a new tenant's client granted, as the operator receives them: in files.
        meta_token, google_token = workdir / "meta-token.txt", workdir / "google-token.txt"
        meta_token.write_text("sim_runbook_drill_meta\n")
        google_token.write_text("sim_runbook_drill_google\n")
        bin_dir = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "API_URL": f"http://127.0.0.1:{port}",
            "OPERATOR_KEY": operator_key,
            "TENANT_KEY": demo.api_key,
            "TENANT": demo.tenant_id,
            "OTHER_TENANT": next(t for t, _, _ in DEMO_TENANTS if t != demo.tenant_id),
            "META_TOKEN_FILE": str(meta_token),
            "GOOGLE_TOKEN_FILE": str(google_token),
            # Onboarding links point at the served API; its Login dialog is the simulator's.
            "ADINSIGHTS_FRONTEND_BASE_URL": f"http://127.0.0.1:{port}",
            "ADINSIGHTS_META_DIALOG_URL": meta_url,
        }
        log_path = workdir / "serve-api.log"
        with log_path.open("ab") as log:
            api = subprocess.Popen(
                [sys.executable, "-m", "adinsights_pipelines.cli", "serve-api"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{env['API_URL']}/api/health/", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                if api.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve-api did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield env
        finally:
            api.terminate()
            try:
                api.wait(timeout=20)
            except subprocess.TimeoutExpired:
                api.kill()


@pytest.fixture(scope="module")
def operator_shell(
    demo_run: tuple[Database, DemoResult],
    meta_sim: MetaSimulator,
    google_sim: GoogleSimulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    db, demo = demo_run
    workdir = tmp_path_factory.mktemp("operations")
    with (
        pytest.MonkeyPatch.context() as mp,
        operations_environment(mp, db, demo, workdir, meta_sim.url, google_sim.url) as env,
    ):
        yield env


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    return parse_blocks(DOC.read_text())


def _leaf_commands(group: click.Group, prefix: str = "adinsights") -> Iterator[str]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


def _not_runnable(command: str) -> bool:
    return any(command == entry or command.startswith(entry + " ") for entry in NOT_RUNNABLE)


def _command_lines(code: str) -> list[str]:
    return [line.strip() for line in code.splitlines() if line.strip() and not line.startswith("#")]


def test_every_sh_block_of_the_runbook_runs(
    blocks: list[Block], operator_shell: dict[str, str], tmp_path: Path
) -> None:
    runnable = [b for b in blocks if b.lang == "sh"]
    assert len(runnable) >= 30, "the runbook lost its commands"
    for block in runnable:
        failure = run_block(block, operator_shell, tmp_path)
        # Blocks build on each other (a key created, then revoked): stop at the first failure.
        assert failure is None, failure


def test_the_runner_notices_a_mistyped_option_a_wrong_path_and_a_broken_expectation(
    operator_shell: dict[str, str], tmp_path: Path
) -> None:
    mistyped = Block(1, "sh", "adinsights tenants list --no-such-option\n")
    assert "exit 2, expected 0" in (run_block(mistyped, operator_shell, tmp_path) or "")
    wrong_path = Block(2, "sh", 'curl -sf "$API_URL/api/health/nope/"\n')
    assert "exit 22, expected 0" in (run_block(wrong_path, operator_shell, tmp_path) or "")
    broken = parse_blocks("```sh\n# expect: contains no such text\nadinsights --help\n```\n")[0]
    assert "lacks 'no such text'" in (run_block(broken, operator_shell, tmp_path) or "")
    wrong_exit = parse_blocks("```sh\n# expect: exit 1\ntrue\n```\n")[0]
    assert "exit 0, expected 1" in (run_block(wrong_exit, operator_shell, tmp_path) or "")


def test_every_command_is_run_or_listed_as_not_runnable(blocks: list[Block]) -> None:
    run = "\n".join(b.code for b in blocks if b.lang == "sh")
    missing = [
        command
        for command in _leaf_commands(cli)
        if not re.search(rf"(^|[\s(]){re.escape(command)}(\s|\)|$)", run, re.MULTILINE)
        and not _not_runnable(command)
    ]
    assert not missing, f"commands no sh block of docs/operations.md runs: {missing}"
    for block in blocks:
        if block.lang == "sh":
            assert not any(_not_runnable(line) for line in _command_lines(block.code)), (
                f"{block.label()}: a command that serves until stopped cannot run in an sh block"
            )
            continue
        for line in _command_lines(block.code):
            if re.match(r"(adinsights|dagster|curl|docker|kubectl)\b", line):
                assert _not_runnable(line), (
                    f"docs/operations.md:{block.line}: {line!r} is shown but never run; run it in "
                    "an sh block, or list it in NOT_RUNNABLE if it cannot finish"
                )


def test_the_marker_syntax_is_what_the_parser_reads() -> None:
    parsed = parse_blocks(
        "text\n\n  ```sh\n  # expect: exit 2\n  # expect: contains no active\n  x\n  ```\n"
        "```json\n{}\n```\n"
    )
    assert [(b.lang, b.line, b.expect_exit, b.expect_contains) for b in parsed] == [
        ("sh", 4, 2, ["no active"]),
        ("json", 9, 0, []),
    ]
    assert parsed[0].code == "# expect: exit 2\n# expect: contains no active\nx\n"
    assert json.loads(parsed[1].code) == {}


#: What counts as a block checking something itself: a command that fails when its answer is
#: wrong (under ``set -euo pipefail``, a ``grep`` that finds nothing fails the block).
SELF_CHECKS = re.compile(r"jq -e|\bgrep\b|curl -[a-zA-Z]*f|--fail|\[\[|\btest\b|\bcmp\b|\bdiff\b")


def test_every_sh_block_asserts_something_of_its_own(blocks: list[Block]) -> None:
    """Exiting 0 proves little (``curl -s`` exits 0 on a 500): each block has an ``# expect:``
    marker or a check in its code."""
    unchecked = [
        block.label()
        for block in blocks
        if block.lang == "sh"
        and block.expect_exit == 0
        and not block.expect_contains
        and not SELF_CHECKS.search(block.code)
    ]
    assert unchecked == []


#: A pipe into a reader that stops early (``grep -q``, ``head``): the writer may still be
#: writing and gets SIGPIPE / EPIPE (click exits 1, curl 23), which ``pipefail`` turns into a
#: failed block now and then. ``grep X >/dev/null`` reads to the end.
EARLY_EXIT_READER = re.compile(r"\|\s*(grep\s+-[a-zA-Z]*q|head\b)")


def test_no_block_pipes_into_a_reader_that_stops_early(blocks: list[Block]) -> None:
    racy = [
        block.label()
        for block in blocks
        if block.lang == "sh" and EARLY_EXIT_READER.search(block.code)
    ]
    assert racy == []
