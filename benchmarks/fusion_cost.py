"""Cost of the fusion strategies of CrossViT's Table 6: MACs, parameters and (optionally) time.

Chen, Fan, Panda, "CrossViT", ICCV 2021, arXiv:2103.14899, Table 6 compares five ways to fuse the
branches of CrossViT-S. This script prints

1. the Table-6 reproduction (crossvit_small_240: GMACs and Mparams per strategy vs the paper);
2. the all-attention design alternatives, i.e. why the library's all-attention has the design it has;
3. a token sweep over image sizes: fusion-only MACs (model MACs minus the "none" model's) against
   the total token count T = Σ_b T_b, with the fitted exponent k of MACs ∝ T^k and a fit
   MACs = α·T + β·T², showing cross-attention linear and all-attention quadratic;
4. with ``--time``: measured forward time per strategy (medians), of the fusion modules alone over
   the sweep and of the whole model at 240 px.

MACs are counted on the meta device (no weights, instant) with ``dualbranch.flops.count_macs``.
Run: ``.venv/bin/python benchmarks/fusion_cost.py [--time] [--threads 2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

import dualbranch
from dualbranch.flops import count_macs, count_params
from dualbranch.layers import AllAttentionFusion

MODEL = "crossvit_small_240"
STRATEGIES = ("none", "all_attention", "class_token", "pairwise", "cross_attention")
# paper Table 6: (GFLOPs, i.e. multiply-adds, Mparams)
PAPER = {
    "none": (5.3, 23.7),
    "all_attention": (7.6, 27.7),
    "class_token": (5.4, 24.2),
    "pairwise": (5.5, 24.2),
    "cross_attention": (5.6, 26.7),
}
# (label, AllAttentionFusion keyword arguments) for the design comparison
ALL_ATTENTION_DESIGNS = (
    ("paper eq.: MSA, d=384, f/g per branch", {"joint_pos_embed": False}),
    ("paper eq. + joint pos. embedding (chosen)", {"joint_pos_embed": True}),
    ("full block (MSA+MLP 4), d=384", {"joint_pos_embed": False, "mlp_ratio": 4.0}),
    ("full block (MSA+MLP 4), d=288 (mean)", {"joint_pos_embed": False, "mlp_ratio": 4.0, "width": 288}),
    ("full block (MSA+MLP 3), d=288 (mean)", {"joint_pos_embed": False, "mlp_ratio": 3.0, "width": 288}),
)


def _meta_model(fusion: str, img_size: int = 240) -> torch.nn.Module:
    with torch.device("meta"):
        return dualbranch.create_model(MODEL, fusion=fusion, img_size=img_size)


def _tokens(model: torch.nn.Module) -> list[int]:
    """T_b = 1 + h_b·w_b per branch."""
    return [1 + h * w for h, w in (model.token_grid(b) for b in range(model.num_branches))]


def table6() -> list[dict[str, Any]]:
    rows = []
    for name in STRATEGIES:
        model = _meta_model(name)
        gmacs, mparams = count_macs(model) / 1e9, count_params(model) / 1e6
        paper_gmacs, paper_mparams = PAPER[name]
        rows.append(
            {
                "fusion": name,
                "gmacs": round(gmacs, 3),
                "paper_gmacs": paper_gmacs,
                "gmacs_delta_pct": round(100 * (gmacs / paper_gmacs - 1), 2),
                "mparams": round(mparams, 3),
                "paper_mparams": paper_mparams,
                "mparams_delta_pct": round(100 * (mparams / paper_mparams - 1), 2),
            }
        )
    return rows


def all_attention_designs() -> list[dict[str, Any]]:
    """CrossViT-S with its fusion modules replaced by all-attention variants (meta device)."""
    rows = []
    paper_gmacs, paper_mparams = PAPER["all_attention"]
    for label, options in ALL_ATTENTION_DESIGNS:
        model = _meta_model("none")
        cfg = model.config
        with torch.device("meta"):
            for stage in model.blocks:
                stage.fusion = AllAttentionFusion(cfg.embed_dim, cfg.num_heads, tuple(_tokens(model)), **options)
        gmacs, mparams = count_macs(model) / 1e9, count_params(model) / 1e6
        rows.append(
            {
                "design": label,
                "gmacs": round(gmacs, 3),
                "gmacs_delta_pct": round(100 * (gmacs / paper_gmacs - 1), 2),
                "mparams": round(mparams, 3),
                "mparams_delta_pct": round(100 * (mparams / paper_mparams - 1), 2),
            }
        )
    return rows


def _fit(tokens: list[int], macs: list[float]) -> dict[str, float | None]:
    """Exponent k of MACs ∝ T^k: least squares over the sweep, and locally between the two largest sizes.

    Also α, β of MACs = α·T + β·T² and the T² term's share at the largest T (None where the fit has
    no meaningful T² term, i.e. a cost that does not grow quadratically).
    """
    xs, ys = [math.log(t) for t in tokens], [math.log(max(m, 1.0)) for m in macs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    local = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    design = torch.tensor([[t, t * t] for t in tokens], dtype=torch.float64)
    solution = torch.linalg.lstsq(design, torch.tensor(macs, dtype=torch.float64).unsqueeze(1)).solution[:, 0]
    alpha, beta = float(solution[0]), float(solution[1])
    largest = tokens[-1]
    share = beta * largest**2 / (alpha * largest + beta * largest**2) if alpha > 0 and beta > 0 else None
    return {
        "exponent": round(slope, 3),
        "local_exponent": round(local, 3),
        "alpha": alpha,
        "beta": beta,
        "quadratic_share": share,
    }


def sweep(sizes: list[int]) -> dict[str, Any]:
    rows, per_strategy = [], {name: [] for name in STRATEGIES if name != "none"}
    tokens_per_size = []
    for size in sizes:
        base = _meta_model("none", size)
        base_macs = count_macs(base)
        tokens = _tokens(base)
        tokens_per_size.append(sum(tokens))
        row: dict[str, Any] = {
            "img_size": size,
            "tokens": tokens,
            "total_tokens": sum(tokens),
            "none_gmacs": base_macs / 1e9,
        }
        for name in per_strategy:
            fusion_macs = count_macs(_meta_model(name, size)) - base_macs
            per_strategy[name].append(fusion_macs)
            row[f"{name}_fusion_gmacs"] = fusion_macs / 1e9
        rows.append(row)
    fits = {name: _fit(tokens_per_size, macs) for name, macs in per_strategy.items()}
    return {"rows": rows, "fits": fits}


def _interleaved_medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per callable, timed round-robin so that load from other processes on a shared
    machine hits every strategy alike (two warm-up rounds first: allocations, kernel selection)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeats + 2):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if round_ >= 2:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


@torch.no_grad()
def timing(sizes: list[int], repeats: int, batch: int) -> dict[str, Any]:
    """Median forward time (ms): the 3 fusion modules alone per size, and the whole model at 240 px."""
    fusion_ms: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    for size in sizes:
        runs = {}
        for name in STRATEGIES:
            torch.manual_seed(0)
            model = dualbranch.create_model(MODEL, fusion=name, img_size=size).eval()
            xs = [torch.randn(batch, t, d) for t, d in zip(_tokens(model), model.branch_widths)]
            fusions = [stage.fusion for stage in model.blocks]
            runs[name] = lambda fusions=fusions, xs=xs: [fusion(xs) for fusion in fusions]
        for name, seconds in _interleaved_medians(runs, repeats).items():
            fusion_ms[name].append(1e3 * seconds)
    x = torch.randn(batch, 3, 240, 240)
    models = {name: dualbranch.create_model(MODEL, fusion=name).eval() for name in STRATEGIES}
    model_s = _interleaved_medians({name: (lambda m=m: m(x)) for name, m in models.items()}, repeats)
    return {"sizes": sizes, "fusion_ms": fusion_ms, "model_ms_240": {k: 1e3 * v for k, v in model_s.items()}}


def _print_report(report: dict[str, Any]) -> None:
    print(f"Table 6 reproduction: {MODEL} (CrossViT-S, 240/224 px), MACs counted on the meta device")
    print(f"{'fusion':<16} {'GMACs':>7} {'paper':>6} {'Δ%':>6}   {'Mparams':>8} {'paper':>6} {'Δ%':>6}")
    for r in report["table6"]:
        print(
            f"{r['fusion']:<16} {r['gmacs']:>7.3f} {r['paper_gmacs']:>6.1f} {r['gmacs_delta_pct']:>+6.1f}   "
            f"{r['mparams']:>8.3f} {r['paper_mparams']:>6.1f} {r['mparams_delta_pct']:>+6.1f}"
        )
    print("\nAll-attention designs vs the paper's 7.6 GMACs / 27.7 M (CrossViT-S, 240 px)")
    print(f"{'design':<44} {'GMACs':>7} {'Δ%':>6}   {'Mparams':>8} {'Δ%':>6}")
    for r in report["all_attention_designs"]:
        print(
            f"{r['design']:<44} {r['gmacs']:>7.3f} {r['gmacs_delta_pct']:>+6.1f}   "
            f"{r['mparams']:>8.3f} {r['mparams_delta_pct']:>+6.1f}"
        )
    names = list(report["sweep"]["fits"])
    print("\nFusion-only GMACs (model minus the 'none' model, 3 stages) vs total tokens T = Σ T_b;")
    print("k: fitted exponent of fusion MACs ∝ T^k (1 linear, 2 quadratic)")
    print(f"{'img':>14} {'T':>6}" + " ".join(f"{n:>16}" for n in names))
    for r in report["sweep"]["rows"]:
        print(
            f"{r['img_size']:>14} {r['total_tokens']:>6}" + " ".join(f"{r[f'{n}_fusion_gmacs']:>16.4f}" for n in names)
        )
    fits = report["sweep"]["fits"]
    print(f"{'k (all sizes)':<21}" + " ".join(f"{fits[n]['exponent']:>16.2f}" for n in names))
    print(f"{'k (two largest T)':<21}" + " ".join(f"{fits[n]['local_exponent']:>16.2f}" for n in names))
    shares = [fits[n]["quadratic_share"] for n in names]
    print(f"{'T² share at max T':<21}" + " ".join(f"{s:>16.1%}" if s is not None else f"{'-':>16}" for s in shares))
    if "timing" in report:
        t = report["timing"]
        print(f"\nMedian forward time, ms ({t['threads']} threads, batch {t['batch']}, {t['repeats']} runs)")
        print(f"{'fusion modules at img':<22}" + " ".join(f"{s:>9}" for s in t["sizes"]) + f"   {'model@240':>9}")
        for name in STRATEGIES:
            cells = " ".join(f"{ms:>9.2f}" for ms in t["fusion_ms"][name])
            print(f"{name:<22}{cells}   {t['model_ms_240'][name]:>9.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[120, 240, 360, 480, 720, 960])
    parser.add_argument("--time", action="store_true", help="also measure forward time (CPU, a few seconds)")
    parser.add_argument("--time-sizes", type=int, nargs="+", default=[120, 240, 480])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for the timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="write the JSON report here instead of to stdout")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"model": MODEL, "table6": table6(), "all_attention_designs": all_attention_designs()}
    report["sweep"] = sweep(sorted(args.sizes))
    if args.time:
        torch.set_num_threads(args.threads)
        report["timing"] = timing(sorted(args.time_sizes), args.repeats, args.batch)
        report["timing"].update(threads=args.threads, repeats=args.repeats, batch=args.batch)
    _print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nJSON report written to {args.json}")
    else:
        print("\nJSON:")
        json.dump(report, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
