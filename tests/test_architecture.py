"""Architecture guards for src/dualbranch: no import cycles, no data-kind checks, layers as declared.

* Import cycles: every ``import`` in every module counts, wherever it stands (module level, inside a
  function, under ``if TYPE_CHECKING:``), because a function-local import is only a cycle postponed
  and a type-only one still ties the two modules together.
* No ``is_signal*`` identifiers: code outside a data kind must not ask which kind it has.
* The import-linter contracts in pyproject.toml ([tool.importlinter]) hold.
"""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "dualbranch"


@dataclass(frozen=True)
class ImportEdge:
    importer: str
    imported: str
    path: Path
    line: int
    type_checking: bool

    def describe(self) -> str:
        where = f"{self.path.relative_to(ROOT)}:{self.line}"
        note = " (under TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.importer} -> {self.imported}  [{where}]{note}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (directories without __init__.py count as packages)."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers of the statements inside ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load, resolved to absolute names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        if node.level - 1 > len(package):
            return []  # beyond the top-level package: not ours
        base = package[: len(package) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    # "from x import y" loads x, and x.y too when y is a submodule
    return [target] + [f"{target}.{alias.name}" for alias in node.names if alias.name != "*"]


def import_edges(modules: dict[str, Path]) -> list[ImportEdge]:
    """Direct imports between the package's own modules, one edge per (statement, imported module)."""
    edges: list[ImportEdge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        type_checking = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            seen: set[str] = set()
            for target in _targets(node, module, path.name == "__init__.py"):
                # "import a.b.c" names a.b.c; a name that is no module of ours ("from .x import func") is skipped
                if target in modules and target != module and target not in seen:
                    seen.add(target)
                    edges.append(ImportEdge(module, target, path, node.lineno, node.lineno in type_checking))
    return edges


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit); returns the components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(sorted(graph[start])))]
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


# --- the helpers themselves, on small graphs -------------------------------------------------------


def test_scc_finds_cycles_and_ignores_chains():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set(), "f": {"g"}, "g": {"f"}}
    assert strongly_connected_components(graph) == [["a", "b", "c"], ["f", "g"]]
    assert strongly_connected_components({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve():
    from_pkg = ast.parse("from ..registry import create_model\nfrom . import run\n").body
    assert _targets(from_pkg[0], "dualbranch.train.predict", False) == [
        "dualbranch.registry",
        "dualbranch.registry.create_model",
    ]
    assert _targets(from_pkg[1], "dualbranch.train.predict", False) == ["dualbranch.train", "dualbranch.train.run"]
    # in an __init__.py, "." is the package itself
    assert _targets(from_pkg[1], "dualbranch.models", True) == ["dualbranch.models", "dualbranch.models.run"]


def test_the_scan_sees_function_local_imports():
    edges = import_edges(package_modules())
    assert edges, "no imports found inside src/dualbranch: the scan is broken"
    assert len(package_modules()) > 20


# --- the guards ------------------------------------------------------------------------------------


def test_no_import_cycles():
    modules = package_modules()
    edges = import_edges(modules)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for edge in edges:
        graph[edge.importer].add(edge.imported)
    cycles = strongly_connected_components(graph)
    if cycles:
        lines = []
        for component in cycles:
            members = set(component)
            lines.append(f"cycle among {', '.join(component)}:")
            lines += [f"    {e.describe()}" for e in edges if e.importer in members and e.imported in members]
        pytest.fail(f"{len(cycles)} import cycle(s) inside src/dualbranch:\n" + "\n".join(lines))


IS_SIGNAL = re.compile(r"\w*is_signal\w*")


def test_no_is_signal_identifiers():
    """No ``is_signal*`` names (nor strings naming them, as in __all__ or getattr) in the package: a data
    kind answers for itself; nothing else branches on which kind it has."""
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
                continue
            for name in IS_SIGNAL.findall(tok.string):
                hits.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {name}")
    if hits:
        pytest.fail(f"{len(hits)} data-kind check(s) ('is_signal') in the package:\n" + "\n".join(hits))


def _lint_imports() -> str | None:
    local = Path(sys.executable).parent / "lint-imports"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("lint-imports")


def test_import_linter_contracts_hold():
    exe = _lint_imports()
    if exe is None:
        pytest.skip("lint-imports is not installed (pip install -e '.[test]' adds import-linter)")
    result = subprocess.run(
        [exe, "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))},
    )
    if result.returncode != 0:
        output = f"{result.stdout.strip()}\n{result.stderr.strip()}".strip()
        pytest.fail(f"lint-imports failed (exit {result.returncode}):\n{output}")
