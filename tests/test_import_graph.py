"""The import graph of our own modules: the code location is never imported back, and no cycle.

Every ``.py`` under ``adinsights_pipelines/`` and ``api/`` is parsed with :mod:`ast`, so every
import counts: module-level, function-local and ``TYPE_CHECKING``-only alike. An import of
``a.b.c`` is an edge to ``a.b.c`` and to the packages ``a`` and ``a.b`` (Python runs their
``__init__`` first), so a package ``__init__`` that re-exports from its modules closes a cycle
as any other module does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("adinsights_pipelines", "api")
CODE_LOCATION = "adinsights_pipelines.definitions"
#: Entry points' handle on it (``adinsights_pipelines/code_location.py``).
CODE_LOCATION_LOADER = "adinsights_pipelines.code_location"
#: Parts of the code location and the API: they reach the asset graph through their context, the
#: definitions they are built from, or a parameter; never by importing the assembled location.
MUST_NOT_IMPORT_IT = ("adinsights_pipelines.defs", "api")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name an ``import`` or ``from ... import`` in ``tree`` can load."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            names.add(source)
            # ``from package import module`` loads the module too
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Our modules -> the modules of ours each one imports (with their parent packages)."""
    files = {
        module_name(path, root): path
        for package in packages
        for path in (root / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets: set[str] = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            parts = name.split(".")
            targets.update(
                prefix
                for prefix in (".".join(parts[:n]) for n in range(1, len(parts) + 1))
                if prefix in files
            )
        graph[module] = targets - {module}
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the path ``[a, b, ..., a]``, or ``None``."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(sorted(graph.get(start, ())))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                stack.pop()
                continue
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def reachable(graph: Mapping[str, Iterable[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle per group of modules that import each other (strongly connected component)."""
    reach = {module: reachable(graph, module) for module in graph}
    cycles, covered = [], set()
    for module in sorted(graph):
        if module in covered or module not in reach[module]:
            continue
        group = {other for other in reach[module] if module in reach.get(other, ())}
        covered |= group
        within = {m: set(graph[m]) & group for m in group}
        cycles.append(find_cycle(within) or [module])
    return cycles


def importers_of(
    graph: Mapping[str, Iterable[str]], target: str, under: Iterable[str]
) -> list[str]:
    """The modules in packages ``under`` that import ``target``."""
    prefixes = tuple(under)
    return sorted(
        module
        for module, targets in graph.items()
        if target in targets and any(module == p or module.startswith(f"{p}.") for p in prefixes)
    )


def test_no_part_of_the_code_location_or_the_api_imports_the_code_location() -> None:
    graph = import_graph(ROOT)
    for module in (CODE_LOCATION, CODE_LOCATION_LOADER):
        assert module in graph  # the name the rule is about still exists
        assert importers_of(graph, module, MUST_NOT_IMPORT_IT) == [], module


def test_our_modules_import_each_other_without_a_cycle() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 100  # every module was parsed
    cycles = find_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def package_graph(root: Path, modules: Mapping[str, str]) -> dict[str, set[str]]:
    """The import graph of a package ``pkg`` made of ``modules`` (name -> source)."""
    package = root / "pkg"
    package.mkdir()
    for name, source in {"__init__": "", **modules}.items():
        (package / f"{name}.py").write_text(source)
    return import_graph(root, packages=["pkg"])


def test_function_local_imports_count(tmp_path) -> None:
    """A cycle closed by an import inside a function is found, and named."""
    graph = package_graph(
        tmp_path, {"a": "from pkg import b\n", "b": "def f():\n    from pkg.a import x\n"}
    )
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_every_group_of_modules_in_a_cycle_is_named(tmp_path) -> None:
    imports = {"a": "b", "b": "a", "c": "d", "d": "e", "e": "c", "f": "a"}
    graph = package_graph(tmp_path, {m: f"from pkg import {i}\n" for m, i in imports.items()})
    assert find_cycles(graph) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.c", "pkg.d", "pkg.e", "pkg.c"],
    ]


def test_a_package_init_that_re_exports_closes_a_cycle(tmp_path) -> None:
    graph = package_graph(
        tmp_path,
        {
            "__init__": "from .a import thing\n",
            "a": "from .b import helper\nthing = 1\n",
            "b": "def helper():\n    from pkg import thing\n",
        },
    )
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg", "pkg.b"}, "pkg.b": {"pkg"}}
    assert find_cycle(graph) == ["pkg", "pkg.a", "pkg"]
