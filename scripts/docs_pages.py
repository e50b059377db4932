"""The docs site's generated pages, written at build time by mkdocs-gen-files (mkdocs.yml: plugins.gen-files).

Nothing here is committed as Markdown, so the pages cannot go stale: a model registered on another
branch appears in the zoo, a config field in the reference and a results file in the benchmarks as
soon as the branches merge.

- ``models/zoo.md``: every registered model (the registry and ``dualbranch models``' counts).
- ``reference/config.md``: every config section and key, per data kind (the dataclasses' fields, their
  valid range from their pydantic constraints (``sections.expect``) and the comment beside them in the source).
- ``benchmarks/<name>.md``: one page per ``benchmarks/results/*.json`` (and ``*.md``), rendered generically.
- ``changelog.md``: the repository's CHANGELOG.md.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import re
import tokenize
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mkdocs_gen_files

from dualbranch.cli.models import model_table
from dualbranch.registry import get_model_entry
from dualbranch.train import sections
from dualbranch.train.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ORACLE = ROOT / "tests" / "data" / "crossvit_reference.json"
ENCDEC_REFERENCE = ROOT / "tests" / "data" / "encdec_reference.json"  # official Time-Series-Library outputs
SIGNAL_REFERENCE = ROOT / "tests" / "data" / "signal_reference.json"  # official EEG models' outputs
MAX_ROWS = 40  # rows of one generated table before the rest is summarised


def _cell(value: Any, limit: int | None = 160) -> str:
    """A table cell: numbers to 4 digits, long lists summarised, text cut at ``limit`` characters (None: whole)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value) and len(value) > 8:
        return f"{len(value)} numbers, {min(value):.4g} to {max(value):.4g}"
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _table(header: list[str], rows: list[list[Any]], limit: int | None = 160) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v, limit) for v in row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"| … {len(rows) - MAX_ROWS} more rows in the JSON file |" + " |" * (len(header) - 1))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- model zoo
def _fidelity(name: str, paper: str, weights_url: str | None, oracle: set[str], official: set[str]) -> str:
    if name in oracle:
        return "outputs equal timm's in float64; published weights load strictly"
    if name in official:
        return "outputs equal the official code's in float64 (recorded fixture)"
    if weights_url:
        return "published weights load strictly"
    if paper:
        return "from the paper (no reference code run)"
    return "this library's own composition"


def zoo_page() -> str:
    oracle = set(json.loads(ORACLE.read_text())["variants"]) if ORACLE.is_file() else set()
    cases = [json.loads(f.read_text()) for f in (ENCDEC_REFERENCE, SIGNAL_REFERENCE) if f.is_file()]
    official = {case["model"] for fixture in cases for case in fixture.values() if isinstance(case, dict)}
    out = [
        "# Model zoo\n\n",
        "Generated from the registry at build time (`dualbranch models --json` gives the same counts). "
        "Parameters and GMACs (multiply-adds of one example at the default input, attention counted) are "
        "counted on the meta device, without allocating weights. *Fidelity* says how closely the "
        "implementation is checked against its source. `create_model(name, **overrides)` builds any of them; "
        "[using the models](using.md) shows the contract they share.\n\n",
    ]
    rows = model_table()
    for task in sorted({get_model_entry(r["model"]).task for r in rows}):
        out.append(f"## {task.capitalize()}\n\n")
        table = []
        for row in rows:
            entry = get_model_entry(row["model"])
            if entry.task != task:
                continue
            aliases = ", ".join(row["aliases"]) or "–"
            shape = "×".join(str(s) for s in row["input"])
            table.append(
                [f"`{row['model']}`", aliases, shape, f"{row['params']:,}", f"{row['gmacs']:.3f}",
                 _fidelity(entry.name, entry.paper, entry.weights_url, oracle, official)]
            )  # fmt: skip
        out.append(_table(["model", "also known as", "input", "params", "GMACs", "fidelity"], table))
        out.append("\n")
    out.append("## Details and citations\n\n")
    for row in rows:
        entry = get_model_entry(row["model"])
        doc = inspect.getdoc(entry.builder) or ""
        out.append(f"### `{entry.name}`\n\n{doc.split(chr(10) + chr(10))[0]}\n\n")
        if entry.paper:
            out.append(f"- Citation: {entry.paper}\n")
        if entry.weights_url:
            out.append(f"- Published weights: <{entry.weights_url}> (`pretrained=True`)\n")
        fed = {k: v for k, v in json.loads(entry.weights.to_json()).items() if v is not None}
        out.append(f"- Weight config: {', '.join(f'{k} {_cell(v)}' for k, v in fed.items())}\n")
        out.append(f"- Builder: `{entry.builder.__module__}`\n\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------- config reference
def _field_comments(cls: type) -> dict[str, str]:
    """The comment beside (or on the line above) each field in the class body: what the key means."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []
    line_field: dict[int, str] = {}
    for number, line in enumerate(source.splitlines(), 1):
        match = re.match(r"\s+(\w+)\s*:\s*[^=]", line)
        if match and not line.lstrip().startswith("#"):
            line_field[number] = match.group(1)
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        text = token.string.lstrip("# ").strip()
        if text.startswith(("noqa", "type:", "fmt:")):
            continue
        row = token.start[0]
        if row in line_field:
            comments[line_field[row]] = text
        elif token.line.strip().startswith("#"):  # a comment of its own line: about the field right below
            pending.append(text)
            if row + 1 in line_field:
                name = line_field[row + 1]
                comments[name] = " ".join([*pending, comments.get(name, "")]).strip()
                pending = []
    return comments


def _type_text(annotation: Any) -> str:
    """A field's type as written in the source: ``int | None`` for every optional (``typing.Optional`` too)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if annotation is type(None):
        return "None"
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(map(_type_text, args))}]"
    return getattr(annotation, "__name__", str(annotation))


def _section_rows(cls: type, inherited: set[str]) -> list[list[Any]]:
    hints, extras = typing.get_type_hints(cls), typing.get_type_hints(cls, include_extras=True)
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            comments.update(_field_comments(klass))
    rows = []  # a meaning's {mapping} is shown as code: Markdown's attribute lists would swallow it
    for f in dataclasses.fields(cls):
        if f.name in inherited:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        # what a constraint or a choice allows (a plain type's words would repeat the type column)
        text = sections.expect(extras[f.name])
        expect = text if text != sections.expect(hints[f.name]) or "Literal" in str(hints[f.name]) else ""
        rows.append([f"`{f.name}`", _type_text(hints[f.name]), f"`{json.dumps(default)}`", expect,
                     re.sub(r"(\{[^}]*\})", r"`\1`", comments.get(f.name, ""))])  # fmt: skip
    return rows


def config_page() -> str:
    header = ["key", "type", "default", "valid values", "meaning"]

    def table(rows: list[list[Any]]) -> str:
        return _table(header, rows, limit=None)  # a key's meaning is never cut

    out = [
        "# Configuration reference\n\n",
        "Generated at build time from the config's dataclasses (`dualbranch.train.sections` and each data "
        "kind's sections). A run config has the sections below; `data` and `augment` depend on the kind of "
        "`data.name`. Set keys in a YAML file (`--config my.yaml`) or on the command line as "
        "`section.key=value`. See [the workflow](../workflow.md) for how files, overrides and the recipe "
        "combine.\n\n",
    ]
    common = [
        ("model", sections.ModelSection), ("objective", sections.ObjectiveSection), ("optim", sections.OptimSection),
        ("evaluation", sections.EvaluationSection), ("trainer", sections.TrainerSection),
        ("output", sections.OutputSection),
    ]  # fmt: skip
    base_data = {f.name for f in dataclasses.fields(sections.DataSection)}
    base_augment = {f.name for f in dataclasses.fields(sections.AugmentSection)}
    out.append("## `data` (every kind)\n\n" + table(_section_rows(sections.DataSection, set())) + "\n")
    out.append("## `augment` (every kind)\n\n" + table(_section_rows(sections.AugmentSection, set())))
    for kind in KINDS.values():
        names = ", ".join(f"`{d}`" for d in kind.datasets)
        out.append(f"\n## The {kind.name} kind\n\n`data.name`: {names}.\n\n")
        out.append(f"### `data` ({kind.name})\n\n" + table(_section_rows(kind.data_section, base_data)))
        rows = _section_rows(kind.augment_section, base_augment)
        out.append(f"\n### `augment` ({kind.name})\n\n" + (table(rows) if rows else "No keys of its own.\n"))
    for name, cls in common:
        out.append(f"\n## `{name}`\n\n" + table(_section_rows(cls, set())))
    return "".join(out)


# ---------------------------------------------------------------------------------------------- benchmarks
def _render(value: Any, title: str, depth: int) -> Iterator[str]:
    heading = "#" * min(depth, 6)
    if isinstance(value, dict):
        flat = {k: v for k, v in value.items() if not isinstance(v, (dict, list)) or _is_short(v)}
        if flat:
            yield _table(["key", "value"], [[f"`{k}`", v] for k, v in flat.items()]) + "\n"
        for key, item in value.items():
            if key in flat:
                continue
            if isinstance(item, dict) and item and all(isinstance(v, dict) for v in item.values()):
                # one row per entry (a data set, an engine, ...): its plain values; nested ones stay in the JSON
                columns = list(dict.fromkeys(c for v in item.values() for c, x in v.items() if _is_short(x)))
                nested = sorted({c for v in item.values() for c, x in v.items() if not _is_short(x)})
                yield f"{heading} {title}{key}\n\n"
                yield _table(["", *columns], [[k, *(v.get(c, "") for c in columns)] for k, v in item.items()]) + "\n"
                if nested:
                    yield f"Also per entry, in the JSON file: {', '.join(f'`{c}`' for c in nested)}.\n\n"
            elif depth < 4:
                yield f"{heading} {title}{key}\n\n"
                yield from _render(item, f"{title}{key} › ", depth + 1)
            else:
                yield f"`{key}`: {_cell(item)}\n\n"
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(c for v in value for c in v))
            yield _table(columns, [[v.get(c, "") for c in columns] for v in value]) + "\n"
        else:
            yield _cell(value) + "\n\n"
    else:
        yield _cell(value) + "\n\n"


def _is_short(value: Any) -> bool:
    if not isinstance(value, (dict, list)):
        return True
    if isinstance(value, dict):
        return len(value) <= 6 and all(not isinstance(v, (dict, list)) for v in value.values())
    return all(not isinstance(v, (dict, list)) for v in value) and (len(value) <= 8 or _cell(value).endswith("numbers"))


def _script_for(stem: str) -> str | None:
    scripts = sorted((ROOT / "benchmarks").glob("*.py"), key=lambda p: -len(p.stem))
    return next((p.name for p in scripts if stem == p.stem or stem.startswith(p.stem + "_")), None)


def benchmark_pages() -> dict[str, str]:
    """One page per results file: its notes (``<name>.md`` beside it, if any), then the JSON's figures."""
    pages: dict[str, str] = {}
    stems = sorted({p.stem for p in RESULTS.glob("*.json")} | {p.stem for p in RESULTS.glob("*.md")})
    for stem in stems:
        notes, data = RESULTS / f"{stem}.md", RESULTS / f"{stem}.json"
        script = _script_for(stem)
        made = f"Made by `benchmarks/{script}`. " if script else ""
        text = notes.read_text() + "\n" if notes.is_file() else f"# {stem}\n\n"
        if data.is_file():
            text += (
                f"## The figures\n\n{made}Generated from `benchmarks/results/{data.name}` when the docs are built; "
                f"the JSON file holds every figure (long lists are summarised here).\n\n"
            )
            text += "".join(_render(json.loads(data.read_text()), "", 3))
        pages[f"benchmarks/{stem}.md"] = text
    return pages


# ---------------------------------------------------------------------------------------------- module map
def modules_page() -> str:
    """Every module of the package with the first line of its docstring (read with ast: nothing imported)."""
    package = ROOT / "src" / "dualbranch"
    rows = []
    for path in sorted(package.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        rows.append([f"`{path.relative_to(package.parent).as_posix()}`", doc.split("\n\n")[0].replace("\n", " ")])
    return (
        "# Module map\n\nGenerated at build time from the source tree: every module of `src/dualbranch/` and the "
        "first paragraph of its docstring. [Architecture](../architecture.md) explains the layers.\n\n"
        + "| module | what it is |\n|---|---|\n"
        + "".join(f"| {name} | {doc.replace('|', chr(92) + '|')} |\n" for name, doc in rows)
    )


def _write(name: str, text: str) -> None:
    with mkdocs_gen_files.open(name, "w") as handle:
        handle.write(text)


_write("models/zoo.md", zoo_page())
_write("reference/config.md", config_page())
_write("reference/modules.md", modules_page())
pages = benchmark_pages()
for name, text in pages.items():
    _write(name, text)
listing = "".join(f"- [{Path(n).stem}]({Path(n).name})\n" for n in sorted(pages))
_write("benchmarks/all.md", "# Every results file\n\nOne page per file in `benchmarks/results/`:\n\n" + listing)
_write("changelog.md", (ROOT / "CHANGELOG.md").read_text().replace("](docs/", "]("))
