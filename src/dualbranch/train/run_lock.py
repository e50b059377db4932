"""One owner per run folder: an exclusive lock (``fcntl.flock``) on the file ``<run folder>/.lock``.

``fit`` holds it from the moment it creates or resumes a folder until it returns; ``test`` holds it
while it rewrites the metrics and the report. A second ``fit``, ``fit --resume`` or ``test`` of the
same folder meanwhile is refused with a one-line :class:`~dualbranch.errors.RunInUseError` that
names the owner (process id, host, command, start time, as the owner wrote them into the file).

The kernel releases a ``flock`` when the process holding it ends, however it ends (SIGKILL and a
power cut included), so a crashed run never leaves a stale lock behind: the file stays, the lock
does not, and the next ``fit --resume`` takes it. Locks are per process and re-entrant (``fit``
runs ``test`` on the folder it holds). On a system without ``fcntl`` (Windows) nothing is locked.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RunInUseError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLock", "lock_holder", "lock_run"]

LOCK_NAME = ".lock"
_NOTE_READS = 10  # reads of a just-taken lock's note, 50 ms apart


@dataclass
class RunLock:
    """A held lock on one run folder; :meth:`release` (or leaving the ``with`` block) gives it up."""

    folder: Path
    _descriptor: int | None
    _key: tuple[int, int] | None

    def release(self) -> None:
        key, self._key = self._key, None
        entry = _HELD.get(key) if key is not None else None
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _HELD[key]
            os.close(entry[0])  # closing the only descriptor releases the flock

    @staticmethod
    def _key_of(descriptor: int) -> tuple[int, int]:
        stat = os.fstat(descriptor)
        return stat.st_dev, stat.st_ino

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# (device, inode) of each lock file this process holds -> [descriptor, how many holders]
_HELD: dict[tuple[int, int], list[int]] = {}


def _note(action: str) -> str:
    command = " ".join(["dualbranch", *sys.argv[1:]]) if sys.argv and "dualbranch" in sys.argv[0] else action
    command = command if len(command) <= 80 else command[:77] + "..."
    return json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": time.strftime("%H:%M:%S")}
    )


def lock_holder(folder: str | os.PathLike[str]) -> str:
    """Who holds (or last held) ``folder``'s lock, in words, from the note the owner wrote.

    A process that has just taken the lock writes its note a moment later: an empty or partial note is
    read again for up to half a second before the answer is "another process"."""
    note: Any = None
    for attempt in range(_NOTE_READS):
        try:
            note = json.loads((Path(folder) / LOCK_NAME).read_text() or "{}")
        except (OSError, ValueError):
            note = None
        if isinstance(note, dict) and "pid" in note:
            break
        if attempt < _NOTE_READS - 1:
            time.sleep(0.05)
    if not isinstance(note, dict) or "pid" not in note:
        return "another process"
    return (
        f"process {note['pid']} on {note.get('host', '?')}, `{note.get('command', '?')}` since {note.get('since', '?')}"
    )


def lock_run(folder: str | os.PathLike[str], action: str = "fit") -> RunLock:
    """Take ``folder``'s lock (the folder must exist) or raise :class:`RunInUseError` at once.

    ``action`` names what this process does with the folder, for the note another process reads.
    """
    folder = Path(folder)
    if fcntl is None:
        return RunLock(folder, None, None)
    try:
        descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only folder: nothing can write it, so there is nothing to guard
        return RunLock(folder, None, None)
    key = RunLock._key_of(descriptor)
    if key in _HELD:  # this process holds it already (fit -> test): one more holder
        os.close(descriptor)
        _HELD[key][1] += 1
        return RunLock(folder, _HELD[key][0], key)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RunInUseError(
            f"{folder} is in use by {lock_holder(folder)}: a run folder has one owner at a time. Wait for that "
            f"run to finish, or stop it (Ctrl-C saves a resumable state) and then `dualbranch fit --resume {folder}`."
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, _note(action).encode(), 0)
    _HELD[key] = [descriptor, 1]
    return RunLock(folder, descriptor, key)
