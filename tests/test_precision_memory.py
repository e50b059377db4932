"""What the recipe reads off the model without training it: the activations a batch keeps (which cap the
batch size) and whether bf16 mixed precision pays on this machine."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from dualbranch import create_model
from dualbranch.train import precision as precision_module
from dualbranch.train.config import load_config
from dualbranch.train.memory import activation_bytes_per_example
from dualbranch.train.pipeline import fit
from dualbranch.train.precision import choose_precision
from fit_processes import SMALL_FIT


class _Linear(nn.Module):
    """(B, 10) -> (B, 5) through two linear layers and a ReLU: what autograd keeps is known exactly."""

    input_shape = (10,)

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(10, 20), nn.Linear(20, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_activation_bytes_count_what_backward_keeps_per_example():
    # per example: a keeps its input (10 values, for its weight's gradient), relu its output (20), which is
    # b's input too and counts once: 30 float32 values
    assert activation_bytes_per_example(_Linear) == 30 * 4
    crossvit = activation_bytes_per_example(lambda: create_model("crossvit_tiny_240"))
    assert 40e6 < crossvit < 120e6  # tens of MB per 240-px image: a batch of 128 would need ~10 GB


class _ReadsValues(_Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * float(x.max())  # reads a value: not traceable on the meta device


class _NoShape(nn.Linear):
    """A model that does not say its input shape."""


def test_a_model_that_cannot_be_traced_on_meta_has_no_activation_estimate_and_bugs_still_raise():
    assert activation_bytes_per_example(_ReadsValues) is None
    assert activation_bytes_per_example(lambda: _NoShape(3, 2)) is None

    class _Broken(_Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.missing(x)  # a bug in the model, not a meta limitation: it must surface

    with pytest.raises(AttributeError):
        activation_bytes_per_example(_Broken)


def test_the_recipe_caps_the_batch_by_activation_memory(monkeypatch):
    from dualbranch.train.config import load_config
    from dualbranch.train.recipe import ACTIVATION_BUDGET, resolve_recipe
    from test_recipe import _images

    config = load_config(None, ["data.name=npz", "data.path=x", "model.name=hybrid_vgg_vit_tiny"])
    recipe = resolve_recipe(
        config, config.kind, _images(5000, 28), 5000, lambda name: {"drop_path_rate"}, None,
        activation_bytes=lambda c: int(ACTIVATION_BUDGET / 20),
    )  # fmt: skip
    (batch,) = [c for c in recipe.choices if c.key == "data.batch_size"]
    assert batch.value == 16 and "activations" in batch.reason  # 20 fit, as a multiple of 8
    kept = load_config(None, ["data.name=npz", "data.path=x", "data.batch_size=64", "model.name=hybrid_vgg_vit_tiny"])
    resolve_recipe(
        kept, kept.kind, _images(5000, 28), 5000, lambda name: set(), None, activation_bytes=lambda c: 10**12
    )
    assert kept.data.batch_size == 64  # set by the user: kept


def test_precision_is_full_on_cpus_without_amx(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_features", lambda: {"AMX": False, "BF16": True})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def never(build):  # pragma: no cover - must not be called
        raise AssertionError("measured without AMX")

    assert choose_precision("auto", _Linear, "k", measure=never)[0] == "32-true"


def test_precision_on_amx_is_measured_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(precision_module, "cpu_features", lambda: {"AMX": True, "BF16": True})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls = []

    def fast(build):
        calls.append(1)
        return 1.8

    assert choose_precision("cpu", _Linear, "model-a", measure=fast)[0] == "bf16-mixed"
    assert choose_precision("cpu", _Linear, "model-a", measure=fast)[0] == "bf16-mixed"
    assert len(calls) == 1  # the second run reads the kept decision
    assert choose_precision("cpu", _Linear, "model-b", measure=lambda build: 1.05)[0] == "32-true"
    assert (tmp_path / "dualbranch" / "precision.json").is_file()


def test_the_speedup_measurement_alternates_fp32_and_bf16_steps_and_divides_their_medians(monkeypatch):
    dtypes = []

    class Recording(_Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hidden = self.a(x)
            dtypes.append(hidden.dtype)  # bfloat16 under autocast
            return self.b(torch.relu(hidden))

    clock, calls = [0.0], []

    def perf_counter() -> float:  # a step lasts 2 s in fp32 and 1 s under bf16 autocast
        calls.append(None)
        if len(calls) % 2 == 0:  # a step's end
            clock[0] += 2.0 if dtypes[-1] == torch.float32 else 1.0
        return clock[0]

    monkeypatch.setattr(precision_module.time, "perf_counter", perf_counter)
    assert precision_module.training_step_speedup(Recording, repeats=3) == 2.0
    assert dtypes == [torch.float32, torch.bfloat16] * 4  # a warm-up pair, then 3 alternated pairs


def test_trainer_compile_compiles_the_model_in_place_and_keeps_its_weight_names(monkeypatch, tmp_path):
    compiled = []
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    overrides = [*SMALL_FIT, "optim.epochs=1", "data.limit_train=128", f"output.root={tmp_path}", "output.name=c"]
    run = fit(load_config(None, [*overrides, "trainer.compile=true"]))
    assert compiled == ["CrossViT"]  # the model, once; not the training task around it
    names = set(load_file(run / "model.safetensors"))
    assert names and not any("_orig_mod" in name for name in names)  # compiled in place: no wrapper's prefix
