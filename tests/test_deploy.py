"""Deploy paths: ONNX and torch.export files, int8 quantization, the export/predict/bench commands.

Every fp32 path is checked against the eager model; int8 by closeness and top-1 agreement on real images.
Heavy checks (torch.compile, PT2E static int8, full-size variants) are marked slow.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dualbranch import create_model, get_model_entry
from dualbranch.bench import peak_memory_mb, time_alternating
from dualbranch.checkpoint import read_weight_config, save_checkpoint
from dualbranch.cli import main
from dualbranch.engines import build_engine
from dualbranch.export import OnnxModel, export_onnx, export_pt2
from dualbranch.quantize import quantize_dynamic_int8, top1_agreement
from dualbranch.train.predict import predict
from dualbranch.train.run_folder import RunRecord
from real_images import real_images

HAS_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "onnxscript"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="needs onnx, onnxscript and onnxruntime (pip install .[deploy])")
MODEL = "crossvit_fmnist"  # small, and its second branch resizes 28 -> 32 px (bicubic) inside the graph
# one stage instead of three: the same operators, a third of the graph, so exports take seconds
SHALLOW = {"depth": [[1, 1]]}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(MODEL, **SHALLOW).eval()


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    if not HAS_ONNX:
        pytest.skip("needs onnx, onnxscript and onnxruntime")
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")


@needs_onnx
@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_runs_any_batch_and_matches_torch(model, onnx_file, batch):
    x = torch.randn(batch, 1, 28, 28)
    with torch.inference_mode():
        expected = model(x)
    got = OnnxModel(onnx_file)(x)
    assert got.shape == (batch, 10)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@needs_onnx
def test_onnx_graph_has_the_bicubic_resize_and_a_dynamic_batch(onnx_file):
    import onnx

    graph = onnx.load(str(onnx_file)).graph
    resizes = [node for node in graph.node if node.op_type == "Resize"]
    assert resizes, "the branch resize must be part of the exported graph"
    modes = {attr.s.decode() for node in resizes for attr in node.attribute if attr.name == "mode"}
    assert modes == {"cubic"}
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value


def test_pt2_program_matches_torch_at_a_new_batch(model, tmp_path):
    path = export_pt2(model, tmp_path / "model.pt2")
    program = torch.export.load(str(path)).module()
    x = torch.randn(3, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(program(x), model(x), atol=1e-5, rtol=1e-5)


def test_int8_dynamic_replaces_linears_and_stays_close_on_real_images(model):
    quantized = quantize_dynamic_int8(model)
    assert any(type(m) is torch.nn.Linear for m in model.modules()), "the fp32 model must be left untouched"
    assert not any(type(m) is torch.nn.Linear for m in quantized.modules())
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in quantized.modules())
    images = real_images(64)
    with torch.inference_mode():
        expected, got = model(images), quantized(images)
    relative = float((got - expected).norm() / expected.norm())
    assert relative < 0.1  # random weights: small logits, so int8 rounding shows more than on a trained model
    assert top1_agreement(model, quantized, images)["agreement"] >= 0.9


def test_top1_agreement_counts_disagreements():
    reference = lambda x: torch.eye(3)[x[:, 0].long()]  # noqa: E731  (class = first feature)
    candidate = lambda x: torch.eye(3)[torch.zeros(len(x), dtype=torch.long)]  # noqa: E731  (always class 0)
    x = torch.tensor([[0.0], [1.0], [2.0], [0.0]])
    result = top1_agreement(reference, candidate, x, batch_size=3)
    assert result == {"agreement": 0.5, "disagreements": 2, "n": 4, "max_abs_logit_diff": 1.0}


def test_unknown_engine_is_a_clear_error(model):
    with pytest.raises(ValueError, match="int8-dynamic"):
        build_engine("tensorrt", model, torch.zeros(1, 1, 28, 28))


def test_export_cli_writes_and_refuses_to_overwrite(tmp_path, capsys):
    output = tmp_path / "weights.safetensors"
    assert main(["export", MODEL, "--format", "safetensors", "--output", str(output)]) == 0
    assert json.loads(capsys.readouterr().out)["bytes"] == output.stat().st_size > 1_000_000
    before = output.read_bytes()
    assert main(["export", MODEL, "--format", "safetensors", "--output", str(output)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert output.read_bytes() == before
    assert main(["export", MODEL, "--format", "safetensors", "--output", str(output), "--overwrite"]) == 0
    assert read_weight_config(output) == get_model_entry(MODEL).weights  # how to feed it travels with it
    program = tmp_path / "m.pt2"
    assert main(["export", MODEL, "--format", "pt2", "--output", str(program)]) == 0
    extra = {"weights.json": ""}
    torch.export.load(str(program), extra_files=extra)
    assert json.loads(extra["weights.json"])["first_conv"] == list(get_model_entry(MODEL).weights.first_conv)
    assert main(["export", MODEL, "--format", "pt2", "--output", str(tmp_path / "missing" / "m.pt2")]) == 2


@needs_onnx
def test_export_cli_exports_a_run_to_onnx_and_checks_it(run_dir, tmp_path, capsys):
    output = tmp_path / "model.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--output", str(output)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "onnx" and summary["run"] == str(run_dir) and summary["max_abs_diff"] < 1e-4
    assert summary["weights"]["mean"] == [0.286] and summary["weights"]["input_size"] == [1, 28, 28]
    import onnx

    props = {p.key: p.value for p in onnx.load(str(output)).metadata_props}
    assert json.loads(props["weights"]) == summary["weights"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no partial file left behind


@pytest.fixture(scope="module")
def run_dir(model, tmp_path_factory):
    """A run folder as `fit` leaves it (weights + run.json), with a few PNG images to classify."""
    run = tmp_path_factory.mktemp("run")
    RunRecord("images", MODEL, SHALLOW, [f"class{i}" for i in range(10)], [1, 28, 28]).save(run)
    (run / "preprocessing.json").write_text('{"mean": [0.286], "std": [0.353]}')
    fed = get_model_entry(MODEL).weights.replace(mean=(0.286,), std=(0.353,))
    save_checkpoint(model, run / "model.safetensors", weights=fed)
    images = run / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(images / f"{i}.png")
    return run


@needs_onnx
@pytest.mark.parametrize("engine", ["onnx", "int8-dynamic", "int8"])  # int8: the old name, for one release
def test_predict_engines_give_the_same_classes_as_torch(run_dir, engine):
    reference = predict(run_dir, [str(run_dir / "images")])
    rows = predict(run_dir, [str(run_dir / "images")], engine=engine, log=lambda line: None)
    assert [r["input"] for r in rows] == [r["input"] for r in reference]
    if engine == "onnx":  # fp32: same classes and probabilities; int8 may differ on near ties of random weights
        assert [r["label"] for r in rows] == [r["label"] for r in reference]
        assert np.allclose([r["probability"] for r in rows], [r["probability"] for r in reference], atol=1e-4)
    else:  # the untrained fixture's probabilities are all near 1/10: a tolerance far below their spread
        assert np.allclose([r["probability"] for r in rows], [r["probability"] for r in reference], atol=5e-3)


def test_bench_cli_json_has_the_documented_fields(capsys):
    argv = ["bench", MODEL, "--batch", "1", "2", "--train-batch", "2", "--repeats", "1", "--warmup", "0"]
    assert main([*argv, "--threads", "1", "--no-memory", "--json", "--vs", "timm"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["model"] == MODEL and result["threads"] == 1 and result["params"] > 1e6 and result["gmacs"] > 0.02
    assert result["matmul_peak_gflops"] > 0 and result["machine"]["logical_cpus"] >= 1
    ours = [r for r in result["measurements"] if r["impl"] == "dualbranch"]
    assert [(r["mode"], r["batch"]) for r in ours] == [("inference", 1), ("inference", 2), ("train", 2)]
    for row in ours:
        assert row["min_ms"] <= row["median_ms"] <= row["max_ms"] and row["runs"] == 1
        assert row["img_per_s"] == pytest.approx(row["batch"] * 1e3 / row["median_ms"])
        assert 0 < row["fraction_of_peak"] == pytest.approx(row["gflops"] / result["matmul_peak_gflops"])
    assert "timm" in result["timm"]  # timm has no crossvit_fmnist, or is not installed: a note either way
    assert "speedup_vs_timm" not in result


def test_peak_memory_of_a_forward_is_measured_in_a_fresh_process():
    memory = peak_memory_mb("dualbranch", MODEL, 8, False, 1)
    if memory is None:
        pytest.skip("peak memory needs Linux /proc")
    assert 0 < memory < 2000


def test_time_alternating_reports_every_step_in_order():
    calls: list[str] = []
    timings = time_alternating(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3, warmup=1, min_sample_s=0
    )
    assert set(timings) == {"a", "b"} and all(t["runs"] == 3 for t in timings.values())
    assert calls[4:] == ["a", "b", "b", "a", "a", "b"]  # after warm-up and calibration, order alternates


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["compile", "onnx"])
def test_fp32_engines_match_eager_on_a_full_size_variant(engine):
    if engine == "onnx" and not HAS_ONNX:
        pytest.skip("needs onnxruntime")
    model = create_model("crossvit_9_240").eval()
    x = torch.randn(2, 3, 240, 240)
    runner = build_engine(engine, model, x)
    with torch.inference_mode():
        torch.testing.assert_close(runner(x), model(x), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_int8_static_pt2e_runs_and_stays_close(model):
    pytest.importorskip("torchao")
    images = real_images(256)
    runner = build_engine("int8-static", model, images[:32], calibration=list(images[:128].split(32)))
    assert top1_agreement(model, runner, images[128:])["agreement"] >= 0.9


def test_int8_static_annotates_the_small_image_default():
    pytest.importorskip("torchao")
    from dualbranch.quantize import quantize_static_int8

    # torchao's PT2E quantizer matches conv + add + ReLU per module: one ReLU module called twice in a
    # residual block made its annotation fail ("Input partition has more than one output node")
    torch.manual_seed(0)
    model = create_model("hybrid_vgg_vit_tiny").eval()
    x = torch.randn(4, 1, 28, 28)
    quantized = quantize_static_int8(model, [x], compile=False)
    with torch.inference_mode():
        assert (quantized(x) - model(x)).abs().max() < 0.1
