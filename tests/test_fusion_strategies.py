"""The fusion strategies of CrossViT's Table 6, for 2 and 3 branches, and their Table-6 budgets."""

from __future__ import annotations

import pytest
import torch

import dualbranch
from dualbranch.flops import count_macs, count_params
from dualbranch.layers import CrossAttentionFusion, build_fusion, fusion_names
from dualbranch.layers.fusion_sum import resample_tokens
from dualbranch.models import CrossViT, CrossViTConfig

STRATEGIES = ("none", "all_attention", "class_token", "pairwise", "cross_attention")
BRANCHES = {
    2: {"dims": (16, 32), "num_heads": (2, 4), "grids": ((6, 6), (4, 4))},
    3: {"dims": (16, 24, 32), "num_heads": (2, 2, 4), "grids": ((6, 6), (4, 5), (3, 3))},
}


def _tokens(spec: dict, batch: int = 2) -> list[torch.Tensor]:
    return [torch.randn(batch, 1 + h * w, d, requires_grad=True) for d, (h, w) in zip(spec["dims"], spec["grids"])]


def test_registered_strategies():
    assert set(fusion_names()) == set(STRATEGIES)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", STRATEGIES)
def test_shapes_and_backward(name, n):
    torch.manual_seed(0)
    spec = BRANCHES[n]
    fusion = build_fusion(name, depth=2, **spec)
    xs = _tokens(spec)
    out = fusion(xs)
    assert [o.shape for o in out] == [x.shape for x in xs]
    sum(o.square().mean() for o in out).backward()
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in xs)
    params = list(fusion.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert (len(params) == 0) == (name == "none")


def _cross_gradient(fusion, spec, target: int, source: int) -> torch.Tensor | None:
    xs = _tokens(spec, batch=1)
    out = fusion(xs)
    (grad,) = torch.autograd.grad(out[target].sum(), xs[source], allow_unused=True)
    return grad


@pytest.mark.parametrize("n", [2, 3])
def test_none_has_no_cross_branch_gradient(n):
    spec = BRANCHES[n]
    fusion = build_fusion("none", **spec)
    for b in range(n):
        for o in range(n):
            if o != b:
                assert _cross_gradient(fusion, spec, b, o) is None


@pytest.mark.parametrize("name", ["all_attention", "class_token", "pairwise"])
def test_every_branch_hears_every_other(name):
    spec = BRANCHES[3]
    fusion = build_fusion(name, **spec).eval()
    for b in range(3):
        for o in range(3):
            if o != b:
                grad = _cross_gradient(fusion, spec, b, o)
                assert grad is not None and grad.abs().sum() > 0
                # class-token fusion reads only the other CLS tokens; the others read patch tokens too
                reads_patches = grad[:, 1:].abs().sum() > 0
                assert reads_patches == (name != "class_token")


def test_class_token_fusion_leaves_patch_tokens_alone():
    spec = BRANCHES[3]
    xs = _tokens(spec)
    out = build_fusion("class_token", **spec)(xs)
    for x, o in zip(xs, out):
        assert torch.equal(x[:, 1:], o[:, 1:])
        assert not torch.equal(x[:, :1], o[:, :1])


def test_pairwise_fuses_matching_positions():
    # a token grid that is constant stays constant when resampled (interpolation weights sum to one)
    tokens = torch.full((1, 16, 3), 2.5)
    assert torch.allclose(resample_tokens(tokens, (4, 4), (6, 5)), torch.full((1, 30, 3), 2.5))
    # a corner token of a coarse grid reaches only the matching corner region of the fine grid
    spec = BRANCHES[2]
    fusion = build_fusion("pairwise", **spec).eval()
    xs = _tokens(spec, batch=1)
    out = fusion(xs)
    (grad,) = torch.autograd.grad(out[0][:, 1 + 0].sum(), xs[1])  # fine grid, top-left cell
    cells = grad[0, 1:].abs().sum(dim=-1).reshape(4, 4)
    assert cells[0, 0] > 0 and cells[2:, :].sum() == 0 and cells[:, 2:].sum() == 0


@pytest.mark.parametrize("name", STRATEGIES)
def test_crossvit_with_every_strategy_and_three_branches(name):
    model = CrossViT(
        CrossViTConfig(
            img_size=48,
            img_scale=(1.0, 1.0, 1.0),
            patch_size=(8, 12, 16),
            embed_dim=(16, 24, 32),
            depth=((1, 1, 1),) * 2,
            num_heads=(2, 2, 2),
            mlp_ratio=(2.0, 2.0, 2.0),
            num_classes=5,
            fusion=name,
        )
    )
    x = torch.randn(2, 3, 48, 48)
    model(x).logsumexp(dim=1).sum().backward()
    without_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert without_grad == []
    assert [f.shape for f in model.forward_features(x)] == [(2, 37, 16), (2, 17, 24), (2, 10, 32)]


def test_crossvit_none_keeps_branches_independent():
    model = dualbranch.create_model("crossvit_9_240", fusion="none", img_size=48, num_classes=3).eval()
    features = model.forward_features(torch.randn(1, 3, 48, 48))
    other_branch = model.patch_embed[1].proj.weight
    (grad,) = torch.autograd.grad(features[0].sum(), other_branch, allow_unused=True)
    assert grad is None
    assert not any(".fusion." in name for name, _ in model.named_parameters())


def test_cross_attention_is_the_default_and_unchanged():
    assert CrossViTConfig().fusion == "cross_attention"
    torch.manual_seed(0)
    built = build_fusion("cross_attention", dims=(16, 32), num_heads=(2, 4), grids=((6, 6), (4, 4)), depth=2)
    torch.manual_seed(0)
    direct = CrossAttentionFusion((16, 32), (2, 4), depth=2)
    assert type(built) is CrossAttentionFusion
    assert built.state_dict().keys() == direct.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), direct.state_dict().values()))
    with torch.device("meta"):
        model = dualbranch.create_model("crossvit_small_240")
    keys = {k.split(".")[3] for k in model.state_dict() if ".fusion." in k}
    assert keys == {"projs", "layers", "revert_projs"}


def test_unknown_fusion_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown fusion strategy 'sum'.*none, all_attention, class_token"):
        dualbranch.create_model("crossvit_9_240", fusion="sum")
    with pytest.raises(ValueError, match="at least 2 branches"):
        build_fusion("pairwise", dims=(16,), num_heads=(2,), grids=((4, 4),))
    with pytest.raises(ValueError, match="depth must be at least 1"):
        build_fusion("class_token", depth=0, **BRANCHES[2])


@pytest.mark.parametrize("name", ["all_attention", "pairwise"])
def test_strategies_export_with_dynamic_batch(name):
    spec = BRANCHES[2]
    fusion = build_fusion(name, **spec).eval()

    class Wrapper(torch.nn.Module):
        def forward(self, a, b):
            return fusion([a, b])

    xs = [x.detach() for x in _tokens(spec)]
    batch = torch.export.Dim("batch", min=1, max=16)
    exported = torch.export.export(Wrapper(), tuple(xs), dynamic_shapes={"a": {0: batch}, "b": {0: batch}})
    ys = [x.detach() for x in _tokens(spec, batch=5)]
    for got, want in zip(exported.module()(*ys), fusion(ys)):
        assert torch.allclose(got, want, atol=1e-5)


# CrossViT-S at 240 px, paper Table 6: (GFLOPs, Mparams); its GFLOPs are multiply-adds.
TABLE6 = {
    "none": (5.3, 23.7),
    "all_attention": (7.6, 27.7),
    "class_token": (5.4, 24.2),
    "pairwise": (5.5, 24.2),
    "cross_attention": (5.6, 26.7),
}


@pytest.mark.parametrize("name", STRATEGIES)
def test_table6_params_and_macs_within_3_percent(name):
    with torch.device("meta"):
        model = dualbranch.create_model("crossvit_small_240", fusion=name)
    gmacs, mparams = count_macs(model) / 1e9, count_params(model) / 1e6
    paper_gmacs, paper_mparams = TABLE6[name]
    assert abs(gmacs - paper_gmacs) / paper_gmacs <= 0.03, gmacs
    assert abs(mparams - paper_mparams) / paper_mparams <= 0.03, mparams
