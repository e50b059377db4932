"""The generic builder: CNN + Transformer hybrids, local + global pairs, n branches, config errors."""

from __future__ import annotations

import pytest
import torch

import dualbranch
from dualbranch.features import FeatureExtractor
from dualbranch.flops import count_macs, count_params
from dualbranch.layers.conv_encoder import ConvTokenEncoder, ResidualConvBlock
from dualbranch.layers.conv_tokenizer import VGGTokenizer
from dualbranch.models import BranchConfig, MultiBranchConfig, MultiBranchNet
from dualbranch.models.parts import ENCODERS, TOKENIZERS

LOCAL = BranchConfig(tokenizer="conv3", patch_size=4, embed_dim=32, depth=(1, 1), num_heads=2)
GLOBAL = BranchConfig(tokenizer="patch", patch_size=12, embed_dim=48, depth=(2, 1), num_heads=4, mlp_ratio=2.0)
CNN = BranchConfig(tokenizer="cnn", patch_size=4, embed_dim=24, encoder="cnn", depth=(2, 1), num_heads=2)


def _pair(**overrides) -> MultiBranchNet:
    torch.manual_seed(0)
    base = {"branches": (LOCAL, GLOBAL), "img_size": 48, "in_chans": 3, "num_classes": 5}
    return MultiBranchNet(MultiBranchConfig(**{**base, **overrides}))


def test_part_registries():
    assert {"patch", "conv3", "cnn", "vgg", "vgg_s2"} <= set(TOKENIZERS)
    assert {"transformer", "cnn", "resnet"} <= set(ENCODERS)


def test_small_image_default_is_a_cnn_and_a_transformer_branch():
    model = dualbranch.create_model("hybrid_vgg_vit_tiny")
    assert model.input_shape == (1, 28, 28) and model.num_classes == 10 and model.num_stages == 2
    assert model.token_grid(0) == (7, 7) and model.token_grid(1) == (4, 4)
    x = torch.randn(2, 1, 28, 28)
    assert [f.shape for f in model.forward_features(x)] == [(2, 50, 64), (2, 17, 64)]
    blocks = [type(block).__name__ for block in model.stages[0].encoders[0].blocks]
    assert blocks == ["ResidualConvBlock"]
    # other sizes and channel counts, as the image kind builds it (digits are 8×8)
    assert dualbranch.create_model("hybrid_vgg_vit_tiny", img_size=8, num_classes=3)(torch.randn(2, 1, 8, 8)).shape == (
        2,
        3,
    )
    rgb = dualbranch.create_model("hybrid_vgg_vit_tiny", img_size=32, in_chans=3)
    assert rgb.token_grid(0) == (8, 8) and rgb(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_vgg_tokenizer_halves_per_stage_and_sees_full_resolution_first():
    tokenizer = VGGTokenizer((28, 28), 4, 1, 64)
    convs = [m for m in tokenizer.proj if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 32), (32, 32), (32, 64), (64, 64)]
    assert tokenizer(torch.randn(2, 1, 28, 28)).shape == (2, 49, 64) and tokenizer.grid_size == (7, 7)
    with pytest.raises(ValueError, match="patch_size must be 2, 4, 8"):
        VGGTokenizer((28, 28), 6, 1, 64)


@pytest.mark.parametrize("size", [(128, 128), (100, 131), (31, 33), (16, 17)])
def test_a_strided_vgg_stem_keeps_the_grid_at_a_fraction_of_the_work(size):
    plain, strided = VGGTokenizer(size, 8, 3, 64), VGGTokenizer(size, 8, 3, 64, stem_stride=2)
    first = next(m for m in strided.proj if isinstance(m, torch.nn.Conv2d))
    assert first.stride == (2, 2) and sum(isinstance(m, torch.nn.MaxPool2d) for m in strided.proj) == 2
    x = torch.randn(2, 3, *size)
    tokens = strided.eval()(x)
    grid = strided.proj(x).shape[-2:]  # what the convolutions make, not what the tokenizer computed
    assert tuple(grid) == strided.grid_size and tokens.shape == (2, grid[0] * grid[1], 64)
    if size == (128, 128):
        assert strided.grid_size == plain.grid_size == (16, 16)
        assert count_macs(strided, x[:1]) < 0.3 * count_macs(plain, x[:1])
    with pytest.raises(ValueError, match="stem_stride is 1 or 2"):
        VGGTokenizer(size, 8, 3, 64, stem_stride=4)


def test_residual_block_is_identity_plus_a_residual_and_keeps_the_map():
    block = ResidualConvBlock(8, norm_layer=torch.nn.Identity, act_layer=torch.nn.Identity)
    torch.nn.init.zeros_(block.conv2.weight)  # no residual: the block passes its input through
    x = torch.randn(2, 8, 5, 6)
    assert torch.equal(block(x), x)
    with pytest.raises(ValueError, match="odd"):
        ResidualConvBlock(8, kernel_size=4)


def test_hybrid_is_registered_small_and_grayscale():
    model = dualbranch.create_model("hybrid_cnn_vit_tiny")
    assert model.input_shape == (1, 28, 28) and model.num_classes == 10
    assert 1e6 <= count_params(model) <= 3e6
    assert model.branch_widths == (64, 192) and model.num_stages == 3
    assert model.token_grid(0) == (14, 14) and model.token_grid(1) == (7, 7)
    x = torch.randn(2, 1, 28, 28)
    assert [f.shape for f in model.forward_features(x)] == [(2, 197, 64), (2, 50, 192)]
    kinds = [type(encoder).__name__ for encoder in model.stages[0].encoders]
    assert kinds == ["ConvTokenEncoder", "Sequential"]


def test_cnn_encoder_keeps_the_token_grid_in_place():
    # one 3×3 conv block: changing one patch token changes only its 3×3 neighbourhood (and the CLS)
    torch.manual_seed(0)
    encoder = ConvTokenEncoder(8, depth=1, grid=(5, 6), kernel_size=3, norm_layer=torch.nn.Identity).eval()
    x = torch.randn(1, 1 + 30, 8)
    poked = x.clone()
    row, col = 2, 4
    poked[:, 1 + row * 6 + col] += 1.0
    changed = (encoder(poked) - encoder(x)).abs().sum(dim=-1)[0]  # (1 + 30,)
    assert changed[0] > 0  # the CLS summary sees the whole map
    grid = changed[1:].reshape(5, 6) > 0
    expected = torch.zeros(5, 6, dtype=torch.bool)
    expected[row - 1 : row + 2, col - 1 : col + 2] = True
    assert torch.equal(grid, expected)


@pytest.mark.parametrize("fusion", ["none", "all_attention", "class_token", "pairwise", "cross_attention"])
def test_local_global_pair_with_every_fusion(fusion):
    model = _pair(fusion=fusion)
    x = torch.randn(2, 3, 48, 48)
    features = model.forward_features(x)
    assert [f.shape for f in features] == [(2, 1 + 144, 32), (2, 1 + 16, 48)]
    model(x).logsumexp(dim=1).sum().backward()
    without_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert without_grad == []


def test_three_branches_cnn_and_transformers_with_resized_branch():
    scaled = BranchConfig(patch_size=8, embed_dim=32, depth=(1, 1), num_heads=2, img_scale=0.5)
    model = _pair(branches=(CNN, GLOBAL, scaled), fusion="pairwise", drop_path_rate=0.1).eval()
    assert [model.token_grid(b) for b in range(3)] == [(12, 12), (4, 4), (3, 3)]
    x = torch.randn(2, 3, 48, 48)
    stages = model.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    assert [m.shape for m in stages[1]] == [(2, 24, 12, 12), (2, 48, 4, 4), (2, 32, 3, 3)]
    assert model(x).shape == (2, 5)
    extractor = FeatureExtractor(model, out_indices=(-1,))
    assert [info["reduction"] for info in extractor.feature_info] == [4.0, 12.0, 16.0]


def test_single_branch_without_fusion_is_a_plain_vit():
    model = _pair(branches=(GLOBAL,), fusion="none")
    assert model.num_branches == 1 and model(torch.randn(1, 3, 48, 48)).shape == (1, 5)


def test_branches_from_dicts_and_overrides():
    model = MultiBranchNet(
        branches=[{"patch_size": 7, "embed_dim": 16, "depth": [1]}, {"patch_size": 14, "embed_dim": 32, "depth": [1]}],
        fusion="class_token",
    )
    assert model.token_grid(0) == (4, 4) and model.token_grid(1) == (2, 2)
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    hybrid = dualbranch.create_model("hybrid_cnn_vit_tiny", fusion="all_attention", num_classes=3)
    assert hybrid(torch.randn(1, 1, 28, 28)).shape == (1, 3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fusion": "concat"}, "Unknown fusion strategy 'concat'.*valid strategies"),
        ({"branches": (GLOBAL,)}, "needs at least 2 branches; use fusion='none'"),
        ({"branches": (LOCAL, BranchConfig(depth=(1, 1, 1)))}, "same number of stages"),
        ({"branches": ({"patch_size": 4, "embed": 8}, GLOBAL)}, r"Unknown BranchConfig option\(s\) \['embed'\]"),
        ({"branches": ()}, "at least one branch"),
        ({"global_pool": "max"}, "global_pool"),
    ],
)
def test_bad_model_configuration_is_explained(overrides, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _pair(**overrides)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tokenizer": "signal"}, "Unknown tokenizer 'signal'; valid: cnn, conv3, patch, vgg, vgg_s2"),
        ({"encoder": "lstm"}, "Unknown encoder 'lstm'; valid: cnn, resnet, transformer"),
        ({"embed_dim": 30, "num_heads": 4}, "not divisible by num_heads"),
        ({"depth": (1, -1)}, "non-negative"),
    ],
)
def test_bad_branch_configuration_is_explained(fields, message):
    with pytest.raises(ValueError, match=message):
        BranchConfig(**fields)


def test_bad_tokenizer_geometry_and_input_are_explained():
    with pytest.raises(ValueError, match="2\\^a·3\\^b"):
        _pair(branches=(BranchConfig(tokenizer="cnn", patch_size=5, depth=(1, 1)), GLOBAL))
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 3, 48, 48\)"):
        _pair()(torch.randn(1, 1, 48, 48))
