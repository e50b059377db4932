"""The 11 published CrossViT models, under timm's names, with the official names as aliases.

timm renamed the official ``*_224`` / ``*_384`` models after the size of their small-patch branch
(240 / 408); both names build the same model. Sizes from the paper's Table 1 and the official code.
"""

from __future__ import annotations

from typing import Any

from ..registry import WeightConfig, register_model
from .crossvit import CrossViT, CrossViTConfig

PAPER = "Chen, Fan, Panda. CrossViT. ICCV 2021 (arXiv:2103.14899)"
_OFFICIAL_WEIGHTS = "https://github.com/IBM/CrossViT/releases/download/weights-0.1/{}.pth"
# A small but structurally complete configuration for quick contract tests.
_TINY = {"img_size": 48, "embed_dim": (32, 64), "num_heads": (2, 2), "num_classes": 10}


def _variant(
    embed_dim: tuple[int, int],
    depth: int,
    heads: int,
    mlp_ratio: float,
    dagger: bool = False,
    img_size: int = 240,
    large_branch_size: int = 224,
) -> CrossViTConfig:
    return CrossViTConfig(
        img_size=img_size,
        img_scale=(1.0, large_branch_size / img_size),
        patch_size=(12, 16),
        embed_dim=embed_dim,
        depth=((1, depth),) * 3,
        num_heads=(heads, heads),
        mlp_ratio=(mlp_ratio, mlp_ratio),
        stem="conv3" if dagger else "patch",
    )


VARIANTS: dict[str, tuple[str, CrossViTConfig]] = {
    # timm name: (official name, configuration)
    "crossvit_tiny_240": ("crossvit_tiny_224", _variant((96, 192), 4, 3, 4.0)),
    "crossvit_small_240": ("crossvit_small_224", _variant((192, 384), 4, 6, 4.0)),
    "crossvit_base_240": ("crossvit_base_224", _variant((384, 768), 4, 12, 4.0)),
    "crossvit_9_240": ("crossvit_9_224", _variant((128, 256), 3, 4, 3.0)),
    "crossvit_15_240": ("crossvit_15_224", _variant((192, 384), 5, 6, 3.0)),
    "crossvit_18_240": ("crossvit_18_224", _variant((224, 448), 6, 7, 3.0)),
    "crossvit_9_dagger_240": ("crossvit_9_dagger_224", _variant((128, 256), 3, 4, 3.0, dagger=True)),
    "crossvit_15_dagger_240": ("crossvit_15_dagger_224", _variant((192, 384), 5, 6, 3.0, dagger=True)),
    "crossvit_18_dagger_240": ("crossvit_18_dagger_224", _variant((224, 448), 6, 7, 3.0, dagger=True)),
    "crossvit_15_dagger_408": (
        "crossvit_15_dagger_384",
        _variant((192, 384), 5, 6, 3.0, dagger=True, img_size=408, large_branch_size=384),
    ),
    "crossvit_18_dagger_408": (
        "crossvit_18_dagger_384",
        _variant((224, 448), 6, 7, 3.0, dagger=True, img_size=408, large_branch_size=384),
    ),
}


def _weights(config: CrossViTConfig, imagenet: bool = True) -> WeightConfig:
    """Where a CrossViT's weights begin (each branch's patch embedding, whose first weight reads the
    channels: its convolution, or the first of the three of the † stem) and end (one head per branch).
    Published ImageNet weights were fed as timm's and the official code's evaluation does: ImageNet's
    mean and std, bicubic resizing, the centre 87.5 % (all of the image at 384/408 px)."""
    size = (config.in_chans, *config.img_size)  # type: ignore[misc]
    ends = {"input_size": size, "first_conv": ("patch_embed.0.proj", "patch_embed.1.proj"),
            "classifier": ("head.0", "head.1")}  # fmt: skip
    if not imagenet:
        return WeightConfig(**ends)
    return WeightConfig(
        **ends, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), interpolation="bicubic",
        crop_pct=0.875 if size[1] < 400 else 1.0,
    )  # fmt: skip


def _register(name: str, official: str, config: CrossViTConfig) -> None:
    def builder(**overrides: Any) -> CrossViT:
        return CrossViT(config, **overrides)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"CrossViT {name} (official: {official}). {PAPER}."
    register_model(
        paper=PAPER, aliases=(official,), tiny=_TINY, weights_url=_OFFICIAL_WEIGHTS.format(official),
        weights=_weights(config),
    )(builder)  # fmt: skip


for _name, (_official, _config) in VARIANTS.items():
    _register(_name, _official, _config)


_FMNIST = CrossViTConfig(
    img_size=28,
    img_scale=(1.0, 32 / 28),
    patch_size=(4, 8),
    in_chans=1,
    num_classes=10,
    embed_dim=(64, 128),
    depth=((1, 2),) * 3,
    num_heads=(4, 4),
    mlp_ratio=(2.0, 2.0),
    stem="conv3",
)


@register_model(
    paper=f"{PAPER}; a small configuration for 28×28 images (this project)",
    tiny={"embed_dim": (32, 64), "num_heads": (2, 2)},
    weights=_weights(_FMNIST, imagenet=False),
)
def crossvit_fmnist(**overrides: Any) -> CrossViT:
    """A small CrossViT† for 28×28 grayscale images (Fashion-MNIST), trained by the README's default run.

    Two branches with the three-convolution (†) stem: 4-px patches on the 28×28 image (7×7 tokens,
    width 64) and 8-px patches on the image resized to 32×32 (4×4 tokens, width 128), K = 3 stages
    of (1, 2) blocks with MLP ratio 2: 1.37 M parameters, 26 M MACs, sized for a CPU-only default run
    (its timing: docs/recipes.md, "Results of the default run").
    """
    return CrossViT(_FMNIST, **overrides)
