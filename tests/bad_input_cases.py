"""The catalogue of bad input: one table of cases, each with a trigger and the error it must give.

Each :class:`Case` names the area, the bad input in one line, a ``trigger(tmp)`` that feeds it
through the public API or the ``dualbranch`` command line (in a fresh folder ``tmp``), the exception
type and a regular expression the message must match: what was wrong, where (file, key, shape,
line) and how to fix it. ``tests/test_bad_input.py`` runs every case; ``scripts/gen_error_docs.py``
runs them again to write ``docs/errors.md``, so the documented messages are the real ones.

Command-line cases raise :class:`CliFailure` carrying the single stderr line, after checking the
exit code is 2 and that no traceback was printed.
"""

from __future__ import annotations

import builtins
import errno
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import dualbranch
from bad_input_fixtures import (
    FIT,
    SMALL_ARGS,
    CliFailure,
    CodeRunningPickle,
    cli,
    failing_open,
    fake_run,
    image_folder,
    images,
    npz,
    pickled,
    saved,
    signals,
    small_model,
    truncate,
    ts_folder,
    with_value,
    yaml_file,
)
from dualbranch.checkpoint import CheckpointError, CheckpointMismatchError, load_checkpoint, save_checkpoint
from dualbranch.data.images import ImageDataError, load_image_folder, load_npz
from dualbranch.data.series import load_npz as load_series_npz
from dualbranch.data.series import load_uea, pad_series, stack_series
from dualbranch.data.signal import SignalData
from dualbranch.export import to_openvino
from dualbranch.registry import get_model_entry
from dualbranch.safe_io import WriteError, sha256_file
from dualbranch.train.checkpoint_io import ChecksummedCheckpointIO, load_training_checkpoint
from dualbranch.train.config import ConfigError, load_config
from run_triggers import diverging_run, made_for_another_model, output_root_denied, output_root_under_a_file, run_in_use

__all__ = ["CASES", "Case", "CliFailure", "message_of"]

TS_HEADER = "@problemName x\n@timeStamps false\n@univariate true\n@classLabel true a b\n@data\n"


@dataclass(frozen=True)
class Case:
    id: str
    area: str  # model | data | signal | config | checkpoint | run
    bad_input: str
    trigger: Callable[[Path], object]
    error: type[BaseException]
    match: str


def _without_statsmodels(trigger: Callable[[Path], object]) -> Callable[[Path], object]:
    """``trigger`` run where ``import statsmodels`` fails, as where it is not installed."""

    def run(tmp: Path) -> object:
        real = builtins.__import__

        def blocked(name: str, *args: object, **kwargs: object) -> object:
            if name.startswith("statsmodels"):
                raise ImportError(f"No module named {name!r}")
            return real(name, *args, **kwargs)  # type: ignore[arg-type]

        builtins.__import__ = blocked  # type: ignore[assignment]
        try:
            return trigger(tmp)
        finally:
            builtins.__import__ = real

    return run


def _series_csv(tmp: Path, name: str, times: list[str] | None, n: int = 60) -> Path:
    """A forecasting table: a time column (``times``, else monthly dates) and one variable of ``n`` rows."""
    times = times or [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(n)]
    lines = ["date,value", *(f"{t},{np.sin(i / 3):.4f}" for i, t in enumerate(times))]
    (tmp / name).write_text("\n".join(lines) + "\n")
    return tmp / name


def message_of(case: Case, tmp: Path) -> str:
    """Run a case; return its message (``tmp`` replaced by ``<tmp>``). Fails if it raises anything else."""
    try:
        case.trigger(tmp)
    except case.error as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        message = str(message).replace(str(tmp), "<tmp>")
        if not re.search(case.match, message, flags=re.S):
            raise AssertionError(f"{case.id}: message does not match {case.match!r}:\n{message}") from err
        return message
    raise AssertionError(f"{case.id}: no {case.error.__name__} was raised")


# ------------------------------------------------------------------------------------------- triggers
def _without_checkpoints(run: Path) -> Path:
    for path in (run / "checkpoints").iterdir():
        path.unlink()
    return run


def _newer_format(tmp: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(small_model(), tmp / "w.safetensors")
    save_file(load_file(path), path, metadata={"format": "dualbranch-2"})
    load_checkpoint(small_model(), path)


def _flipped_weights(tmp: Path) -> None:
    path = save_checkpoint(small_model(), tmp / "w.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the last tensor's bytes: the header still parses
    path.write_bytes(bytes(data))
    load_checkpoint(small_model(), path)


def _corrupt_last_ckpt(tmp: Path) -> None:
    run = fake_run(tmp)
    truncate(run / "checkpoints" / "last.ckpt")
    cli("fit", "--resume", str(run))(tmp)


def _newer_run_json(tmp: Path) -> None:
    run = fake_run(tmp)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "format_version": 99}))
    cli("predict", str(run), str(tmp))(tmp)


def _format1_run_json(tmp: Path) -> None:
    run = fake_run(tmp)
    record = json.loads((run / "run.json").read_text())
    del record["format_version"]  # format 1 had no version field
    (run / "run.json").write_text(json.dumps(record))
    cli("test", str(run))(tmp)


def _damaged_run_json(tmp: Path) -> None:
    run = fake_run(tmp)
    record = json.loads((run / "run.json").read_text())
    del record["class_names"]
    (run / "run.json").write_text(json.dumps(record))
    cli("test", str(run))(tmp)


def _pickle_in_lightning_checkpoint(tmp: Path) -> None:
    torch.save({"state_dict": {}, "callbacks": CodeRunningPickle()}, tmp / "evil.ckpt")
    load_training_checkpoint(tmp / "evil.ckpt")


def _disk_full_metrics(tmp: Path) -> None:
    run = fake_run(tmp)
    with failing_open(errno.ENOSPC, only="metrics.json"):
        cli("test", str(run))(tmp)


def _permission_denied_weights(tmp: Path) -> None:
    with failing_open(errno.EACCES):
        save_checkpoint(small_model(), tmp / "model.safetensors")


def _disk_full_report(tmp: Path) -> None:
    run = fake_run(tmp)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("report: false", "report: true"))
    with failing_open(errno.ENOSPC, only="report.html"):
        cli("test", str(run))(tmp)


def _disk_full_checkpoint(tmp: Path) -> None:
    with failing_open(errno.ENOSPC, only="last.ckpt"):
        ChecksummedCheckpointIO().save_checkpoint({"epoch": 1}, tmp / "last.ckpt")


def _read_only_config(tmp: Path) -> None:
    with failing_open(errno.EROFS, only="config.yaml"):
        cli(*FIT, f"output.root={tmp}", "output.name=r", f"model.args={json.dumps(SMALL_ARGS)}")(tmp)


def _disk_full_during_training(tmp: Path) -> None:
    try:
        # no mid-epoch checkpoint on a slow, busy machine: the first write is the one after epoch 1
        with failing_open(errno.ENOSPC, only="last.ckpt"):
            cli(*FIT, "output.root={tmp}", "output.name=r", f"model.args={json.dumps(SMALL_ARGS)}",
                "trainer.checkpoint_seconds=3600")(tmp)  # fmt: skip
    finally:  # what was written before the failure is intact
        assert (tmp / "r" / "run.json").is_file() and (tmp / "r" / "history.jsonl").is_file()


def _wrong_variant(tmp: Path) -> None:
    torch.manual_seed(0)
    path = save_checkpoint(dualbranch.create_model("crossvit_fmnist"), tmp / "fmnist.safetensors")
    with torch.device("meta"):
        other = dualbranch.create_model("crossvit_tiny_240")
    load_checkpoint(other, path)


def _int8_training_data_gone(tmp: Path) -> None:
    run = fake_run(tmp)  # its config's training data (an .npz) is not where it says: never calibrated, moved
    (run / "config.yaml").write_text(f"data:\n  name: npz\n  path: {tmp}/train.npz\noutput:\n  report: false\n")
    cli("predict", str(run), str(npz(tmp, x=images())), "--engine", "openvino-int8")(tmp)


def _tampered_int8(tmp: Path) -> None:
    from dualbranch.train.calibrated import calibration_folder

    run = fake_run(tmp)
    folder = calibration_folder(run, "run")
    folder.mkdir(parents=True)
    files = {}
    for kind in ("xml", "bin"):
        (folder / f"int8-0.{kind}").write_bytes(b"stored " + kind.encode())
        files[kind] = {"name": f"int8-0.{kind}", "sha256": sha256_file(folder / f"int8-0.{kind}")}
    (folder / "calibration.json").write_text(json.dumps({"fold": "run", "weights_sha256": "", "files": files}))
    (folder / "int8-0.bin").write_bytes(b"edited")
    try:
        cli("predict", str(run), str(npz(tmp, x=images())), "--engine", "openvino-int8")(tmp)
    finally:  # nothing the user had is replaced
        assert (folder / "int8-0.bin").read_bytes() == b"edited"


class _Unfolding(torch.nn.Module):
    """aten::unfold on a (B, 16) input, which OpenVINO's PyTorch frontend fails to convert."""

    input_shape = (16,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unfold(-1, 4, 2).sum(-1)


def _forward(name: str, shape: tuple[int, ...], **overrides: object) -> Callable[[Path], object]:
    def run(tmp: Path) -> None:
        model = dualbranch.create_model(name, **{**get_model_entry(name).tiny, **overrides})
        model(torch.zeros(shape))

    return run


CASES: list[Case] = [
    # ------------------------------------------------------------------ model
    Case("model-wrong-channels", "model", "RGB batch (B,3,28,28) for a 1-channel 28×28 model",
         _forward("crossvit_fmnist", (2, 3, 28, 28)), ValueError,
         r"expects input of shape \(batch, 1, 28, 28\).*got \(2, 3, 28, 28\).*in_chans"),
    Case("model-wrong-image-size", "model", "32×32 images for a fixed 28×28 model",
         _forward("crossvit_fmnist", (2, 1, 32, 32)), ValueError, r"got \(2, 1, 32, 32\)\. Resize the images to 28×28"),
    Case("model-non-square-input", "model", "non-square 28×32 input for a square 28×28 variant",
         _forward("crossvit_fmnist", (2, 1, 28, 32)), ValueError, r"\(batch, 1, 28, 28\).*got \(2, 1, 28, 32\)"),
    Case("model-missing-batch-axis", "model", "one image (1,28,28) without the batch axis",
         _forward("crossvit_fmnist", (1, 28, 28)), ValueError, r"expects input of shape \(batch, 1, 28, 28\)"),
    Case("signal-model-wrong-channels", "model", "5-channel signals for a 4-channel EEG Conformer",
         _forward("eeg_conformer", (2, 5, 128)), ValueError, r"n_chans=4, n_times=128\), got \(2, 5, 128\)"),
    Case("model-unknown-name", "model", "misspelt model name crossvit_9_24",
         lambda tmp: dualbranch.create_model("crossvit_9_24"), KeyError,
         r"Unknown model 'crossvit_9_24'\. Did you mean .*crossvit_9_240"),
    Case("model-unknown-option", "model", "misspelt model option embed_dimm",
         lambda tmp: dualbranch.create_model("crossvit_fmnist", embed_dimm=(8, 16)), TypeError,
         r"'embed_dimm' \(did you mean 'embed_dim'\?\)"),
    Case("model-branch-count-mismatch", "model", "three embed_dims for a two-branch CrossViT",
         lambda tmp: dualbranch.create_model("crossvit_fmnist", embed_dim=(16, 32, 64)), ValueError,
         r"embed_dim=\(16, 32, 64\) has 3 entries but there are 2 branches"),
    Case("model-heads-do-not-divide", "model", "embed_dim 30 with 4 attention heads",
         lambda tmp: dualbranch.create_model("crossvit_fmnist", embed_dim=(30, 64), num_heads=(4, 4)), ValueError,
         r"embed_dim 30 is not divisible by num_heads 4"),
    Case("model-image-smaller-than-patch", "model", "3×3 images with 4-pixel patches",
         lambda tmp: dualbranch.create_model("crossvit_fmnist", img_size=3, stem="patch"), ValueError,
         r"smaller than one patch.*larger img_size or a smaller patch_size"),
    Case("model-layer-from-dotted-path", "model", "act_layer='os.system' (a class path smuggled in as an option)",
         lambda tmp: dualbranch.create_model("hybrid_cnn_vit_tiny", act_layer="os.system"), TypeError,
         r"act_layer='os\.system' is not a known layer.*cannot import classes"),
    Case("model-rocketformer-no-kernels", "model", "RocketFormer with num_kernels=0",
         lambda tmp: dualbranch.create_model("rocketformer", n_times=60, num_kernels=0), ValueError,
         r"num_kernels must be 1 or more \(ROCKET draws 10,000\), got 0"),
    Case("model-rocketformer-choose-unfitted", "model", "RocketFormer asked to choose its fusion before its kernel fit",
         lambda tmp: dualbranch.create_model("rocketformer", n_times=60, num_kernels=20).choose_fusion(
             torch.zeros(2, 1, 60), torch.tensor([0, 1])), ValueError,
         r"choose_fusion needs the kernel branch fitted first: call fit_closed_form"),
    Case("model-shapeformer-shapelets-without-info", "model", "ShapeFormer given shapelets but not their info rows",
         lambda tmp: dualbranch.create_model("shapeformer", shapelets=[[0.0, 1.0]]), ValueError,
         r"Give both shapelets and shapelet_info"),
    Case("model-shapeformer-position-width", "model", "ShapeFormer position embeddings narrower than its tokens",
         lambda tmp: dualbranch.create_model("shapeformer", pos_embed_dim=64), ValueError,
         r"pos_embed_dim \(64\) must equal shape_embed_dim \(128\)"),
    Case("cli-model-args-class-path", "model", "model.args smuggling a class path through the command line",
         cli(*FIT, "model.name=hybrid_cnn_vit_tiny", "model.args.act_layer=torch.nn.modules.GELU",
             "output.root={tmp}"), CliFailure, r"act_layer='torch\.nn\.modules\.GELU' is not a known layer"),
    Case("cli-model-channels-disagree", "model", "model.args.in_chans=3 for 1-channel digits",
         cli(*FIT, f"model.args={json.dumps({**SMALL_ARGS, 'in_chans': 3})}", "output.root={tmp}"), CliFailure,
         r"model expects inputs \(3, 8, 8\) but the data is \(1, 8, 8\); remove the input size from model\.args"),
    # ------------------------------------------------------------------ data (images)
    Case("npz-nan", "data", "NaN pixel in an image array",
         lambda tmp: load_npz(npz(tmp, x=with_value(images() / 255, (0, 2, 3), np.nan), y=np.zeros(6, int))),
         ImageDataError, r"data\.npz: x holds NaN or Inf \(first at index \(0, 2, 3\)\)"),
    Case("npz-missing-labels", "data", ".npz without the y array",
         lambda tmp: load_npz(npz(tmp, x=images())), ImageDataError, r"needs arrays 'x' and 'y'; missing \['y'\]"),
    Case("npz-labels-outside-classes", "data", "label 2 with only 2 class names",
         lambda tmp: load_npz(npz(tmp, x=images(), y=np.array([0, 1, 2, 0, 1, 0])), ("cat", "dog")), ImageDataError,
         r"data\.npz: Label 2 is outside the 2 classes \(0\.\.1\); fix the labels"),
    Case("npz-negative-label", "data", "label -1 (a 'missing' marker) among the labels",
         lambda tmp: load_npz(npz(tmp, x=images(), y=np.array([0, 1, -1, 0, 1, 0]))), ImageDataError,
         r"Label -1 is outside the 2 classes"),
    Case("npz-huge-label", "data", "a stray label 2**40 among bare integer labels (no class names)",
         lambda tmp: load_npz(npz(tmp, x=images(), y=np.array([0, 1, 2**40, 0, 1, 0]))), ImageDataError,
         r"data\.npz: y holds the label 1099511627776, which would mean 1,099,511,627,777 classes; labels must be "
         r"class indices 0\.\.K-1"),
    Case("npz-truncated", "data", "a truncated .npz file",
         lambda tmp: load_npz(truncate(npz(tmp, x=images(), y=np.zeros(6, int)))), ImageDataError,
         r"data\.npz: not a readable \.npz file .*truncated"),
    Case("npz-pickled-objects", "data", "an .npz holding pickled Python objects",
         lambda tmp: load_npz(npz(tmp, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1, int))), ImageDataError,
         r"pickled Python objects, which are refused"),
    Case("npz-wrong-ndim", "data", "x of shape (6, 64): flattened images",
         lambda tmp: load_npz(npz(tmp, x=images().reshape(6, 64), y=np.zeros(6, int))), ImageDataError,
         r"x must be \(N, H, W\), \(N, H, W, C\) or \(N, C, H, W\); got \(6, 64\)"),
    Case("npz-standardised-values", "data", "standardised floats (negative values) as images",
         lambda tmp: load_npz(npz(tmp, x=np.linspace(-2, 2, 6 * 64).reshape(6, 8, 8), y=np.zeros(6, int))),
         ImageDataError, r"x holds values in \[-2\.0, 2\.0\]; give uint8 0\.\.255 or floats in \[0, 1\]"),
    Case("npz-16-bit-images", "data", "16-bit images (values up to 4095) that uint8 would wrap",
         lambda tmp: load_npz(npz(tmp, x=np.full((6, 8, 8), 4095, np.uint16), y=np.zeros(6, int))),
         ImageDataError, r"values in \[4095, 4095\].*rescale 16-bit images to 8 bits"),
    Case("npz-empty", "data", "an .npz with zero images",
         lambda tmp: load_npz(npz(tmp, x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, int))), ImageDataError,
         r"data\.npz: The dataset is empty"),
    Case("npz-length-mismatch", "data", "6 images but 5 labels",
         lambda tmp: load_npz(npz(tmp, x=images(), y=np.zeros(5, int))), ImageDataError, r"6 images but 5 labels"),
    Case("folder-missing", "data", "an image folder that does not exist",
         lambda tmp: load_image_folder(tmp / "nope"), FileNotFoundError, r"Image folder <tmp>/nope does not exist"),
    Case("folder-without-classes", "data", "an image folder with no class sub-folders",
         lambda tmp: load_image_folder(tmp), ImageDataError, r"has no class sub-folders; expected <tmp>/<class name>/"),
    Case("folder-empty-class", "data", "a class folder with no images",
         lambda tmp: load_image_folder(image_folder(tmp, {"a": 3, "b": 0})), ImageDataError,
         r"class folder\(s\) \['b'\] hold no images"),
    Case("folder-corrupt-image", "data", "an unreadable image file (on_corrupt=error)",
         lambda tmp: load_image_folder(image_folder(tmp, {"a": 3, "b": 3}, corrupt="garbage")), ImageDataError,
         r"Unreadable image <tmp>/images/a/bad\.png .*set data\.on_corrupt=skip"),
    Case("folder-truncated-image", "data", "a PNG cut off halfway",
         lambda tmp: load_image_folder(image_folder(tmp, {"a": 3, "b": 3}, corrupt="truncated")), ImageDataError,
         r"Unreadable image <tmp>/images/a/0\.png"),
    Case("folder-unknown-class", "data", "a validation folder with a class the training set lacks",
         lambda tmp: load_image_folder(image_folder(tmp, {"a": 2, "c": 2}), class_names=("a", "b")), ImageDataError,
         r"has folders \['c'\] that are not among the classes \['a', 'b'\]"),
    Case("cli-class-with-one-sample", "data", "a class with one image: no validation split possible",
         lambda tmp: (image_folder(tmp, {"a": 3, "b": 1}), cli("fit", "data.name=image_folder",
                      "data.path={tmp}/images", "output.root={tmp}/runs", "trainer.progress_bar=false")(tmp)),
         CliFailure,
         r"Class 'b' has 1 training example\(s\), too few to hold out validation; set data\.val_ratio=0"),
    Case("cli-data-path-missing", "data", "data.path that does not exist",
         cli("fit", "data.name=npz", "data.path={tmp}/missing.npz", "output.root={tmp}"), CliFailure,
         r"Array file <tmp>/missing\.npz does not exist"),
    Case("cli-data-path-not-given", "data", "data.name=npz without data.path",
         cli("fit", "data.name=npz", "output.root={tmp}"), CliFailure, r"data\.name=npz needs data\.path"),
    # ------------------------------------------------------------------ forecasting series
    Case("cli-forecast-time-features-without-dates", "data", "data.time_features=timeF on a table whose time column "
         "holds labels, not dates",
         lambda tmp: (_series_csv(tmp, "labels.csv", [f"t{i}" for i in range(60)]), cli("fit", "data.name=series",
                      "data.path={tmp}/labels.csv", "data.pred_len=4", "data.time_features=timeF",
                      "output.root={tmp}/runs")(tmp)),
         CliFailure, r"data\.time_features=timeF: <tmp>/labels\.csv has no time column of dates; set "
         r"data\.time_column to its date column, or data\.time_features=none"),
    Case("cli-forecast-horizon-longer-than-training", "data", "a 20-step horizon held out of a 30-point series",
         lambda tmp: (_series_csv(tmp, "short.csv", None, 30), cli("fit", "data.name=series",
                      "data.path={tmp}/short.csv", "data.pred_len=20", "data.protocol=last",
                      "output.root={tmp}/runs")(tmp)),
         CliFailure, r"The training part has 10 rows, too few for a horizon of 20 \(data\.pred_len\) and a look-back"),
    Case("cli-forecast-ets-without-statsmodels", "data", "data.statistical=ets where statsmodels is not installed",
         lambda tmp: (_series_csv(tmp, "monthly.csv", None, 60), _without_statsmodels(cli("fit", "data.name=series",
                      "data.path={tmp}/monthly.csv", "data.pred_len=12", "data.statistical=ets",
                      "output.root={tmp}/runs"))(tmp)),
         CliFailure, r"ETS forecasts need statsmodels: pip install 'dualbranch\[forecasting\]'"),
    Case("cli-forecast-horizon-marks-unread", "data", "data.horizon_marks=true for a model that reads no calendar of "
         "the horizon (iTransformer)",
         lambda tmp: (_series_csv(tmp, "monthly.csv", None, 120), cli("fit", "data.name=series",
                      "data.path={tmp}/monthly.csv", "data.pred_len=4", "model.name=itransformer",
                      "data.horizon_marks=true", "output.root={tmp}/runs")(tmp)),
         CliFailure, r"data\.horizon_marks=true: model\.name=itransformer does not read the time features of the "
         r"horizon; leave data\.horizon_marks at its default"),
    # ------------------------------------------------------------------ signal / series
    Case("signal-nan", "signal", "a NaN sample in EEG epochs",
         lambda tmp: SignalData(**signals(x=with_value(signals()["x"], (1, 2, 5), np.nan))), ValueError,
         r"1 non-finite value\(s\); the first is NaN at example 1, channel 2 \(ch2\), sample 5\. Interpolate"),
    Case("signal-inf", "signal", "an Inf sample (a clipped amplifier)",
         lambda tmp: SignalData(**signals(x=with_value(signals()["x"], (0, 0, 7), np.inf))), ValueError,
         r"the first is Inf at example 0, channel 0 \(ch0\), sample 7"),
    Case("signal-labels-out-of-range", "signal", "label 3 with 3 classes",
         lambda tmp: SignalData(**signals(y=np.array([0, 1, 3, 0, 1, 2]))), ValueError,
         r"labels \[3\] are out of range for 3 classes"),
    Case("signal-empty-class", "signal", "a class with no examples",
         lambda tmp: SignalData(**signals(y=np.array([0, 1, 0, 0, 1, 1]))), ValueError,
         r"class\(es\) \['c'\] have no examples; drop them from class_names or add data"),
    Case("signal-2d", "signal", "univariate series (n, T) without a channel axis",
         lambda tmp: SignalData(**signals(x=np.zeros((6, 20)))), ValueError, r"must be 3-D.*x\[:, None, :\]"),
    Case("signal-label-count", "signal", "5 labels for 6 examples",
         lambda tmp: SignalData(**signals(y=np.array([0, 1, 2, 0, 1]))), ValueError,
         r"y must be 1-D with one label per example \(6\), got shape \(5,\)"),
    Case("series-variable-length-no-policy", "signal", "series of 5 and 9 samples with length_policy='error'",
         lambda tmp: stack_series([np.zeros((2, 5)), np.zeros((2, 9))], "error"), ValueError,
         r"Series lengths vary \(5–9 samples\); choose length_policy='pad'"),
    Case("series-unknown-policy", "signal", "length_policy='truncate'",
         lambda tmp: stack_series([np.zeros((2, 5)), np.zeros((2, 9))], "truncate"), ValueError,  # type: ignore[arg-type]
         r"length_policy must be 'pad', 'resample' or 'error', got 'truncate'"),
    Case("series-pad-would-truncate", "signal", "pad to 6 samples when a series has 9",
         lambda tmp: pad_series([np.zeros((2, 5)), np.zeros((2, 9))], 6), ValueError,
         r"length=6 is shorter than the longest series \(9\); use resample"),
    Case("series-channel-counts-differ", "signal", "series with 2 and 3 channels",
         lambda tmp: stack_series([np.zeros((2, 5)), np.zeros((3, 5))]), ValueError,
         r"different channel counts: \[2, 3\]"),
    Case("series-npz-nan", "signal", "NaN in a series .npz",
         lambda tmp: load_series_npz(npz(tmp, x=with_value(np.zeros((4, 2, 8)), (3, 1, 2), np.nan), y=[0, 1, 0, 1])),
         ValueError, r"data\.npz: x has 1 non-finite.*example 3, channel 1 \(ch1\), sample 2"),
    Case("series-npz-truncated", "signal", "a truncated series .npz",
         lambda tmp: load_series_npz(truncate(npz(tmp, x=np.zeros((4, 2, 8)), y=[0, 1, 0, 1]))), ValueError,
         r"data\.npz is not a readable \.npz file .*truncated"),
    Case("series-uea-folder-without-the-set", "signal", "data.path a folder without Epilepsy/Epilepsy_TRAIN.ts",
         cli("fit", "data.name=uea", "data.uea_name=Epilepsy", "data.path={tmp}"), CliFailure,
         r"holds no Epilepsy/Epilepsy_TRAIN\.ts and Epilepsy/Epilepsy_TEST\.ts \(nor UCR \.tsv or \.txt splits\)"),
    Case("series-uea-ts-unreadable", "signal", "a .ts file that is not in the .ts format",
         lambda tmp: load_uea("Broken", "train", extract_path=ts_folder(tmp, "Broken", "not a ts file\n")),
         ValueError, r"Broken_TRAIN\.ts: no series read; a \.ts file has a header of @ lines, then @data"),
    Case("series-uea-ts-bad-value", "signal", "a .ts series with a value that is not a number",
         lambda tmp: load_uea("Broken", "train", extract_path=ts_folder(tmp, "Broken", TS_HEADER + "1,x,3:a\n")),
         ValueError, r"Broken_TRAIN\.ts: not a readable \.ts file \(.*could not convert string to float"),
    Case("series-ucr-tsv-bad-value", "signal", "a UCR .tsv series with a value that is not a number",
         lambda tmp: load_uea(
             "Broken", "train", extract_path=ts_folder(tmp, "Broken", "1\t0.5\t0.7\n2\t0.1\tx\n", ".tsv")),
         ValueError, r"Broken_TRAIN\.tsv, line 2: could not convert string to float: 'x'; a UCR text file holds one"),
    Case("series-ucr-tsv-label-only", "signal", "a UCR .tsv line with a class label and no values",
         lambda tmp: load_uea("Broken", "train", extract_path=ts_folder(tmp, "Broken", "1\t0.5\t0.7\n2\n", ".tsv")),
         ValueError, r"Broken_TRAIN\.tsv, line 2: a class label \('2'\) but no values"),
    Case("series-uea-regression-set", "signal", "a downloaded regression set (@targetLabel) as data.name=uea",
         lambda tmp: load_uea("Prices", "train", extract_path=ts_folder(
             tmp, "Prices", TS_HEADER.replace("@classLabel true a b", "@targetLabel true") + "1,2,3:0.5\n")),
         ValueError, r"Prices_TRAIN\.ts declares no class labels \(@classLabel true\): it is not a classification"),
    # ------------------------------------------------------------------ config
    Case("config-unknown-key", "config", "misspelt key lrr on line 3 of a YAML file",
         lambda tmp: load_config(yaml_file(tmp, "optim:\n  epochs: 3\n  lrr: 0.1\n")), ConfigError,
         r"bad\.yaml line 3: unknown key 'optim\.lrr' \(did you mean 'lr'\?\)"),
    Case("config-unknown-section", "config", "section 'optimizer' instead of 'optim'",
         lambda tmp: load_config(yaml_file(tmp, "optimizer:\n  lr: 0.1\n")), ConfigError,
         r"line 1: unknown key 'optimizer' \(did you mean 'optim'\?\)"),
    Case("config-wrong-type", "config", "epochs: ten",
         lambda tmp: load_config(yaml_file(tmp, "optim:\n  epochs: ten\n")), ConfigError,
         r"bad\.yaml line 2: optim\.epochs must be a positive integer, got 'ten'"),
    Case("config-wrong-type-override", "config", "trainer.deterministic=maybe on the command line",
         lambda tmp: load_config(None, ["trainer.deterministic=maybe"]), ConfigError,
         r"command line: trainer\.deterministic must be true or false, got 'maybe'"),
    Case("config-negative-seed", "config", "trainer.seed=-1 (numpy draws from seeds 0 to 2**32 - 1)",
         lambda tmp: load_config(None, ["trainer.seed=-1"]), ConfigError,
         r"command line: trainer\.seed must be an integer in \[0, 2\*\*32 - 1\], got -1"),
    Case("config-tuple-length", "config", "data.img_size=[32] (one number for (H, W))",
         lambda tmp: load_config(None, ["data.img_size=[32]"]), ConfigError,
         r"data\.img_size must be two positive integers \[H, W\], or null, got \[32\]"),
    Case("config-tuple-type", "config", "optim.betas=0.9 (one number for a pair)",
         lambda tmp: load_config(None, ["optim.betas=0.9"]), ConfigError,
         r"command line: optim\.betas must be a list of 2 values, got 0\.9\.$"),
    Case("config-list-item-type", "config", "data.sessions=1.5 (a session is a name or a number)",
         lambda tmp: load_config(None, ["data.name=uea", "data.sessions=1.5"]), ConfigError,
         r"command line: data\.sessions\[0\] must be a string or an integer, got 1\.5\.$"),
    Case("config-model-as-value", "config", "model=3 (the model section given a number)",
         lambda tmp: load_config(None, ["model=3"]), ConfigError, r"'model' is a section; give it a mapping of keys"),
    Case("config-invalid-yaml-override", "config", "optim.betas=[0.9 (an unclosed bracket on the command line)",
         lambda tmp: load_config(None, ["optim.betas=[0.9"]), ConfigError,
         r"^command line: optim\.betas: not valid YAML \(expected ',' or '\]', but got '<stream end>'\)\.$"),
    Case("config-invalid-yaml", "config", "an unclosed bracket",
         lambda tmp: load_config(yaml_file(tmp, "optim:\n  epochs: [1\n")), ConfigError,
         r"bad\.yaml line \d: not valid YAML"),
    Case("config-python-tag", "config", "!!python/object/apply:os.system in a YAML file",
         lambda tmp: load_config(yaml_file(tmp, "model: !!python/object/apply:os.system ['echo hi']\n")), ConfigError,
         r"line 1: the YAML tag !!python/object/apply:os\.system would build a Python object"),
    Case("config-python-tag-override", "config", "model.name=!!python/name:os.system",
         lambda tmp: load_config(None, ["model.name=!!python/name:os.system"]), ConfigError,
         r"command line: model\.name: the YAML tag !!python/name:os\.system would build a Python object"),
    Case("config-val-ratio-range", "config", "data.val_ratio=1.5",
         lambda tmp: load_config(None, ["data.val_ratio=1.5"]), ConfigError,
         r"command line: data\.val_ratio must be in \[0, 1\) \(0: no validation, keep the last epoch\), got 1\.5"),
    Case("config-batch-size-zero", "config", "batch_size: 0 in a YAML file",
         lambda tmp: load_config(yaml_file(tmp, "data:\n  batch_size: 0\n")), ConfigError,
         r"bad\.yaml line 2: data\.batch_size must be a positive integer, got 0"),
    Case("config-on-corrupt-value", "config", "data.on_corrupt=ignore",
         lambda tmp: load_config(None, ["data.on_corrupt=ignore"]), ConfigError,
         r"data\.on_corrupt must be one of error, skip, got 'ignore'"),
    Case("config-precision-value", "config", "trainer.precision=fp16",
         lambda tmp: load_config(None, ["trainer.precision=fp16"]), ConfigError,
         r"trainer\.precision must be one of auto, 32-true.*16-mixed.*got 'fp16'"),
    Case("config-optimizer-value", "config", "optim.optimizer=sgd",
         lambda tmp: load_config(None, ["optim.optimizer=sgd"]), ConfigError,
         r"optim\.optimizer must be one of adamw, radam, got 'sgd'"),
    Case("config-not-an-override", "config", "an override without '='",
         lambda tmp: load_config(None, ["optim.lr"]), ConfigError,
         r"'optim\.lr' is not an override; write section\.key=value"),
    Case("config-section-as-value", "config", "optim=3 (a section given a number)",
         lambda tmp: load_config(None, ["optim=3"]), ConfigError, r"'optim' is a section; give it a mapping of keys"),
    Case("config-file-missing", "config", "--config pointing at a missing file",
         lambda tmp: load_config(tmp / "missing.yaml"), ConfigError, r"Config file <tmp>/missing\.yaml does not exist"),
    Case("config-top-level-list", "config", "a YAML file holding a list",
         lambda tmp: load_config(yaml_file(tmp, "- optim\n- data\n")), ConfigError,
         r"the top level must be a mapping of sections, got list"),
    Case("cli-unknown-dataset", "config", "data.name=imagenet",
         cli("fit", "data.name=imagenet", "output.root={tmp}"), CliFailure,
         r"unknown dataset 'imagenet'.*Known datasets — images: .*; signals: "),
    Case("cli-unknown-model", "config", "model.name=crossvit_fmnst (misspelt)",
         cli("fit", "model.name=crossvit_fmnst", "output.root={tmp}"), CliFailure,
         r"Unknown model 'crossvit_fmnst'\. Did you mean crossvit_fmnist"),
    Case("config-logger-value", "config", "trainer.logger=wandb",
         lambda tmp: load_config(None, ["trainer.logger=wandb"]), ConfigError,
         r"trainer\.logger must be one of csv, tensorboard, mlflow, got 'wandb'"),
    Case("cli-misspelt-key", "config", "optim.lrr=1 on the command line",
         cli("fit", "optim.lrr=1", "output.root={tmp}"), CliFailure,
         r"unknown key 'optim\.lrr' \(did you mean 'lr'\?\)"),
    # ------------------------------------------------------------------ checkpoints
    Case("checkpoint-other-variant", "checkpoint", "crossvit_fmnist weights loaded into crossvit_tiny_240",
         _wrong_variant, CheckpointMismatchError,
         r"does not fit CrossViT.*shape mismatches.*It looks like a checkpoint of 'crossvit_fmnist'"),
    Case("checkpoint-other-num-classes", "checkpoint", "10-class weights into a 3-class model",
         lambda tmp: load_checkpoint(small_model(num_classes=3), save_checkpoint(small_model(), tmp / "w.safetensors")),
         CheckpointMismatchError, r"head\.0\.weight: \(10, 16\) vs \(3, 16\).*reset_classifier"),
    Case("checkpoint-newer-format", "checkpoint", "a safetensors file of format dualbranch-2", _newer_format,
         CheckpointError, r"format '2' by a newer dualbranch; this version reads format 1 and older\. Upgrade"),
    Case("checkpoint-truncated-safetensors", "checkpoint", "a .safetensors file cut off halfway",
         lambda tmp: load_checkpoint(small_model(), truncate(save_checkpoint(small_model(), tmp / "w.safetensors"))),
         CheckpointError, r"w\.safetensors: not a readable safetensors file .*truncated"),
    Case("checkpoint-truncated-pth", "checkpoint", "a .pth file cut off halfway",
         lambda tmp: load_checkpoint(small_model(), truncate(saved(small_model().state_dict(), tmp / "w.pth"))),
         CheckpointError, r"w\.pth: not a readable PyTorch checkpoint .*truncated"),
    Case("checkpoint-bit-flip", "checkpoint", "weights changed on disk after saving (checksum)", _flipped_weights,
         CheckpointError, r"do not match the checksum recorded when they were saved; the file is corrupt"),
    Case("checkpoint-code-execution", "checkpoint", "a pickle whose unpickling would call os.system",
         lambda tmp: load_checkpoint(small_model(), pickled({"model": CodeRunningPickle()}, tmp / "evil.pth")),
         CheckpointError, r"evil\.pth: refused to load\..*could run arbitrary code"),
    Case("checkpoint-lightning-code-execution", "checkpoint", "a Lightning .ckpt carrying a code-running object",
         _pickle_in_lightning_checkpoint, CheckpointError, r"evil\.ckpt: refused to load.*could run code"),
    Case("checkpoint-no-tensors", "checkpoint", "a .pth that holds no tensors",
         lambda tmp: load_checkpoint(small_model(), saved({"epoch": 3}, tmp / "w.pth")),
         CheckpointError, r"w\.pth: holds no tensors \(found dict\); is it a model checkpoint\?"),
    Case("checkpoint-missing", "checkpoint", "checkpoint_path to a missing file",
         lambda tmp: dualbranch.create_model("crossvit_fmnist", checkpoint_path=str(tmp / "w.pth")), FileNotFoundError,
         r"Checkpoint <tmp>/w\.pth does not exist"),
    Case("checkpoint-made-for-another-model", "checkpoint", "weights of crossvit_fmnist (so says their metadata) "
         "for hybrid_cnn_vit_tiny", made_for_another_model, CheckpointMismatchError,
         r"made for the model 'crossvit_fmnist' \(its metadata records it\), not for 'hybrid_cnn_vit_tiny'"),
    Case("cli-resume-corrupt-last-ckpt", "checkpoint", "resume from a truncated last.ckpt", _corrupt_last_ckpt,
         CliFailure, r"last\.ckpt: corrupt or truncated .*Intact checkpoint\(s\) in the same folder: best\.ckpt"),
    Case("cli-predict-int8-calibration-tampered", "checkpoint",
         "a stored openvino-int8 model whose file does not match the checksum in its record", _tampered_int8,
         CliFailure, r"The stored openvino-int8 model <tmp>/runs/run/engines/openvino-int8/int8-0\.bin does not match "
         r"the checksum in its record \(damaged or edited\); delete <tmp>/runs/run/engines/openvino-int8 to calibrate"),
    Case("cli-run-json-newer-format", "checkpoint", "a run folder written by a newer dualbranch", _newer_run_json,
         CliFailure, r"run\.json: run folder format 99 was written by a newer dualbranch.*Upgrade"),
    Case("cli-run-json-format-1", "checkpoint", "a run folder of format 1 (before the first release)",
         _format1_run_json, CliFailure, r"run\.json: run folder format 1 was written before dualbranch 0\.1\.0 was "
         r"released and is no longer read; train the run again"),
    Case("cli-run-json-damaged", "checkpoint", "a run.json with a key deleted by hand", _damaged_run_json,
         CliFailure, r"run\.json: missing keys \['class_names'\]; the file was edited or damaged"),
    # ------------------------------------------------------------------ run folders and disks
    Case("cli-output-holds-a-run", "run", "fit into a folder that already holds a run (no --overwrite)",
         lambda tmp: cli(*FIT, "output.root={tmp}/runs", "output.name=run")(fake_run(tmp).parent.parent), CliFailure,
         r"<tmp>/runs/run already holds a run\. Nothing was changed\..*--overwrite"),
    Case("cli-resume-not-a-run", "run", "--resume on a folder that is not a run",
         cli("fit", "--resume", "{tmp}"), CliFailure, r"Cannot resume <tmp>: not a dualbranch run folder"),
    Case("cli-resume-without-checkpoint", "run", "--resume on a run that saved no checkpoint yet",
         lambda tmp: cli("fit", "--resume", str(_without_checkpoints(fake_run(tmp))))(tmp), CliFailure,
         r"Cannot resume <tmp>/runs/run: <tmp>/runs/run/checkpoints/last\.ckpt does not exist"),
    Case("cli-resume-with-overrides", "run", "--resume together with overrides",
         cli("fit", "--resume", "{tmp}", "optim.lr=1"), CliFailure,
         r"--resume continues a run with its own config\.yaml"),
    Case("cli-test-not-a-run", "run", "dualbranch test on a folder that is not a run",
         cli("test", "{tmp}"), CliFailure, r"<tmp> is not a dualbranch run folder \(no run\.json\)"),
    Case("cli-predict-missing-input", "run", "predict on a file that does not exist",
         lambda tmp: cli("predict", str(fake_run(tmp)), "{tmp}/nope.png")(tmp), CliFailure,
         r"<tmp>/nope\.png does not exist"),
    Case("cli-predict-wrong-size", "run", "predict on 28×28 arrays with an 8×8 model",
         lambda tmp: cli("predict", str(fake_run(tmp)), str(npz(tmp, x=images(size=28), y=np.zeros(6, int))))(tmp),
         CliFailure, r"data\.npz: images are \(1, 28, 28\), the model needs \(1, 8, 8\)"),
    Case("cli-predict-no-images", "run", "predict on a folder without images",
         lambda tmp: cli("predict", str(fake_run(tmp)), "{tmp}/runs/run/checkpoints")(tmp), CliFailure,
         r"No images found in <tmp>/runs/run/checkpoints"),
    Case("cli-predict-unknown-engine", "run", "predict --engine tensorrt",
         lambda tmp: cli("predict", str(fake_run(tmp)), str(npz(tmp, x=images())), "--engine", "tensorrt")(tmp),
         CliFailure, r"Unknown engine 'tensorrt'; choose from eager, compile, onnx, openvino, openvino-bf16, "
         r"int8-dynamic, openvino-int8, auto\."),
    Case("cli-predict-int8-static", "run", "predict --engine int8-static (its calibration is not stored)",
         lambda tmp: cli("predict", str(fake_run(tmp)), str(npz(tmp, x=images())), "--engine", "int8-static")(tmp),
         CliFailure, r"predict has no engine 'int8-static'.*use openvino-int8 \(calibrated once, stored in the run\)"),
    Case("cli-predict-int8-training-data-gone", "run",
         "the first predict --engine openvino-int8 after the training data moved", _int8_training_data_gone,
         CliFailure, r"openvino-int8 is calibrated once on the training data of <tmp>/runs/run, which cannot be read "
         r"now \(Array file <tmp>/train\.npz does not exist\.\); restore it where .*config\.yaml says"),
    Case("cli-export-int8-of-a-model-name", "run", "export --format openvino-int8 of a model name (no training data)",
         cli("export", "crossvit_fmnist", "--format", "openvino-int8", "--output", "{tmp}/m.xml"), CliFailure,
         r"openvino-int8 is calibrated on a run's training data: export a run folder, not a model name"),
    Case("openvino-unconvertible-model", "run", "an OpenVINO engine for a model with an operator it cannot convert",
         lambda tmp: to_openvino(_Unfolding()), ConfigError,
         r"_Unfolding cannot be converted to OpenVINO \(no conversion for aten::unfold\); the engines that do not "
         r"convert to OpenVINO work: eager, compile, onnx, int8-dynamic\."),
    Case("cli-disk-full-metrics", "run", "disk full while writing metrics.json", _disk_full_metrics, CliFailure,
         r"Could not write <tmp>/runs/run/metrics\.json: the disk is full.*intact"),
    Case("cli-disk-full-report", "run", "disk full while writing report.html", _disk_full_report, CliFailure,
         r"Could not write <tmp>/runs/run/report\.html: the disk is full"),
    Case("cli-read-only-run-folder", "run", "read-only file system when fit writes config.yaml", _read_only_config,
         CliFailure, r"Could not write <tmp>/r/config\.yaml: the file system is read-only"),
    Case("cli-disk-full-during-training", "run", "disk full when Lightning saves last.ckpt after epoch 1",
         _disk_full_during_training, CliFailure,
         r"Could not write <tmp>/r/checkpoints/last\.ckpt(\.sha256)?: the disk is full"),
    Case("cli-training-diverges", "run", "optim.lr=100: the loss becomes NaN", diverging_run, CliFailure,
         r"Training diverged at epoch 1 of 1, step \d+ .*the training loss is NaN\. Nothing from the diverged steps "
         r"was saved.*lower optim\.lr \(now 100; e\.g\. optim\.lr=10\)"),
    Case("cli-run-in-use", "run", "fit --resume of a run folder another process is training", run_in_use, CliFailure,
         r"<tmp>/runs/run is in use by process 4242 on node1, `dualbranch fit data\.name=digits` since 10:21:07: a run "
         r"folder has one owner at a time"),
    Case("cli-output-root-under-a-file", "run", "output.root below a file", output_root_under_a_file, CliFailure,
         r"Cannot create the folder <tmp>/notes\.txt/runs \(output\.root\): <tmp>/notes\.txt is a file, not a folder"),
    Case("cli-output-root-permission-denied", "run", "output.root in a folder the user may not write",
         output_root_denied, CliFailure, r"Cannot create the folder <tmp>/locked/runs \(output\.root\): permission "
         r"denied; make the folder above it writable"),
    Case("weights-permission-denied", "run", "permission denied writing model.safetensors",
         _permission_denied_weights, WriteError, r"Could not write <tmp>/model\.safetensors: permission denied"),
    Case("checkpoint-disk-full", "run", "disk full while Lightning writes last.ckpt", _disk_full_checkpoint,
         WriteError, r"Could not write <tmp>/last\.ckpt(\.sha256)?: the disk is full.*was not replaced"),
]  # fmt: skip
