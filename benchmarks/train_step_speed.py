"""The default image model's training step: images per second and share of the fp32 matmul peak, side by side.

    .venv/bin/python benchmarks/train_step_speed.py [--threads 2] [--batch 128] [--repeats 7] [--output FILE]

Times one optimizer step (forward, cross-entropy, backward, AdamW) on a Fashion-MNIST-sized batch
(B, 1, 28, 28) for the previous default ``crossvit_fmnist`` and the current one ``hybrid_vgg_vit_tiny``,
the latter in both memory layouts (NCHW, and channels-last as ``dualbranch fit`` trains image models) and
channels-last under bf16 autocast (``trainer.precision=bf16-mixed``, which ``auto`` picks on a CPU only
with AMX and a measured gain: :mod:`dualbranch.train.precision`), sampled alternately (medians; see
:func:`dualbranch.bench.time_alternating`). The share of peak counts
3× the forward multiply-adds per image (forward + two backward products) against the measured fp32
matmul rate of this machine at the same thread count. Images per second is what a run feels: the
accuracy per minute of each model is in ``benchmarks/results/fashion_mnist_run.json``.
Writes benchmarks/results/train_step_speed.json (``--output`` another file, e.g. one per kind of CPU).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dualbranch import create_model
from dualbranch.bench import machine_info, matmul_peak_gflops, time_alternating
from dualbranch.flops import count_macs

RESULTS = Path(__file__).parent / "results" / "train_step_speed.json"
SETUPS = {  # name: (model, memory format, bf16 autocast)
    "crossvit_fmnist (previous default)": ("crossvit_fmnist", torch.contiguous_format, False),
    "hybrid_vgg_vit_tiny, NCHW": ("hybrid_vgg_vit_tiny", torch.contiguous_format, False),
    "hybrid_vgg_vit_tiny, channels-last (as fit trains it)": ("hybrid_vgg_vit_tiny", torch.channels_last, False),
    "hybrid_vgg_vit_tiny, channels-last, bf16 autocast": ("hybrid_vgg_vit_tiny", torch.channels_last, True),
}


def training_step(name: str, layout: torch.memory_format, bf16: bool, batch: int) -> tuple:
    torch.manual_seed(0)
    model = create_model(name, num_classes=10)
    macs = count_macs(model.eval(), torch.randn(1, 1, 28, 28))
    model = model.train().to(memory_format=layout)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=layout)
    labels = torch.randint(0, 10, (batch,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # as Lightning's bf16-mixed
            loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    steps, macs = {}, {}
    for label, (name, layout, bf16) in SETUPS.items():
        steps[label], macs[label] = training_step(name, layout, bf16, args.batch)
    timings = time_alternating(steps, args.repeats, warmup=3)
    rows = {}
    for label, timing in timings.items():
        images = args.batch / (timing["median_ms"] / 1e3)
        gflops = 3 * 2 * macs[label] * images / 1e9
        rows[label] = {
            **timing,
            "macs": macs[label],
            "img_per_s": images,
            "gflops": gflops,
            "share_of_peak": gflops / peak,
        }
    base = rows["crossvit_fmnist (previous default)"]["img_per_s"]
    for row in rows.values():
        row["img_per_s_vs_previous_default"] = row["img_per_s"] / base
    result = {"machine": {**machine_info(), "threads": args.threads}, "fp32_matmul_peak_gflops": peak,
              "batch": args.batch, "setups": rows}  # fmt: skip
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for label, row in rows.items():
        print(f"{label}: {row['img_per_s']:.0f} img/s ({row['img_per_s_vs_previous_default']:.2f}×), "
              f"{row['gflops']:.0f} GFLOP/s = {row['share_of_peak']:.0%} of {peak:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
