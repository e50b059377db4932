"""Reading, checking and writing model weights.

Weights are read only through formats that cannot run code: safetensors, or ``torch.load`` with
``weights_only=True``. Loading is strict: a checkpoint that does not fit the model gets an error that
lists the missing, unexpected and mis-shaped keys and, where it can, names the registered model the
checkpoint was made for (this module reads the registry's tables for that; building models with
weights is :mod:`dualbranch.factory`, one level up).
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import models as _models  # noqa: F401  (registers every model: the registry is read here)

# The errors are defined in errors.py (the library's hierarchy); importing them here keeps
# ``from dualbranch.checkpoint import CheckpointError`` working.
from .errors import CheckpointError, CheckpointMismatchError, ConfigError, MissingFileError
from .registry import WeightConfig, get_model_entry, list_models
from .safe_io import atomic_write, sha256_chunks

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

FORMAT_VERSION = "1"  # of the safetensors metadata; a file of a newer format is refused, not misread
_WRAPPER_KEYS = ("model_ema", "state_dict_ema", "model", "state_dict", "module")


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    # Training scripts save {'model': state_dict, 'optimizer': ..., 'epoch': ...}; DDP adds 'module.'.
    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], dict):
                return _unwrap(obj[key], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            if all(k.startswith("module.") for k in tensors):
                tensors = {k[len("module.") :]: v for k, v in tensors.items()}
            return tensors
    raise CheckpointError(f"{path}: holds no tensors (found {type(obj).__name__}); is it a model checkpoint?")


def tensor_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (sorted by name): the weights' identity."""

    def chunks():
        for key in sorted(tensors):
            tensor = tensors[key].detach().cpu().contiguous()
            yield f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode()
            yield tensor.reshape(-1).view(torch.uint8).numpy().tobytes()

    return sha256_chunks(chunks())


def _check_format(path: Path, metadata: dict[str, str]) -> None:
    name = metadata.get("format", "")
    if not name.startswith("dualbranch-"):
        return  # written by another library (timm, the official code): no version to check
    version = name.removeprefix("dualbranch-")
    if not version.isdigit() or int(version) > int(FORMAT_VERSION):
        raise CheckpointError(
            f"{path}: written in checkpoint format {version!r} by a newer dualbranch; this version reads "
            f"format {FORMAT_VERSION} and older. Upgrade dualbranch (pip install -U dualbranch) to load it."
        )


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        _check_format(path, metadata)
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable safetensors file ({err}); it may be truncated.") from err
    expected = metadata.get("sha256")
    if expected is not None and tensor_checksum(tensors) != expected:
        raise CheckpointError(
            f"{path}: the weights do not match the checksum recorded when they were saved; the file is "
            "corrupt. Restore it from a backup; in a run folder, checkpoints/best.ckpt holds the same weights."
        )
    return tensors


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a ``.safetensors`` file (which model it was made for, the kept epoch, ...); {} for a
    file of another format or one that cannot be read (reading the weights names that problem)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return {}


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


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a ``.pth``/``.pt``/``.bin`` loaded with weights_only.

    Safetensors files written by :func:`save_checkpoint` carry a format version (a newer one is
    refused) and a checksum of the weights (verified here).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"Checkpoint {path} does not exist (or is not a file).")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    obj = torch_load_weights_only(
        path,
        refused="refused to load. It contains Python objects beyond tensors, and unpickling them could run "
        "arbitrary code ({reason}). If you trust the file, re-save just its state dict "
        "(torch.save(model.state_dict(), ...)) or convert it to safetensors.",
        unreadable="not a readable PyTorch checkpoint ({reason}); the file may be truncated or in another format.",
    )
    return _unwrap(obj, path)


def torch_load_weights_only(path: Path, refused: str, unreadable: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with its failures as CheckpointError: ``refused`` when the
    file holds code-running pickles, ``unreadable`` when it is truncated or not a checkpoint. Both
    messages are prefixed with the path; ``{reason}`` in them is replaced by torch's first error line."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).splitlines()[0]
        raise CheckpointError(f"{path}: " + refused.format(reason=reason)) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        reason = str(err).splitlines()[0]
        raise CheckpointError(f"{path}: " + unreadable.format(reason=reason)) from err


def download_weights(url: str, cache_dir: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """Fetch published weights into the cache (``$DUALBRANCH_CACHE`` or ``~/.cache/dualbranch``) once.

    Any URL urllib understands works, ``file://`` included. A failed download leaves nothing behind.
    """
    from urllib.parse import urlparse

    cache = Path(cache_dir or os.environ.get("DUALBRANCH_CACHE", Path.home() / ".cache" / "dualbranch"))
    target = cache / Path(urlparse(url).path).name
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), progress=progress)
    except OSError as err:  # URLError is an OSError
        raise CheckpointError(
            f"Could not download {url} ({err}). Without network access, fetch the file elsewhere and "
            f"pass it as checkpoint_path=..., or place it at {target}."
        ) from err
    return target


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


def _config_json(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    if not is_dataclass(config):
        return "{}"
    # layer classes in a config (activations, norms) are recorded by name
    return json.dumps(asdict(config), default=lambda value: getattr(value, "__qualname__", repr(value)))


def save_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    naming: str = "ours",
    metadata: dict[str, str] | None = None,
    weights: WeightConfig | None = None,
) -> Path:
    """Write the weights as safetensors, atomically (a crash mid-write leaves any old file intact).

    The metadata records the format version and a checksum of the weights, both checked on load, and
    ``weights``, how they are fed (:func:`read_weight_config` reads it back).
    A failed write (disk full, permission denied) raises :class:`~dualbranch.safe_io.WriteError`.

    ``naming`` 'timm' or 'official' writes the keys those codebases expect (CrossViT).
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ConfigError(f"save_checkpoint writes safetensors; give a path ending in .safetensors, not {path}.")
    if naming == "ours":
        tensors = model.state_dict()
    elif hasattr(model, "published_state_dict"):
        tensors = model.published_state_dict(naming)
    else:
        raise ConfigError(f"{type(model).__name__} has no published naming; save it with naming='ours'.")
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = {
        "format": f"dualbranch-{FORMAT_VERSION}",
        "naming": naming,
        "config": _config_json(model),
        "sha256": tensor_checksum(tensors),
    }
    meta.update(metadata or {})
    if weights is not None:
        meta["weights"] = weights.to_json()

    def write(tmp: str) -> None:
        save_file(tensors, tmp, metadata=meta)
        _canonical_header(Path(tmp))

    atomic_write(path, write)
    return path


def _canonical_header(path: Path) -> None:
    """Sort the keys of a safetensors file's JSON header: safetensors writes it from hash maps, in an order
    that changes from process to process, so the same weights gave files of other bytes. The tensor data
    (whose offsets count from the header's end) is untouched."""
    data = path.read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.dumps(json.loads(data[8 : 8 + length]), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encoded = header.encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data stays 8-byte aligned, as safetensors pads it
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[8 + length :])
