"""Run configuration: sections of dataclasses, loaded from YAML plus ``section.key=value`` overrides.

The ``data`` and ``augment`` sections are chosen by the data kind of ``data.name`` (an image run has
image keys, a signal run signal keys: :mod:`dualbranch.train.kinds`); every other section is common
(:mod:`.sections`). Unknown or misspelt keys, values of the wrong type and values out of range are
errors that name the key, where it came from (file and line, or the command line) and what would be
valid. Each value's range is declared once, beside it (:func:`.sections.option`).

Configs hold only plain values: a model is named from the registry, a dataset from the data kinds;
nothing is imported or instantiated from a string, and YAML tags that build Python objects
(``!!python/...``) are refused. Numbers are read as YAML 1.2 does, so ``1e-3`` is a number.

A ``config.yaml`` written by dualbranch 0.1 (format 1, with a ``signal`` section) is read too.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
)

__all__ = ["ConfigError", "RunConfig", "check_values", "config_to_dict", "dump_config", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "fashion_mnist.yaml"


@dataclass
class RunConfig:
    """A whole run. ``data`` and ``augment`` are the sections of the data kind of ``data.name``."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    objective: ObjectiveSection = field(default_factory=ObjectiveSection)
    optim: OptimSection = field(default_factory=OptimSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    output: OutputSection = field(default_factory=OutputSection)

    @property
    def kind(self) -> DataKind:
        """The data kind serving ``data.name``."""
        return kind_for_dataset(self.data.name)

    @classmethod
    def for_kind(cls, kind: DataKind) -> RunConfig:
        """Defaults, with the data and augment sections of ``kind``."""
        return cls(data=kind.data_section(name=kind.datasets[0]), augment=kind.augment_section())


class _Loader(yaml.SafeLoader):
    """YAML 1.1's safe loader with YAML 1.2's numbers: ``1e-3`` and ``3e-4`` are floats, not strings."""


# YAML 1.2 floats: digits with an exponent and no dot (1e-3) count too; YAML 1.1 reads them as strings
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _yaml(text: str) -> Any:
    """Plain values of a YAML text (a SafeLoader subclass: no Python objects are ever built)."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


# ---------------------------------------------------------------------------- parsing
def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a field annotation (after YAML parsing) and normalise it."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        if len(errors) == 1:  # "X or None": the X error says more (e.g. a list of the wrong length)
            raise ConfigError(errors[0])
        raise ConfigError(f"{where}: expected {' or '.join(_type_name(o) for o in options)}, got {value!r}.")
    if origin is tuple:
        items = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)) or len(value) != len(items):
            raise ConfigError(f"{where}: expected a list of {len(items)} values, got {value!r}.")
        return tuple(_coerce(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, items)))
    if origin is list:
        (item,) = typing.get_args(annotation)
        values = value if isinstance(value, (list, tuple)) else [value]  # one value is a list of one
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(values)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}.")
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}.")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}.")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}.")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}.")
    raise ConfigError(f"{where}: unsupported type {annotation}.")  # a bug in the dataclasses, not user input


def _key_lines(text: str) -> dict[str, int]:
    """Line number (1-based) of every dotted key in a YAML text, for error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines[prefix + str(key.value)] = key.start_mark.line + 1
                    walk(value, f"{prefix}{key.value}.")

    walk(root, "")
    return lines


def _foreign_hint(path: str, kind: DataKind | None) -> str:
    """For a key of another data kind's section, which kind it belongs to ("" otherwise)."""
    section, _, key = path.partition(".")
    if kind is None or section not in ("data", "augment") or "." in key:
        return ""
    for other in KINDS.values():
        fields = {
            f.name for f in dataclasses.fields(other.data_section if section == "data" else other.augment_section)
        }
        if other is not kind and key in fields:
            return (
                f"; it applies to {other.name} datasets ({', '.join(other.datasets)}), and this run's data.name is "
                f"a {kind.name} dataset ({', '.join(kind.datasets)}). Remove it or change data.name."
            )
    return ""


def _apply(
    config: Any,
    values: dict[str, Any],
    source: str,
    origins: dict[str, str],
    lines: dict[str, int] | None = None,
    prefix: str = "",
    kind: DataKind | None = None,
) -> None:
    """Set ``values`` on ``config`` (checked); ``origins`` records where each dotted key was set.

    Mapping fields (``model.args``, ``objective.args``) are merged key by key, so
    ``model.args.patch_size=4`` on the command line keeps the config file's other model arguments.
    """
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    for key, value in values.items():
        path = f"{prefix}{key}"
        where = f"{source} line {lines[path]}" if lines and path in lines else source
        if not isinstance(key, str) or key not in names:
            hint = _foreign_hint(path, kind) or f"{_suggest(str(key), names)}. Valid keys here: {', '.join(names)}."
            raise ConfigError(f"{where}: unknown key {path!r}{hint}")
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {path!r} is a section; give it a mapping of keys, got {value!r}.")
            _apply(current, value, source, origins, lines, f"{path}.", kind)
        elif isinstance(current, dict) and isinstance(value, dict):
            setattr(config, key, {**current, **_coerce(value, hints[key], f"{where}: {path}")})
            origins[path] = where
        else:
            setattr(config, key, _coerce(value, hints[key], f"{where}: {path}"))
            origins[path] = where


def _override_to_dict(item: str) -> dict[str, Any]:
    if "=" not in item:
        raise ConfigError(f"command line: {item!r} is not an override; write section.key=value, e.g. optim.lr=1e-3.")
    dotted, raw = item.split("=", 1)
    try:
        value = _yaml(raw) if raw != "" else None
    except yaml.YAMLError as err:
        problem = _python_tag_refusal(err) or f"cannot parse the value ({err})"
        raise ConfigError(f"command line: {dotted}: {problem}.") from err
    parts = dotted.strip().split(".")
    if not all(parts):
        raise ConfigError(f"command line: {item!r} has an empty key; write section.key=value, e.g. optim.lr=1e-3.")
    for old, new in (("signal.", "data."), ("augment.signal_", "augment.")):
        if dotted.startswith(old):
            raise ConfigError(
                f"command line: {dotted} is a dualbranch 0.1 key; signal options now live in the data and augment "
                f"sections: write {new}{dotted.removeprefix(old)}={raw}."
            )
    nested: dict[str, Any] = {}
    cursor = nested
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


def _python_tag_refusal(err: yaml.YAMLError) -> str | None:
    if isinstance(err, yaml.constructor.ConstructorError) and "tag:yaml.org,2002:python/" in str(err.problem):
        tag = str(err.problem).split("'")[1] if "'" in str(err.problem) else "!!python/..."
        return (
            f"the YAML tag {tag.replace('tag:yaml.org,2002:', '!!')} would build a Python object, which configs "
            f"never do; give plain values (numbers, strings, lists, mappings) and name models by their "
            f"registered name (`dualbranch models`)"
        )
    return None


def _read_yaml(source: Path) -> tuple[dict[str, Any], str]:
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Config file {source} cannot be read ({err}).") from err
    try:
        values = _yaml(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = _python_tag_refusal(err) or f"not valid YAML ({getattr(err, 'problem', err)})"
        raise ConfigError(f"{source}{line}: {problem}.") from err
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(values).__name__}.")
    return values, text


def _dataset_name(values: dict[str, Any], where: str) -> str | None:
    data = values.get("data")
    if not isinstance(data, dict) or "name" not in data:
        return None
    if not isinstance(data["name"], str):
        raise ConfigError(f"{where}: data.name: expected a string, got {data['name']!r}.")
    return data["name"]


def _kind(name: str, where: str) -> DataKind:
    try:
        return kind_for_dataset(name)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def _switched(
    values: dict[str, Any], parsed: list[dict[str, Any]], file_kind: DataKind, kind: DataKind
) -> dict[str, Any]:
    """The file's values, less what a switch on the command line makes meaningless: another kind of
    data (the file's ``data`` and ``augment`` sections) or another model (the file's ``model.args``)."""
    values = dict(values)
    if kind is not file_kind:
        dropped = [s for s in ("data", "augment") if values.pop(s, None)]
        if dropped:
            print(f"note: data.name is a {kind.name} dataset; the config file's {' and '.join(dropped)} sections "
                  f"(for {file_kind.name}) are not used.", file=sys.stderr)  # fmt: skip
    model = values.get("model")
    new_names = [
        item["model"]["name"] for item in parsed if isinstance(item.get("model"), dict) and "name" in item["model"]
    ]
    if isinstance(model, dict) and new_names and new_names[-1] != model.get("name") and model.get("args"):
        values["model"] = {k: v for k, v in model.items() if k != "args"}
        print(f"note: model.name={new_names[-1]}; the config file's model.args (for {model.get('name')}) are not used.",
              file=sys.stderr)  # fmt: skip
    return values


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The default config, updated from a YAML file (if any), then from ``section.key=value`` overrides.

    ``path`` may also name a built-in config (a file in ``dualbranch/configs``), e.g. "basicmotions".
    """
    source = Path(path) if path is not None else DEFAULT_CONFIG
    if not source.is_file() and (CONFIG_DIR / f"{source.name}.yaml").is_file() and source.name == str(path):
        source = CONFIG_DIR / f"{source.name}.yaml"
    if not source.is_file():
        builtin = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(
            f"Config file {source} does not exist; give the path of a YAML file or a built-in config ({builtin})."
        )
    values, text = _read_yaml(source)
    lines = _key_lines(text)
    parsed = [_override_to_dict(item) for item in overrides]
    name, where = "fashion_mnist", "defaults"
    if (named := _dataset_name(values, str(source))) is not None:
        name, where = named, f"{source} line {lines.get('data.name', '?')}"
    if "signal" in values:  # format 1 (dualbranch 0.1): signal options had a section of their own
        values, lines = _kind(name, where).migrate_config(values), {}
    file_kind = _kind(name, where)
    for item in parsed:
        if (named := _dataset_name(item, "command line")) is not None:
            name, where = named, "command line"
    kind = _kind(name, where)
    if path is None and kind is not file_kind:
        # the default file is Fashion-MNIST's recipe (its gradient clipping, say): another kind's run starts
        # from that kind's own defaults and recipe instead
        values, lines = {}, {}
    values = _switched(values, parsed, file_kind, kind)
    config = RunConfig.for_kind(kind)
    origins: dict[str, str] = {}
    _apply(config, values, str(source), origins, lines, kind=kind)
    for item in parsed:
        _apply(config, item, "command line", origins, kind=kind)
    check_values(config, origins)
    config.explicit = frozenset(origins)  # type: ignore[attr-defined]  (the recipe fills in only the rest)
    return config


def check_values(config: Any, origins: dict[str, str] | None = None, prefix: str = "") -> None:
    """Raise ConfigError for the first value out of its range (each field's ``option`` check), naming
    the key and where it was set."""
    for f in dataclasses.fields(config):
        value, dotted = getattr(config, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            check_values(value, origins, f"{dotted}.")
        elif (check := f.metadata.get("check")) is not None and not check(value):
            where = (origins or {}).get(dotted, "defaults")
            raise ConfigError(f"{where}: {dotted} must be {f.metadata['expect']}, got {value!r}.")


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for YAML / JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
