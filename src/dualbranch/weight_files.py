"""Weight files: safetensors (with a format version and a checksum of the weights, both checked on load) and
PyTorch checkpoints read with ``torch.load(weights_only=True)``: formats that cannot run code.

Writing is atomic and byte-reproducible (the same weights give the same file). Whether weights fit a model,
and loading them into one (strictly, or adapted for fine-tuning), is :mod:`dualbranch.checkpoint`, one level up.
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

from .errors import CheckpointError, ConfigError, MissingFileError
from .registry import WeightConfig
from .safe_io import atomic_write, sha256_chunks

__all__ = [
    "FORMAT_VERSION",
    "download_weights",
    "read_metadata",
    "read_state_dict",
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
