"""CrossViT against timm on this machine: the README's performance table, from one command.

    PYTHONPATH=src python benchmarks/speed_vs_timm.py [--threads N] [--repeats 7] [--models ...]

Runs ``dualbranch bench MODEL --vs timm`` (same process, same input, same threads, identical weights,
timed alternately) for crossvit_9/15/18_240 at batch 1 and 32 plus a training step at batch 32, on every
deployment engine (fp32 eager, torch.compile, ONNX Runtime, int8 dynamic, int8 static PT2E). Needs timm
installed next to dualbranch (without it the timm rows are skipped with a note). Writes
benchmarks/results/speed_vs_timm.json and .md, and replaces the table between the markers
``<!-- speed-table:start -->`` / ``<!-- speed-table:end -->`` in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from dualbranch.bench import bench_model, format_table, machine_info, matmul_peak_gflops
from dualbranch.engines import ENGINES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- speed-table:start -->", "<!-- speed-table:end -->"


def summary(results: list[dict]) -> str:
    """Markdown: machine line, the full table, and the ratio lines of the closing note."""
    machine = results[0]["machine"]
    lines = [
        f"Measured on {machine['cpu']} ({machine['logical_cpus']} logical CPUs, {results[0]['threads']} threads), "
        f"torch {machine['torch']}, {results[0].get('timm', 'timm not installed')}; fp32 matmul peak "
        f"{results[0]['matmul_peak_gflops']:.0f} GFLOP/s. Median (min–max) of {results[0]['repeats']} runs "
        "after warm-up; *vs timm* = timm eager time / our time on the same batch (>1: we are faster).",
        "",
        format_table(results),
        "",
    ]
    for result in results:
        ratios = result.get("speedup_vs_timm", {})
        if ratios:
            best = max(ratios.items(), key=lambda item: item[1] if "/inference/" in item[0] else 0)
            lines.append(
                f"- **{result['model']}**: eager b1 {ratios.get('eager/inference/b1', 0):.2f}×, "
                f"b32 {ratios.get('eager/inference/b32', 0):.2f}×, train {ratios.get('eager/train/b32', 0):.2f}×; "
                f"fastest engine {best[0]} {best[1]:.2f}×"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["crossvit_9_240", "crossvit_15_240", "crossvit_18_240"])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the README table")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    results = [
        bench_model(
            name, (1, 32), args.threads, args.repeats, vs_timm=True, engines=tuple(args.engines), peak_gflops=peak
        )
        for name in args.models
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speed_vs_timm.json").write_text(json.dumps(results, indent=2) + "\n")
    table = summary(results)
    (RESULTS / "speed_vs_timm.md").write_text(table + "\n")
    readme = ROOT / "README.md"
    text = readme.read_text()
    if not args.no_readme and START in text and END in text:
        head, rest = text.split(START, 1)
        readme.write_text(head + START + "\n" + table + "\n" + END + rest.split(END, 1)[1])
    print(table)
    print(json.dumps({"machine": machine_info()}, indent=2))


if __name__ == "__main__":
    main()
