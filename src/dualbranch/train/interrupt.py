"""Stopping a run on request: Ctrl-C (SIGINT) and SIGTERM (what a scheduler or a container runtime
sends) end ``fit`` within seconds with a resumable state saved.

While :func:`stop_on_signals` is active, either signal raises :class:`RunInterrupted` where the run
is (between two Python operations: a long kernel finishes first). It is a ``BaseException``, as
``KeyboardInterrupt`` is, so no ``except Exception`` swallows it, and not a ``KeyboardInterrupt``,
which Lightning would turn into ``sys.exit(1)``. The pipeline catches it, writes the latest
end-of-epoch state it holds (:mod:`.checkpoints`), fills in :attr:`RunInterrupted.note` (what was
saved, the command that continues the run) and raises it on; the command line prints the note and
exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as a shell reports it.

A training step is not cut in two: between :func:`hold_signals` and :func:`release_signals` (a step's
start and end, :mod:`.checkpoints`) a signal waits, and the release raises it, so the state saved
is that of the batches trained so far and a resumed run continues within the epoch. A second signal
while one waits stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["RunInterrupted", "hold_signals", "release_signals", "stop_on_signals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Held:
    holding = False
    waiting: int | None = None  # a signal that arrived while holding


class RunInterrupted(BaseException):
    """A run stopped by SIGINT or SIGTERM; :attr:`note` says what was saved and how to continue."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.note = "nothing was trained yet, so there is nothing to resume."

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    def __str__(self) -> str:
        return f"interrupted by {self.signal_name}: {self.note}"


def _raise(signum: int, frame: FrameType | None) -> None:
    if _Held.holding and _Held.waiting is None:
        _Held.waiting = signum
        return
    raise RunInterrupted(signum)


def hold_signals() -> None:
    """From now on a stop request waits for :func:`release_signals` (see the module docstring)."""
    _Held.holding = True


def release_signals() -> None:
    """Stop waiting; raises :class:`RunInterrupted` if a signal arrived meanwhile."""
    _Held.holding = False
    signum, _Held.waiting = _Held.waiting, None
    if signum is not None:
        raise RunInterrupted(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`RunInterrupted` inside the block (main thread only: Python
    delivers signals there; elsewhere the block changes nothing); the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise) for signum in _SIGNALS}
    try:
        yield
    finally:
        _Held.holding, _Held.waiting = False, None
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
