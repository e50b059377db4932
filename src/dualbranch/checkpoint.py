"""Loading weights into models: strictly, or adapted for fine-tuning.

Weight files are read through :mod:`dualbranch.weight_files` (formats that cannot run code). Loading is strict:
a checkpoint that does not fit the model gets an error that lists the missing, unexpected and mis-shaped keys
and, where it can, names the registered model the checkpoint was made for (this module reads the registry's
tables for that; building models with weights is :mod:`dualbranch.factory`, one level up). The weight-file
functions are re-exported here, where earlier versions defined them.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from . import models as _models  # noqa: F401  (registers every model: the registry is read here)

# The errors are defined in errors.py (the library's hierarchy); importing them here keeps
# ``from dualbranch.checkpoint import CheckpointError`` working.
from .errors import CheckpointError, CheckpointMismatchError, ConfigError
from .registry import WeightConfig, get_model_entry, list_models
from .weight_files import (
    download_weights,
    read_metadata,
    read_state_dict,
    save_checkpoint,
    tensor_checksum,
    torch_load_weights_only,
)

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "download_weights",
    "guess_model_name",
    "load_checkpoint",
    "load_for_finetuning",
    "read_metadata",
    "read_state_dict",
    "read_weight_config",
    "save_checkpoint",
    "tensor_checksum",
    "torch_load_weights_only",
]


def read_weight_config(path: str | os.PathLike[str], model_name: str | None = None) -> WeightConfig | None:
    """How the weights in ``path`` are fed and where they begin and end (:class:`~dualbranch.registry.WeightConfig`):
    what a run recorded in its ``model.safetensors``, else what the registry knows of ``model_name`` (the
    published weights' feed, for a file without metadata); None if neither says."""
    recorded = read_metadata(path).get("weights")
    if recorded:
        try:
            return WeightConfig.from_json(recorded)
        except (ValueError, TypeError) as err:
            raise CheckpointError(f"{path}: its recorded weight config is damaged ({err}).") from err
    return None if model_name is None else get_model_entry(model_name).weights


def _to_model_keys(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    convert = getattr(model, "state_dict_from_published", None)
    return convert(state_dict) if convert is not None else dict(state_dict)


def _shape_report(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> tuple[list, list, list]:
    # listed in the model's own order, so the first lines of an error are the earliest layers
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        (k, tuple(state_dict[k].shape), shape)
        for k, shape in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != shape
    ]
    return missing, unexpected, mismatched


def guess_model_name(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The registered model whose default architecture has exactly these keys and shapes (heads aside)."""
    for name in list_models():
        # the builder with no overrides is the default architecture; on meta it allocates nothing
        with torch.device("meta"):
            candidate = get_model_entry(name).builder()
        converted = _to_model_keys(candidate, state_dict)
        missing, unexpected, mismatched = _shape_report(candidate, converted)
        if not missing and not unexpected and _only_heads(mismatched, get_model_entry(name).weights):
            return name
    return None


def _only_heads(mismatched: list, weights: WeightConfig | None) -> bool:
    """Whether every mismatched key lies in the classifier ``weights`` names (timm's ``head.`` without one)."""
    keys = [key for key, _, _ in mismatched]
    heads = ("head",) if weights is None else weights.classifier
    return len(WeightConfig.parameters_under(keys, heads)) == len(keys)


def _listing(items: list, limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def _made_for_another(path: Any, model: nn.Module, name: str | None, missing: list, mismatched: list) -> Any:
    """The one-line error for weights whose metadata names another registered model than ``name``."""
    made_for = read_metadata(path).get("model")
    if not made_for or made_for == name:
        return None
    target = repr(name) if name else f"this {type(model).__name__}"
    total = len(model.state_dict())
    return CheckpointMismatchError(
        f"Checkpoint {path} was made for the model {made_for!r} (its metadata records it), not for {target}: "
        f"{len(missing)} of {total} tensors of {target} are missing from it and {len(mismatched)} have other "
        f"shapes. Load it into {made_for!r} (create_model({made_for!r}, ...), or model.name={made_for} for a run), "
        f"or give a checkpoint made for {target}."
    )


def load_checkpoint(model: nn.Module, path: str | os.PathLike[str], name: str | None = None) -> nn.Module:
    """Load weights strictly into ``model`` (the registered model ``name``, if known, for the messages) from
    a file in our, timm's or the official naming."""
    state_dict = _to_model_keys(model, read_state_dict(path))
    adapt = getattr(model, "adapt_to_state_dict", None)
    if adapt is not None:  # a model whose layer shapes come from its training data (ShapeFormer's shapelets)
        adapt(state_dict)
    missing, unexpected, mismatched = _shape_report(model, state_dict)
    if missing or unexpected or mismatched:
        if (other := _made_for_another(path, model, name, missing, mismatched)) is not None:
            raise other
        lines = [f"Checkpoint {path} does not fit {type(model).__name__}:"]
        if mismatched:
            lines.append(
                "  shape mismatches (key: checkpoint vs model): "
                + _listing([f"{k}: {tuple(a)} vs {tuple(b)}" for k, a, b in mismatched])
            )
        if missing:
            lines.append(f"  missing from the checkpoint: {_listing(missing)}")
        if unexpected:
            lines.append(f"  not in the model: {_listing(unexpected)}")
        guess = guess_model_name(state_dict)
        if guess is not None:
            lines.append(f"  It looks like a checkpoint of {guess!r}: create_model({guess!r}, ...) to load it.")
        if mismatched and not missing and _only_heads(mismatched, get_model_entry(name).weights if name else None):
            lines.append(
                "  Only the classifier differs: build the model with the checkpoint's num_classes, "
                "load, then call reset_classifier(n)."
            )
        raise CheckpointMismatchError("\n".join(lines))
    model.load_state_dict(state_dict, strict=True)
    return model


def _resize_positions(weights: torch.Tensor, target: tuple[int, ...], grids: list[tuple[int, int]]) -> torch.Tensor:
    """Position embeddings (1, P + h·w, D) -> (1, P + h'·w', D), P prefix (CLS) tokens kept, the grid
    interpolated bicubically to a grid of ``grids`` with h'·w' tokens."""
    for prefix in (1, 0):
        old = weights.shape[1] - prefix
        side = round(old**0.5)
        new = [g for g in grids if g[0] * g[1] == target[1] - prefix]
        if side * side == old and new:
            grid = weights[:, prefix:].reshape(1, side, side, -1).permute(0, 3, 1, 2)  # (1, D, h, w)
            grid = torch.nn.functional.interpolate(grid.float(), size=new[0], mode="bicubic", align_corners=False)
            grid = grid.permute(0, 2, 3, 1).reshape(1, -1, weights.shape[2])  # (1, h'·w', D)
            return torch.cat([weights[:, :prefix], grid.to(weights.dtype)], dim=1)
    raise CheckpointMismatchError(f"Cannot resize position embeddings {tuple(weights.shape)} to {target}.")


def _adapt_channels(weights: torch.Tensor, target: tuple[int, ...]) -> torch.Tensor | None:
    """A first convolution for other input channels: its one axis of the C input channels (axis 1 of an
    (O, C, k...) kernel; axis 2 of EEG Conformer's (O, I, C, 1)) summed to one channel (grayscale sees the
    sum of the RGB responses), or repeated and rescaled so the response keeps its size. None if the
    shapes differ otherwise."""
    differ = [axis for axis, (a, b) in enumerate(zip(weights.shape, target)) if a != b]
    if weights.ndim != len(target) or len(differ) != 1:
        return None
    axis, channels, had = differ[0], target[differ[0]], weights.shape[differ[0]]
    if channels == 1:
        return weights.sum(dim=axis, keepdim=True)
    repeats = [1] * weights.ndim
    repeats[axis] = -(-channels // had)
    return weights.repeat(*repeats).narrow(axis, 0, channels) * (had / channels)


def load_for_finetuning(model: nn.Module, path: str | os.PathLike[str], name: str | None = None) -> list[str]:
    """Load a checkpoint made for another class count, image size or channel count (e.g. a published
    1000-class ImageNet model) into ``model``, the registered model ``name``; returns one line per
    adaptation.

    Where the model begins and ends comes from its :class:`~dualbranch.registry.WeightConfig` (the
    registry's for ``name``, else the one the checkpoint records): the ``classifier`` is new (the
    checkpoint's is dropped when its outputs differ); a ``first_conv`` made for other input channels is
    adapted; position embeddings are interpolated to the model's token grid. Everything else must fit
    exactly (a CheckpointMismatchError lists what does not, or, for weights whose metadata names another
    model than ``name``, names that model in one line).
    """
    ends = get_model_entry(name).weights if name is not None else read_weight_config(path)
    if ends is None:
        raise ConfigError(
            f"{path} records no model: give the registered model's name (load_for_finetuning(model, path, name)) "
            "so that its classifier and first convolution are known."
        )
    state = _to_model_keys(model, read_state_dict(path))
    expected = model.state_dict()
    notes: list[str] = []
    # what was fitted in closed form to the checkpoint's data stays behind; the model's own is fitted anew
    source = read_weight_config(path)
    left = WeightConfig.parameters_under(list(state), ends.fitted + (source.fitted if source else ()))
    for key in left:
        del state[key]
    refitted = set(WeightConfig.parameters_under(expected, ends.fitted))
    if left:
        notes.append("the classifier fitted in closed form to the checkpoint's data is left out: it is fitted anew")
    grids = [tuple(m.grid_size) for m in model.modules() if hasattr(m, "grid_size")]
    head = WeightConfig.parameters_under(expected, ends.classifier)
    dropped = [k for k in head if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    for key in dropped:  # the model keeps its own new head (the contract's init rule)
        del state[key]
    if dropped:
        count = getattr(model, "num_classes", None)
        notes.append(
            (f"new classifier for {count} classes" if count is not None else f"new {', '.join(ends.classifier)}")
            + " (the checkpoint's was for other outputs)"
        )
    first = set(ends.first_weights(expected))
    for key, weights in list(state.items()):
        target = tuple(expected[key].shape) if key in expected else None
        if target is None or tuple(weights.shape) == target:
            continue
        if "pos_embed" in key and weights.ndim == 3:
            state[key] = _resize_positions(weights, target, grids)
            notes.append(f"{key}: position embeddings interpolated from {tuple(weights.shape)} to {target}")
        elif key in first and (adapted := _adapt_channels(weights, target)) is not None:
            state[key] = adapted
            (had, now) = next((a, b) for a, b in zip(weights.shape, target) if a != b)
            notes.append(f"{key}: first convolution adapted from {had} to {now} input channels")
    missing, unexpected, mismatched = _shape_report(model, state)
    missing = [k for k in missing if k not in dropped and k not in refitted]
    if missing or unexpected or mismatched:
        if (other := _made_for_another(path, model, name, missing, mismatched)) is not None:
            raise other
        problems = (
            [f"shape mismatches: {_listing([f'{k}: {a} vs {b}' for k, a, b in mismatched])}"] if mismatched else []
        )
        problems += [f"missing: {_listing(missing)}"] if missing else []
        problems += [f"not in the model: {_listing(unexpected)}"] if unexpected else []
        raise CheckpointMismatchError(
            f"Checkpoint {path} cannot be fine-tuned into {type(model).__name__}: {'; '.join(problems)}."
        )
    model.load_state_dict({**expected, **state}, strict=True)
    return notes
