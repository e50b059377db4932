"""Crash-safe file writes and checksums.

Every file a run produces (weights, checkpoints, metrics, report) is written to a temporary file in
the same folder, flushed to disk (fsync) and renamed over the target, so a crash, a full disk or a
denied permission never leaves a half-written file in place of a good one. A failed write raises
:class:`WriteError`, which names the file, the cause and what to do.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

# defined with the library's other errors; importing it here keeps ``dualbranch.safe_io.WriteError``
from .errors import WriteError

__all__ = [
    "WriteError",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "sha256_chunks",
    "sha256_file",
    "strict_json",
]

_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or write to another output.root",
    errno.EDQUOT: "the disk quota is exhausted; free some space or write to another output.root",
    errno.EACCES: "permission denied; make the folder writable or choose another output.root",
    errno.EPERM: "operation not permitted; make the folder writable or choose another output.root",
    errno.EROFS: "the file system is read-only; choose another output.root",
}


def _write_error(path: Path, err: OSError) -> WriteError:
    cause = _HINTS.get(err.errno or 0, err.strerror or str(err))
    return WriteError(
        err.errno,
        f"Could not write {path}: {cause} ({err.strerror or err}). Files written before it are intact; "
        f"the previous {path.name}, if any, was not replaced.",
    )


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` to fill a temporary file, fsync it, then rename it onto ``path``.

    Raises :class:`WriteError` (with nothing changed at ``path``) when any step fails with an OSError.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
        write(tmp)
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; keep the permissions a plain write would give
        with open(tmp, "rb+") as flushed:
            os.fsync(flushed.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        raise _write_error(path, err) from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _file_mode(path: Path) -> int:
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    # the rename itself must reach the disk; not every platform can open a folder for this
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    with open(path, "rb") as handle:
        return sha256_chunks(iter(lambda: handle.read(block), b""))


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def strict_json(value: object, indent: int | None = None) -> str:
    """JSON that strict parsers accept: a non-finite float (a value that could not be measured) is
    written as ``null``, never as the ``NaN`` / ``Infinity`` that Python's json module would write."""
    return json.dumps(_finite(value), indent=indent, allow_nan=False)
