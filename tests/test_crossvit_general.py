"""What the paper fixes at two, generalised: n branches, any size and aspect ratio, any channels."""

from __future__ import annotations

import pytest
import torch

import dualbranch
from dualbranch.models import CrossViT, CrossViTConfig

THREE = CrossViTConfig(
    img_size=48,
    img_scale=(1.0, 1.0, 1.0),
    patch_size=(8, 12, 16),
    embed_dim=(16, 24, 32),
    depth=((1, 1, 2), (1, 1, 2)),
    num_heads=(2, 2, 2),
    mlp_ratio=(2.0, 2.0, 2.0),
    num_classes=5,
)


def test_three_branches_forward_and_token_counts():
    model = CrossViT(THREE).eval()
    x = torch.randn(2, 3, 48, 48)
    features = model.forward_features(x)
    assert [f.shape for f in features] == [(2, 1 + 36, 16), (2, 1 + 16, 24), (2, 1 + 9, 32)]
    assert model(x).shape == (2, 5)
    assert model.num_features == 16 + 24 + 32


def test_fusion_is_cyclic_each_cls_reads_only_the_next_branch():
    model = CrossViT(THREE).eval()
    fusion = model.blocks[0].fusion
    xs = [torch.randn(1, 1 + n, d, requires_grad=True) for n, d in ((36, 16), (16, 24), (9, 32))]
    fused = fusion(xs)
    for b in range(3):
        grads = torch.autograd.grad(fused[b][:, 0].sum(), xs, retain_graph=True, allow_unused=True)
        following, skipped = (b + 1) % 3, (b + 2) % 3
        assert grads[following][:, 1:].abs().sum() > 0  # attends over the next branch's patch tokens
        assert grads[skipped] is None or grads[skipped].abs().sum() == 0  # never sees the third one
        assert fused[b].shape == xs[b].shape
    # patch tokens pass through the fusion untouched
    assert torch.equal(fused[0][:, 1:], xs[0][:, 1:])


def test_stacked_fusion_layers_all_attend_to_the_other_branch():
    model = CrossViT(THREE, fusion_depth=3).eval()
    layers = model.blocks[0].fusion.layers[0]
    assert len(layers) == 3
    cls = torch.randn(1, 1, 24)
    tokens = torch.randn(1, 16, 24, requires_grad=True)
    out = layers[2](layers[1](layers[0](cls, tokens), tokens), tokens)
    (grad,) = torch.autograd.grad(out.sum(), tokens)
    assert grad.abs().sum() > 0


def test_grayscale_non_square_input():
    model = dualbranch.create_model(
        "crossvit_9_240",
        img_size=(28, 56),
        in_chans=1,
        num_classes=10,
        img_scale=(1.0, 1.0),
        patch_size=(4, 7),
    ).eval()
    assert model.input_shape == (1, 28, 56)
    assert model.token_grid(0) == (7, 14) and model.token_grid(1) == (4, 8)
    x = torch.randn(3, 1, 28, 56)
    assert model(x).shape == (3, 10)
    maps = model.forward_intermediates(x, indices=[-1], intermediates_only=True)
    assert maps[0][0].shape == (3, 128, 7, 14) and maps[0][1].shape == (3, 256, 4, 8)


def test_branch_scale_resizes_with_bicubic():
    model = dualbranch.create_model("crossvit_9_240", img_size=60, num_classes=3)
    assert model.config.branch_img_sizes == ((60, 60), (56, 56))
    assert model.token_grid(0) == (5, 5) and model.token_grid(1) == (3, 3)


def test_conv3_stem_for_other_patch_sizes():
    model = CrossViT(THREE, stem="conv3").eval()
    assert [embed.grid_size for embed in model.patch_embed] == [(6, 6), (4, 4), (3, 3)]
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 5)
    with pytest.raises(ValueError, match="patch sizes 4·a·b"):
        CrossViT(THREE, stem="conv3", patch_size=(8, 12, 40))


def test_cross_attention_maps_cover_the_other_grid():
    model = CrossViT(THREE).eval()
    maps = model.cross_attention_maps(torch.randn(2, 3, 48, 48))
    assert [m.shape for m in maps] == [(2, 2, 4, 4), (2, 2, 3, 3), (2, 2, 6, 6)]
    # with the query's weight on itself, each head's weights sum to one
    assert all((m.sum(dim=(-2, -1)) <= 1 + 1e-6).all() for m in maps)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"embed_dim": (16, 24)}, "embed_dim=.* has 2 entries but there are 3 branches"),
        ({"depth": ((1, 1),)}, r"depth\[0\]"),
        ({"num_heads": (3, 2, 2)}, "not divisible by num_heads"),
        ({"patch_size": (8,)}, "at least 2 branches"),
        ({"img_size": 4}, "smaller than one patch"),
        ({"global_pool": "max"}, "global_pool"),
        ({"embed_dims": (1, 2, 3)}, "did you mean 'embed_dim'"),
    ],
)
def test_bad_configuration_is_explained(overrides, message):
    with pytest.raises((ValueError, TypeError), match=message):
        CrossViT(THREE, **overrides)


def test_wrong_input_shape_is_explained():
    model = dualbranch.create_model("crossvit_9_240", **dualbranch.get_model_entry("crossvit_9_240").tiny)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 3, 48, 48\).*got \(2, 1, 48, 48\)"):
        model(torch.randn(2, 1, 48, 48))
    with pytest.raises(ValueError, match="img_size"):
        model(torch.randn(2, 3, 48, 64))


def test_avg_pool_and_stochastic_depth_schedule():
    model = dualbranch.create_model("crossvit_9_240", drop_path_rate=0.2, global_pool="avg", img_size=48)

    def rate(module):  # a zero rate is an Identity
        return getattr(module.drop_path, "drop_prob", 0.0)

    rates = [rate(blk) for stage in model.blocks for blk in stage.blocks[1]]
    assert rates[0] == 0.0 and abs(rates[-1] - 0.2) < 1e-7 and rates == sorted(rates)
    assert len(rates) == 9
    fusion_rate = rate(model.blocks[-1].fusion.layers[0][0])
    assert abs(fusion_rate - 0.2) < 1e-7
