"""Rows computed once per example, found again by the example's bytes.

A closed-form fit reads the same examples more than once: a run fits RocketFormer's kernel branch on
most of its training examples, scores the held-out rest to choose the fusion, then fits again on all of
them. The kernel features are most of that cost; this memo keeps each example's row so the refit
computes none again. Examples are keyed by a hash of their values (not their position), so any subset,
order or batch finds them.

Shape legend: n examples, F row width.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

__all__ = ["ExampleMemo"]


def _key(example: torch.Tensor) -> bytes:
    return hashlib.blake2b(example.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).digest()


class ExampleMemo:
    """Rows of ``compute`` for examples, kept until :meth:`forget` (or a new ``keep_only``); none are kept
    where they would take more than ``limit_bytes`` (a large set's rows would outlive their use).
    ``hits``: how many examples the last :meth:`rows_of` found remembered."""

    def __init__(self, limit_bytes: int = 2**30) -> None:
        self.rows: dict[bytes, torch.Tensor] = {}
        self.limit_bytes = limit_bytes
        self.hits = 0

    def __len__(self) -> int:
        return len(self.rows)

    def forget(self) -> None:
        self.rows = {}

    def rows_of(
        self, x: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor], keep_only: bool = False
    ) -> torch.Tensor:
        """(n, ...) examples -> (n, F): the remembered rows, ``compute`` (m, ...) -> (m, F) for the others,
        all of them remembered after (``keep_only``: only these, the earlier ones forgotten)."""
        keys = [_key(example) for example in x]
        missing = [i for i, key in enumerate(keys) if key not in self.rows]
        self.hits = len(keys) - len(missing)
        computed = compute(x[missing]) if missing else None
        found = dict(self.rows)
        if computed is not None:
            found.update(zip((keys[i] for i in missing), computed))
        kept = {key: found[key] for key in keys} if keep_only else found
        fits = sum(row.numel() * row.element_size() for row in kept.values()) <= self.limit_bytes
        self.rows = kept if fits else {}
        return torch.stack([found[key].to(x.device) for key in keys])  # rows of an earlier device move too
