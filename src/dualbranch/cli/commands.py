"""The ``dualbranch`` commands' names and one-line help: all that ``dualbranch --help`` needs to know.

Each command's module (:mod:`.fit`, :mod:`.models`, :mod:`.predict`, :mod:`dualbranch.deploy_cli`)
adds its parser with this help, so the overview and the command's own page say the same.
"""

from __future__ import annotations

__all__ = ["COMMANDS"]

COMMANDS = {
    "models": "list registered models with parameters and GMACs",
    "fit": "train a model (default: Fashion-MNIST; model, batch size, augmentation and schedule chosen from the data)",
    "test": "evaluate a run's kept model and rewrite its metrics and report",
    "predict": "classify image files, folders or an .npz (images, or signals x (n, C, T)), or forecast after series "
    "tables (.csv, .parquet, .npz), with a trained run",
    "bench": "speed, memory and GFLOP/s of models (optionally against timm and on deploy engines)",
    "export": "export a run or a registered model to ONNX, OpenVINO IR (fp32, bf16 hint, calibrated int8), "
    "a torch.export program (.pt2) or safetensors",
    "data": "prepare data: `data pack` writes a photo folder as Parquet shards to stream from a disk or object storage",
}
