"""Building models by name: ``create_model(name, pretrained=..., checkpoint_path=..., **overrides)``.

This module sits above :mod:`dualbranch.registry` (the tables of registered models) and
:mod:`dualbranch.checkpoint` (reading and loading weights) and joins them; neither of those imports
it, so there is no import cycle between them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from . import models as _models  # noqa: F401  (registers every model: the registry is read here)
from .checkpoint import load_checkpoint
from .errors import ConfigError
from .features import FeatureExtractor
from .registry import get_model_entry
from .weight_files import download_weights

__all__ = ["create_model"]


def create_model(
    name: str,
    pretrained: bool | str = False,
    checkpoint_path: str | None = None,
    features_only: bool = False,
    out_indices: tuple[int, ...] | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a registered model, optionally load weights, optionally wrap it as a feature extractor.

    Args:
        name: a registered name (``dualbranch models``) or an official alias (``crossvit_9_224``).
        pretrained: True loads the published weights (downloaded once into the cache), a string
            loads weights from that URL. With a different ``num_classes`` the published heads are
            replaced by fresh ones (fine-tuning).
        checkpoint_path: a ``.pth``/``.safetensors`` file in our, timm's or the official naming;
            loaded strictly.
        features_only: return a :class:`~dualbranch.features.FeatureExtractor` giving per-branch
            feature maps of the stages in ``out_indices`` instead of logits.
        **overrides: configuration fields of the model (e.g. ``num_classes=10, img_size=28``).
            Unknown fields are an error.

    Raises:
        UnknownModelError: ``name`` is not registered.
        ConfigError: ``pretrained=True`` for a model without published weights.
        MissingFileError, CheckpointError, CheckpointMismatchError: from loading the weights.
    """
    entry = get_model_entry(name)
    if pretrained:
        url = entry.weights_url if pretrained is True else pretrained
        if not url:
            raise ConfigError(f"No published weights are known for {entry.name}; pass checkpoint_path=...")
        num_classes = overrides.pop("num_classes", None)
        model = entry.builder(**overrides)
        load_checkpoint(model, download_weights(url), entry.name)
        if num_classes is not None and num_classes != model.num_classes:
            model.reset_classifier(num_classes)  # type: ignore[operator]
    else:
        model = entry.builder(**overrides)
    if checkpoint_path is not None:
        load_checkpoint(model, checkpoint_path, entry.name)
    if features_only:
        return FeatureExtractor(model, out_indices)
    return model
