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
import json
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


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: set[str]) -> list[str]:
    """The modules of ours an import statement names, as absolute dotted names.

    ``from pkg import name`` names the submodule ``pkg.name`` when there is one, else ``pkg`` itself (name is
    then something pkg/__init__.py defines). The parent packages that Python loads on the way are not
    counted, for ``from .figures import x`` and ``from . import figures`` alike (import-linter counts
    the same way)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            if node.level - 1 >= len(package):
                return []  # above the top-level package: not ours
            base = package[: len(package) - (node.level - 1)]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        names = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
    return [n for n in dict.fromkeys(names) if n in modules and n != module]


def import_edges(modules: dict[str, Path]) -> list[ImportEdge]:
    """Direct imports between the package's own modules, one edge per (statement, imported module)."""
    edges: list[ImportEdge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        type_checking = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, module, path.name == "__init__.py", set(modules)):
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
    modules = {"pkg", "pkg.registry", "pkg.train", "pkg.train.run", "pkg.train.predict", "pkg.models", "pkg.models.run"}
    body = ast.parse(
        "from ..registry import create_model\n"
        "from . import run, fit\n"
        "import pkg.train.run, numpy\n"
        "from ... import beyond\n"
    ).body
    assert _targets(body[0], "pkg.train.predict", False, modules) == ["pkg.registry"]
    # a submodule, else the package whose __init__ defines the name
    assert _targets(body[1], "pkg.train.predict", False, modules) == ["pkg.train.run", "pkg.train"]
    assert _targets(body[2], "pkg.train.predict", False, modules) == ["pkg.train.run"]
    assert _targets(body[3], "pkg.train.predict", False, modules) == []
    # in an __init__.py, "." is the package itself
    assert _targets(body[1], "pkg.models", True, modules) == ["pkg.models.run"]


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


def _lint_env() -> dict[str, str]:
    # analyse this checkout's src/, whatever dualbranch the venv has installed
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}


def test_import_linter_sees_every_module():
    """import-linter's graph (grimp) skips a folder without __init__.py inside a regular package, so such a
    folder (src/dualbranch/train today) is listed in root_packages; one that gains an __init__.py must leave
    that list again (grimp then refuses it, and lint-imports fails without a word)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    pytest.importorskip("grimp", reason="grimp comes with import-linter (pip install -e '.[test]')")
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    roots = options.get("root_packages") or [options["root_package"]]
    orphans = sorted(
        _module_name(d / "__init__.py")
        for d in PACKAGE.rglob("*")
        if d.is_dir()
        and d.name.isidentifier()
        and not (d / "__init__.py").exists()
        and (d.parent / "__init__.py").exists()
        and any(d.rglob("*.py"))
    )
    expected = ["dualbranch", *orphans]
    assert sorted(roots) == sorted(expected), (
        f"[tool.importlinter] root_packages should be {expected}: every folder of modules without "
        f"__init__.py directly inside a regular package is a root of its own, and no other package is"
    )
    script = (
        "import json, sys, grimp\n"
        "graph = grimp.build_graph(*sys.argv[1:], cache_dir=None)\n"
        "print(json.dumps(sorted(graph.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *roots], cwd=ROOT, capture_output=True, text=True, env=_lint_env(), timeout=300
    )
    assert result.returncode == 0, result.stderr
    seen = set(json.loads(result.stdout))
    missing = sorted(set(package_modules()) - seen)
    assert not missing, f"modules that import-linter does not see (so no contract covers them): {missing}"


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
        env=_lint_env(),
    )
    if result.returncode != 0:
        output = f"{result.stdout.strip()}\n{result.stderr.strip()}".strip()
        pytest.fail(f"lint-imports failed (exit {result.returncode}):\n{output}")
