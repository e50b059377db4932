"""Record tests/data/signal_reference.json: the official DBConformer, EEG Conformer and MVCNet outputs.

    git clone https://github.com/wzwvv/DBConformer /tmp/dbconformer         # PolyForm Noncommercial 1.0.0; 02cf632
    git clone https://github.com/eeyhsong/EEG-Conformer /tmp/eeg-conformer  # GPL-3.0; commit 9ae149b used
    git clone https://github.com/wzwvv/MVCNet /tmp/mvcnet                   # no licence file; commit 53e1229 used
    pip install --target /tmp/refdeps einops                               # both Conformer releases need it
    PYTHONPATH=/tmp/refdeps .venv/bin/python scripts/signal_reference.py dbconformer=/tmp/dbconformer \\
        eeg_conformer=/tmp/eeg-conformer mvcnet=/tmp/mvcnet [--check]

Each ``model=checkout`` argument (re)records that model's cases and keeps the others; ``--check`` exits
1 if the recorded outputs differ instead of writing. The official models are imported from the checkouts
and run there; nothing of them is copied into this repository (the DBConformer release's licence is
noncommercial and MVCNet's release has none, so only their outputs, facts about a computation, are kept).
Modules that the official files import and never use for the model are stood in for when absent:
``torchvision`` and ``torchsummary`` (EEG Conformer's training script shares the model's file) and
``timm`` (MVCNet's IFNet takes only ``trunc_normal_`` from it, as does DBConformer's file, for the
starting weights that the fixture replaces; ``torch.nn.init``'s is the stand-in).

Each case builds this library's model with ``args``, fills it with ``filled_state``
(tests/test_signal_reference.py: every parameter ``fill_value`` of its name, BatchNorm statistics moved
off (0, 1); a golden-ratio fill, not the forecasting fixture's sine, so that the attention is
far from uniform), loads the same tensors into the official model under its names and records, in evaluation
mode and float64, the official outputs for ``signal_input`` (B = 2):

* ``eeg_conformer_eval``: the release's ``Conformer`` at one Transformer block instead of 6. Its
  spatial convolution (22 electrodes), fully-connected input (2440 = 61 tokens × 40) and 4 classes
  are fixed in the file, so the input is 22 × 1000; the logits and the encoder tokens averaged over time.
  The release's unused mean-pooling head (``clshead``) has no counterpart and does not reach the output.
* ``dbconformer_eval``: the release's ``DBConformer`` (``branch="all"``, channel attention, positions,
  no gate) at 4 channels × 65 samples, patch 16 (4 temporal tokens after the release drops the last
  sample), depth 1 per branch, 8 spatial filters, 3 classes (the temporal kernel 63, spatial kernel 25,
  width 40 and 10 heads are fixed in its file): the logits and the two halves of the fused vector. Its
  scorer's output bias has no counterpart: the softmax over channels cancels it, and it stays at its
  seeded start.
* ``mvcnet_eval``: the release's IFNet (one band, ``radix=1``), classifier ``FC_xy``, Transformer
  ``encoder(nhead=2, nlayer=1)`` and ``projector`` as its training script wires them, at 4 channels × 65
  samples, 8 filters, kernel 15, patch 16 (4 tokens; the release drops the last sample as for its
  1001-sample BNCI2014001), 3 classes: logits, embedding h and projection z. IFNet's own unused ``fc``
  has no counterpart.

Shape legend: B batch, C channels, T samples, N tokens, D token width, E embedding width.
"""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import dualbranch  # noqa: E402
from test_signal_reference import REFERENCE, filled_state, signal_input  # noqa: E402

# official parameter names -> this library's, applied in order; "[q]", "[k]", "[v]" take a third of the fused
# qkv projection. Both Conformer releases build the same Transformer block: its names are renamed once the
# block's prefix reads "blocks.N." (EEG Conformer) or "<branch>_blocks.N." (DBConformer)
CONFORMER_BLOCK_RENAMES = [
    (r"blocks\.(\d+)\.0\.fn\.0\.", r"blocks.\1.norm1."),
    (r"blocks\.(\d+)\.0\.fn\.1\.queries\.", r"blocks.\1.attn.qkv[q]."),
    (r"blocks\.(\d+)\.0\.fn\.1\.keys\.", r"blocks.\1.attn.qkv[k]."),
    (r"blocks\.(\d+)\.0\.fn\.1\.values\.", r"blocks.\1.attn.qkv[v]."),
    (r"blocks\.(\d+)\.0\.fn\.1\.projection\.", r"blocks.\1.attn.proj."),
    (r"blocks\.(\d+)\.1\.fn\.0\.", r"blocks.\1.norm2."),
    (r"blocks\.(\d+)\.1\.fn\.1\.0\.", r"blocks.\1.mlp.fc1."),
    (r"blocks\.(\d+)\.1\.fn\.1\.3\.", r"blocks.\1.mlp.fc2."),
]
EEG_CONFORMER_RENAMES = [
    (r"^0\.shallownet\.0\.", "patch_embedding.temporal."),
    (r"^0\.shallownet\.1\.", "patch_embedding.spatial."),
    (r"^0\.shallownet\.2\.", "patch_embedding.bn."),
    (r"^0\.projection\.0\.", "patch_embedding.projection."),
    (r"^1\.(\d+)\.", r"blocks.\1."),
    *CONFORMER_BLOCK_RENAMES,
    (r"^2\.fc\.6\.", "final_layer."),
    (r"^2\.fc\.", "fc."),
]
MVCNET_RENAMES = [
    (r"^F\.stem\.sconv\.conv\.", "cnn.mix."),
    (r"^F\.stem\.sconv\.bn\.", "cnn.bn1."),
    (r"^F\.stem\.tconv\.0\.conv\.", "cnn.depthwise."),
    (r"^F\.stem\.tconv\.0\.bn\.", "cnn.bn2."),
    (r"^C\.fc\.", "final_layer."),
    (r"^E\.layers\.(\d+)\.self_attn\.in_proj_", r"transformer.\1.attn.qkv."),
    (r"^E\.layers\.(\d+)\.self_attn\.out_proj\.", r"transformer.\1.attn.proj."),
    (r"^E\.layers\.(\d+)\.linear(\d)\.", r"transformer.\1.mlp.fc\2."),
    (r"^E\.layers\.(\d+)\.norm(\d)\.", r"transformer.\1.norm\2."),
    (r"^P\.", "projector."),
]
DBCONFORMER_RENAMES = [
    (r"^embedding\.stem\.sconv\.conv\.", "temporal_embed.mix."),
    (r"^embedding\.stem\.sconv\.bn\.", "temporal_embed.bn1."),
    (r"^embedding\.stem\.tconv\.0\.conv\.", "temporal_embed.depthwise."),
    (r"^embedding\.stem\.tconv\.0\.bn\.", "temporal_embed.bn2."),
    (r"^channel_embedding\.encoder\.0\.", "spatial_embed.conv."),
    (r"^channel_embedding\.encoder\.4\.", "spatial_embed.proj."),
    (r"^pos_embedding_(temporal|spatial)$", r"\1_pos"),
    (r"^(temporal|spatial)_transformer\.(\d+)\.", r"\1_blocks.\2."),
    *CONFORMER_BLOCK_RENAMES,
    (r"^spatial_attn_pool\.0\.", "channel_attention.score_hidden."),
    (r"^spatial_attn_pool\.2\.", "channel_attention.score_out."),
    (r"^classifier\.fc\.6\.", "final_layer."),
    (r"^classifier\.fc\.", "fc."),
]
# official tensors with no counterpart: layers that never reach an output, and DBConformer's scorer output
# bias, a shift of every channel's score that the softmax over channels cancels (left at its seeded start)
UNUSED = ("2.clshead.", "F.fc.", "spatial_attn_pool.2.bias")
CASE_ARGS = {
    "eeg_conformer_eval": {"n_chans": 22, "n_times": 1000, "n_outputs": 4, "att_depth": 1},
    "dbconformer_eval": {"n_chans": 4, "n_times": 65, "n_outputs": 3, "patch_size": 16, "depth": 1,
                         "spatial_filters": 8},
    "mvcnet_eval": {"n_chans": 4, "n_times": 65, "n_outputs": 3, "n_filters": 8, "temporal_kernel": 15,
                    "patch_size": 16},
}  # fmt: skip


def stand_in(*names: str, **attributes: object) -> None:
    """Empty modules for imports the official files make and the model never uses (only when absent)."""
    for name in names:
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.__dict__.update(attributes)
            stub.__getattr__ = lambda attr: None  # type: ignore[attr-defined]  # any name imported from it
            sys.modules[name] = stub


def import_official(checkout: Path, module: str) -> types.ModuleType:
    """``module`` from ``checkout``; the official repositories' top-level names (models, utils) are
    forgotten afterwards so that the next checkout's are not shadowed."""
    sys.path.insert(0, str(checkout))
    try:
        return __import__(module, fromlist=["_"])
    finally:
        sys.path.remove(str(checkout))
        for name in [n for n in sys.modules if n.split(".")[0] in ("models", "utils", "conformer")]:
            del sys.modules[name]


def load_renamed(official: nn.Module, weights: dict[str, torch.Tensor], renames: list) -> None:
    """Fill ``official`` with ``weights`` (this library's names) through ``renames``; every weight must
    find its place and every official tensor that reaches an output must get one."""
    weights, split = dict(weights), set()
    state = official.state_dict()
    for key in state:
        if key.endswith("num_batches_tracked") or key.startswith(UNUSED):
            continue
        name = key
        for pattern, replacement in renames:
            name = re.sub(pattern, replacement, name)
        third = re.search(r"\[([qkv])\]", name)
        if third:
            fused = name.replace(third.group(0), "")
            value = weights[fused].chunk(3, dim=0)["qkv".index(third.group(1))]  # (3D, …) -> (D, …)
            split.add(fused)
        else:
            value = weights.pop(name)
        state[key] = value.reshape(state[key].shape)
    for fused in split:
        weights.pop(fused)
    if weights:
        raise SystemExit(f"{type(official).__name__}: tensors without an official counterpart: {sorted(weights)}")
    official.load_state_dict(state)


def eeg_conformer(checkout: Path) -> dict:
    stand_in("torchvision", "torchvision.transforms", "torchvision.utils", "torchvision.models", "torchsummary")
    release = import_official(checkout, "conformer")
    args = CASE_ARGS["eeg_conformer_eval"]
    ours = dualbranch.create_model("eeg_conformer", **args).double()
    official = release.Conformer(emb_size=40, depth=args["att_depth"], n_classes=args["n_outputs"]).double()
    load_renamed(official, filled_state(ours), EEG_CONFORMER_RENAMES)
    official.eval()
    with torch.no_grad():
        flat, logits = official(signal_input(args).unsqueeze(1))  # (B, 1, C, T) -> (B, N·D), (B, 4)
    tokens = flat.reshape(2, -1, 40).mean(dim=1)  # (B, N, D) -> (B, D)
    recorded = {"logits": logits.tolist(), "tokens": tokens.tolist()}
    return {"eeg_conformer_eval": {"model": "eeg_conformer", "args": args, "training": False, "outputs": recorded}}


def mvcnet(checkout: Path) -> dict:
    stand_in("timm", "timm.models", "timm.models.layers", trunc_normal_=nn.init.trunc_normal_)
    network = import_official(checkout, "utils.network")
    args = CASE_ARGS["mvcnet_eval"]
    ours = dualbranch.create_model("mvcnet", **args).double()
    steps = ours.transformer_times  # T' = 64
    embed = ours.embed_dim  # E = 32
    config = types.SimpleNamespace(
        data_name="BNCI2014001", chn=args["n_chans"], embed_dims=args["n_filters"], patch_size=args["patch_size"],
        time_sample_num=args["n_times"], class_num=args["n_outputs"], feature_deep_dim=embed, dim_e=steps,
        dim_p=args["n_chans"] * steps, projector_dim1=4 * embed, projector_dim2=embed,
    )  # fmt: skip
    net_f = network.IFNet(config.data_name, config.chn, config.embed_dims, kernel_size=args["temporal_kernel"],
                          radix=1, patch_size=config.patch_size, time_points=config.time_sample_num,
                          num_classes=config.class_num)  # fmt: skip
    official = nn.ModuleDict({
        "F": net_f, "C": network.FC_xy(config.feature_deep_dim, config.class_num),
        "E": network.encoder(config, nhead=2, nlayer=1), "P": network.projector(config),
    }).double()  # fmt: skip
    load_renamed(official, filled_state(ours), MVCNET_RENAMES)
    official.eval()
    x = signal_input(args)  # (B, C, T)
    with torch.no_grad():
        h, logits = official["C"](official["F"](x))  # (B, E), (B, n_outputs)
        z = official["P"](official["E"](x[:, :, :-1]).reshape(2, -1))  # (B, C, T') -> (B, C·T') -> (B, E)
    recorded = {"logits": logits.tolist(), "embedding": h.tolist(), "projection": z.tolist()}
    return {"mvcnet_eval": {"model": "mvcnet", "args": args, "training": False, "outputs": recorded}}


def dbconformer(checkout: Path) -> dict:
    stand_in("timm", "timm.models", "timm.models.layers", trunc_normal_=nn.init.trunc_normal_)
    release = import_official(checkout, "models.DBConformer")
    args = CASE_ARGS["dbconformer_eval"]
    ours = dualbranch.create_model("dbconformer", **args).double()
    config = types.SimpleNamespace(
        data_name="BNCI2014001", chn=args["n_chans"], patch_size=args["patch_size"], time_sample_num=args["n_times"],
        class_num=args["n_outputs"], spa_dim=args["spatial_filters"], gate_flag=False, posemb_flag=True,
        branch="all", chn_atten_flag=True,
    )  # fmt: skip
    official = release.DBConformer(config, emb_size=40, tem_depth=args["depth"], chn_depth=args["depth"],
                                   chn=args["n_chans"], n_classes=args["n_outputs"]).double()  # fmt: skip
    load_renamed(official, filled_state(ours), DBCONFORMER_RENAMES)
    official.eval()
    with torch.no_grad():
        fused, logits = official(signal_input(args).unsqueeze(1))  # (B, 1, C, T) -> (B, 2D), (B, n_outputs)
    recorded = {"logits": logits.tolist(), "embedding": fused[:, :40].tolist(), "projection": fused[:, 40:].tolist()}
    return {"dbconformer_eval": {"model": "dbconformer", "args": args, "training": False, "outputs": recorded}}


RECORDERS: dict[str, Callable[[Path], dict]] = {
    "dbconformer": dbconformer,
    "eeg_conformer": eeg_conformer,
    "mvcnet": mvcnet,
}


def main(argv: list[str]) -> int:
    checkouts = dict(a.split("=", 1) for a in argv if "=" in a)
    if not checkouts or set(checkouts) - set(RECORDERS):
        print(__doc__)
        return 2
    recorded: dict = {}
    torch.manual_seed(0)  # the official layers without a counterpart start from seeded draws
    for model, checkout in checkouts.items():
        recorded.update(RECORDERS[model](Path(checkout)))
    saved = json.loads(REFERENCE.read_text()) if REFERENCE.is_file() else {}
    if "--check" in argv:
        stale = [
            case
            for case, new in recorded.items()
            for name, values in new["outputs"].items()
            if not torch.allclose(torch.tensor(saved[case]["outputs"][name]), torch.tensor(values), atol=1e-12)
        ]
        print(f"{REFERENCE} is {'stale: ' + ', '.join(sorted(set(stale))) if stale else 'up to date'}.")
        return int(bool(stale))
    saved["_note"] = (
        "Outputs (B=2) of the official DBConformer (github.com/wzwvv/DBConformer, commit 02cf632, PolyForm "
        "Noncommercial 1.0.0), EEG Conformer (github.com/eeyhsong/EEG-Conformer, commit 9ae149b, GPL-3.0) "
        "and MVCNet (github.com/wzwvv/MVCNet, commit 53e1229, no licence) in float64, evaluation mode; weights = "
        "tests/test_signal_reference.filled_state under this library's names, input = signal_input; see "
        "scripts/signal_reference.py and tests/data/README.md."
    )
    saved.update(recorded)
    REFERENCE.write_text(json.dumps(saved))
    print(f"wrote {REFERENCE} ({', '.join(recorded)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
