"""The inference-engine names that ``predict --engine``, ``bench --engines`` and ``export --format`` share.

Only names and their translation live here (no torch, no engine library), so the command line can
build its parsers without loading anything heavy; :mod:`dualbranch.engines` builds the engines and
describes each one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .errors import ConfigError

__all__ = [
    "AUTO",
    "CALIBRATED",
    "ENGINES",
    "EXPORT_FORMATS",
    "OLD_NAMES",
    "OLD_NAMES_UNTIL",
    "OPENVINO_PRECISION",
    "PREDICT_ENGINES",
    "engine_name",
]

ENGINES = (
    "eager",
    "compile",
    "onnx",
    "openvino",
    "openvino-bf16",
    "int8-dynamic",
    "int8-static",
    "openvino-int8",
)
CALIBRATED = ("int8-static", "openvino-int8")  # the engines whose accuracy depends on calibration inputs
# the OpenVINO engines and the inference precision each asks of the CPU plugin for what is not int8
OPENVINO_PRECISION = {"openvino": "f32", "openvino-bf16": "bf16", "openvino-int8": "f32"}
OLD_NAMES = {"torch": "eager", "int8": "int8-dynamic"}  # predict's names before the shared vocabulary
OLD_NAMES_UNTIL = "0.2.0"  # the release that drops OLD_NAMES
AUTO = "auto"  # predict: the fastest engine that agrees with eager here (dualbranch.train.engine_auto)
# every engine but int8-static, whose PT2E calibration is not stored: predict would read the training
# data again and recompile at every call (openvino-int8 is the calibrated engine for predictions)
PREDICT_ENGINES = (*(name for name in ENGINES if name != "int8-static"), AUTO)
# export: the engines that are files of their own, and two plain formats (a torch.export program, weights)
EXPORT_FORMATS = ("onnx", "openvino", "openvino-bf16", "openvino-int8", "pt2", "safetensors")


def _note_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def engine_name(name: str, note: Callable[[str], None] = _note_to_stderr) -> str:
    """The engine called ``name``: one of :data:`ENGINES`, or an old ``predict`` name (:data:`OLD_NAMES`),
    translated with a ``note``. Anything else is a :class:`ConfigError` that lists the names."""
    if name in ENGINES:
        return name
    if name in OLD_NAMES:
        new = OLD_NAMES[name]
        note(f"note: engine {name!r} is now called {new!r}; the old name works until dualbranch {OLD_NAMES_UNTIL}.")
        return new
    raise ConfigError(f"Unknown engine {name!r}; choose from {', '.join(ENGINES)}.")
