"""Real photo folders with dualbranch's defaults against classic baselines and a from-scratch ResNet-18
given the same wall time, on the same split.

    .venv/bin/python benchmarks/photo_accuracy.py /data/hymenoptera [--seeds 1] [--first-seed 0] [--timm-python PY]
        [--output benchmarks/results/photo_accuracy.json] [-- extra dualbranch overrides]

FOLDER holds ``train/<class>/`` and ``val/<class>/``. Per folder:

* ``dualbranch fit data.name=image_folder data.path=FOLDER/train data.test_path=FOLDER/val`` and
  nothing else (the recipe is printed and stored), timed from start to metrics;
* baselines on the same photos, each resized (shorter side) and centre-cropped to 128 px:
  HOG + linear SVM and HOG + RBF SVM on grey levels, and a colour histogram (8 bins per RGB channel,
  512 in all) + logistic regression;
* with ``--timm-python`` (a venv with timm and torchvision; scripts/speed_vs_timm.sh builds one): timm's
  ResNet-18 from scratch given dualbranch's wall time, at dualbranch's input size
  (benchmarks/timm_resnet_baseline.py).

Prints JSON and writes it to ``--output`` (entries of other folders already there are kept), with the
machine (CPU, features, threads, load) and versions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dualbranch.bench import machine_info
from dualbranch.data.photo_transforms import EvalTransform
from dualbranch.data.photos import decode, index_image_folder
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

QUIET = ["trainer.progress_bar=false", "output.report=false"]
FEATURE_SIDE = 128


def _photos(folder: Path, classes: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Every photo of ``folder`` as uint8 (n, 128, 128, 3) (shorter side resized, centre crop) and its label."""
    files = index_image_folder(folder, classes)
    crop = EvalTransform((FEATURE_SIDE, FEATURE_SIDE), crop_pct=1.0)
    images = np.stack([crop(decode(files.path(i), 3)) for i in range(len(files))])
    return images, files.labels.numpy(), files.class_names


def baselines(folder: Path) -> dict[str, float]:
    from skimage.color import rgb2gray
    from skimage.feature import hog
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    train_x, train_y, classes = _photos(folder / "train")
    test_x, test_y, _ = _photos(folder / "val", classes)

    def hogs(x: np.ndarray) -> np.ndarray:
        return np.stack([hog(rgb2gray(img), 9, (16, 16), (2, 2)) for img in x])

    def histograms(x: np.ndarray) -> np.ndarray:
        bins = (x // 32).astype(np.int64)  # 8 levels per channel
        codes = bins[..., 0] * 64 + bins[..., 1] * 8 + bins[..., 2]
        return np.stack([np.bincount(c.ravel(), minlength=512) / c.size for c in codes])

    scores = {}
    train_f, test_f = hogs(train_x), hogs(test_x)
    linear = make_pipeline(StandardScaler(), LinearSVC(C=0.01, max_iter=10000))
    scores["hog_linear_svm"] = float(linear.fit(train_f, train_y).score(test_f, test_y))
    rbf = make_pipeline(StandardScaler(), SVC(C=10, gamma="scale"))
    scores["hog_rbf_svm"] = float(rbf.fit(train_f, train_y).score(test_f, test_y))
    colour = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    scores["colour_histogram_logistic"] = float(
        colour.fit(histograms(train_x), train_y).score(histograms(test_x), test_y)
    )
    return scores


def dualbranch_run(folder: Path, root: Path, seed: int, extra: list[str]) -> dict:
    config = load_config(
        None,
        ["data.name=image_folder", f"data.path={folder / 'train'}", f"data.test_path={folder / 'val'}", *QUIET,
         f"output.root={root}", f"trainer.seed={seed}", *extra],
    )  # fmt: skip
    started = time.perf_counter()
    run = fit(config)
    seconds = time.perf_counter() - started
    metrics = json.loads((run / "metrics.json").read_text())
    recipe = json.loads((run / "recipe.json").read_text())
    return {
        "seed": seed, "accuracy": metrics["accuracy"], "seconds": round(seconds, 1),
        "recipe": {c["key"]: c["value"] for c in recipe["choices"]},
    }  # fmt: skip


def _input_side(folder: Path, run: dict) -> int:
    """The side dualbranch trained at: the recipe's ``data.img_size``, else (small photos kept in memory at
    their own size) the shorter side of the first training photo."""
    if "data.img_size" in run["recipe"]:
        return run["recipe"]["data.img_size"][0]
    first = index_image_folder(folder / "train").path(0)
    return min(decode(first, 3).shape[:2])


def resnet_run(folder: Path, python: str, run: dict, seed: int) -> dict:
    """The ResNet-18 baseline given the wall time and input size of a dualbranch ``run``."""
    seconds, size = run["seconds"], _input_side(folder, run)
    script = Path(__file__).with_name("timm_resnet_baseline.py")
    command = [python, str(script), str(folder / "train"), str(folder / "val"), "--seconds", str(seconds),
               "--size", str(size), "--threads", str(torch.get_num_threads()), "--seed", str(seed)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed … first-seed + seeds - 1")
    parser.add_argument("--timm-python", help="python of a venv with timm + torchvision, for the ResNet-18 baseline")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "photo_accuracy.json")
    parser.add_argument(
        "--resnet-only",
        action="store_true",
        help="run only the ResNet-18 baseline again, at the wall time of the dualbranch runs already in --output "
        "(their auto budget makes them the same bit for bit on any machine load)",
    )
    # argparse gives a positional after the folders nothing: the overrides are split off at "--" here
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.extra = argv[split + 1 :]
    saved = json.loads(args.output.read_text()) if args.output.is_file() else {"sets": {}}
    machine = {**machine_info(), "threads": torch.get_num_threads()}
    for folder in args.folders:
        key = folder.name + ("" if not args.extra else " " + " ".join(args.extra))
        if args.resnet_only:
            _rerun_resnet(saved, key, folder, args.timm_python, machine)
            _save(args.output, saved)
            continue
        saved["machine"] = machine
        entry: dict = {"folder": str(folder), "overrides": args.extra, "dualbranch": [], "resnet18": []}
        # the baselines first: seconds of work, and a missing library fails before an hour of training
        entry["baselines"] = baselines(folder)
        saved["sets"][key] = entry
        with tempfile.TemporaryDirectory(prefix="photo-accuracy-") as root:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                entry["dualbranch"].append(dualbranch_run(folder, Path(root), seed, args.extra))
                _save(args.output, saved)  # each finished run is kept, whatever happens next
                if args.timm_python:
                    run = entry["dualbranch"][-1]
                    entry["resnet18"].append(resnet_run(folder, args.timm_python, run, seed))
                    _save(args.output, saved)
        entry["dualbranch_mean"] = float(np.mean([r["accuracy"] for r in entry["dualbranch"]]))
        if entry["resnet18"]:
            entry["resnet18_mean"] = float(np.mean([r["accuracy"] for r in entry["resnet18"]]))
        print(json.dumps({key: entry}, indent=1), flush=True)
        _save(args.output, saved)


def _rerun_resnet(saved: dict, key: str, folder: Path, python: str | None, machine: dict) -> None:
    entry = saved["sets"].get(key)
    if python is None or entry is None or not entry["dualbranch"]:
        raise SystemExit(f"--resnet-only needs --timm-python and dualbranch runs of {key!r} in the results file")
    entry["resnet18"] = []
    for seed, run in enumerate(entry["dualbranch"]):
        entry["resnet18"].append(resnet_run(folder, python, run, run.get("seed", seed)))
    entry["resnet18_mean"] = float(np.mean([r["accuracy"] for r in entry["resnet18"]]))
    entry["resnet18_machine"] = machine  # the ResNet ran in a later session than the dualbranch runs
    print(json.dumps({key: entry}, indent=1), flush=True)


def _save(path: Path, saved: dict) -> None:
    path.write_text(json.dumps(saved, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
