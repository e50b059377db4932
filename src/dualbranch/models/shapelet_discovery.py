"""ShapeFormer's offline shapelet discovery: perceptually important points, a complexity-invariant
subsequence distance, information gain, and the best non-overlapping shapelets of each class.

Le, Luo, Aickelin, Tran, "ShapeFormer: Shapelet Transformer for Multivariate Time Series
Classification", KDD 2024 (arXiv:2405.14608), section 4.1, as the official code
(github.com/xuanmay2701/shapeformer, MIT licence) computes it — written anew here, numbers kept:

1. **Candidates.** For every training series and channel, perceptually important points (PIPs) are
   added one at a time, starting from the two ends, up to ``max(5, int(num_pip · T))`` points: each
   new point is the one farthest (perpendicular distance, with time z-normalised) from the line
   through its two neighbouring PIPs (the first such point on a tie). Each addition proposes up to
   three candidates: the subsequences between the new point's neighbours, and between it and each
   neighbour's other neighbour (``[start, end)``, ``end`` exclusive as a slice).
2. **Distance.** A candidate of length L is compared with every training series on the same channel,
   at every offset within ``window`` samples of its own place: the Euclidean distance times the
   complexity-invariance factor max(CI_a, CI_b) / min(CI_a, CI_b), CI = sqrt(Σ squared differences +
   0.001) (Batista et al., SDM 2011); the minimum over the offsets. A candidate's own series is at 0.
3. **Quality.** The information gain of splitting the training series by that distance into the
   candidate's class and the rest, evaluated as the official code does: when the share of the class's
   series passed (rounded to one decimal) first reaches 0.2, then 0.4 — its threshold grows by 0.2 in
   floating point and so never equals 0.6 exactly; the best of those gains. (The official code also
   computes a candidate's own complexity from other channels' steps: :func:`official_complexity`; kept
   by default so the discovered shapelets are the official ones.)
4. **Selection.** Per class, the candidates of every channel ranked by gain (numpy's default sort, as
   the official code), the best taken that overlap no taken shapelet of the same channel, up to
   ``num_shapelets``; then ordered by start. Many gains tie, and numpy orders ties by the sort kernel it
   dispatches to on the CPU (AVX-512, AVX2 or its baseline): the shapelets are the official code's on the
   same kind of machine, and differ between kinds as the official code's do.

A shapelet is described by a row ``[series, start, end, gain, class, channel]`` (float).

Shape legend: n series, C channels, T samples, S shapelets, L a shapelet's length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Shapelets", "candidates_of", "discover_shapelets", "official_complexity", "subsequence_distances"]

INFO_COLUMNS = ("series", "start", "end", "gain", "class", "channel")


@dataclass
class Shapelets:
    """Discovered shapelets: ``info`` (S, 6) rows ``[series, start, end, gain, class, channel]`` and the
    subsequences themselves, ``values[k]`` (L_k,) = train[series, channel, start:end]."""

    info: np.ndarray
    values: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.values)


def _pips_candidates(series: np.ndarray, num_pip: float) -> list[tuple[int, int]]:
    """(T,) -> the candidate subsequences (start, end) proposed while adding PIPs (step 1)."""
    length = len(series)
    total = max(5, int(num_pip * length))
    index = np.arange(length, dtype=np.float64)
    time = (index - index.mean()) / index.std()  # z-normalised time, as scipy.stats.zscore
    pips = [0, length - 1]
    taken = np.zeros(length, dtype=bool)
    taken[pips] = True
    found: list[tuple[int, int]] = []
    for _ in range(total - 2):
        order = np.asarray(pips)
        rest = np.flatnonzero(~taken)
        right = order[np.searchsorted(order, rest, side="right")]  # the next PIP after each point
        left = order[np.searchsorted(order, rest, side="right") - 1]
        slope = (series[right] - series[left]) / (time[right] - time[left])
        offset = series[right] - time[right] * slope
        distance = np.abs(-series[rest] + slope * time[rest] + offset) / (slope**2 + 1.0) ** 0.5
        new = int(rest[int(np.argmax(distance))])  # the first farthest point
        pips = sorted([*pips, new])
        taken[new] = True
        at = pips.index(new)
        found.append((pips[at - 1], pips[at + 1]))
        if at > 1:
            found.append((pips[at - 2], pips[at]))
        if at < len(pips) - 2:
            found.append((pips[at], pips[at + 2]))
    return found


def candidates_of(train: np.ndarray, num_pip: float = 0.2) -> list[list[list[tuple[int, int]]]]:
    """(n, C, T) -> candidates[i][c]: the (start, end) candidates of series i, channel c (step 1)."""
    return [[_pips_candidates(series, num_pip) for series in example] for example in train]


def _complexity(squared_steps: np.ndarray, start: int, end: int) -> float:
    return float((np.sum(squared_steps[start : end - 1]) + 0.001) ** 0.5)


def official_complexity(example: np.ndarray, channel: int, start: int, end: int) -> float:
    """A candidate's complexity as the official discovery computes it: its ``auto_ci_extractor`` slices
    the list of the channels' squared steps built so far (channels 0..``channel``) by the candidate's
    ``[start, end − 1)`` instead of the channel's own steps, so it sums whole channels ``start`` to
    ``min(end − 1, channel + 1) − 1`` (none when ``start > channel``: sqrt(0.001)). Kept to reproduce
    the official shapelets; ``candidate_ci="paper"`` uses the candidate's own steps."""
    steps = (example[:, :-1] - example[:, 1:]) ** 2  # (C, T − 1)
    return float((np.sum(steps[start : min(end - 1, channel + 1)]) + 0.001) ** 0.5)


def subsequence_distances(
    train: np.ndarray, series: int, channel: int, start: int, end: int, window: int, candidate_ci: str = "official"
) -> np.ndarray:
    """The distance (step 2) of candidate train[series, channel, start:end] to every series (n,);
    ``candidate_ci``: the candidate's complexity as the official code ("official") or the paper ("paper")."""
    values = train[:, channel].astype(np.float64)  # (n, T)
    length, size = values.shape[1], end - start
    first, last = max(start - window + 1, 0), min(end + window, length)  # the region searched
    offsets = np.arange(first, last - size + 1)  # window starts, (W,)
    windows = np.lib.stride_tricks.sliding_window_view(values[:, first:last], size, axis=1)  # (n, W, L)
    squared = np.sum((windows - values[series, start:end]) ** 2, axis=2) ** 0.5  # (n, W)
    steps = (values[:, :-1] - values[:, 1:]) ** 2  # (n, T − 1)
    sums = np.cumsum(steps[:, first : last - 1], axis=1)  # (n, last − first − 1)
    # Σ squared steps inside each window (a candidate spans at least two samples): cumulative sums' differences
    window_ci = sums[:, size - 2 : size - 2 + len(offsets)].copy()
    window_ci[:, 1:] -= sums[:, : len(offsets) - 1]
    window_ci = (window_ci + 0.001) ** 0.5
    own = (
        official_complexity(train[series], channel, start, end)
        if candidate_ci == "official"
        else _complexity(steps[series], start, end)
    )
    ratio = np.maximum(window_ci, own) / np.minimum(window_ci, own)
    distance = np.min(squared * ratio, axis=1)
    distance[series] = 0.0
    return distance


def _entropy(positive: int, negative: int) -> float:
    total = positive + negative
    return -sum(k / total * np.log2(k / total) for k in (positive, negative) if k > 0)


def information_gain(distances: np.ndarray, labels: np.ndarray, target: object) -> float:
    """The best gain of splitting ``labels`` by ``distances`` into ``target`` and the rest (step 3)."""
    order = np.argsort(distances)  # numpy's default sort, as the official code
    is_target = labels[order] == target
    total_pos = int(is_target.sum())
    total_neg = len(labels) - total_pos
    near_pos = near_neg = 0
    best, threshold = -1.0, 0.2
    for hit in is_target[:-1]:
        near_pos, near_neg = near_pos + int(hit), near_neg + int(not hit)
        if round(near_pos / total_pos, 1) == threshold:
            far_pos, far_neg = total_pos - near_pos, total_neg - near_neg
            n, near, far = len(labels), near_pos + near_neg, far_pos + far_neg
            gain = (
                _entropy(total_pos, total_neg)
                - near / n * _entropy(near_pos, near_neg)
                - far / n * _entropy(far_pos, far_neg)
            )
            best = max(best, gain)
            if threshold >= 1:
                break
            threshold += 0.2
    return best


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two shapelet rows share samples of the same channel (the official rule at p = 0)."""
    if int(a[5]) != int(b[5]):
        return False
    s1, e1, s2, e2 = int(a[1]), int(a[2]), int(b[1]), int(b[2])
    if (s1 <= s2 and e1 >= e2) or (s2 <= s1 and e2 >= e1):
        return True  # one inside the other
    if s1 < s2 and e1 < e2:
        return e1 - s2 > 0
    if s1 > s2 and e1 > e2:
        return e2 - s1 > 0
    return False


def _select(rows: np.ndarray, count: int) -> np.ndarray:
    """The best ``count`` rows by gain without overlaps (then the best left, if too few), by start."""
    ranked = rows[np.argsort(rows[:, 3])]
    chosen, used = [len(ranked) - 1], {len(ranked) - 1}
    for i in range(len(ranked) - 2, -1, -1):
        if any(_overlaps(ranked[j], ranked[i]) for j in chosen):
            continue
        if len(chosen) == count:
            break
        chosen.append(i)
        used.add(i)
    for i in range(len(ranked) - 2, -1, -1):
        if len(chosen) >= count:
            break
        if i not in used:
            chosen.append(i)
    picked = ranked[chosen]
    return picked[np.argsort(picked[:, 1])]


def discover_shapelets(
    train: np.ndarray,
    labels: np.ndarray,
    num_shapelets: int = 10,
    window: int = 100,
    num_pip: float = 0.2,
    candidate_ci: str = "official",
) -> Shapelets:
    """Shapelets of the training series ``train`` (n, C, T) with classes ``labels`` (n,): ``num_shapelets``
    per class (so S = num_shapelets × classes), searched ``window`` samples around their place;
    ``candidate_ci`` see :func:`official_complexity`."""
    train = np.asarray(train, dtype=np.float64)
    labels = np.asarray(labels)
    candidates = candidates_of(train, num_pip)
    rows = []
    for target in np.unique(labels):
        members = np.flatnonzero(labels == target)
        per_class = []
        for channel in range(train.shape[1]):
            for series in members:
                for start, end in candidates[series][channel]:
                    distances = subsequence_distances(train, series, channel, start, end, window, candidate_ci)
                    gain = information_gain(distances, labels, target)
                    per_class.append([series, start, end, gain, target, channel])
        rows.append(_select(np.asarray(per_class, dtype=np.float64), max(num_shapelets, 1)))
    info = np.concatenate(rows)
    values = [train[int(r[0]), int(r[5]), int(r[1]) : int(r[2])].copy() for r in info]
    return Shapelets(info, values)
