"""Parameter count of MVCNet at the paper's reference input, part by part, as JSON.

Reference input: 22 EEG channels × 1001 samples at 250 Hz (BCI Competition IV 2a), 4 classes. The
model is built on the meta device, so counting allocates nothing (the projector alone holds 45 M
weights). The MVCNet release (Wang et al., arXiv:2502.17482) registers 54,132,032 parameters here:
ours plus its IFNet module's classifier, which is built but never called (see models/mvcnet.py).

    .venv/bin/python benchmarks/mvcnet_params.py
"""

from __future__ import annotations

import json

import torch

import dualbranch
from dualbranch.models.mvcnet import PUBLISHED_UNUSED_PARAMS

REFERENCE = {"n_chans": 22, "n_times": 1001, "n_outputs": 4}
RELEASE_TOTAL = 54_132_032  # the release's model at REFERENCE
RELEASE_INFERENCE = 7_748  # its CNN branch + classifier


def main() -> dict[str, object]:
    with torch.device("meta"):
        model = dualbranch.create_model("mvcnet", **REFERENCE)
    parts: dict[str, int] = {}
    for name, p in model.named_parameters():
        part = name.split(".")[0]
        parts[part] = parts.get(part, 0) + p.numel()
    total = sum(parts.values())
    names = set(model.training_only_parameter_names())
    training_only = sum(p.numel() for n, p in model.named_parameters() if n in names)
    unused = PUBLISHED_UNUSED_PARAMS["linear_per_class"] * REFERENCE["n_outputs"]
    report = {
        "input": REFERENCE,
        "parts": parts,
        "total": total,
        "inference_path": total - training_only,
        "training_only": training_only,
        "release_unused_ifnet_fc": unused,
        "total_with_release_unused": total + unused,
        "release": {"total": RELEASE_TOTAL, "inference_path": RELEASE_INFERENCE},
        "transformer": {"tokens": model.n_chans, "width": model.transformer_times, "embedding": model.embed_dim},
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
