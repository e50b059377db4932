"""Lightning checkpoints (``checkpoints/last.ckpt``, ``best.ckpt``) written atomically, with a checksum.

Each checkpoint is serialised in memory, written to a temporary file, fsynced and renamed over the
old one, so a crash (even SIGKILL) during the write leaves the previous checkpoint intact. A sidecar
``<name>.ckpt.sha256`` (JSON) records the SHA-256 of the bytes; loading verifies it and refuses a
corrupt or truncated file with an error that names it and any intact checkpoint beside it.

The sidecar is renamed into place *before* the checkpoint and records the previous checkpoint's
digest too, so a crash between the two renames still leaves a pair that verifies (the old file
against ``previous_sha256``).

Loading always uses ``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ..errors import CheckpointError
from ..safe_io import atomic_write_bytes, atomic_write_text, sha256_chunks, sha256_file
from ..weight_files import torch_load_weights_only

__all__ = ["ChecksummedCheckpointIO", "load_training_checkpoint", "verify_checkpoint"]


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _recorded_digests(path: Path) -> tuple[str, ...] | None:
    sidecar = _sidecar(path)
    if not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text())
        return tuple(d for d in (record["sha256"], record.get("previous_sha256")) if d)
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{sidecar}: unreadable checksum record ({err}); delete it to skip the check.") from err


def _intact_neighbours(path: Path) -> list[str]:
    """Names of the other checkpoints in ``path``'s folder that match their recorded checksum."""
    good = []
    for other in sorted(path.parent.glob("*.ckpt")):
        try:
            digests = _recorded_digests(other) if other != path else None
        except CheckpointError:
            continue
        if digests and sha256_file(other) in digests:
            good.append(other.name)
    return good


def verify_checkpoint(path: str | os.PathLike[str]) -> None:
    """Raise :class:`CheckpointError` when ``path`` does not match its recorded checksum.

    Checkpoints without a sidecar (written before checksums, or by another tool) are not checked here;
    a truncated one still fails clearly in :func:`load_training_checkpoint`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist.")
    digests = _recorded_digests(path)
    if digests is None or sha256_file(path) in digests:
        return
    neighbours = _intact_neighbours(path)
    hint = (
        f" Intact checkpoint(s) in the same folder: {', '.join(neighbours)}; copy one over {path.name} to continue "
        f"from it."
        if neighbours
        else " No intact checkpoint is left in that folder; start the run again."
    )
    raise CheckpointError(
        f"{path}: corrupt or truncated (its SHA-256 does not match {_sidecar(path).name}), so it was not loaded." + hint
    )


def load_training_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """A verified Lightning checkpoint, read with ``weights_only=True``."""
    path = Path(path)
    verify_checkpoint(path)
    return torch_load_weights_only(
        path,
        refused="refused to load; it holds Python objects beyond tensors and plain values, and unpickling them "
        "could run code ({reason}).",
        unreadable="not a readable checkpoint ({reason}); it may be truncated. Delete it and resume from another "
        "checkpoint, or start the run again.",
        map_location=map_location,
    )


class ChecksummedCheckpointIO(TorchCheckpointIO):
    """Lightning's ``CheckpointIO`` with atomic, fsynced, checksummed writes and verified, weights-only reads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}.")
        path = Path(path)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        data = buffer.getvalue()
        previous = sha256_file(path) if path.is_file() else None
        record = {"sha256": sha256_chunks([data]), "bytes": len(data), "previous_sha256": previous}
        atomic_write_text(_sidecar(path), json.dumps(record))
        atomic_write_bytes(path, data)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        # weights_only is forced: Lightning's own checkpoints need nothing else
        return load_training_checkpoint(path, map_location if map_location is not None else "cpu")

    def remove_checkpoint(self, path: Any) -> None:
        super().remove_checkpoint(path)
        _sidecar(Path(path)).unlink(missing_ok=True)
