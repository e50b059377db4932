"""Run configuration: nested dataclasses, loaded from YAML plus ``section.key=value`` overrides.

Unknown or misspelt keys, values of the wrong type and values out of range are errors that name the
key, where it came from (file and line, or the command line) and what would be valid. Configs hold
only plain values: a model is named from the registry, a dataset from the known loaders; nothing is
imported or instantiated from a string, and YAML tags that build Python objects (``!!python/...``)
are refused.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "AugmentSection",
    "ConfigError",
    "DataSection",
    "EvaluationSection",
    "ModelSection",
    "OptimSection",
    "OutputSection",
    "RunConfig",
    "SignalSection",
    "TrainerSection",
    "config_to_dict",
    "load_config",
]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "fashion_mnist.yaml"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the source."""


@dataclass
class ModelSection:
    name: str = "crossvit_fmnist"  # a registered model (`dualbranch models`)
    args: dict[str, Any] = field(default_factory=dict)  # config overrides for create_model
    checkpoint: str | None = None  # weights to start from (.safetensors / .pth)


@dataclass
class DataSection:
    # images: fashion_mnist | digits | image_folder | npz; signals (see SignalSection): eegbci | uea | signal_npz
    name: str = "fashion_mnist"
    path: str | None = None  # folder or .npz file for image_folder / npz
    val_path: str | None = None  # a separate validation folder / file (else split by val_ratio)
    test_path: str | None = None  # a separate test folder / file (fashion_mnist/digits have their own)
    val_ratio: float = 0.1  # fraction of the training data held out, stratified by class
    img_size: tuple[int, int] | None = None  # resize to (H, W); default: the data's own size
    channels: int | None = None  # 1 or 3; default: the data's own
    on_corrupt: str = "error"  # error | skip, for unreadable image files
    batch_size: int = 128
    eval_batch_size: int = 512
    num_workers: int = 0
    shuffle: bool = True
    limit_train: int | None = None  # use only the first n training images (quick runs, tests)
    limit_eval: int | None = None  # and only n validation / test images


@dataclass
class OptimSection:
    epochs: int = 30
    lr: float = 5e-4  # the DeiT rule: 5e-4 × batch / 512
    scale_lr_by_batch: bool = True
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: float = 5.0
    min_lr: float = 1e-5
    grad_clip: float | None = None  # max gradient norm
    ema: bool = False
    ema_decay: float = 0.999


@dataclass
class AugmentSection:
    label_smoothing: float = 0.1
    mixup_alpha: float = 0.8  # 0 turns mixup off
    cutmix_alpha: float = 1.0  # 0 turns cutmix off
    mix_prob: float = 1.0  # probability a batch is mixed at all
    switch_prob: float = 0.5  # cutmix instead of mixup when both are on
    translate: int = 0
    hflip: float = 0.5
    randaug_ops: int = 2
    randaug_magnitude: float = 9.0
    erase_prob: float = 0.25
    # signal runs only (off by default; see dualbranch.data.signal_augment)
    signal_shift: int = 0  # largest random time shift in samples, zero-filled
    signal_scale: float = 0.0  # std of the log of a random per-channel amplitude factor
    signal_jitter: float = 0.0  # std of added Gaussian noise (inputs are standardised)
    signal_mixup: float = 0.0  # Mixup Beta(α, α) for signals; 0 turns it off


@dataclass
class TrainerSection:
    accelerator: str = "auto"  # cpu | gpu | auto
    devices: int = 1  # processes (CPU) or GPUs per node
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp
    precision: str = "32-true"  # 32-true | bf16-mixed | 16-mixed
    seed: int = 0
    deterministic: bool = False
    threads: int | None = None  # torch.set_num_threads; default: all cores
    max_time: str | None = None  # stop after "DD:HH:MM:SS", finishing the epoch cleanly
    log_every_n_steps: int = 50
    progress_bar: bool = True


@dataclass
class OutputSection:
    root: str = "runs"
    name: str | None = None  # run folder name; default: <model>-<data>-<timestamp>
    overwrite: bool = False  # replace an existing run folder (never done silently)
    report: bool = True
    report_thumbnails: int = 16


@dataclass
class SignalSection:
    """Options of the signal datasets (data.name eegbci | uea | signal_npz); ignored by image runs."""

    uea_name: str | None = None  # uea: a set bundled with aeon, e.g. BasicMotions, JapaneseVowels
    subjects: list[int] = field(default_factory=lambda: [1])  # eegbci: subject numbers 1–109
    task: str = "imagined_left_right"  # eegbci: imagined_left_right | real_left_right | imagined_fists_feet | ...
    l_freq: float | None = 7.0  # eegbci band-pass, Hz
    h_freq: float | None = 30.0
    tmin: float = 0.0  # eegbci epoch window around the cue, seconds
    tmax: float = 4.0
    resample: float | None = None  # eegbci: new sampling rate, Hz
    length_policy: str = "pad"  # unequal lengths: pad (zeros at the end + mask) | resample | error
    length: int | None = None  # bring every series to this many samples (default: the longest)
    alignment: str = "none"  # none | euclidean (per subject; test trials aligned online)
    standardize: str = "channel"  # channel (mean/std per channel from training data) | trial | none


@dataclass
class EvaluationSection:
    """How a signal run is evaluated: one train/test split, or a protocol with one model per fold."""

    protocol: str = "none"  # none (the data's own test split) | holdout | kfold | loso
    folds: int = 5  # kfold: number of stratified folds
    test_fraction: float = 0.2  # holdout: last share of each subject's trials


@dataclass
class RunConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    output: OutputSection = field(default_factory=OutputSection)
    signal: SignalSection = field(default_factory=SignalSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)


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


def _apply(
    config: Any,
    values: dict[str, Any],
    source: str,
    origins: dict[str, str],
    lines: dict[str, int] | None = None,
    prefix: str = "",
) -> None:
    """Set ``values`` on ``config`` (checked); ``origins`` records where each dotted key was set."""
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    for key, value in values.items():
        path = f"{prefix}{key}"
        where = f"{source} line {lines[path]}" if lines and path in lines else source
        if not isinstance(key, str) or key not in names:
            raise ConfigError(
                f"{where}: unknown key {path!r}{_suggest(str(key), names)}. Valid keys here: {', '.join(names)}."
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {path!r} is a section; give it a mapping of keys, got {value!r}.")
            _apply(current, value, source, origins, lines, f"{path}.")
        else:
            setattr(config, key, _coerce(value, hints[key], f"{where}: {path}"))
            origins[path] = where


def _override_to_dict(item: str) -> dict[str, Any]:
    if "=" not in item:
        raise ConfigError(f"command line: {item!r} is not an override; write section.key=value, e.g. optim.lr=1e-3.")
    dotted, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError as err:
        problem = _python_tag_refusal(err) or f"cannot parse the value ({err})"
        raise ConfigError(f"command line: {dotted}: {problem}.") from err
    nested: dict[str, Any] = {}
    cursor = nested
    parts = dotted.strip().split(".")
    if not all(parts):
        raise ConfigError(f"command line: {item!r} has an empty key; write section.key=value, e.g. optim.lr=1e-3.")
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


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The default config, updated from a YAML file (if any), then from ``section.key=value`` overrides.

    ``path`` may also name a built-in config (a file in ``dualbranch/configs``), e.g. "basicmotions".
    """
    config = RunConfig()
    source = Path(path) if path is not None else DEFAULT_CONFIG
    if not source.is_file() and (CONFIG_DIR / f"{source.name}.yaml").is_file() and source.name == str(path):
        source = CONFIG_DIR / f"{source.name}.yaml"
    if not source.is_file():
        builtin = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(
            f"Config file {source} does not exist; give the path of a YAML file or a built-in config ({builtin})."
        )
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Config file {source} cannot be read ({err}).") from err
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = _python_tag_refusal(err) or f"not valid YAML ({getattr(err, 'problem', err)})"
        raise ConfigError(f"{source}{line}: {problem}.") from err
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(values).__name__}.")
    origins: dict[str, str] = {}
    _apply(config, values, str(source), origins, _key_lines(text))
    for item in overrides:
        _apply(config, _override_to_dict(item), "command line", origins)
    check_values(config, origins)
    return config


_PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
# (dotted key, test, what the value must be)
_RULES: tuple[tuple[str, Any, str], ...] = (
    ("data.val_ratio", lambda v: 0 <= v < 1, "in [0, 1) (0: no validation split, for signal runs)"),
    ("data.on_corrupt", lambda v: v in ("error", "skip"), "'error' or 'skip'"),
    ("data.channels", lambda v: v in (None, 1, 3), "1 (grayscale) or 3 (RGB), or null for the data's own"),
    ("data.img_size", lambda v: v is None or min(v) >= 1, "two positive integers [H, W], or null"),
    ("data.batch_size", lambda v: v >= 1, "a positive integer"),
    ("data.eval_batch_size", lambda v: v >= 1, "a positive integer"),
    ("data.num_workers", lambda v: v >= 0, "0 or more"),
    ("data.limit_train", lambda v: v is None or v >= 1, "a positive integer, or null for all"),
    ("data.limit_eval", lambda v: v is None or v >= 1, "a positive integer, or null for all"),
    ("optim.epochs", lambda v: v >= 1, "a positive integer"),
    ("optim.lr", lambda v: 0 < v < float("inf"), "a positive number"),
    ("optim.weight_decay", lambda v: v >= 0, "0 or more"),
    ("optim.warmup_epochs", lambda v: v >= 0, "0 or more"),
    ("optim.min_lr", lambda v: v >= 0, "0 or more"),
    ("optim.grad_clip", lambda v: v is None or v > 0, "a positive number, or null for none"),
    ("optim.ema_decay", lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"),
    ("augment.label_smoothing", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("augment.mixup_alpha", lambda v: v >= 0, "0 (off) or more"),
    ("augment.cutmix_alpha", lambda v: v >= 0, "0 (off) or more"),
    ("augment.mix_prob", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("augment.switch_prob", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("augment.hflip", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("augment.erase_prob", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("augment.translate", lambda v: v >= 0, "0 or more pixels"),
    ("augment.randaug_ops", lambda v: v >= 0, "0 (off) or more"),
    ("augment.signal_shift", lambda v: v >= 0, "0 (off) or more samples"),
    ("augment.signal_scale", lambda v: 0 <= v < float("inf"), "0 (off) or a positive number"),
    ("augment.signal_jitter", lambda v: 0 <= v < float("inf"), "0 (off) or a positive number"),
    ("augment.signal_mixup", lambda v: 0 <= v < float("inf"), "0 (off) or a positive number"),
    ("trainer.precision", lambda v: v in _PRECISIONS, f"one of {', '.join(_PRECISIONS)}"),
    ("trainer.accelerator", lambda v: v in _ACCELERATORS, f"one of {', '.join(_ACCELERATORS)}"),
    ("trainer.devices", lambda v: v >= 1, "a positive integer"),
    ("trainer.num_nodes", lambda v: v >= 1, "a positive integer"),
    ("trainer.threads", lambda v: v is None or v >= 1, "a positive integer, or null for all cores"),
    ("trainer.log_every_n_steps", lambda v: v >= 1, "a positive integer"),
    ("output.report_thumbnails", lambda v: v >= 0, "0 or more"),
)


def check_values(config: RunConfig, origins: dict[str, str] | None = None) -> None:
    """Raise ConfigError for the first value out of its range, naming the key and where it was set."""
    for dotted, valid, expected in _RULES:
        section, key = dotted.split(".")
        value = getattr(getattr(config, section), key)
        if not valid(value):
            where = (origins or {}).get(dotted, "defaults")
            raise ConfigError(f"{where}: {dotted} must be {expected}, got {value!r}.")


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for YAML / JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
