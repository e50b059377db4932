"""The OpenVINO engines (fp32, bf16 and NNCF int8), OpenVINO IR export, calibration from a run's
training examples, and what bench reports about the CPU.

fp32 is checked against the eager model to 1e-4; bf16 (8 significant bits) by relative error and
top-1 agreement; int8 by top-1 agreement on real images. Conversions are shared per module: each
takes seconds.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dualbranch import create_model
from dualbranch.bench import cpu_features, format_table, machine_info, machine_line
from dualbranch.cli import main
from dualbranch.engines import CALIBRATED, ENGINES, build_engine, engine_precision
from dualbranch.errors import MissingDependencyError, RunFolderError
from dualbranch.export import OpenVinoModel, export_model, read_openvino, recorded_precision, to_openvino
from dualbranch.quantize import quantize_openvino_int8, top1_agreement
from dualbranch.signal_stack import current_signal_stack
from dualbranch.train.calibrated import calibration_batches
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit, load_fold_models
from dualbranch.train.predict import predict
from real_images import real_images

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
HAS_NNCF = HAS_OPENVINO and importlib.util.find_spec("nncf") is not None
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino (pip install .[deploy])")
needs_nncf = pytest.mark.skipif(not HAS_NNCF, reason="needs openvino and nncf (pip install .[deploy])")
MODEL = "crossvit_fmnist"
SHALLOW = {"depth": [[1, 1]]}  # one stage: every operator of the full model, a third of the graph


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(MODEL, **SHALLOW).eval()


@pytest.fixture(scope="module")
def converted(model):
    if not HAS_OPENVINO:
        pytest.skip("needs openvino")
    return to_openvino(model)


@needs_openvino
@pytest.mark.parametrize("batch", [1, 5])
def test_openvino_fp32_matches_eager_at_any_batch(model, converted, batch):
    x = torch.randn(batch, 1, 28, 28)
    with torch.inference_mode():
        expected = model(x)
    got = OpenVinoModel(converted)(x)
    assert got.shape == (batch, 10) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@needs_nncf
def test_the_threads_signal_stack_survives_openvino(model, converted):
    # OpenVINO's CPU plugin installs a signal stack of its own; once freed, the next signal to the thread
    # (a subprocess's SIGCHLD) killed the process with SIGSEGV
    before = current_signal_stack()
    assert before is not None
    engine = OpenVinoModel(converted)
    engine(torch.zeros(2, 1, 28, 28))
    assert current_signal_stack() == before
    quantize_openvino_int8(converted, [torch.randn(4, 1, 28, 28)])
    assert current_signal_stack() == before
    del engine


@needs_openvino
def test_openvino_graph_keeps_the_bicubic_resize_and_a_dynamic_batch(converted):
    interpolations = [op for op in converted.get_ops() if op.get_type_name() == "Interpolate"]
    assert interpolations, "the second branch's resize must be inside the graph"
    assert {op.get_attributes()["mode"] for op in interpolations} == {"cubic"}
    shape = converted.inputs[0].get_partial_shape()
    assert shape[0].is_dynamic and [d.get_length() for d in list(shape)[1:]] == [1, 28, 28]


HAS_BF16 = any(machine_info()["cpu_features"][name] for name in ("BF16", "AMX")) if HAS_OPENVINO else False


@needs_openvino
def test_openvino_bf16_runs_bf16_where_the_cpu_has_it_and_agrees_on_real_images(model, converted):
    runner = OpenVinoModel(converted, precision="bf16")
    report = engine_precision("openvino-bf16", runner)
    # OpenVINO's CPU plugin runs bf16 only on AVX512-BF16 or AMX; elsewhere it quietly runs fp32, and says so
    assert report["requested"] == "bf16"
    assert report["precision"] == report["inference_precision"] == ("bf16" if HAS_BF16 else "fp32")
    assert (report["compute_layers"].get("bf16", 0) > 0) == HAS_BF16 and ("note" in report) != HAS_BF16
    images = real_images(256)
    with torch.inference_mode():
        expected, got = model(images), runner(images)
    # bf16 keeps 8 significant bits (rounding 2^-9 relative): a few layers deep the logits stay within 3 %
    # of their norm; top-1 agreement allows for near ties of random weights
    assert float((got - expected).norm() / expected.norm()) < 0.03
    assert top1_agreement(model, runner, images)["agreement"] >= 0.95
    assert engine_precision("openvino", OpenVinoModel(converted))["precision"] == "fp32"


@needs_openvino
def test_a_bf16_fallback_is_reported(converted, monkeypatch):
    runner = OpenVinoModel(converted, precision="bf16")
    fallback = {"requested": "bf16", "inference_precision": "fp32", "compute_layers": {"fp32": 24}}
    monkeypatch.setattr(runner, "precision_report", lambda: fallback)  # what a CPU without bf16 reports
    report = engine_precision("openvino-bf16", runner)
    assert report["precision"] == "fp32" and "no bf16 arithmetic" in report["note"]


@needs_openvino
def test_export_openvino_bf16_records_the_hint_that_the_loader_applies(model, tmp_path):
    summary = export_model(model, "openvino-bf16", tmp_path / "bf16.xml")
    assert recorded_precision(read_openvino(tmp_path / "bf16.xml")) == "bf16"
    assert summary["precision"]["requested"] == "bf16"
    assert summary["precision"]["inference_precision"] == ("bf16" if HAS_BF16 else "fp32")
    assert OpenVinoModel(tmp_path / "bf16.xml", precision=None).requested == "bf16"
    export_model(model, "openvino", tmp_path / "fp32.xml")
    assert OpenVinoModel(tmp_path / "fp32.xml", precision=None).requested == "f32"
    # the same fp32 weights in both files: bf16 is a compile-time choice, not a conversion of the weights
    assert (tmp_path / "bf16.bin").read_bytes() == (tmp_path / "fp32.bin").read_bytes()


@needs_openvino
def test_a_model_openvino_cannot_convert_is_one_line_naming_the_engines_that_work():
    class Unfolding(torch.nn.Module):  # aten::unfold on a (B, 16) input: OpenVINO's conversion fails
        input_shape = (16,)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.unfold(-1, 4, 2).sum(-1)

    with pytest.raises(ValueError, match=r"no conversion for aten::unfold\); the engines that do not convert"):
        to_openvino(Unfolding())


@needs_nncf
def test_openvino_int8_is_int8_where_it_pays_and_agrees_on_real_images(model, converted):
    images = real_images(192)
    quantized = quantize_openvino_int8(converted, images[:64].split(32))
    fake_quantized = {
        node.get_friendly_name()
        for op in quantized.get_ops()
        if op.get_type_name() == "MatMul"
        for node in [op.input_value(0).get_node()]
        if node.get_type_name() == "FakeQuantize"
    }
    assert fake_quantized, "the Transformer blocks' matmuls must run in int8"
    kept = {
        op.get_friendly_name(): op
        for op in quantized.get_ops()
        if op.get_type_name() in ("MatMul", "Convolution")
        and any(part in op.get_friendly_name() for part in (".head.", ".revert_projs.", ".patch_embed."))
    }
    assert len(kept) >= 4  # the stem convolutions, the heads and the CLS projections stay fp32 (KEEP_FP32)
    for name, op in kept.items():
        assert op.input_value(0).get_node().get_type_name() != "FakeQuantize", name
    runner = OpenVinoModel(quantized)
    assert top1_agreement(model, runner, images[64:])["agreement"] >= 0.9  # random weights: near ties happen


def test_a_missing_openvino_is_one_clear_line(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'dualbranch\[deploy\]'"):
        build_engine("openvino", model, torch.zeros(2, 1, 28, 28))
    monkeypatch.setitem(sys.modules, "nncf", None)
    with pytest.raises(MissingDependencyError, match="nncf"):
        quantize_openvino_int8(object(), [torch.zeros(1, 1, 28, 28)])


@needs_openvino
def test_export_openvino_writes_both_files_atomically_and_checks_them(model, tmp_path):
    output = tmp_path / "model.xml"
    summary = export_model(model, "openvino", output, meta={"model": MODEL})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "model.xml"]  # no partial files
    assert summary["max_abs_diff"] < 1e-4 and summary["files"] == [str(tmp_path / "model.bin"), str(output)]
    # fp32 weights, not OpenVINO's default fp16: the .bin holds about 4 bytes per parameter
    params = sum(p.numel() for p in model.parameters())
    assert (tmp_path / "model.bin").stat().st_size > 3.5 * params
    (tmp_path / "model.xml").unlink()  # a lone .bin is still an output that --overwrite must be asked for
    assert main(["export", MODEL, "--format", "openvino", "--output", str(output)]) == 2
    assert not output.exists()


def test_export_openvino_needs_an_xml_name(model, tmp_path, capsys):
    assert main(["export", MODEL, "--format", "openvino", "--output", str(tmp_path / "model.ir")]) == 2
    assert "model.xml" in capsys.readouterr().err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A one-epoch run on scikit-learn's 8×8 digits, with its config.yaml (what calibration reads)."""
    root = tmp_path_factory.mktemp("runs")
    config = load_config(
        None,
        [
            "data.name=digits",
            "model.name=crossvit_fmnist",
            "model.args={embed_dim: [16, 32], num_heads: [2, 2], patch_size: [2, 4], img_scale: [1, 1],"
            " stem: patch, depth: [[1, 1]]}",
            "data.limit_train=300",
            "optim.epochs=1",
            "output.report=false",
            "trainer.progress_bar=false",
            "trainer.threads=1",
            f"output.root={root}",
            "output.name=digits",
        ],
    )
    return fit(config)


def test_calibration_uses_the_folds_own_training_examples(digits_run):
    [fold], record = load_fold_models(digits_run)
    from dualbranch.train.kinds import kind_named

    kind = kind_named(record.kind)
    pipeline = kind.input_pipeline(fold.preprocessing, kind.augment_section())
    batches = calibration_batches(digits_run, fold.name, fold.preprocessing, pipeline, limit=100, batch_size=64)
    assert [len(b) for b in batches] == [64, 36] and batches[0].shape[1:] == (1, 8, 8)
    again = calibration_batches(digits_run, fold.name, fold.preprocessing, pipeline, limit=100, batch_size=64)
    assert torch.equal(torch.cat(batches), torch.cat(again))  # seeded: the same examples every time
    assert abs(float(torch.cat(batches).mean())) < 0.5  # normalised like the model's input


def test_calibration_needs_the_runs_config(digits_run, tmp_path):
    with pytest.raises(RunFolderError, match=r"config\.yaml"):
        calibration_batches(tmp_path, "run", None, None)


@needs_nncf
@pytest.mark.parametrize("engine", ["openvino", "openvino-int8"])
def test_predict_with_openvino_engines_agrees_with_torch(digits_run, tmp_path, capsys, engine):
    from sklearn.datasets import load_digits

    np.savez(tmp_path / "x.npz", x=(load_digits().images[:40] / 16).astype(np.float32))
    reference = predict(digits_run, [str(tmp_path / "x.npz")])
    if engine == "openvino":
        rows = predict(digits_run, [str(tmp_path / "x.npz")], engine=engine)
        assert [r["label"] for r in rows] == [r["label"] for r in reference]
        assert np.allclose([r["probability"] for r in rows], [r["probability"] for r in reference], atol=1e-4)
        return
    # through the command line: the CSV on stdout must stay clean of NNCF's progress bars
    capsys.readouterr()
    assert main(["predict", str(digits_run), str(tmp_path / "x.npz"), "--engine", engine]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 40 and rows[0]["input"].endswith("x.npz[0]")
    assert np.mean([a["label"] == b["label"] for a, b in zip(rows, reference)]) >= 0.9


def test_cpu_features_are_read_from_the_flags():
    assert cpu_features({"avx2", "fma", "avx_vnni"}) == {
        "AVX2": True,
        "AVX-512": False,
        "VNNI": True,
        "BF16": False,
        "AMX": False,
    }
    assert set(machine_info()["cpu_features"]) == {"AVX2", "AVX-512", "VNNI", "BF16", "AMX"}


def test_every_bench_table_names_the_machine_features_and_peak():
    result = {"machine": machine_info(), "threads": 2, "matmul_peak_gflops": 123.4, "model": "m", "measurements": []}
    line = machine_line(result)
    assert "VNNI" in line and "AMX" in line and "123 GFLOP/s" in line and "2 threads" in line
    assert format_table([result]).splitlines()[0] == f"Machine: {line}."


def test_bench_cli_accepts_all_engines_and_predict_lists_openvino(capsys):
    assert {"openvino", "openvino-int8"} <= set(ENGINES) and set(CALIBRATED) <= set(ENGINES)
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "openvino-int8" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "all" in capsys.readouterr().out


def test_bench_json_records_the_machine(capsys):
    argv = ["bench", MODEL, "--batch", "1", "--train-batch", "0", "--repeats", "1", "--warmup", "0", "--threads", "1"]
    engines = ["--engines", "eager", "openvino-bf16"] if HAS_OPENVINO else []
    assert main([*argv, *engines, "--no-memory", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["machine"]["cpu_features"]["AVX2"] in (True, False)
    assert "torch" in result["machine"] and result["matmul_peak_gflops"] > 0
    if HAS_OPENVINO:  # what precision the bf16 engine really ran is part of the result
        bf16 = result["engines"]["openvino-bf16"]
        assert bf16["precision"] == ("bf16" if HAS_BF16 else "fp32") and bf16["top1_agreement"] == 1.0
