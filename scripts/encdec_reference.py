"""Record tests/data/encdec_reference.json: the official Informer / Autoformer outputs the tests compare to.

    git clone https://github.com/thuml/Time-Series-Library /tmp/tslib   # MIT licence; commit 4e938a1 was used
    .venv/bin/python scripts/encdec_reference.py /tmp/tslib            # rewrites the fixture
    .venv/bin/python scripts/encdec_reference.py /tmp/tslib --check    # exit 1 if the fixture differs

The official models are imported from that checkout (nothing of it is copied here); two modules they
import and never use for these models (``reformer_pytorch``, ``einops``) are stood in for when absent.
Each case builds this library's model with ``fill_value`` weights (tests/test_encoder_decoder_forecasters.py),
loads the same weights into the official model under its names, and records the official forecast of
``fixture_input`` in float64: the decoder input is the last label_len look-back steps then zeros, with
the time features of those label_len + horizon steps.

Shape legend: B batch (2), L look-back (32), S start token (8), H horizon (8), C variates (3), M time features (4).
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import dualbranch  # noqa: E402
from test_encoder_decoder_forecasters import REFERENCE, fill_value, fixture_input  # noqa: E402

# official parameter names -> this library's (ATT: the attention module's name in each model)
RENAMES = [
    (r"(enc|dec)_embedding\.value_embedding\.tokenConv", r"\1_embed.value"),
    (r"(enc|dec)_embedding\.temporal_embedding\.embed", r"\1_embed.marks"),
    (r"encoder\.attn_layers\.(\d+)\.(attention|correlation)\.", r"encoder.\1.ATT."),
    (r"encoder\.attn_layers\.(\d+)\.", r"encoder.\1."),
    (r"encoder\.conv_layers\.(\d+)\.downConv", r"distil.\1.conv"),
    (r"encoder\.conv_layers\.(\d+)\.norm", r"distil.\1.norm"),
    (r"(enc|dec)oder\.norm\.layernorm", r"\1_norm.norm"),
    (r"(enc|dec)oder\.norm", r"\1_norm"),
    (r"decoder\.layers\.(\d+)\.self_attention\.", r"decoder.\1.own."),
    (r"decoder\.layers\.(\d+)\.cross_attention\.", r"decoder.\1.cross."),
    (r"decoder\.layers\.(\d+)\.projection", r"decoder.\1.trend_projection"),
    (r"decoder\.layers\.(\d+)\.", r"decoder.\1."),
    (r"decoder\.projection", "projection"),
    (r"query_projection", "q"),
    (r"key_projection", "k"),
    (r"value_projection", "v"),
    (r"out_projection", "out"),
    (r"\.conv1\.", ".ff.net.0."),
    (r"\.conv2\.", ".ff.net.3."),
]
SMALL = {"n_vars": 3, "n_marks": 4, "seq_len": 32, "label_len": 8, "pred_len": 8, "d_model": 16, "n_heads": 2,
         "d_ff": 32, "dropout": 0.0}  # fmt: skip
CASES = {  # case: (model, official module, attention name, training mode, model options)
    "informer_eval": ("informer", "Informer", "attention", False, {"factor": 10}),  # every query active
    "autoformer_eval": ("autoformer", "Autoformer", "correlation", False, {"factor": 2, "moving_avg": 7}),
    "autoformer_train": ("autoformer", "Autoformer", "correlation", True, {"factor": 2, "moving_avg": 7}),
}


def official_config(options: dict) -> types.SimpleNamespace:
    """The official run.py arguments of the small case (``enc_in`` = ``dec_in`` = ``c_out`` = C, timeF, hourly)."""
    return types.SimpleNamespace(
        task_name="long_term_forecast", seq_len=32, label_len=8, pred_len=8, enc_in=3, dec_in=3, c_out=3,
        d_model=16, n_heads=2, e_layers=2, d_layers=1, d_ff=32, distil=True, dropout=0.0, embed="timeF", freq="h",
        activation="gelu", moving_avg=options.get("moving_avg", 25), factor=options["factor"],
    )  # fmt: skip


def record(tslib: Path) -> dict:
    for name in ("reformer_pytorch", "einops"):  # imported by the attention module, unused by these models
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.LSHSelfAttention = stub.rearrange = stub.repeat = None  # type: ignore[attr-defined]
            sys.modules[name] = stub
    sys.path.insert(0, str(tslib))
    out: dict = {
        "_note": "Outputs (B=2, H=8, C=3) of the official Time-Series-Library models in float64; see "
        "scripts/encdec_reference.py and tests/data/README.md."
    }
    for case, (model_name, module, attention, training, options) in CASES.items():
        official_cls = __import__(f"models.{module}", fromlist=["Model"]).Model
        args = {**SMALL, **options}
        ours = dualbranch.create_model(model_name, **args).double()
        weights = {n: fill_value(n, tuple(p.shape)) for n, p in ours.named_parameters()}
        official = official_cls(official_config(options)).double()
        state = official.state_dict()
        for key in state:
            if key.endswith(("position_embedding.pe", "running_mean", "running_var", "num_batches_tracked")):
                continue  # fixed buffers, the same on both sides
            name = key
            for pattern, replacement in RENAMES:
                name = re.sub(pattern, replacement, name)
            state[key] = weights.pop(name.replace("ATT", attention)).reshape(state[key].shape)
        if weights:
            raise SystemExit(f"{case}: parameters without an official counterpart: {sorted(weights)}")
        official.load_state_dict(state)
        official.train(training)
        x = fixture_input(2, 40, 7)  # (B, L + H, C + M)
        series, marks = x[:, :32, :3], x[:, :, 3:]
        decoder = torch.cat([series[:, -8:], torch.zeros(2, 8, 3, dtype=torch.float64)], dim=1)  # (B, S + H, C)
        with torch.no_grad():
            forecast = official(series, marks[:, :32], decoder, marks[:, 24:])  # (B, H, C)
        out[case] = {"model": model_name, "args": args, "training": training, "output": forecast.tolist()}
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    reference = record(Path(argv[0]))
    if "--check" in argv:
        saved = json.loads(REFERENCE.read_text())
        same = all(
            torch.allclose(torch.tensor(saved[c]["output"]), torch.tensor(reference[c]["output"]), atol=1e-12)
            for c in CASES
        )
        print(f"{REFERENCE} is {'up to date' if same else 'stale'}.")
        return int(not same)
    REFERENCE.write_text(json.dumps(reference))
    print(f"wrote {REFERENCE} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
