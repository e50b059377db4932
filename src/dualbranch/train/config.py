"""Run configuration: the sections (:mod:`.sections`, and the data kind's ``data`` / ``augment``), loaded from
YAML plus ``section.key=value`` overrides and validated by pydantic, strictly (``"5"`` is not an integer).

Errors say which key, where it was set (file and line, or the command line) and what is valid; a misspelt key gets
a did-you-mean, a key of another data kind says which kind it belongs to. Only plain values: YAML tags that build
Python objects (``!!python/...``) are refused, and floats are read as YAML 1.2 reads them (``1e-3`` is a number).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigError
from . import sections
from .kinds import KINDS, DataKind, kind_for_dataset

__all__ = ["ConfigError", "RunConfig", "config_to_dict", "dump_config", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "fashion_mnist.yaml"


@dataclass
class RunConfig:
    """A whole run. ``data`` and ``augment`` are the sections of the data kind of ``data.name``;
    ``explicit`` holds the dotted keys the file or command line set (the recipe fills in only the rest)."""

    model: sections.ModelSection = field(default_factory=sections.ModelSection)
    data: sections.DataSection = field(default_factory=sections.DataSection)
    augment: sections.AugmentSection = field(default_factory=sections.AugmentSection)
    objective: sections.ObjectiveSection = field(default_factory=sections.ObjectiveSection)
    optim: sections.OptimSection = field(default_factory=sections.OptimSection)
    evaluation: sections.EvaluationSection = field(default_factory=sections.EvaluationSection)
    trainer: sections.TrainerSection = field(default_factory=sections.TrainerSection)
    output: sections.OutputSection = field(default_factory=sections.OutputSection)
    explicit: frozenset[str] = field(default_factory=frozenset, repr=False, compare=False)

    @property
    def kind(self) -> DataKind:
        """The data kind serving ``data.name``."""
        return kind_for_dataset(self.data.name)


class _Loader(yaml.SafeLoader):
    """The safe loader (no Python objects), with YAML 1.2's floats: ``1e-3`` is a float, not a string."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FLOAT = r"[-+]?(\d[\d_]*(\.[\d_]*)?([eE][-+]?\d+)?|\.\d[\d_]*([eE][-+]?\d+)?|\.(inf|Inf|INF))|\.(nan|NaN|NAN)"
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(f"^(?:{_FLOAT})$"), list("-+0123456789."))


def _parse(text: str, where: str, file: bool = True) -> tuple[Any, dict[str, int]]:
    """The plain values of a YAML text, and the line of every dotted key in it."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        values = None if root is None else _Loader("").construct_document(root)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) if file else None
        problem = f"not valid YAML ({getattr(err, 'problem', None) or err})"
        if "tag:yaml.org,2002:python/" in str(err):
            tag = str(err.problem).split("'")[1].replace("tag:yaml.org,2002:", "!!")  # type: ignore[attr-defined]
            problem = (
                f"the YAML tag {tag} would build a Python object, which configs never do; give plain values (numbers, "
                "strings, lists, mappings) and name models by their registered name (`dualbranch models`)"
            )
        raise ConfigError(f"{where}{f' line {mark.line + 1}' if mark else ''}: {problem}.") from err
    lines: dict[str, int] = {}
    stack = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
            lines[f"{prefix}{key.value}"] = key.start_mark.line + 1
            stack.append((value, f"{prefix}{key.value}."))
    return values, lines


def _override(item: str) -> dict[str, Any]:
    """``a.b=value`` as ``{"a": {"b": value}}``."""
    dotted, equals, raw = item.partition("=")
    keys = dotted.strip().split(".")
    if not equals or not all(keys):
        raise ConfigError(f"command line: {item!r} is not an override; write section.key=value, e.g. optim.lr=1e-3.")
    value = _parse(raw, f"command line: {dotted}", file=False)[0]  # "" is null
    for key in reversed(keys):
        value = {key: value}
    return value


def _merge(into: dict, values: dict, where: str, lines: dict[str, int], origins: dict[str, str], prefix="") -> None:
    """Merge ``values`` into ``into`` key by key (``model.args.x=1`` keeps the file's other model.args)."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        origins[path] = f"{where} line {lines[path]}" if path in lines else where
        if isinstance(value, dict):
            into[key] = into[key] if isinstance(into.get(key), dict) else {}
            _merge(into[key], value, where, lines, origins, f"{path}.")
        else:
            into[key] = value


def _unknown(path: str, valid: list[str], kind: DataKind) -> str:
    section, _, key = path.rpartition(".")
    for other in KINDS.values():  # a key of another kind's data / augment section
        own = {"data": other.data_section, "augment": other.augment_section}
        if other is not kind and section in own and key in {f.name for f in dataclasses.fields(own[section])}:
            return (
                f"unknown key {path!r}; it applies to {other.name} datasets ({', '.join(other.datasets)}), and this "
                f"run's data.name is a {kind.name} dataset ({', '.join(kind.datasets)}). Remove it or change data.name."
            )
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {path!r}{hint}. Valid keys here: {', '.join(valid)}."


_WORDS = {int: "an integer", bool: "true or false", float: "a number", str: "a string", dict: "a mapping",
          list: "a list", type(None): ""}  # fmt: skip
_OUT_OF_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error", "value_error",
                 "finite_number"}  # fmt: skip


def _expected(hint: Any, index: tuple[int, ...] = ()) -> str:
    """What a value of type ``hint`` is, in words (``int | str``: an integer or a string), or its item at ``index``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return _expected(args[0], index)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(words for arg in args if (words := _expected(arg, index))))
    if index:  # an item of a list or tuple; other types have none
        return _expected(args[index[0]] if origin is tuple else args[0], index[1:]) if args else ""
    if origin is tuple:
        return f"a list of {len(args)} values"
    return _WORDS.get(origin or hint, "valid")


def _section(name: str, cls: type, values: Any, origins: dict[str, str], kind: DataKind) -> Any:
    """``values`` as the dataclass ``cls``, validated by pydantic; its first problem as a ConfigError."""
    where = origins.get(name, "defaults")
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {name!r} is a section; give it a mapping of keys, got {values!r}.")
    hints = typing.get_type_hints(cls, include_extras=True)
    for key, value in values.items():  # one value where a list is expected is a list of one
        if "list[" in str(hints.get(key)) and value is not None and not isinstance(value, list):
            values[key] = [value]
    try:
        # JSON mode: lists stand for tuples, as YAML has no tuples (dates and the like are strings)
        return TypeAdapter(cls).validate_json(json.dumps(values, default=str))
    except ValidationError as err:
        errors = err.errors()
        key, problem = str(errors[0]["loc"][0]), errors[0]["type"]
        path = f"{name}.{key}"
        where = origins.get(path, where)
        if problem in ("unexpected_keyword_argument", "extra_forbidden"):
            raise ConfigError(f"{where}: {_unknown(path, [f.name for f in dataclasses.fields(cls)], kind)}") from None
        if any(e["type"] in _OUT_OF_RANGE for e in errors):
            raise ConfigError(f"{where}: {path} must be {sections.expect(hints[key])}, got {values[key]!r}.") from None
        # a wrong item of a list names the item's type; a wrong length (missing, too_long) the list's
        index = () if problem in ("missing", "too_short", "too_long") else errors[0]["loc"][1:]
        expected = _expected(hints[key], tuple(i for i in index if isinstance(i, int)))
        raise ConfigError(f"{where}: {path}: expected {expected}, got {values[key]!r}.") from None


def _dataset(values: dict[str, Any], where: str, default: str) -> tuple[str, DataKind]:
    """``data.name`` in ``values`` (``default`` where unset) and its data kind."""
    name = values["data"].get("name", default) if isinstance(values.get("data"), dict) else default
    if not isinstance(name, str):
        raise ConfigError(f"{where}: data.name: expected a string, got {name!r}.")
    try:
        return name, kind_for_dataset(name)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The default config, updated from a YAML file (a path, or the name of a built-in config such as
    ``"basicmotions"``), then from ``section.key=value`` overrides."""
    source = Path(path) if path is not None else DEFAULT_CONFIG
    if not source.is_file() and str(path) == source.name and (CONFIG_DIR / f"{source.name}.yaml").is_file():
        source = CONFIG_DIR / f"{source.name}.yaml"
    try:
        text = source.read_text()
    except FileNotFoundError:
        builtin = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"Config file {source} does not exist; give the path of a YAML file or a built-in config "
                          f"({builtin}).") from None  # fmt: skip
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Config file {source} cannot be read ({err}).") from err
    values, lines = _parse(text, str(source))
    if not isinstance(values, dict | None):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(values).__name__}.")
    values, cli = values or {}, {}
    for item in overrides:
        _merge(cli, _override(item), "command line", {}, {})
    file_name, file_kind = _dataset(values, f"{source} line {lines.get('data.name')}", "fashion_mnist")
    name, kind = _dataset(cli, "command line", file_name)
    if kind is not file_kind:
        if path is None:  # the default file is Fashion-MNIST's recipe (its gradient clipping, say): another
            values, lines = {}, {}  # kind's run starts from that kind's own defaults and recipe instead
        if dropped := [s for s in ("data", "augment") if values.pop(s, None)]:
            print(f"note: data.name is a {kind.name} dataset; the config file's {' and '.join(dropped)} sections "
                  f"(for {file_kind.name}) are not used.", file=sys.stderr)  # fmt: skip
    model, new = values.get("model"), cli["model"].get("name") if isinstance(cli.get("model"), dict) else None
    if isinstance(model, dict) and model.get("args") and new is not None and new != model.get("name"):
        del model["args"]
        print(f"note: model.name={new}; the config file's model.args (for {model.get('name')}) are not used.",
              file=sys.stderr)  # fmt: skip
    merged: dict[str, Any] = {"data": {"name": name}}
    origins: dict[str, str] = {}
    _merge(merged, values, str(source), lines, origins)
    _merge(merged, cli, "command line", {}, origins)
    classes = {**typing.get_type_hints(RunConfig), "data": kind.data_section, "augment": kind.augment_section}
    del classes["explicit"]
    for key in merged:
        if key not in classes:  # a YAML key may be a number (`0:`): its origin is recorded under its text
            raise ConfigError(f"{origins[str(key)]}: {_unknown(str(key), list(classes), kind)}")
    config = {s: _section(s, cls, merged.get(s, {}), origins, kind) for s, cls in classes.items()}
    return RunConfig(**config, explicit=frozenset(origins))


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for YAML / JSON."""
    return json.loads(json.dumps({k: v for k, v in dataclasses.asdict(config).items() if k != "explicit"}))


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
