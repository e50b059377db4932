"""Parameter counts of DBConformer and EEG Conformer at the papers' reference input, as JSON.

Reference input: 22 EEG channels × 1001 samples (BCI Competition IV 2a at 250 Hz), 2 classes,
DBConformer depth 2. The DBConformer paper (Wang et al., arXiv:2506.21140) reports 93,747 and
789,668 (EEG Conformer); see models/eeg_conformer.py for the 162 unused parameters in the latter and
models/dbconformer.py for the one (a bias the softmax cancels) in the former.

    .venv/bin/python benchmarks/dbconformer_params.py
"""

from __future__ import annotations

import json

import dualbranch
from dualbranch.models.dbconformer import PUBLISHED_UNUSED_PARAMS as DB_UNUSED
from dualbranch.models.eeg_conformer import PUBLISHED_UNUSED_PARAMS

REFERENCE = {"n_chans": 22, "n_times": 1001, "n_outputs": 2}


def count(name: str) -> int:
    model = dualbranch.create_model(name, **REFERENCE)
    return sum(p.numel() for p in model.parameters())


def main() -> dict[str, object]:
    db, eeg = count("dbconformer"), count("eeg_conformer")
    unused = PUBLISHED_UNUSED_PARAMS["layernorm"] + PUBLISHED_UNUSED_PARAMS["linear_per_class"] * REFERENCE["n_outputs"]
    report = {
        "input": REFERENCE,
        "dbconformer": {"params": db, "with_published_unused_bias": db + DB_UNUSED["score_out_bias"], "paper": 93_747},
        "eeg_conformer": {"params": eeg, "with_published_unused_head": eeg + unused, "paper": 789_668},
        "ratio": round(eeg / db, 3),
        "ratio_paper_counts": round((eeg + unused) / db, 3),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
