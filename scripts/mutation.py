"""``make mutation``: mutmut over the modules that carry contract policy, each with its own tests.

The modules and their tests are listed in ``tests/mutation/modules.toml``; surviving mutants
that are truly equivalent (no test could tell them apart) are listed, each with its reason, in
``tests/mutation/equivalent.toml``. For every module, mutmut runs in a work directory of its own
(``build/mutation/<module>/``) whose ``[tool.mutmut]`` names only that module and its tests, so
mutmut's own per-function test selection works within that set.

One line per module, then ``mutation_score_min=<x> mutation_score_mean=<x>``, where a score is
killed / reached: mutants the module's tests did not reach at all are reported separately
(``unreached=``, with their functions), and listed equivalent mutants that survived are left out
of "reached". A timeout counts as killed (the tests noticed); "suspicious" counts as survived.

    python scripts/mutation.py                   # every module
    python scripts/mutation.py --module pagination --show-survivors
    python scripts/mutation.py --module pagination --retest-survivors   # after adding tests
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES_FILE = ROOT / "tests" / "mutation" / "modules.toml"
EQUIVALENT_FILE = ROOT / "tests" / "mutation" / "equivalent.toml"
WORK = ROOT / "build" / "mutation"
SOURCE_PACKAGES = ("adinsights_pipelines", "api")
#: Extra files the tests read, relative to the repository (copied next to the mutants).
ALSO_COPY = ("dbt_project", "docs", "deploy", "dagster.yaml", "workspace.yaml")

KILLED = {"killed", "timeout", "segfault"}
_RESULT = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


@dataclass(frozen=True)
class Module:
    path: str
    what: str
    tests: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    @property
    def slug(self) -> str:
        return self.dotted.replace(".", "_")


@dataclass(frozen=True)
class Score:
    module: Module
    statuses: dict[str, str]
    equivalent: frozenset[str]
    seconds: float

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.statuses.values())

    @property
    def unreached(self) -> list[str]:
        return sorted(n for n, s in self.statuses.items() if s == "no tests")

    @property
    def killed(self) -> int:
        return sum(1 for s in self.statuses.values() if s in KILLED)

    @property
    def survivors(self) -> list[str]:
        return sorted(
            n
            for n, s in self.statuses.items()
            if s not in KILLED and s != "no tests" and n not in self.equivalent
        )

    @property
    def equivalent_survived(self) -> int:
        return sum(1 for n, s in self.statuses.items() if n in self.equivalent and s not in KILLED)

    @property
    def reached(self) -> int:
        return len(self.statuses) - len(self.unreached) - self.equivalent_survived

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.reached if self.reached else 0.0


def load_modules(path: Path = MODULES_FILE) -> list[Module]:
    data = tomllib.loads(path.read_text())
    modules = [
        Module(m["path"], m.get("what", ""), tuple(m["tests"])) for m in data.get("module", [])
    ]
    for module in modules:
        missing = [
            p for p in (module.path, *module.tests) if not (ROOT / p.partition("::")[0]).exists()
        ]
        if missing:
            sys.exit(f"mutation: error: {path.name} names missing files: {missing}")
    return modules


def load_equivalent() -> dict[str, str]:
    """Mutant name -> why no test can tell it from the original."""
    if not EQUIVALENT_FILE.exists():
        return {}
    data = tomllib.loads(EQUIVALENT_FILE.read_text())
    entries = {e["mutant"]: e["reason"] for e in data.get("equivalent", [])}
    if unexplained := [name for name, reason in entries.items() if not reason.strip()]:
        sys.exit(f"mutation: error: equivalent mutants without a reason: {unexplained}")
    return entries


def prepare(module: Module) -> Path:
    """A fresh work directory: links to the sources and a pyproject naming only ``module``."""
    work = WORK / module.slug
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in (*SOURCE_PACKAGES, "tests", *ALSO_COPY):
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name)
    config = "\n".join(
        [
            "",
            "[tool.mutmut]",
            f"source_paths = {list(SOURCE_PACKAGES)!r}",
            f"only_mutate = [{module.path!r}]",
            f"pytest_add_cli_args_test_selection = {list(module.tests)!r}",
            # One process per mutant already: no xdist workers, no cache files.
            'pytest_add_cli_args = ["-n", "0", "-p", "no:cacheprovider", "-q"]',
            f"also_copy = {list(ALSO_COPY)!r}",
            "use_git_change_detection = false",
            "",
        ]
    )
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + config)
    return work


def _statuses(mutmut: Path, work: Path, env: dict[str, str]) -> dict[str, str]:
    listing = subprocess.run(  # noqa: S603 - our own mutmut, no shell
        [str(mutmut), "results", "--all", "true"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        m["name"]: m["status"].strip()
        for line in listing.splitlines()
        if (m := _RESULT.match(line))
    }


def run_module(
    module: Module, equivalent: dict[str, str], jobs: int, verbose: bool, retest: bool
) -> Score:
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "ADINSIGHTS_TEST_REUSE_DBT_MANIFEST": "1"}
    mine = frozenset(n for n in equivalent if n.startswith(module.dotted + "."))
    work = WORK / module.slug
    names: list[str] = []
    if retest and (work / "mutants").is_dir():
        # Only the survivors of the last run, and the mutants no test reached then, against the
        # tests as they are now.
        previous = _statuses(mutmut, work, env)
        names = [n for n, s in previous.items() if s not in KILLED]
        if not names:
            return Score(module, previous, mine, 0.0)
    else:
        work = prepare(module)
    started = time.monotonic()
    log = work / "mutmut-run.log"
    with log.open("w") as out:
        run = subprocess.run(  # noqa: S603 - our own mutmut, no shell
            [str(mutmut), "run", "--max-children", str(jobs), *names],
            cwd=work,
            env=env,
            stdout=None if verbose else out,
            stderr=subprocess.STDOUT if not verbose else None,
            check=False,
        )
    seconds = time.monotonic() - started
    if run.returncode != 0:
        sys.exit(f"mutation: error: mutmut failed for {module.path}; see {log}")
    statuses = _statuses(mutmut, work, env)
    if not statuses:
        sys.exit(f"mutation: error: no mutants recorded for {module.path}; see {log}")
    return Score(module, statuses, mine, seconds)


def _function(mutant: str) -> str:
    return mutant.partition("__mutmut_")[0].rpartition(".")[2].replace("ǁ", ".").lstrip("x_.")


def report(score: Score, show_survivors: bool) -> None:
    unreached_functions = sorted({_function(n) for n in score.unreached})
    print(
        f"{score.module.path}: score={score.score:.1f}% killed={score.killed} "
        f"reached={score.reached} mutants={len(score.statuses)} "
        f"survived={len(score.survivors)} equivalent={score.equivalent_survived} "
        f"unreached={len(score.unreached)} time={score.seconds:.0f}s"
        + (
            f" (unreached functions: {', '.join(unreached_functions)})"
            if unreached_functions
            else ""
        )
    )
    stale = sorted(n for n in score.equivalent if score.statuses.get(n) in KILLED | {None})
    for name in stale:
        print(f"  note: {name} is listed as equivalent but was killed or no longer exists")
    if show_survivors:
        for name in score.survivors:
            print(f"  survived: {name} ({score.statuses[name]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module", action="append", default=[], help="only modules whose path contains this"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--show-survivors", action="store_true")
    parser.add_argument(
        "--retest-survivors",
        action="store_true",
        help="reuse the last run's work directory; run its survivors and unreached mutants again",
    )
    parser.add_argument("--modules-file", type=Path, default=MODULES_FILE)
    parser.add_argument("--verbose", action="store_true", help="show mutmut's own output")
    args = parser.parse_args()

    modules = [
        m
        for m in load_modules(args.modules_file)
        if not args.module or any(s in m.path for s in args.module)
    ]
    if not modules:
        sys.exit("mutation: error: no module matches --module")
    equivalent = load_equivalent()
    scores = []
    for module in modules:
        print(f"== {module.path} ({module.what}): {len(module.tests)} test file(s)", flush=True)
        score = run_module(module, equivalent, args.jobs, args.verbose, args.retest_survivors)
        report(score, args.show_survivors)
        scores.append(score)
    values = [s.score for s in scores]
    print(
        f"mutation_score_min={min(values):.1f} mutation_score_mean={sum(values) / len(values):.1f}"
    )


if __name__ == "__main__":
    main()
