"""Optional dependencies: a missing one is the user's setup, not a bug, so it gets its own error."""

from __future__ import annotations

__all__ = ["MissingDependencyError"]


class MissingDependencyError(ImportError):
    """An optional dependency (onnx, onnxruntime, torchao, ...) is not installed; the message gives
    the ``pip install`` that adds it. The CLI prints it as one line."""
