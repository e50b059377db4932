"""Accuracy of `dualbranch fit` with its defaults on data it was never tuned for, against simple
baselines computed in the same script on the same split.

    .venv/bin/python benchmarks/defaults_accuracy.py [--sets digits fmnist_png_2000 ...] [--seeds 1]

Every run is what a new user gets: only the data is named (`data.name` / `data.path` / `uea_name`);
model, batch size, schedule and augmentation come from the recipe (printed, and stored in each run's
recipe.json). Sets and baselines:

* ``digits`` — scikit-learn's 8×8 digits saved as .npz files (a stratified 75 / 25 split, the raw
  0..16 floats as a user would save them) -> logistic regression on the pixels;
* ``fmnist_png_2000`` / ``fmnist_png_5000`` — stratified random subsets of the Fashion-MNIST training
  set written as PNG folders (one sub-folder per class), scored on 2,000 test images, also PNG
  -> logistic regression, HOG + linear SVM and HOG + RBF SVM;
* ``GunPoint`` / ``ItalyPowerDemand`` / ``ArrowHead`` / ``OSULeaf`` — univariate UCR sets bundled
  with aeon, and ``BasicMotions`` / ``JapaneseVowels``, multivariate UEA sets, official splits -> 1-NN
  DTW and ROCKET (aeon's classifiers; JapaneseVowels zero-padded to its longest series, 29 samples).

Prints JSON and writes benchmarks/results/defaults_accuracy.json (or ``--output``; other sets' entries
are kept), with the machine's CPU, threads and versions.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dualbranch.bench import machine_info
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

RESULTS = Path(__file__).parent / "results" / "defaults_accuracy.json"
QUIET = ["trainer.progress_bar=false", "output.report=false"]


def _stratified(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    index, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(index)


def _png_folder(root: Path, images: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> Path:
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / names[label].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")
    return root


def _image_baselines(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, hog: bool
) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    flat = lambda x: x.reshape(len(x), -1).astype(np.float64)  # noqa: E731
    scores = {}
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    scores["logistic_regression"] = float(logistic.fit(flat(train_x), train_y).score(flat(test_x), test_y))
    if hog:
        from skimage.feature import hog as hog_features

        def features(x: np.ndarray) -> np.ndarray:
            return np.stack(
                [hog_features(img, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2)) for img in x]
            )

        train_f, test_f = features(train_x), features(test_x)
        linear = make_pipeline(StandardScaler(), LinearSVC(C=0.1, max_iter=5000))
        scores["hog_linear_svm"] = float(linear.fit(train_f, train_y).score(test_f, test_y))
        rbf = make_pipeline(StandardScaler(), SVC(C=10, gamma="scale"))
        scores["hog_rbf_svm"] = float(rbf.fit(train_f, train_y).score(test_f, test_y))
    return scores


def _fit(overrides: list[str], root: Path, seed: int) -> dict:
    config = load_config(None, [*overrides, *QUIET, f"output.root={root}", f"trainer.seed={seed}"])
    started = time.perf_counter()
    run = fit(config)
    metrics = json.loads((run / "metrics.json").read_text())
    recipe = json.loads((run / "recipe.json").read_text())
    return {
        "accuracy": metrics["accuracy"],
        "seconds": round(time.perf_counter() - started, 1),
        "recipe": {c["key"]: c["value"] for c in recipe["choices"]},
    }


def digits(root: Path, seeds: int) -> dict:
    from sklearn.datasets import load_digits

    data = load_digits()
    train = _stratified(data.target, int(0.75 * len(data.target)), 0)
    test = np.setdiff1d(np.arange(len(data.target)), train)
    np.savez(root / "train.npz", x=data.images[train], y=data.target[train])
    np.savez(root / "test.npz", x=data.images[test], y=data.target[test])
    args = ["data.name=npz", f"data.path={root / 'train.npz'}", f"data.test_path={root / 'test.npz'}"]
    runs = [_fit(args, root / "runs", s) for s in range(seeds)]
    baselines = _image_baselines(data.images[train], data.target[train], data.images[test], data.target[test], False)
    return {"n_train": len(train), "n_test": len(test), "dualbranch": runs, "baselines": baselines}


def fmnist_png(root: Path, n: int, seeds: int) -> dict:
    from dualbranch.data.images import load_fashion_mnist

    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    names = train.class_names
    pick, test_pick = _stratified(train.labels.numpy(), n, 0), _stratified(test.labels.numpy(), 2000, 0)
    train_x, train_y = train.images[pick, 0].numpy(), train.labels[pick].numpy()
    test_x, test_y = test.images[test_pick, 0].numpy(), test.labels[test_pick].numpy()
    _png_folder(root / "train", train_x, train_y, names)
    _png_folder(root / "test", test_x, test_y, names)
    args = ["data.name=image_folder", f"data.path={root / 'train'}", f"data.test_path={root / 'test'}"]
    runs = [_fit(args, root / "runs", s) for s in range(seeds)]
    baselines = _image_baselines(train_x, train_y, test_x, test_y, True)
    return {"n_train": n, "n_test": 2000, "dualbranch": runs, "baselines": baselines}


def _equal_length(split: tuple, length: int = 29) -> tuple[np.ndarray, np.ndarray]:
    """aeon's (X, y); a set of unequal lengths (JapaneseVowels: 7-29 samples) as one array (N, C, T),
    every series zero-padded at the end to ``length`` (ROCKET needs equal lengths; dualbranch pads too)."""
    x, y = split
    if isinstance(x, np.ndarray):
        return x, y
    return np.stack([np.pad(s, ((0, 0), (0, length - s.shape[-1]))) for s in x]), y


def ucr(root: Path, name: str, seeds: int) -> dict:
    from aeon.classification.convolution_based import RocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
    from aeon.datasets import load_classification

    train_x, train_y = _equal_length(load_classification(name, split="train"))
    test_x, test_y = _equal_length(load_classification(name, split="test"))
    runs = [_fit(["data.name=uea", f"data.uea_name={name}"], root / "runs", s) for s in range(seeds)]
    dtw = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw").fit(train_x, train_y)
    rocket = RocketClassifier(n_kernels=10000, random_state=0).fit(train_x, train_y)
    baselines = {"1nn_dtw": float(dtw.score(test_x, test_y)), "rocket": float(rocket.score(test_x, test_y))}
    return {"n_train": len(train_y), "n_test": len(test_y), "dualbranch": runs, "baselines": baselines}


SETS = {
    "digits": digits,
    "fmnist_png_2000": lambda root, seeds: fmnist_png(root, 2000, seeds),
    "fmnist_png_5000": lambda root, seeds: fmnist_png(root, 5000, seeds),
    "GunPoint": lambda root, seeds: ucr(root, "GunPoint", seeds),
    "ItalyPowerDemand": lambda root, seeds: ucr(root, "ItalyPowerDemand", seeds),
    "ArrowHead": lambda root, seeds: ucr(root, "ArrowHead", seeds),
    "OSULeaf": lambda root, seeds: ucr(root, "OSULeaf", seeds),
    "BasicMotions": lambda root, seeds: ucr(root, "BasicMotions", seeds),
    "JapaneseVowels": lambda root, seeds: ucr(root, "JapaneseVowels", seeds),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch threads of each run (default: all logical CPUs)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default: {RESULTS.name})")
    args = parser.parse_args()
    if args.threads:
        QUIET.append(f"trainer.threads={args.threads}")
    output = args.output
    results = json.loads(output.read_text()) if output.is_file() else {"sets": {}}
    results["machine"] = machine_info()
    for name in args.sets:
        with tempfile.TemporaryDirectory(prefix=f"defaults-{name}-") as folder:
            entry = SETS[name](Path(folder), args.seeds)
        accuracies = [r["accuracy"] for r in entry["dualbranch"]]
        entry["dualbranch_mean"] = float(np.mean(accuracies))
        entry["dualbranch_std"] = float(np.std(accuracies))
        entry["threads"] = args.threads or "all"
        print(name, json.dumps({k: v for k, v in entry.items() if k != "dualbranch"}), flush=True)
        # read again before writing: another process may have finished other sets meanwhile
        results["sets"] = json.loads(output.read_text())["sets"] if output.is_file() else {}
        results["sets"][name] = entry
        output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
