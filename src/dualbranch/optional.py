"""Optional dependencies: a missing one is the user's setup, not a bug, so it gets its own error.

:class:`MissingDependencyError` is defined in :mod:`dualbranch.errors` with the library's other
errors; it is imported here so ``from dualbranch.optional import MissingDependencyError`` keeps working.
"""

from __future__ import annotations

from .errors import MissingDependencyError

__all__ = ["MissingDependencyError"]
