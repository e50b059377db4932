"""Whether a mirror image shows the same class: a linear probe on thumbnails decides if flips suit a set.

Horizontal flips double a photo collection for free (a cat facing left is still a cat), but they turn
a handwritten 2 or a left-turn sign into something else, and they help little where every example of
a class faces the same way (Fashion-MNIST's shoes, Caltech-101's aligned objects). The data can say
which case it is: a ridge classifier fitted on thumbnails of half the training images scores the other
half as they are and mirrored. Where the mirror images are recognised as well as the originals, the
classes do not depend on left and right, and flips are a safe augmentation. The two halves swap
roles, so every sampled image is scored once.

Flips are chosen from :data:`MIN_KEPT` of the probe's above-chance accuracy kept on the mirror images,
so only sets without a preferred orientation get them; the share each measured set keeps, and the
threshold it was set from, are in docs/recipes.md (``benchmarks/results/mirror_check.json``).

Shape legend: n images, C channels, H×W image, F = C·h·w thumbnail features, K classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["MAX_EXAMPLES", "MIN_KEPT", "MirrorCheck", "check_mirror"]

THUMBNAIL_SIDE = 16  # px: enough to see which way an object faces, few enough features for a closed form
MAX_EXAMPLES = 4000  # images sampled: the check costs about a second on a laptop core
RIDGE_PENALTY = 0.1  # per training example, on standardised features
MIN_KEPT = 0.85  # share of the above-chance accuracy the mirror images keep, from which flips are chosen


@dataclass(frozen=True)
class MirrorCheck:
    """The probe's accuracy on the held-out images (``accuracy``) and on their mirror images
    (``mirrored_accuracy``), the majority class's share (``chance``) and how many images were scored."""

    accuracy: float
    mirrored_accuracy: float
    chance: float
    examples: int

    @property
    def informative(self) -> bool:
        """Whether the probe beats chance by more than three standard errors of a chance-level score."""
        margin = max(0.05, 3 * math.sqrt(self.chance * (1 - self.chance) / max(self.examples, 1)))
        return self.accuracy - self.chance >= margin

    @property
    def kept(self) -> float:
        """The share of the above-chance accuracy that mirroring keeps (1: left and right do not matter)."""
        return (self.mirrored_accuracy - self.chance) / max(self.accuracy - self.chance, 1e-9)

    @property
    def allows_flips(self) -> bool:
        return self.informative and self.kept >= MIN_KEPT

    def reason(self) -> str:
        """One line for the recipe: why flips were chosen or not."""
        if not self.informative:
            return (
                f"no flips: a linear probe on thumbnails scores {self.accuracy:.0%} (chance {self.chance:.0%}), "
                "too little to tell whether mirror images keep their class"
            )
        verdict = "as well as" if self.allows_flips else "less well than"
        return (
            f"{'flips' if self.allows_flips else 'no flips'}: mirror images are recognised {verdict} the images "
            f"(a linear probe on thumbnails: {self.accuracy:.0%} on images, {self.mirrored_accuracy:.0%} mirrored, "
            f"chance {self.chance:.0%})"
        )


def _thumbnails(images: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) uint8 -> (n, F) float features: area-averaged to at most 16 px a side."""
    x = images.float() / 255
    height, width = x.shape[-2:]
    side = (min(height, THUMBNAIL_SIDE), min(width, THUMBNAIL_SIDE))
    return F.adaptive_avg_pool2d(x, side).flatten(1)  # (n, C·h·w)


def _fit_and_score(
    train: torch.Tensor, train_y: torch.Tensor, tests: tuple[torch.Tensor, ...], num_classes: int
) -> tuple[torch.Tensor, ...]:
    """Ridge classifier on ``train`` (m, F) with ±1 targets; the predicted classes of each (t, F) test."""
    mean, std = train.mean(dim=0), train.std(dim=0) + 1e-3
    x = ((train - mean) / std).double()  # (m, F)
    targets = -torch.ones(len(train_y), num_classes, dtype=torch.float64)
    targets[torch.arange(len(train_y)), train_y] = 1.0
    bias = targets.mean(dim=0)  # (K,)
    gram = x.T @ x + RIDGE_PENALTY * len(x) * torch.eye(x.shape[1], dtype=torch.float64)  # (F, F)
    weight = torch.linalg.solve(gram, x.T @ (targets - bias))  # (F, K)
    return tuple(((((t - mean) / std).double() @ weight) + bias).argmax(dim=1) for t in tests)


def check_mirror(images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> MirrorCheck:
    """Score mirror images against originals with a two-fold linear probe.

    Args:
        images: (n, C, H, W) uint8 training images.
        labels: (n,) integer classes.
        seed: which images are sampled (at most 4,000) and how they are halved.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=generator)[:MAX_EXAMPLES]
    features = _thumbnails(images[order])  # (n, F)
    mirrored = _thumbnails(images[order].flip(-1))  # (n, F)
    y = labels[order].long()
    num_classes = int(labels.max()) + 1
    halves = torch.arange(len(order)) % 2 == 0
    correct = mirrored_correct = 0
    for train in (halves, ~halves):
        test = ~train
        if train.sum() == 0 or test.sum() == 0:
            continue
        as_is, mirror = _fit_and_score(features[train], y[train], (features[test], mirrored[test]), num_classes)
        correct += int((as_is == y[test]).sum())
        mirrored_correct += int((mirror == y[test]).sum())
    scored = len(order)
    chance = float(torch.bincount(y).max()) / max(scored, 1)
    return MirrorCheck(correct / max(scored, 1), mirrored_correct / max(scored, 1), chance, scored)
