"""Memory and start-up of a short `fit` on photo folders of growing size: flat in the number of photos?

    .venv/bin/python benchmarks/make_photo_folder.py /data/p2k --n-train 2000 --n-val 200
    .venv/bin/python benchmarks/make_photo_folder.py /data/p20k --n-train 20000 --n-val 200
    .venv/bin/python benchmarks/photo_memory.py /data/p2k /data/p20k [--model crossvit_tiny_240] [--updates 8]

Each folder gets the same run, in a process of its own: ``dualbranch fit`` of ``--model`` on
``FOLDER/train`` (validation: ``FOLDER/val``), stopped after ``--updates`` optimizer updates. Meanwhile
this script samples the memory of the run's whole process tree (the trainer and its DataLoader
workers) every 0.1 s: the peak RSS of the trainer process (what ``/usr/bin/time`` reports) and of the
largest process, the peak of the summed RSS (pages a forked worker shares with the trainer counted in
every process: an upper bound) and of the summed PSS (shared pages split between the processes that
share them: what the run really takes). The run reports how long it took from its start to its first update.
Prints JSON (and writes it with ``--output``), with the ratio of each folder's peaks to the first's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

STARTED = time.time()


def _tree_memory(pid: int) -> tuple[int, int, int, int]:
    """Bytes of process ``pid`` and its descendants: (its own RSS, the largest RSS of any of them, RSS summed,
    PSS summed)."""
    own = largest = rss = pss = 0
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                info = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            own = info.rss if process.pid == pid else own
            largest, rss, pss = max(largest, info.rss), rss + info.rss, pss + info.pss
    except psutil.NoSuchProcess:
        pass
    return own, largest, rss, pss


def _child(folder: Path, model: str, updates: int, root: Path, batch: int | None) -> None:
    """The measured run (in its own process): fit, stopped after ``updates`` updates; prints JSON."""
    import lightning as L

    from dualbranch.train.config import load_config
    from dualbranch.train.pipeline import fit

    class StopAfter(L.Callback):
        first: float | None = None

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
            if StopAfter.first is None:
                StopAfter.first = time.time() - STARTED
            if trainer.global_step >= updates:
                trainer.should_stop = True

    config = load_config(
        None,
        [
            "data.name=image_folder", f"data.path={folder / 'train'}", f"data.val_path={folder / 'val'}",
            f"model.name={model}", f"output.root={root}", "output.report=false", "trainer.progress_bar=false",
            "optim.epochs=1", *([f"data.batch_size={batch}"] if batch else []),
        ],
    )  # fmt: skip
    fit(config, callbacks=[StopAfter()])
    print(json.dumps({"seconds_to_first_update": round(StopAfter.first or -1, 1)}))


def measure(folder: Path, model: str, updates: int, batch: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="photo-memory-") as root:
        command = [sys.executable, __file__, "--child", str(folder), "--model", model, "--updates", str(updates),
                   "--root", root, *(["--batch", str(batch)] if batch else [])]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peaks = [0, 0, 0, 0]

        def sample() -> None:
            while process.poll() is None:
                peaks[:] = [max(a, b) for a, b in zip(peaks, _tree_memory(process.pid))]
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = process.communicate()
        sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"the run on {folder} failed:\n{err[-3000:]}")
    child = json.loads(out.strip().splitlines()[-1])
    photos = sum(1 for _ in (folder / "train").rglob("*.jpg"))
    gigabytes = [round(p / 1e9, 3) for p in peaks]
    names = ("peak_rss_gb", "peak_rss_any_process_gb", "peak_rss_summed_gb", "peak_pss_summed_gb")
    return {"folder": str(folder), "train_photos": photos, **dict(zip(names, gigabytes)), **child}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--model", default="crossvit_tiny_240")
    parser.add_argument("--updates", type=int, default=8)
    parser.add_argument("--batch", type=int, help="data.batch_size (default: the recipe's)")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.folders[0], args.model, args.updates, args.root, args.batch)
        return
    from dualbranch.bench import machine_info

    runs = [measure(folder, args.model, args.updates, args.batch) for folder in args.folders]
    base = runs[0]
    for run in runs:
        run["rss_vs_first"] = round(run["peak_rss_gb"] / base["peak_rss_gb"], 3)
        run["pss_vs_first"] = round(run["peak_pss_summed_gb"] / base["peak_pss_summed_gb"], 3)
    result = {"model": args.model, "updates": args.updates, "batch_size": args.batch or "recipe", "runs": runs,
              "machine": machine_info()}  # fmt: skip
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
