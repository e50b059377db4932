"""Run configuration: the sections (:mod:`.sections`, and the data kind's ``data`` / ``augment``), read from YAML
plus ``section.key=value`` overrides and validated strictly by pydantic (``"5"`` is not an integer).

Errors name the key, where it was set (file and line, or the command line) and what is valid, with a did-you-mean
or the data kind the key belongs to. Only plain values: YAML tags that build Python objects are refused.
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
from typing import Any, Generic, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

from ..errors import ConfigError
from . import sections
from .kinds import KINDS, DataKind, kind_for_dataset

__all__ = ["ConfigError", "RunConfig", "config_to_dict", "dump_config", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "fashion_mnist.yaml"
D = TypeVar("D", bound=sections.DataSection)
A = TypeVar("A", bound=sections.AugmentSection)


@dataclass
class RunConfig(Generic[D, A]):
    """A whole run. ``data`` and ``augment`` are the sections of the data kind of ``data.name`` (the type
    parameters, which pydantic validates them as); ``explicit`` holds the dotted keys the file or command line
    set (the recipe fills in only the rest), recorded by :func:`load_config`, never read from a file."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)

    model: sections.ModelSection = field(default_factory=sections.ModelSection)
    data: D = field(default_factory=sections.DataSection)  # type: ignore[assignment]
    augment: A = field(default_factory=sections.AugmentSection)  # type: ignore[assignment]
    objective: sections.ObjectiveSection = field(default_factory=sections.ObjectiveSection)
    optim: sections.OptimSection = field(default_factory=sections.OptimSection)
    evaluation: sections.EvaluationSection = field(default_factory=sections.EvaluationSection)
    trainer: sections.TrainerSection = field(default_factory=sections.TrainerSection)
    output: sections.OutputSection = field(default_factory=sections.OutputSection)
    explicit: frozenset[str] = field(default_factory=frozenset, init=False, repr=False, compare=False)

    @property
    def kind(self) -> DataKind:
        """The data kind serving ``data.name``."""
        return kind_for_dataset(self.data.name)


class _Loader(yaml.SafeLoader):
    """The safe loader (no Python objects) where ``1e-3`` is a number, as in YAML 1.2 (YAML 1.1 wants ``1.0e-3``)."""


_EXPONENT = r"^[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)[eE][-+]?\d+$"  # floats YAML 1.1 reads as strings
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(_EXPONENT), list("-+0123456789."))


def _parse(text: str, where: str, file: bool = True) -> tuple[Any, dict[str, int]]:
    """The plain values of a YAML text, and the line of every dotted key in it."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        values = None if root is None else _Loader("").construct_document(root)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) if file else None
        where += f" line {mark.line + 1}" if mark else ""
        if tag := re.search(r"tag:yaml.org,2002:(python/[^']*)", str(err)):
            raise ConfigError(
                f"{where}: the YAML tag !!{tag[1]} would build a Python object, which configs never do; give plain "
                "values (numbers, strings, lists, mappings) and name models by their registered name (`dualbranch "
                "models`)."
            ) from err
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', None) or err}).") from err
    lines, stack = {}, [(root, "")]
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
        key, path = str(key), f"{prefix}{key}"  # a YAML key may be a number (`0:`): named by its text
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


def _validate(merged: dict[str, Any], origins: dict[str, str], kind: DataKind) -> RunConfig:
    """``merged`` as a RunConfig of ``kind``'s sections, validated by pydantic; its first problem as a ConfigError."""
    adapter = TypeAdapter(RunConfig[kind.data_section, kind.augment_section])
    classes = {**typing.get_type_hints(RunConfig), "data": kind.data_section, "augment": kind.augment_section}
    while True:
        try:  # JSON mode: lists stand for tuples, as YAML has no tuples (dates and the like are strings)
            return adapter.validate_json(json.dumps(merged, default=str))
        except ValidationError as err:
            error = err.errors()[0]
        (section, *rest), problem, got = error["loc"], error["type"], error["input"]
        index = tuple(i for i in rest if isinstance(i, int))
        if problem == "list_type" and rest and not index and got is not None:
            merged[section][rest[0]] = [got]  # one value where a list is expected is a list of one
            continue
        cls = classes.get(section)
        path = ".".join(map(str, [section, *rest[:1]]))
        where = origins.get(path, origins.get(section, "defaults"))
        if problem == "unexpected_keyword_argument":
            valid = [f.name for f in dataclasses.fields(cls if rest else RunConfig) if f.init]
            raise ConfigError(f"{where}: {_unknown(path, valid, kind)}")
        if not rest:
            raise ConfigError(f"{where}: {section!r} is a section; give it a mapping of keys, got {got!r}.")
        hint = typing.get_type_hints(cls, include_extras=True)[rest[0]]
        if problem in ("missing", "too_short", "too_long") or sections.expect(hint, index) == sections.expect(hint):
            index, got = (), merged[section][rest[0]]  # the value as a whole: its length, or words no item adds to
        path += "".join(f"[{i}]" for i in index)
        raise ConfigError(f"{where}: {path} must be {sections.expect(hint, index)}, got {got!r}.")


def _dataset(values: dict[str, Any], default: str) -> str:
    """``data.name`` in ``values``, ``default`` where unset."""
    return values["data"].get("name", default) if isinstance(values.get("data"), dict) else default


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
    file_name = _dataset(values, "fashion_mnist")
    file_kind = kind_for_dataset(file_name, f"{source} line {lines.get('data.name')}")
    name = _dataset(cli, file_name)
    kind = kind_for_dataset(name, "command line")
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
    merged: dict[str, Any] = {"data": {"name": name}, "augment": {}}  # the kind's sections, even where unset
    origins: dict[str, str] = {}
    _merge(merged, values, str(source), lines, origins)
    _merge(merged, cli, "command line", {}, origins)
    config = _validate(merged, origins, kind)
    config.explicit = frozenset(origins)
    return config


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for YAML / JSON."""
    return json.loads(json.dumps({k: v for k, v in dataclasses.asdict(config).items() if k != "explicit"}))


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
