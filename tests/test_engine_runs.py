"""Engines on trained runs: int8 calibrated once and stored, ``--engine auto``, the shared engine names,
and OpenVINO on forecasting runs.

A small CrossViT is trained for two epochs on scikit-learn's digits written to an ``.npz`` (so that the
training data can be moved away), and a tiny Gateformer on a generated ETT-shaped table. Calibration
sees 64 examples here (512 in use) to keep the tests quick.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dualbranch.checkpoint import save_checkpoint
from dualbranch.cli import main
from dualbranch.engines import ENGINES, OLD_NAMES, engine_name
from dualbranch.errors import ConfigError, MissingDependencyError
from dualbranch.export import FORMATS
from dualbranch.safe_io import sha256_file
from dualbranch.train import calibrated, engine_auto
from dualbranch.train.calibrated import calibration_batches, calibration_folder, tensor_digest, weights_digest
from dualbranch.train.kinds import kind_named
from dualbranch.train.pipeline import load_fold_models
from dualbranch.train.predict import PREDICT_ENGINES, predict

HAS_NNCF = all(importlib.util.find_spec(name) for name in ("openvino", "nncf"))
HAS_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "onnxscript"))
needs_nncf = pytest.mark.skipif(not HAS_NNCF, reason="needs openvino and nncf (pip install .[deploy])")
TINY_CROSSVIT = (
    "model.args={embed_dim: [16, 32], num_heads: [2, 2], patch_size: [2, 4], img_scale: [1, 1], stem: patch,"
    " depth: [[1, 1]]}"
)
QUIET = ["output.report=false", "trainer.progress_bar=false", "trainer.threads=1"]


@pytest.fixture(scope="module")
def digits_npz_run(tmp_path_factory) -> Path:
    """A two-epoch run trained from an .npz of scikit-learn's digits (8×8, 0..255), and 300 inputs."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("engine_runs")
    digits = load_digits()
    images = (digits.images * 16).clip(0, 255).astype(np.uint8)
    np.savez(root / "train.npz", x=images, y=digits.target)
    np.savez(root / "inputs.npz", x=images[:300])
    argv = ["fit", "data.name=npz", f"data.path={root / 'train.npz'}", "model.name=crossvit_fmnist", TINY_CROSSVIT,
            "optim.epochs=2", *QUIET, f"output.root={root}", "output.name=run"]  # fmt: skip
    assert main(argv) == 0
    return root / "run"


def _own_copy(run: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of ``run`` with its own copy of the training data (so a test may move it), and the inputs."""
    data = tmp_path / "train.npz"
    shutil.copy(run.parent / "train.npz", data)
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    config = copy / "config.yaml"
    config.write_text(config.read_text().replace(str(run.parent / "train.npz"), str(data)))
    return copy, data, run.parent / "inputs.npz"


def _labels(rows: list[dict]) -> list[object]:
    return [row["label"] for row in rows]


@needs_nncf
def test_int8_is_calibrated_once_stored_and_never_needs_the_training_data_again(
    digits_npz_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(calibrated, "CALIBRATION_EXAMPLES", 64)
    run, data, inputs = _own_copy(digits_npz_run, tmp_path)
    log: list[str] = []
    first = predict(run, [str(inputs)], engine="openvino-int8", log=log.append)
    assert any("calibrating fold run once" in line for line in log)
    folder = calibration_folder(run, "run")
    record = json.loads((folder / "calibration.json").read_text())
    # the record names the fold, the calibration inputs (checked against an independent computation)
    # and the weights it was made from, and the files with their checksums
    [fold], run_record = load_fold_models(run)
    kind = kind_named(run_record.kind)
    pipeline = kind.input_pipeline(fold.preprocessing, kind.augment_section())
    batches = calibration_batches(run, "run", fold.preprocessing, pipeline, limit=64)
    assert record["fold"] == "run" and record["calibration_examples"] == 64
    assert record["calibration_sha256"] == tensor_digest(batches)
    assert record["weights_sha256"] == weights_digest(fold.model)
    for entry in record["files"].values():
        assert sha256_file(folder / entry["name"]) == entry["sha256"]
    eager = predict(run, [str(inputs)])
    assert np.mean([a == b for a, b in zip(_labels(first), _labels(eager))]) >= 0.9

    # new weights (a resumed run) make the stored model stale: calibrated again, the old files go
    with torch.no_grad():
        next(fold.model.parameters()).mul_(1.01)
    save_checkpoint(fold.model, run / "model.safetensors")
    log.clear()
    predict(run, [str(inputs)], engine="openvino-int8", log=log.append)
    assert any("made from other weights" in line for line in log)
    record = json.loads((folder / "calibration.json").read_text())
    assert record["weights_sha256"] == weights_digest(fold.model)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["calibration.json", record["files"]["xml"]["name"], record["files"]["bin"]["name"]]
    )

    # the training data moves away: predictions reuse the stored model, identical, nothing rewritten
    data.rename(tmp_path / "moved.npz")
    stored = (folder / "calibration.json").read_bytes()
    first = predict(run, [str(inputs)], engine="openvino-int8")
    log.clear()
    again = predict(run, [str(inputs)], engine="openvino-int8", log=log.append)
    assert again == first and not log
    assert (folder / "calibration.json").read_bytes() == stored

    # without a stored model and without the data: one line that says what is missing and what to do
    shutil.rmtree(folder)
    capsys.readouterr()
    assert main(["predict", str(run), str(inputs), "--engine", "openvino-int8"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot be read now" in error and str(data) in error and "choose another engine" in error


@needs_nncf
def test_export_openvino_int8_stores_the_calibration_that_predict_reuses(digits_npz_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(calibrated, "CALIBRATION_EXAMPLES", 64)
    run, data, inputs = _own_copy(digits_npz_run, tmp_path)
    output = tmp_path / "int8.xml"
    assert main(["export", str(run), "--format", "openvino-int8", "--output", str(output)]) == 0
    summary = json.loads(capsys.readouterr().out)
    record = json.loads((calibration_folder(run, "run") / "calibration.json").read_text())
    assert summary["calibration_sha256"] == record["calibration_sha256"]
    assert summary["precision"]["compute_layers"]["int8"] > 0 and summary["max_abs_diff"] < 1.0
    data.unlink()
    log: list[str] = []
    rows = predict(run, [str(inputs)], engine="openvino-int8", log=log.append)
    assert len(rows) == 300 and not log  # the exported calibration, no training data needed


@needs_nncf
def test_auto_picks_the_fastest_engine_that_agrees_and_stores_the_choice(digits_npz_run, tmp_path, monkeypatch):
    monkeypatch.setattr(calibrated, "CALIBRATION_EXAMPLES", 64)
    run, _, inputs = _own_copy(digits_npz_run, tmp_path)
    log: list[str] = []
    rows = predict(run, [str(inputs)], engine="auto", log=log.append)
    choice = json.loads((run / engine_auto.CHOICE_FILE).read_text())
    chosen, candidates = choice["engine"], choice["candidates"]
    assert set(candidates) == set(engine_auto.CANDIDATES) and choice["sample_inputs"] == engine_auto.SAMPLE_INPUTS
    timed = {name: facts["median_ms"] for name, facts in candidates.items() if "median_ms" in facts}
    assert candidates[chosen]["qualifies"] and chosen == min(timed, key=timed.get)
    for facts in candidates.values():  # timed exactly when it qualified, and why is always said
        assert ("median_ms" in facts) == facts["qualifies"] and facts["why"]
        if "top1_agreement" in facts:
            assert facts["qualifies"] == (facts["top1_agreement"] >= engine_auto.AGREEMENT_FLOOR)
    assert any(line.startswith(f"engine auto: chose {chosen}, the fastest") for line in log)
    direct = predict(run, [str(inputs)], engine=chosen)
    assert _labels(rows) == _labels(direct)
    np.testing.assert_allclose([r["probability"] for r in rows], [r["probability"] for r in direct], atol=1e-5)

    # the next call reuses the choice without measuring anything
    def no_timing(*args, **kwargs):
        raise AssertionError("a stored choice must not be measured again")

    monkeypatch.setattr(engine_auto, "time_alternating", no_timing)
    log.clear()
    assert _labels(predict(run, [str(inputs)], engine="auto", log=log.append)) == _labels(rows)
    assert log[0].startswith(f"engine auto: {chosen} (") and "to measure again" in log[0]


def test_auto_never_picks_an_engine_below_the_agreement_floor(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_auto, "TIMING_REPEATS", 2)  # stand-ins: the timing itself is not what is tested
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).eval()
    sample = torch.randn(200, 16)

    def build(name: str):
        if name == "onnx":  # fast and wrong: always class 0
            return lambda x: torch.eye(10)[torch.zeros(len(x), dtype=torch.long)]
        if name == "openvino":  # right
            return model
        raise MissingDependencyError(f"{name} is not installed here")

    log: list[str] = []
    chosen, runner = engine_auto.choose_engine(tmp_path, model, sample, True, build, 64, log.append)
    path = tmp_path / engine_auto.CHOICE_FILE
    choice = json.loads(path.read_text())
    assert chosen in ("eager", "openvino") and runner is not None
    assert not choice["candidates"]["onnx"]["qualifies"] and "median_ms" not in choice["candidates"]["onnx"]
    assert choice["candidates"]["openvino-bf16"]["why"] == "skipped: openvino-bf16 is not installed here"
    assert any("onnx" in line and "< 99%" in line for line in log)

    # stored: the same setup reuses it without building anything; a smaller sample too
    assert engine_auto.choose_engine(tmp_path, model, sample[:50], True, None, 64, log.append) == (chosen, None)
    # another setup (here: another thread count recorded) is measured again, and the note says what changed
    choice["identity"]["threads"] = 999
    path.write_text(json.dumps(choice))
    log.clear()
    assert engine_auto.choose_engine(tmp_path, model, sample, True, build, 64, log.append)[1] is not None
    assert f"threads 999 -> {torch.get_num_threads()}" in log[0]
    # so is a call with more inputs than the choice was measured on
    path.unlink()
    engine_auto.choose_engine(tmp_path, model, sample[:20], True, build, 64, log.append)
    log.clear()
    engine_auto.choose_engine(tmp_path, model, sample[:40], True, build, 64, log.append)
    assert log[0].startswith("engine auto: measuring again on 40 inputs") and "measured on 20" in log[0]


@pytest.mark.parametrize(
    ("classes", "wrong", "qualifies"),
    [(True, 1, True), (True, 2, False), (False, 0.005, True), (False, 0.02, False)],
)
def test_agreement_floors(classes, wrong, qualifies):
    reference = torch.eye(10)[torch.arange(100) % 10] if classes else torch.ones(100, 4)
    if classes:  # `wrong` of the 100 rows get another class
        got = reference.clone()
        got[:wrong] = torch.eye(10)[(torch.arange(wrong) + 1) % 10]
    else:  # a relative error of `wrong`
        got = reference * (1 + wrong)
    assert engine_auto._agreement(reference, got, classes)["qualifies"] is qualifies


def test_old_engine_names_still_work_with_a_note(digits_npz_run, capsys):
    inputs = str(digits_npz_run.parent / "inputs.npz")
    log: list[str] = []
    assert predict(digits_npz_run, [inputs], engine="torch", log=log.append) == predict(digits_npz_run, [inputs])
    assert log == ["note: engine 'torch' is now called 'eager'; the old name works until dualbranch 0.2.0."]
    assert engine_name("int8", note=log.append) == "int8-dynamic"
    capsys.readouterr()
    assert main(["predict", str(digits_npz_run), inputs, "--engine", "int8"]) == 0
    out, err = capsys.readouterr()
    assert "'int8' is now called 'int8-dynamic'" in err and len(out.splitlines()) == 301  # header + rows


def test_one_engine_vocabulary_for_predict_bench_and_export(capsys):
    assert set(PREDICT_ENGINES) - {"auto"} <= set(ENGINES) and "int8-static" not in PREDICT_ENGINES
    assert set(FORMATS) - set(ENGINES) == {"pt2", "safetensors"} and not set(OLD_NAMES) & set(ENGINES)
    with pytest.raises(ConfigError, match="choose from eager, compile, onnx, openvino, openvino-bf16"):
        engine_name("tensorrt")
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--top-k K classes: also write the K most probable classes" in text
    assert "openvino-bf16" in text and "auto" in text and "int8 (now int8-dynamic)" in text


@pytest.fixture(scope="module")
def forecasting_run(tmp_path_factory) -> Path:
    """A tiny Gateformer (patches: the operator OpenVINO did not convert) on an ETT-shaped table."""
    pd = pytest.importorskip("pandas")
    root = tmp_path_factory.mktemp("forecast_engines")
    rng = np.random.default_rng(0)
    t = np.arange(400)
    values = np.stack([10 * np.sin(2 * np.pi * t / 24 + k) + rng.normal(size=400) + 50 * k for k in range(3)], 1)
    pd.DataFrame(values, columns=["a", "b", "OT"]).to_csv(root / "load.csv", index=False)
    argv = ["fit", "data.name=series", f"data.path={root / 'load.csv'}", "data.seq_len=24", "data.pred_len=12",
            "model.name=gateformer", "model.args={d_model: 16, d_ff: 32, n_heads: 2}", "optim.epochs=2", *QUIET,
            f"output.root={root}", "output.name=g"]  # fmt: skip
    assert main(argv) == 0
    return root / "g"


def _forecasts(rows: list[dict]) -> np.ndarray:
    return np.array([[float(row[c]) for c in ("a", "b", "OT")] for row in rows])


@needs_nncf
def test_forecasting_runs_predict_and_export_with_the_openvino_engines(forecasting_run, tmp_path, monkeypatch):
    monkeypatch.setattr(calibrated, "CALIBRATION_EXAMPLES", 64)
    table = str(forecasting_run.parent / "load.csv")
    eager = _forecasts(predict(forecasting_run, [table]))
    scale = np.abs(eager).mean()
    # fp32: the same arithmetic; bf16 keeps 8 significant bits (relative rounding 2^-9 per operation), a
    # few layers deep that stays within 1 % of the forecast's scale; int8 within 10 % on two epochs' weights
    for engine, tolerance in (("openvino", 1e-5), ("openvino-bf16", 1e-2), ("openvino-int8", 0.1)):
        got = _forecasts(predict(forecasting_run, [table], engine=engine))
        assert got.shape == eager.shape == (12, 3)
        assert np.abs(got - eager).max() / scale < tolerance, engine
    output = tmp_path / "g.xml"
    assert main(["export", str(forecasting_run), "--format", "openvino", "--output", str(output)]) == 0
    assert output.is_file() and output.with_suffix(".bin").is_file()


@pytest.mark.parametrize(("patch_len", "stride", "pad_end"), [(8, 8, True), (8, 4, False), (6, 5, True)])
def test_patches_are_gathered_exactly_as_tensor_unfold_cuts_them(patch_len, stride, pad_end):
    from dualbranch.models.forecasting.layers import PatchEmbed

    embed = PatchEmbed(seq_len=32, d_model=4, patch_len=patch_len, stride=stride, pad_end=pad_end, dropout=0.0)
    embed = embed.double().eval()
    series = torch.randn(5, 32, dtype=torch.float64)
    padded = torch.cat([series, series[:, -1:].expand(5, stride)], 1) if pad_end else series
    expected = embed.proj(padded.unfold(-1, patch_len, stride)) + embed.positions  # the former implementation
    assert torch.equal(embed(series), expected)  # the same float64 values, bit for bit
