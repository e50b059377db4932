"""Keeping a thread's alternate signal stack across calls into libraries that replace it.

A signal handler installed with ``SA_ONSTACK`` (every Python-level handler, faulthandler's) runs on the
thread's alternate signal stack (``sigaltstack``). OpenVINO's CPU plugin sets its own alternate stack on
the thread that compiles a model and does not put the previous one back; once that stack's memory is
released, the next signal delivered to the thread — a finished subprocess's SIGCHLD, Ctrl-C — finds no
stack to run on and the kernel ends the process with SIGSEGV (``si_code`` SI_KERNEL). :func:`kept_signal_stack`
puts the caller's stack back when such a call returns, so the thread never depends on another library's.

Where the C library offers no ``sigaltstack`` (not a POSIX system) it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Iterator

__all__ = ["current_signal_stack", "kept_signal_stack"]


class _StackT(ctypes.Structure):
    """``stack_t`` of <signal.h>."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _sigaltstack() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "sigaltstack", None)
    if function is not None:
        function.argtypes = [ctypes.POINTER(_StackT), ctypes.POINTER(_StackT)]
        function.restype = ctypes.c_int
    return function


_SIGALTSTACK = _sigaltstack()


def _read() -> _StackT | None:
    """The calling thread's alternate signal stack; None where there is no ``sigaltstack``."""
    stack = _StackT()
    if _SIGALTSTACK is None or _SIGALTSTACK(None, ctypes.byref(stack)) != 0:
        return None
    return stack


def current_signal_stack() -> tuple[int | None, int, int] | None:
    """(address, flags, size) of the calling thread's alternate signal stack; None where there is no
    ``sigaltstack``."""
    stack = _read()
    return None if stack is None else (stack.ss_sp, stack.ss_flags, stack.ss_size)


@contextlib.contextmanager
def kept_signal_stack() -> Iterator[None]:
    """Run the body, then give the calling thread back the alternate signal stack it had before."""
    before = _read()
    try:
        yield
    finally:
        if before is not None and _SIGALTSTACK is not None:
            _SIGALTSTACK(ctypes.byref(before), None)
