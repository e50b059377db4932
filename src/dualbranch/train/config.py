"""Run configuration: the sections (:mod:`.sections`, and the data kind's ``data`` / ``augment``), loaded
from YAML plus ``section.key=value`` overrides and validated by pydantic.

pydantic checks every value against the dataclass field's type as declared, range and choices included
(strictly: ``"5"`` is not an integer, ``1`` not a boolean; :mod:`.sections`). Errors name the key,
where it was set (file and line, or the command line) and what is valid; a misspelt key gets a
did-you-mean, a key of another data kind says which kind it belongs to. Configs hold plain values
only: YAML tags that build Python objects (``!!python/...``) are refused, and numbers are read as YAML
1.2 does, so ``1e-3`` is a number.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigError
from .kinds import KINDS, DataKind, kind_for_dataset
from .sections import (
    AugmentSection,
    DataSection,
    EvaluationSection,
    ModelSection,
    ObjectiveSection,
    OptimSection,
    OutputSection,
    TrainerSection,
    expect,
)

__all__ = ["ConfigError", "RunConfig", "config_to_dict", "dump_config", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "fashion_mnist.yaml"


@dataclass
class RunConfig:
    """A whole run. ``data`` and ``augment`` are the sections of the data kind of ``data.name``;
    ``explicit`` holds the dotted keys the file or command line set (the recipe fills in only the rest)."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    objective: ObjectiveSection = field(default_factory=ObjectiveSection)
    optim: OptimSection = field(default_factory=OptimSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    output: OutputSection = field(default_factory=OutputSection)
    explicit: frozenset[str] = field(default_factory=frozenset, repr=False, compare=False)

    @property
    def kind(self) -> DataKind:
        """The data kind serving ``data.name``."""
        return kind_for_dataset(self.data.name)

    def sections(self, kind: DataKind | None = None) -> dict[str, type]:
        """Each section's name and dataclass (``data`` / ``augment`` those of ``kind``)."""
        kind = kind or self.kind
        own = {"data": kind.data_section, "augment": kind.augment_section}
        return {
            f.name: own.get(f.name, type(getattr(self, f.name)))
            for f in dataclasses.fields(self)
            if f.name != "explicit"
        }


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
        root = yaml.compose(text, Loader=_Loader)  # a SafeLoader: plain values only
        values = None if root is None else _Loader("").construct_document(root)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) if file else None
        problem = f"not valid YAML ({getattr(err, 'problem', err)})" if file else f"cannot parse the value ({err})"
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
    value = _parse(raw, f"command line: {dotted}", file=False)[0] if raw else None
    for key in reversed(keys):
        value = {key: value}
    return value


def _merge(into: dict, values: dict, where: str, lines: dict[str, int], origins: dict[str, str], prefix="") -> None:
    """Merge ``values`` into ``into`` key by key (so ``model.args.x=1`` keeps the file's other model.args)."""
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


_EXPECTED = {"int": "an integer", "bool": "true or false", "float": "a number", "str": "a string", "string": "a string",
             "dict": "a mapping", "list": "a list"}  # fmt: skip
_OUT_OF_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error", "value_error",
                 "finite_number"}  # fmt: skip


def _section(name: str, cls: type, values: Any, origins: dict[str, str], kind: DataKind) -> Any:
    """``values`` as the dataclass ``cls``, validated by pydantic; its first problem as a ConfigError."""
    where = origins.get(name, "defaults")
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {name!r} is a section; give it a mapping of keys, got {values!r}.")
    hints = typing.get_type_hints(cls, include_extras=True)
    for key, value in values.items():  # one value where a list is expected is a list of one
        if key in hints and "list[" in str(hints[key]) and value is not None and not isinstance(value, list):
            values[key] = [value]
    try:
        # JSON mode: lists stand for tuples, as YAML has no tuples (dates and the like are strings)
        return TypeAdapter(cls).validate_json(json.dumps(values, default=str))
    except ValidationError as err:
        first = err.errors()[0]
        key = str(first["loc"][0])
        path = f"{name}.{key}"
        where = origins.get(path, where)
        if first["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            raise ConfigError(f"{where}: {_unknown(path, [f.name for f in dataclasses.fields(cls)], kind)}") from None
        value, hint = values.get(key), hints[key]
        if any(e["type"] in _OUT_OF_RANGE for e in err.errors()):
            raise ConfigError(f"{where}: {path} must be {expect(hint)}, got {value!r}.") from None
        if first["type"] in ("too_short", "too_long", "missing"):  # a tuple's length
            parts = [hint]  # the tuple in the declared type (under Annotated, | None, ...)
            while typing.get_origin(part := parts.pop()) is not tuple:
                parts += typing.get_args(part)
            raise ConfigError(
                f"{where}: {path}: expected a list of {len(typing.get_args(part))} values, got {value!r}."
            ) from None
        types = [e["loc"][1] if isinstance(e["loc"][-1], str) and len(e["loc"]) > 1 else e["type"].split("_")[0]
                 for e in err.errors()]  # fmt: skip
        expected = " or ".join(dict.fromkeys(_EXPECTED.get(t, t) for t in types))
        raise ConfigError(f"{where}: {path}: expected {expected}, got {value!r}.") from None


def _dataset(values: dict[str, Any], where: str) -> str | None:
    if not isinstance(data := values.get("data"), dict) or "name" not in data:
        return None
    if not isinstance(data["name"], str):
        raise ConfigError(f"{where}: data.name: expected a string, got {data['name']!r}.")
    return data["name"]


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
    values, parsed = values or {}, [_override(item) for item in overrides]
    name, where = "fashion_mnist", "defaults"
    if named := _dataset(values, f"{source} line {lines.get('data.name')}"):
        name, where = named, f"{source} line {lines.get('data.name')}"
    file_name = name
    for item in parsed:
        name, where = (named, "command line") if (named := _dataset(item, "command line")) else (name, where)
    try:
        file_kind, kind = kind_for_dataset(file_name), kind_for_dataset(name)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
    if path is None and kind is not file_kind:
        # the default file is Fashion-MNIST's recipe (its gradient clipping, say): another kind's run starts
        # from that kind's own defaults and recipe instead
        values, lines = {}, {}
    if kind is not file_kind and (dropped := [s for s in ("data", "augment") if values.pop(s, None)]):
        print(f"note: data.name is a {kind.name} dataset; the config file's {' and '.join(dropped)} sections "
              f"(for {file_kind.name}) are not used.", file=sys.stderr)  # fmt: skip
    model, names = values.get("model"), [i["model"]["name"] for i in parsed if "name" in (i.get("model") or {})]
    if isinstance(model, dict) and model.get("args") and names and names[-1] != model.get("name"):
        del model["args"]
        print(f"note: model.name={names[-1]}; the config file's model.args (for {model.get('name')}) are not used.",
              file=sys.stderr)  # fmt: skip
    merged: dict[str, Any] = {"data": {"name": name}}
    origins: dict[str, str] = {}
    _merge(merged, values, str(source), lines, origins)
    for item in parsed:
        _merge(merged, item, "command line", {}, origins)
    sections = RunConfig().sections(kind)
    for key in merged:
        if key not in sections:  # a YAML key may be a number (`0:`): its origin is recorded under its text
            raise ConfigError(f"{origins[str(key)]}: {_unknown(str(key), list(sections), kind)}")
    config = RunConfig(**{s: _section(s, cls, merged.get(s, {}), origins, kind) for s, cls in sections.items()})
    config.explicit = frozenset(origins)
    return config


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for YAML / JSON."""
    plain = json.loads(json.dumps({k: v for k, v in dataclasses.asdict(config).items() if k != "explicit"}))
    return plain


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
