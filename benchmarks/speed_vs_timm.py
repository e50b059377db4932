"""CrossViT against timm on this machine, every engine: the performance table of docs/deployment.md, from one command.

    PYTHONPATH=src python benchmarks/speed_vs_timm.py [--threads N] [--repeats 7] [--models ...] [--quick]

Runs ``dualbranch bench MODEL --vs timm`` (same process, same input, same threads, identical weights,
timed alternately so that drifting load hits every engine alike) for crossvit_9/15/18_240 at batch 1
and 32, on every deployment engine (fp32 eager, torch.compile with frozen weights, ONNX Runtime,
OpenVINO fp32, int8 dynamic, int8 static PT2E, OpenVINO int8), each checked against fp32 eager first,
plus a training step at batch 32 and peak memory (``--quick`` skips those two). Needs timm installed
next to dualbranch (without it the timm rows are skipped with a note) and the ``deploy`` extra for
the engines beyond eager and compile. Writes benchmarks/results/speed_vs_timm.json and .md, and
replaces the text between ``<!-- speed-table:start -->`` / ``<!-- speed-table:end -->`` in docs/deployment.md:
the machine (CPU, its AVX2 / AVX-512 / VNNI / BF16 / AMX features, threads, load, measured fp32 peak),
a summary of every engine's speed-up over timm, and the full table.

``--processes`` times instead one process per engine, alternated (benchmarks/engine_processes.py:
inference only; by default eager, OpenVINO fp32, bf16 and int8 against timm) and writes
benchmarks/results/NAME.json and .md (NAME defaults to speed_vs_timm_processes), e.g. the issue-22
comparison: ``bash scripts/speed_vs_timm.sh --processes --models crossvit_9_240 --batches 32``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import engine_processes
from dualbranch.bench import bench_model, format_table, machine_info, machine_line, matmul_peak_gflops
from dualbranch.engines import ENGINES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- speed-table:start -->", "<!-- speed-table:end -->"


def speedup_table(results: list[dict]) -> list[str]:
    """Markdown: one row per (model, batch), one column per engine: timm eager time / the engine's time."""
    engines = [e for e in ENGINES if any(f"{e}/inference/" in key for r in results for key in r["speedup_vs_timm"])]
    lines = [
        "| model | batch | " + " | ".join(f"`{e}`" for e in engines) + " | best |",
        "|---|---:|" + "---:|" * (len(engines) + 1),
    ]
    for result in results:
        ratios = result["speedup_vs_timm"]
        batches = sorted({row["batch"] for row in result["measurements"] if row["mode"] == "inference"})
        for batch in batches:
            row = {e: ratios.get(f"{e}/inference/b{batch}") for e in engines}
            best = max((e for e in engines if row[e] is not None), key=lambda e: row[e])
            cells = [
                "-" if row[e] is None else (f"**{row[e]:.2f}×**" if e == best else f"{row[e]:.2f}×") for e in engines
            ]
            lines.append(f"| {result['model']} | {batch} | " + " | ".join(cells) + f" | {best} |")
    return lines


def _ratio(value: float | None, bold: bool) -> str:
    if value is None:
        return "-"
    return f"**{value:.2f}×**" if bold else f"{value:.2f}×"


def summary(results: list[dict]) -> str:
    """Markdown: the machine, the speed-up summary, then the full table."""
    first = results[0]
    lines = [
        f"Measured on {machine_line(first)}; {first.get('timm', 'timm not installed')}. Median (min–max) of "
        f"{first['repeats']} alternating runs after warm-up; ratios = timm eager time / our time on the same "
        "batch, same weights and threads (>1: we are faster). Each engine was checked against fp32 eager "
        "first (`max_abs_diff` and top-1 agreement on the benchmark batch in the JSON).",
        "",
    ]
    if all("speedup_vs_timm" in r for r in results):
        lines += [*speedup_table(results), ""]
    engines = {e: v for r in results for e, v in r.get("engines", {}).items() if "skipped" in v}
    lines += [f"- `{e}` skipped: {v['skipped']}" for e, v in engines.items()]
    lines += ["", "<details><summary>Full table</summary>", "", format_table(results), "", "</details>"]
    return "\n".join(lines)


def run_processes(args: argparse.Namespace) -> None:
    """Every (model, batch) with one process per engine (engine_processes.py); JSON and a table."""
    name = args.name or "speed_vs_timm_processes"
    engines = args.engines or engine_processes.DEFAULT_ENGINES
    results = []
    for model in args.models:
        for batch in args.batches:
            argv = ["--model", model, "--batch", str(batch), "--threads", str(args.threads), "--repeats",
                    str(args.repeats), "--warmup", str(args.warmup), "--min-sample", str(args.min_sample)]  # fmt: skip
            results.append(
                engine_processes.measure(engine_processes.parser().parse_args([*argv, "--engines", *engines]))
            )
            RESULTS.mkdir(parents=True, exist_ok=True)  # after every measurement: a stopped run keeps them
            (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    machine = results[0]["machine"]
    features = " ".join(f"{k} {'✓' if v else '✗'}" for k, v in machine["cpu_features"].items())
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    head = (
        f"Measured on {machine['cpu']} ({features}; {machine['logical_cpus']} logical CPUs), torch {machine['torch']}"
    )
    text = "\n\n".join([f"{head}, {versions}."] + [engine_processes.table(result) for result in results])
    (RESULTS / f"{name}.md").write_text(text + "\n")
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["crossvit_9_240", "crossvit_15_240", "crossvit_18_240"])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, help="default: all (--processes: eager, openvino*)")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs of each engine first")
    parser.add_argument("--quick", action="store_true", help="inference only: no training step, no peak memory")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the table in docs/deployment.md")
    parser.add_argument("--name", help="results file name (benchmarks/results/NAME.json; default speed_vs_timm)")
    parser.add_argument("--processes", action="store_true", help="one process per engine, alternated")
    parser.add_argument("--min-sample", type=float, default=2.0, help="--processes: seconds per timed sample")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.processes:
        run_processes(args)
        return
    args.engines = args.engines or list(ENGINES)
    args.name = args.name or "speed_vs_timm"
    peak = matmul_peak_gflops()
    results = []
    for name in args.models:
        results.append(
            bench_model(
                name,
                tuple(args.batches),
                args.threads,
                args.repeats,
                args.warmup,
                vs_timm=True,
                engines=tuple(args.engines),
                train_batch=0 if args.quick else None,
                memory=not args.quick,
                peak_gflops=peak,
            )
        )
        # written after every model, so a long run that is stopped keeps what it measured
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    table = summary(results)
    (RESULTS / f"{args.name}.md").write_text(table + "\n")
    readme = ROOT / "docs" / "deployment.md"
    text = readme.read_text()
    if not args.no_readme and START in text and END in text:
        head, rest = text.split(START, 1)
        readme.write_text(head + START + "\n" + table + "\n" + END + rest.split(END, 1)[1])
    print(table)
    print(json.dumps({"machine": machine_info()}, indent=2))


if __name__ == "__main__":
    main()
