"""dbt run in a fork of the step process instead of a new interpreter.

dagster-dbt's ``DbtCliResource.cli()`` starts two processes per invocation: ``dbt --version``
(to tell dbt Core from Fusion) and then ``dbt build``. Each is a fresh Python that imports dbt
before doing anything: 1.2 s for the version and ~1.4 s of imports plus ~0.4 s of interpreter
exit for the build, on every 15-minute tick whose dbt work is 3-4 s
(``benchmarks/dbt_incremental.py``). The step process has already imported dbt (dagster-dbt
loads it to read the manifest and open its adapter), so :class:`DbtResource` forks it instead:
the child runs dbt's own command line (``dbt.cli.main.cli``, what the ``dbt`` script runs) with
the same arguments, environment, working directory and exit codes, and writes the same JSON log
lines to a pipe that dagster-dbt's ``DbtCliInvocation`` reads as it reads a subprocess's stdout.
Everything after the start is dagster-dbt's: event streaming, asset and check events, row
counts, column metadata, errors, and cancellation (SIGINT to the child, which cancels its open
queries as ``dbt`` does on Ctrl-C).

The child is a separate process as the subprocess was: dbt's global state (flags, adapter
registry, event loggers) never mixes with the step's, and a crash in dbt ends only the child.
``launch="subprocess"`` (the resource's config) restores dagster-dbt's own behaviour; so does a
platform without ``os.fork``.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, NoReturn

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    OpExecutionContext,
    Output,
    get_dagster_logger,
)
from dagster._utils import pushd
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource
from dagster_dbt.asset_utils import (
    DBT_INDIRECT_SELECTION_ENV,
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_event_iterator import (
    DbtDagsterEventType,
    _fetch_column_metadata,
    _fetch_row_count_metadata,
)
from dagster_dbt.dagster_dbt_translator import validate_opt_translator
from dagster_dbt.dbt_manifest import DbtManifestParam, validate_manifest
from packaging import version
from pydantic import Field, field_validator

logger = get_dagster_logger()

#: dbt's exit codes (``dbt.cli.exceptions``): 1 for a handled failure (a failed model or test),
#: 2 for an unhandled error.
UNHANDLED_ERROR = 2
#: Values of ``DbtResource.launch``.
LAUNCHES = ("fork", "subprocess")


class ForkedDbt:
    """dbt's command line run in a forked child of this process.

    Offers what dagster-dbt's ``DbtCliInvocation`` uses of its ``subprocess.Popen``: ``args``,
    ``pid``, ``stdout`` (the child's stdout and stderr, as bytes), ``returncode``, ``poll()``,
    ``wait()`` and ``send_signal()``.
    """

    def __init__(self, args: Sequence[str], env: Mapping[str, str], cwd: str | Path) -> None:
        self.args = list(args)
        self.returncode: int | None = None
        # Unwritten buffered output would be written twice, by this process and by the child.
        sys.stdout.flush()
        sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        # Objects that exist now are the parent's: keep the child's garbage collector off them
        # (collecting, say, a database connection would close the parent's session).
        gc.freeze()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns of forking a process with threads: their locks are copied
                # held. The child touches none of them: it writes through new stream objects,
                # and CPython re-creates its import and logging locks in a forked child.
                warnings.filterwarnings("ignore", "This process .* is multi-threaded")
                pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _run_dbt_in_child(self.args, dict(env), os.fspath(cwd), write_fd)
        finally:
            gc.unfreeze()
        os.close(write_fd)
        self.pid = pid
        self.stdout: IO[bytes] = os.fdopen(read_fd, "rb")

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            if self.returncode is None:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.05)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


def _line_stream(fd: int) -> IO[str]:
    return open(fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)


def _run_dbt_in_child(args: list[str], env: dict[str, str], cwd: str, out_fd: int) -> NoReturn:
    """The forked child: run ``dbt <args>`` as the ``dbt`` script would, then exit at once.

    It leaves with ``os._exit``: no ``atexit`` handler, finaliser or buffer of the parent's runs
    in the child (they would act on the parent's connections and files).
    """
    code = UNHANDLED_ERROR
    try:
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        # New stream objects: the parent's may be mid-write in another thread (their locks).
        sys.stdout = _line_stream(1)
        sys.stderr = _line_stream(2)
        # The step process's handlers (Dagster's interrupt handling) are not the child's: Ctrl-C
        # (the SIGINT dagster-dbt sends on termination) interrupts dbt, as it does `dbt`.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["dbt", *args[1:]]

        from dbt.cli.main import cli

        try:
            cli.main(args=args[1:], prog_name="dbt")
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            _release_dbt_state()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _release_dbt_state() -> None:
    """What the child's dbt holds that outlives it unless released: its adapters (their
    connections, and the named semaphores of their locks, which multiprocessing's resource
    tracker, shared with the parent, would otherwise report as leaked) and its log files."""
    from dbt.adapters.factory import reset_adapters
    from dbt_common.events.event_manager_client import cleanup_event_logger

    reset_adapters()
    cleanup_event_logger()  # flushes and closes dbt.log
    gc.collect()  # the locks' finalizers unlink their semaphores (only the child's objects:
    # the parent's were frozen before the fork)


PARTIAL_PARSE = "partial_parse.msgpack"


def partial_parse_state(project_dir: Path) -> Path:
    """Where every invocation's dbt starts its parse from: the project's target folder (or
    ``DBT_TARGET_PATH``), as dagster-dbt finds it."""
    from dagster_dbt.core.dbt_cli_invocation import _get_dbt_target_path

    current = _get_dbt_target_path()
    return (current if current.is_absolute() else project_dir / current) / PARTIAL_PARSE


def _copy_partial_parse(project_dir: Path, target_path: Path) -> None:
    """dbt's partial-parse state into the invocation's own target folder, as dagster-dbt's
    subprocess invocation does: dbt then re-reads only the files that changed."""
    source = partial_parse_state(project_dir)
    destination = target_path / PARTIAL_PARSE
    if source.exists() and not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def keep_partial_parse_state(invocation: DbtCliInvocation) -> None:
    """Make a finished invocation's parse the next one's starting point.

    dbt discards a partial-parse state written under another profile (its connection: host,
    database, user) and parses the whole project again. The state a deployment prepares at build
    time never has the runtime profile, so without this every run parsed everything (1.3 s of a
    15-minute tick on this project). dbt validates the state it finds at every start (files,
    vars, profile), so the newest is always safe to offer; it is replaced atomically.
    """
    produced = invocation.target_path / PARTIAL_PARSE
    if invocation.process.poll() is None or not produced.exists():
        return
    state = partial_parse_state(invocation.project_dir)
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        staged = state.with_name(f".{PARTIAL_PARSE}.{os.getpid()}")
        shutil.copyfile(produced, staged)
        os.replace(staged, state)
    except OSError as error:  # a read-only project folder: runs parse as before
        logger.warning(f"dbt's partial-parse state not kept ({error})")


class DbtResource(DbtCliResource):
    """dagster-dbt's ``DbtCliResource``, with dbt forked from this process (module docstring).

    ``cli()`` takes and returns what ``DbtCliResource.cli()`` does; the invocation it returns is
    dagster-dbt's own ``DbtCliInvocation``.
    """

    launch: str = Field(
        default="fork",
        description=(
            "How dbt runs: 'fork' runs dbt Core, as installed with this code, in a forked child "
            "of the step process (no interpreter start, no `dbt --version`); 'subprocess' starts "
            "the `dbt_executable` as dagster-dbt does."
        ),
    )

    @field_validator("launch")
    @classmethod
    def _known_launch(cls, value: str) -> str:
        if value not in LAUNCHES:
            raise ValueError(f"launch must be one of {', '.join(LAUNCHES)}, not {value!r}")
        return value

    def forks(self) -> bool:
        return self.launch == "fork" and hasattr(os, "fork")

    def dbt_core_version(self) -> version.Version:
        """The dbt version the invocation runs: the installed dbt Core's when forking."""
        if self.forks():
            from dbt.version import __version__

            return version.parse(__version__)
        return self._cli_version

    def cli(
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: DbtManifestParam | None = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: OpExecutionContext | AssetExecutionContext | None = None,
        target_path: Path | None = None,
    ) -> DbtCliInvocation:
        if not self.forks():
            return super().cli(
                args,
                raise_on_error=raise_on_error,
                manifest=manifest,
                dagster_dbt_translator=dagster_dbt_translator,
                context=context,
                target_path=target_path,
            )
        # What DbtCliResource.cli() does (dagster-dbt 0.29), up to its start of the process.
        translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
        manifest_blob: Mapping[str, Any] = validate_manifest(manifest) if manifest else {}
        cleaned_args, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=manifest_blob,
            dagster_dbt_translator=translator,
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        target_path = target_path or self._get_unique_target_path(context=context)
        project_dir = Path(
            params.dbt_project.project_dir if params.dbt_project else self.project_dir
        )
        if not target_path.is_absolute():
            target_path = project_dir / target_path
        env = {
            **os.environ,
            "DAGSTER_DBT_CLI": "true",
            "PYTHONUNBUFFERED": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_LOG_FORMAT": "json",
            "DBT_TARGET_PATH": os.fspath(target_path),
            "DBT_LOG_PATH": os.fspath(target_path),
            **({"DBT_PROFILES_DIR": self.profiles_dir} if self.profiles_dir else {}),
            "DBT_PROJECT_DIR": str(project_dir),
        }
        if params.indirect_selection:
            env[DBT_INDIRECT_SELECTION_ENV] = params.indirect_selection
        full_args = [
            "dbt",
            *self.global_config_flags,
            *cleaned_args,
            *(["--profile", self.profile] if self.profile else []),
            *(["--target", self.target] if self.target else []),
            *params.selection_args,
        ]
        with pushd(str(project_dir)):
            _copy_partial_parse(project_dir, target_path)
            process = ForkedDbt(full_args, env, project_dir)
            # dagster-dbt's handle on the warehouse, for row counts and column metadata: opened
            # while dbt starts (it parses the project's macros, ~0.6 s), not before
            adapter = None
            try:
                adapter = self._initialize_dbt_core_adapter(args)
            except Exception:  # as dagster-dbt: dbt itself reports a bad profile or project
                logger.warning("dagster-dbt's handle on the warehouse failed", exc_info=True)
        invocation = DbtCliInvocation(
            process=process,  # type: ignore[arg-type]  # the part of Popen it uses
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target_path,
            raise_on_error=raise_on_error,
            cli_version=self.dbt_core_version(),
            project=params.dbt_project,
            context=context,
            adapter=adapter,
        )
        logger.info(f"Running dbt command (forked, pid {process.pid}): `{invocation.dbt_command}`.")
        return invocation


def stream_with_table_metadata(
    invocation: DbtCliInvocation, threads: int = 4
) -> Iterator[DbtDagsterEventType]:
    """dbt's events as Dagster events, each materialization with its row count and column
    schema: ``invocation.stream().fetch_row_counts().fetch_column_metadata(
    with_column_lineage=False)`` (the same dagster-dbt functions fetch the metadata, in a pool
    of ``threads``, while dbt runs), in dbt's order.

    dagster-dbt's own chain waits for its pool by polling futures without sleeping: two threads
    of the step process spin for the whole dbt run, ~3 s of CPU for a 3 s tick, taken from dbt and
    PostgreSQL on a small machine. This waits on dbt's output instead; a fetched event is yielded
    once those before it are. Checks get no column queries (dagster-dbt ran one per test).
    """

    def with_metadata(event: DbtDagsterEventType) -> DbtDagsterEventType:
        if not isinstance(event, (AssetMaterialization, Output)):
            return event
        metadata = {
            **(_fetch_row_count_metadata(invocation, event) or {}),
            **(_fetch_column_metadata(invocation, event, with_column_lineage=False) or {}),
        }
        return event.with_metadata({**event.metadata, **metadata}) if metadata else event

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dbt_metadata") as pool:
        pending: deque[Future[DbtDagsterEventType]] = deque()
        failure: Exception | None = None
        try:
            for event in invocation.stream():
                pending.append(pool.submit(with_metadata, event))
                while pending and pending[0].done():
                    yield pending.popleft().result()
        except Exception as error:
            # dbt failed with raise_on_error: what it built before still counts (as in dagster-dbt)
            failure = error
        while pending:
            yield pending.popleft().result()
        if failure is not None:
            raise failure
