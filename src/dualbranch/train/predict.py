"""Predictions of a trained run on new images: files, folders (recursively) or an ``.npz`` of arrays
(signal runs: an ``.npz`` of signals, :mod:`.signal_predict`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.images import IMAGE_SUFFIXES, ImageDataError, _open_image, load_npz
from .predictions import prediction_rows, write_csv
from .run import load_run_model
from .signal_predict import predict_signal
from .signal_run import is_signal_run

__all__ = ["PREDICT_ENGINES", "predict"]

# `predict --engine` names -> dualbranch.engines names
PREDICT_ENGINES = {"torch": "eager", "onnx": "onnx", "int8": "int8-dynamic"}


def _collect(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist.")
    if not files:
        raise ImageDataError(f"No images found in {', '.join(inputs)} ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    return files


@torch.no_grad()
def predict(
    run_dir: str | os.PathLike[str],
    inputs: list[str],
    output: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    top_k: int = 1,
    engine: str = "torch",
) -> list[dict[str, object]]:
    """Classify ``inputs`` with a run's best model; write a CSV (``output``) and return the rows.

    ``engine``: "torch" (the fp32 model), "onnx" (exported and run in onnxruntime) or "int8"
    (dynamically quantized Linear layers); see :mod:`dualbranch.engines`.
    """
    if engine not in PREDICT_ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; choose from {', '.join(PREDICT_ENGINES)}.")
    if is_signal_run(run_dir):  # signals: an .npz of (n, C, T), see signal_predict
        if engine != "torch":
            raise ValueError(f"--engine {engine} serves image runs; a signal run predicts with --engine torch.")
        return predict_signal(run_dir, inputs, output, batch_size, top_k)
    model, info = load_run_model(run_dir)
    channels, height, width = info.input_shape
    mode = "L" if channels == 1 else "RGB"
    if len(inputs) == 1 and inputs[0].endswith(".npz"):
        data = load_npz(inputs[0], tuple(info.class_names))
        names = [f"{inputs[0]}[{i}]" for i in range(len(data))]
        images = data.images
        if tuple(images.shape[1:]) != (channels, height, width):
            raise ImageDataError(
                f"{inputs[0]}: images are {tuple(images.shape[1:])}, the model needs {tuple(info.input_shape)}."
            )
    else:
        files = _collect(inputs)
        arrays = []
        for path in files:
            try:
                arrays.append(_open_image(path, mode, (height, width)))
            except OSError as err:
                raise ImageDataError(f"Unreadable image {path} ({err}).") from err
        images, names = torch.from_numpy(np.stack(arrays)), [str(p) for p in files]
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    if engine != "torch":
        from ..engines import build_engine

        example = (images[:2].float() / 255 - mean) / std
        model = build_engine(PREDICT_ENGINES[engine], model, example)
    probs = torch.cat(
        [
            model((images[start : start + batch_size].float() / 255 - mean) / std).softmax(dim=1)
            for start in range(0, len(images), batch_size)
        ]
    )  # (n, K)
    rows = prediction_rows(names, probs, info.class_names, top_k)
    if output is not None:
        write_csv(rows, output)
    return rows
