"""Private names stay private: no module reaches into another's, ours or a library's.

Every ``.py`` under adinsights_pipelines/, api/, benchmarks/, scripts/ and tests/ is parsed with
``ast`` (function-local imports included) and checked for:

(a) ``from X import _name``: a private name of another module (``from __future__`` and dunder
    names excepted). A shared helper gets a public name, or moves next to its user.
(b) ``import lib._private`` / ``from lib._private... import ...``: a module path of a library
    with a private segment (``dagster._core``...).
(c) ``obj._name`` where ``obj`` is not ``self``/``cls`` and ``_name`` is defined nowhere in our
    own code: a library object's private member (``client._single_request``). What ast can see
    is the attribute's name, not the object's type, so a private name our code also defines
    (or spells in a string, as a column name) is taken to be ours; the namedtuple and
    SQLAlchemy ``Row`` APIs (``_replace``, ``_asdict``, ``_mapping``...) are public despite
    their underscore.
(d) ``os.fork`` (or ``from os import fork``) in product code (adinsights_pipelines/, api/): a
    fork of a multi-threaded process can deadlock in the child.

(a)-(c) are allowed in the adapter modules below, each the one place a library's internals are
reached, with a test that fails loudly when the library changes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from adinsights_pipelines.settings import PROJECT_ROOT

SCANNED = ("adinsights_pipelines", "api", "benchmarks", "scripts", "tests")
PRODUCT = ("adinsights_pipelines", "api")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ADAPTERS = frozenset(
    {
        "adinsights_pipelines/dagster_internals.py",
        "adinsights_pipelines/defs/dbt/dagster_dbt_internals.py",
        "tests/dagster_internals.py",
    }
)
#: Underscored, and public all the same: ``collections.namedtuple``'s documented methods, and
#: SQLAlchemy's ``Row`` API, named so to stay clear of column names.
PUBLIC_UNDERSCORED = frozenset(
    {"_replace", "_asdict", "_fields", "_make", "_field_defaults", "_mapping", "_tuple", "_t"}
)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def python_files(root: Path) -> list[Path]:
    return sorted(
        path
        for top in SCANNED
        if (root / top).is_dir()
        for path in (root / top).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def our_top_level_modules(root: Path) -> frozenset[str]:
    """Import roots that are ours: the scanned packages and the scripts' sibling modules
    (benchmarks import ``_tenants`` from their own folder)."""
    siblings = {
        path.stem for top in SCANNED if (root / top).is_dir() for path in (root / top).glob("*.py")
    }
    return frozenset({*SCANNED, *siblings})


def private_names_we_define(trees: dict[str, ast.Module]) -> frozenset[str]:
    """Every private name our code defines: functions, classes, assignments, attributes set on
    any object (``self._lock = ...``), parameters, and strings that are a name (a column
    ``"_loaded_at"`` read as ``row._loaded_at``)."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and IDENTIFIER.fullmatch(node.value)  # a name in a string, not prose or code
            ):
                names.add(node.value)
    return frozenset(n for n in names if _is_private(n))


def violations(root: Path) -> Iterator[str]:
    """``file:line: what`` for every breach of (a)-(d) under ``root``."""
    trees = {
        path.relative_to(root).as_posix(): ast.parse(path.read_text(), filename=str(path))
        for path in python_files(root)
    }
    ours = our_top_level_modules(root)
    defined = private_names_we_define(trees)
    for rel, tree in trees.items():
        adapter = rel in ADAPTERS
        product = rel.split("/", 1)[0] in PRODUCT
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if module == "__future__":
                    continue
                library = node.level == 0 and module.split(".")[0] not in ours
                private_path = any(_is_private(part) for part in module.split("."))
                if library and private_path and not adapter:
                    yield f"{where}: imports from a library's private module {module}"
                for alias in node.names:
                    if _is_private(alias.name) and not (adapter and library):
                        yield f"{where}: imports the private name {alias.name} from {module or '.'}"
                    if product and module == "os" and alias.name == "fork":
                        yield f"{where}: os.fork in product code"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] not in ours and any(_is_private(p) for p in parts) and not adapter:
                        yield f"{where}: imports a library's private module {alias.name}"
            elif isinstance(node, ast.Attribute):
                owner, attr = ast.unparse(node.value), node.attr
                if product and owner == "os" and attr in ("fork", "forkpty"):
                    yield f"{where}: os.{attr} in product code"
                elif (
                    _is_private(attr)
                    and owner not in ("self", "cls")
                    and attr not in PUBLIC_UNDERSCORED
                    and attr not in defined
                    and not adapter
                ):
                    yield f"{where}: uses a library's private member {owner}.{attr}"


def test_no_module_reaches_into_private_names() -> None:
    found = list(violations(PROJECT_ROOT))
    assert found == [], "private names used across modules:\n" + "\n".join(found)


#: kind -> (file, source, the line of the breach)
PLANTS = {
    "a": ("adinsights_pipelines/plant.py", "from adinsights_pipelines.demo import _helper\n", 1),
    "a-lib": ("scripts/plant.py", "from dagster_dbt.core.dbt_event_iterator import _fetch_x\n", 1),
    "b": ("benchmarks/plant.py", "def f():\n    from dagster._core.storage.tags import X\n", 2),
    "b-import": ("tests/plant.py", "import dagster._core.events\n", 1),
    "c": ("api/plant.py", "def f(client):\n    return client._single_request('GET', '/')\n", 2),
    "d": ("adinsights_pipelines/plant.py", "import os\n\npid = os.fork()\n", 3),
    "d-from": ("api/plant.py", "from os import fork\n", 1),
}


def tree_with(tmp_path: Path, files: dict[str, str]) -> Path:
    for top in SCANNED:
        (tmp_path / top).mkdir()
    for rel, source in files.items():
        (tmp_path / rel).write_text(source)
    return tmp_path


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_a_planted_breach_of_each_kind_is_named_with_its_file_and_line(
    kind: str, tmp_path: Path
) -> None:
    rel, source, line = PLANTS[kind]
    found = list(violations(tree_with(tmp_path, {rel: source})))
    assert len(found) == 1 and found[0].startswith(f"{rel}:{line}: "), found


def test_adapters_and_allowed_spellings_are_not_breaches(tmp_path: Path) -> None:
    files = {
        "adinsights_pipelines/dagster_internals.py": (
            "from dagster._core.storage.tags import PARTITION_NAME_TAG\n"
            "from dagster_dbt.core.dbt_event_iterator import _fetch_row_count_metadata\n"
        ),
        "api/ok.py": (
            "from __future__ import annotations\n"
            "from dagster import __version__\n"
            "from _tenants import add_bench_tenant\n"
            "def f(parts):\n"
            "    return parts._replace(query='')\n"
            "class C:\n"
            "    def __init__(self):\n"
            "        self._lock = 1\n"
            "    def g(self, other):\n"
            "        return self._lock, other._lock\n"
        ),
        "benchmarks/_tenants.py": "def add_bench_tenant(): ...\n",
        "benchmarks/forks.py": "import os\npid = os.fork()\n",  # not product code
    }
    assert list(violations(tree_with(tmp_path, files))) == []
