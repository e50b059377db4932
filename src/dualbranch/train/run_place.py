"""Where a run trains: making (or finding) its folder, owning it, and replacing an old run safely.

* A new run gets ``output.root/<name>`` (``output.name``, or ``<model>-<data>-<time>``, then ``-2``,
  ``-3``, ... while taken), locked for this process (:mod:`.run_lock`).
* ``--overwrite`` of an existing run first trains in a hidden sibling, ``.<name>.new-<pid>``; the old
  run stays in place, locked, until the new one has written its first checkpoint. Then the two
  folders swap in one atomic step (``renameat2(RENAME_EXCHANGE)``; two renames where the file system
  cannot), the old run is deleted, and the sibling path becomes a link to the new folder, so the
  files the trainer still has open by that path stay valid. A failure (or a kill) before that point
  leaves the old run as it was; the next run of that name removes the abandoned sibling.
* A resumed run is locked where it is.
* A run that fails before any checkpoint was written leaves no folder behind.

An output root that cannot be made (permission denied, a path under a file) is a one-line
:class:`~dualbranch.errors.WriteError`. Only the primary process (rank 0) creates, locks or replaces
folders; DDP workers learn the folder's name from the environment (``DUALBRANCH_RUN_NAME``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError, RunExistsError, RunInUseError, WriteError
from .checkpoint_io import load_training_checkpoint
from .run_folder import is_primary_process
from .run_lock import LOCK_NAME, RunLock, lock_run
from .sections import OutputSection

__all__ = ["RunPlace", "default_run_name", "make_folder", "open_run", "resume_note", "resume_run"]

_RUN_NAME_VARIABLE = "DUALBRANCH_RUN_NAME"  # how DDP workers learn the folder their launcher made


def default_run_name(model_name: str, data_name: str) -> str:
    return f"{model_name}-{data_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def make_folder(path: Path, what: str = "output.root") -> None:
    """``path`` and its parents, or a one-line :class:`WriteError` saying why it cannot be made."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            cause = f"{blocker} is a file, not a folder"
        elif err.errno in (errno.EACCES, errno.EPERM):
            cause = "permission denied; make the folder above it writable"
        elif err.errno == errno.EROFS:
            cause = "the file system is read-only"
        else:
            cause = err.strerror or str(err)
        raise WriteError(
            err.errno, f"Cannot create the folder {path} ({what}): {cause}. Choose another {what}."
        ) from err


def _holds_a_run(folder: Path) -> bool:
    return folder.is_dir() and any(p.name != LOCK_NAME for p in folder.iterdir())


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@dataclass
class RunPlace:
    """A run's folder: ``final`` is where it lives, ``folder`` where it trains (``final``, or a staging
    sibling until :meth:`first_checkpoint` swaps it in). Close with :meth:`close`."""

    final: Path
    folder: Path
    created: bool  # made by this process: removed again when the run fails before any checkpoint
    locks: list[RunLock] = field(default_factory=list)
    replaced: RunLock | None = None  # the old run's lock while it waits to be replaced
    swapped: bool = False

    def first_checkpoint(self) -> None:
        """The run has written a checkpoint: an old run it replaces goes now (rank 0, once)."""
        if self.replaced is None or self.swapped:
            return
        staging, final = self.folder, self.final
        if _exchange(staging, final):
            shutil.rmtree(staging)  # the old run, now at the staging path
        else:
            trash = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, trash)
            os.replace(staging, final)
            shutil.rmtree(trash)
        os.symlink(final.name, staging)  # paths the trainer holds into the staging folder stay valid
        self.swapped = True
        self.replaced.release()
        self.replaced = None

    def close(self, failed: bool) -> None:
        """Release the folder; after a failure, remove what this process made that holds no checkpoint."""
        try:
            if self.replaced is not None:  # never reached a checkpoint: the old run stays as it was
                shutil.rmtree(self.folder, ignore_errors=True)
            elif self.swapped:
                self.folder.unlink(missing_ok=True)
            elif failed and self.created and not any(self.final.rglob("*.ckpt")):
                shutil.rmtree(self.final, ignore_errors=True)
        finally:
            for lock in (*self.locks, self.replaced):
                if lock is not None:
                    lock.release()
            self.locks, self.replaced = [], None


def _remove_abandoned(root: Path, name: str) -> None:
    """Staging siblings of ``name`` left by a run killed before its swap (their lock is free)."""
    for path in root.glob(f".{name}.new-*"):
        if path.is_symlink():
            if not path.exists() or path.resolve() == (root / name).resolve():
                path.unlink(missing_ok=True)
            continue
        try:
            lock = lock_run(path, "cleanup")
        except (RunInUseError, OSError):
            continue
        lock.release()
        shutil.rmtree(path, ignore_errors=True)


def open_run(output: OutputSection, default_name: str) -> RunPlace:
    """The folder a new run trains in (see the module docstring), locked by this process."""
    root = Path(output.root)
    if not is_primary_process():
        # DDP workers re-run the same command; the launcher's folder name reaches them through the environment
        name = os.environ.get(_RUN_NAME_VARIABLE) or output.name or default_name
        return RunPlace(root / (output.name or name), root / name, created=False)
    make_folder(root)
    if output.name:
        final = root / output.name
        if _holds_a_run(final) and not output.overwrite:
            raise RunExistsError(
                f"{final} already holds a run. Nothing was changed. Resume it with `dualbranch fit --resume "
                f"{final}`, pick another output.name, or pass --overwrite to replace it."
            )
        place = _replace(root, final) if _holds_a_run(final) else _claim(final)
    else:
        place, n = None, 1
        while place is None:
            candidate = root / (default_name if n == 1 else f"{default_name}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                n += 1
                continue
            place = RunPlace(candidate, candidate, created=True, locks=[lock_run(candidate)])
    os.environ[_RUN_NAME_VARIABLE] = place.folder.name  # for DDP workers this process launches
    return place


def _claim(final: Path) -> RunPlace:
    make_folder(final, "output.name")
    lock = lock_run(final)
    if _holds_a_run(final):  # another process got there between the check and the lock
        lock.release()
        raise RunExistsError(f"{final} already holds a run (another process just made it). Nothing was changed.")
    _remove_abandoned(final.parent, final.name)
    return RunPlace(final, final, created=True, locks=[lock])


def _replace(root: Path, final: Path) -> RunPlace:
    old = lock_run(final, "overwrite")  # a run in progress is not replaced
    try:
        _remove_abandoned(root, final.name)
        staging = root / f".{final.name}.new-{os.getpid()}"
        if staging.is_symlink():
            staging.unlink()
        elif staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        return RunPlace(final, staging, created=True, locks=[lock_run(staging)], replaced=old)
    except BaseException:
        old.release()
        raise


def resume_run(run_dir: str | os.PathLike[str]) -> RunPlace:
    """An existing run folder to continue, locked by this process (rank 0)."""
    run_dir = Path(run_dir)
    locks = [lock_run(run_dir, "resume")] if is_primary_process() else []
    return RunPlace(run_dir, run_dir, created=False, locks=locks)


def resume_note(place: RunPlace | None) -> str:
    """What an interrupted run left, and the command that continues it."""
    if place is None:
        return "nothing was trained yet, so there is nothing to resume."
    if place.replaced is not None:
        return f"the new run had not saved a checkpoint yet; {place.final} keeps the run it was to replace."
    saved = []
    for last in sorted(place.final.rglob("checkpoints/last.ckpt")):
        try:
            state = load_training_checkpoint(last)
            saved.append((last, state["epoch"] + 1, state.get("position")))
        except (CheckpointError, KeyError, OSError):
            continue
    if not saved:
        return "no checkpoint was saved yet, so there is nothing to resume; run the same command again."
    path, epoch, position = max(saved, key=lambda item: item[0].stat().st_mtime)
    where = path.parent.parent.name if path.parent.parent != place.final else "the run"
    if position and position["batches"] < position["of"]:
        stand = f"in epoch {position['epoch']} after batch {position['batches']} of {position['of']}"
    else:
        stand = f"at the end of epoch {epoch}"
    return f"{where} saved its state {stand}. Continue with: dualbranch fit --resume {place.final}"
