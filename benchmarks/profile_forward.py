"""Where the time of one CrossViT forward goes, ours against timm's: top operators by self CPU time.

    PYTHONPATH=src python benchmarks/profile_forward.py crossvit_15_240 --batch 32 --threads 2

Prints JSON: per implementation, the total and the share of each of the top operators (needs timm for
the comparison; without it only ours is profiled). Evidence for the fast-path notes in the README.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch.profiler import ProfilerActivity, profile

from dualbranch import create_model
from dualbranch.bench import timm_model


def top_operators(model: torch.nn.Module, x: torch.Tensor, top: int) -> dict[str, object]:
    with torch.inference_mode():
        model(x)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return {
        "total_ms": total / 1e3,
        "top": [
            {
                "op": e.key,
                "calls": e.count,
                "self_ms": e.self_cpu_time_total / 1e3,
                "share": e.self_cpu_time_total / total,
            }
            for e in events[:top]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="crossvit_15_240")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours = create_model(args.model).eval()
    x = torch.randn(args.batch, *ours.input_shape)
    result = {
        "model": args.model,
        "batch": args.batch,
        "threads": args.threads,
        "dualbranch": top_operators(ours, x, args.top),
    }
    theirs, note = timm_model(args.model, ours)
    result["timm"] = top_operators(theirs, x, args.top) if theirs is not None else note
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
