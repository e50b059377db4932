"""How long a run trains: ``optim.budget`` turned into a number of optimizer updates.

* ``auto`` (the default) comes from the data alone — the number of training examples, the input size
  and the model the data kind picks for it — never from a timing, so the same command, data, seed and
  thread count train the same updates, and give the same weights bit for bit, on a quiet machine or a
  busy one, on a laptop or a server:

  - about :data:`AUTO_EPOCHS` epochs, at least :data:`MIN_UPDATES` and at most :data:`MAX_UPDATES`
    updates (a small set still gets enough updates to fit; a large one is not trained for hours);
  - at most :data:`TRAIN_MACS` multiply-adds of training: an update costs about three forward passes
    (forward, and a backward of twice its cost) of the model on a batch, the model's MACs counted on
    the meta device (:func:`dualbranch.flops.count_macs`), so a large model on large inputs gets fewer
    updates — but never fewer than :data:`CAP_FLOOR`. The cap is sized so that the README's default
    run (Fashion-MNIST's default model at batch 128) keeps its 9 epochs; its updates, accuracy and
    minutes are in docs/recipes.md ("Results of the default run").

* ``4000`` / ``4000 steps``: that many updates, the same work everywhere.
* ``15m`` / ``1h`` / ``90s``: the updates that fit in that wall time, from a short measurement of the
  training step. The measurement is made once, by rank 0; the DDP workers its launcher starts read
  rank 0's figure from the environment (``DUALBRANCH_STEP_RATE``), so every rank plans the same
  schedule. Such a run is reproducible only given the measured rate, which the recipe records.

Shape legend: none (this module handles numbers of updates, not tensors).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import ConfigError
from .run_folder import is_primary_process

__all__ = [
    "AUTO_EPOCHS",
    "CAP_FLOOR",
    "MAX_UPDATES",
    "MIN_UPDATES",
    "TRAIN_MACS",
    "auto_updates",
    "shared_step_rate",
]

AUTO_EPOCHS, MIN_UPDATES, MAX_UPDATES = 30, 2000, 6000
# the README's default run keeps its 9 epochs under this cap (docs/recipes.md, "Results of the default run")
TRAIN_MACS = 41e12
CAP_FLOOR = 600  # the compute cap never cuts a schedule below this many updates
_STEP_RATE_VARIABLE = "DUALBRANCH_STEP_RATE"


def auto_updates(steps_per_epoch: int, batch_size: int, macs_per_example: float) -> tuple[int, str]:
    """The updates of ``optim.budget=auto`` and why, from the data: ``steps_per_epoch`` (training examples
    over the global batch), ``batch_size`` (global) and the model's forward MACs on one example."""
    updates = min(MAX_UPDATES, max(MIN_UPDATES, AUTO_EPOCHS * steps_per_epoch))
    why = f"budget auto: {updates} updates (~{AUTO_EPOCHS} epochs, within {MIN_UPDATES}–{MAX_UPDATES})"
    per_update = 3 * macs_per_example * batch_size
    cap = max(CAP_FLOOR, int(TRAIN_MACS // per_update)) if per_update > 0 else updates
    if updates > cap:
        updates = cap
        why += (
            f", capped at {TRAIN_MACS / 1e12:g} T multiply-adds of training ({per_update / 1e9:.3g} G per update: "
            f"{macs_per_example / 1e6:.3g} M per example × 3 × batch {batch_size}) -> {cap} updates"
        )
    return updates, why


def shared_step_rate(measure: Callable[[], float]) -> float:
    """Training updates per second for a wall-time budget: measured by rank 0 (and left in the environment
    for the workers it launches); a worker uses rank 0's figure, so every rank plans the same schedule."""
    if is_primary_process():
        rate = measure()
        os.environ[_STEP_RATE_VARIABLE] = repr(rate)
        return rate
    if _STEP_RATE_VARIABLE in os.environ:
        return float(os.environ[_STEP_RATE_VARIABLE])
    raise ConfigError(
        "optim.budget as a wall time is measured once, by rank 0, and handed to the processes Lightning's launcher "
        "starts; this process was started by another launcher (torchrun?). Give optim.budget as a number of "
        "updates (e.g. optim.budget=4000) for such a run."
    )
