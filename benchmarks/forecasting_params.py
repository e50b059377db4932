"""Parameter counts of the forecasting models at the official ETTh1 configurations, as JSON.

Built on the meta device (no weights are allocated). ETTh1: 7 variates, look-back 96, horizons
96/192/336/720, multivariate ("M"). The sizes are those of the official scripts:

* Gateformer, ``scripts/multivariate_forecasting/ETT/Gateformer_ETTh1.sh`` (github.com/nyuolab/Gateformer):
  e_layers 1/2/2/2 (both encoders), d_model = d_ff 64/64/128/64, 4 heads, patch 8, stride 8
  (``run.py`` defaults). The 96-step count, 133,344, is the reference figure checked in the tests.
* iTransformer, ``scripts/multivariate_forecasting/ETT/iTransformer_ETTh1.sh`` (github.com/thuml/iTransformer):
  e_layers 2, d_model = d_ff 256/256/512/512, 8 heads (``run.py`` default).
* DLinear (github.com/cure-lab/LTSF-Linear): no width to choose; at look-back 96 (the other models')
  and 336 (the DLinear paper's).
* PatchTST, ``PatchTST_supervised/scripts/PatchTST/etth1.sh`` (github.com/yuqinie98/PatchTST): d_model 16,
  4 heads, d_ff 128, 3 layers, patch 16, stride 8, at look-back 96 and the script's 336.

    .venv/bin/python benchmarks/forecasting_params.py

Shape legend: L look-back (seq_len), H horizon (pred_len), C variates (n_vars).
"""

from __future__ import annotations

import json
from typing import Any

import torch

import dualbranch
from dualbranch.flops import count_params

ETTH1 = {"n_vars": 7, "seq_len": 96}
GATEFORMER_ETTH1 = {
    96: {"temporal_layers": 1, "variate_layers": 1, "d_model": 64, "d_ff": 64},
    192: {"temporal_layers": 2, "variate_layers": 2, "d_model": 64, "d_ff": 64},
    336: {"temporal_layers": 2, "variate_layers": 2, "d_model": 128, "d_ff": 128},
    720: {"temporal_layers": 2, "variate_layers": 2, "d_model": 64, "d_ff": 64},
}
ITRANSFORMER_ETTH1 = {
    96: {"n_layers": 2, "d_model": 256, "d_ff": 256},
    192: {"n_layers": 2, "d_model": 256, "d_ff": 256},
    336: {"n_layers": 2, "d_model": 512, "d_ff": 512},
    720: {"n_layers": 2, "d_model": 512, "d_ff": 512},
}


def count(name: str, **overrides: Any) -> int:
    """Parameters of ``name`` built with ``overrides`` on the meta device."""
    with torch.device("meta"):
        return count_params(dualbranch.create_model(name, **overrides))


def main() -> dict[str, object]:
    report: dict[str, object] = {
        "data": "ETTh1 (7 variates, look-back 96, multivariate)",
        "gateformer": {
            str(h): {"config": cfg, "params": count("gateformer", **ETTH1, pred_len=h, **cfg)}
            for h, cfg in GATEFORMER_ETTH1.items()
        },
        "gateformer_reference_96": 133_344,
        "itransformer": {
            str(h): {"config": cfg, "params": count("itransformer", **ETTH1, pred_len=h, **cfg)}
            for h, cfg in ITRANSFORMER_ETTH1.items()
        },
        "dlinear": {
            f"L{seq_len}_H{h}": count("dlinear", n_vars=7, seq_len=seq_len, pred_len=h)
            for seq_len in (96, 336)
            for h in (96, 192, 336, 720)
        },
        "patchtst": {
            f"L{seq_len}_H{h}": count("patchtst", n_vars=7, seq_len=seq_len, pred_len=h)
            for seq_len in (96, 336)
            for h in (96, 192, 336, 720)
        },
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
