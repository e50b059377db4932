"""Model registry: ``@register_model`` on a builder function, ``create_model(name, **overrides)``.

A builder takes keyword overrides and returns an ``nn.Module`` that follows the model contract
(:class:`dualbranch.models.base.MultiBranchModel`). Each entry records where the model comes from
(paper), official names it is also known by (aliases), a small configuration for quick tests (tiny),
and where published weights live (weights_url).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

__all__ = ["ModelEntry", "create_model", "get_model_entry", "list_models", "register_model"]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name."""

    name: str
    builder: Callable[..., nn.Module]
    paper: str = ""
    aliases: tuple[str, ...] = ()
    tiny: dict[str, Any] = field(default_factory=dict)
    weights_url: str | None = None


_ENTRIES: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    paper: str = "",
    aliases: tuple[str, ...] = (),
    tiny: dict[str, Any] | None = None,
    weights_url: str | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder`` under its function name."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        taken = set(_ENTRIES) | set(_ALIASES)
        for new in (name, *aliases):
            if new in taken:
                raise ValueError(f"Model name {new!r} is registered twice.")
        _ENTRIES[name] = ModelEntry(name, builder, paper, tuple(aliases), dict(tiny or {}), weights_url)
        _ALIASES.update({alias: name for alias in aliases})
        return builder

    return decorate


def _unknown(name: str) -> KeyError:
    known = sorted(_ENTRIES) + sorted(_ALIASES)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return KeyError(f"Unknown model {name!r}.{hint} `dualbranch models` lists every model.")


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry for ``name`` (a model name or an official alias)."""
    canonical = _ALIASES.get(name, name)
    if canonical not in _ENTRIES:
        raise _unknown(name)
    return _ENTRIES[canonical]


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names (aliases excluded) matching a shell-style ``pattern``, sorted."""
    return sorted(name for name in _ENTRIES if fnmatch.fnmatch(name, pattern))


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
    """
    from .checkpoint import download_weights, load_checkpoint

    entry = get_model_entry(name)
    if pretrained:
        url = entry.weights_url if pretrained is True else pretrained
        if not url:
            raise ValueError(f"No published weights are known for {entry.name}; pass checkpoint_path=...")
        num_classes = overrides.pop("num_classes", None)
        model = entry.builder(**overrides)
        load_checkpoint(model, download_weights(url))
        if num_classes is not None and num_classes != model.num_classes:
            model.reset_classifier(num_classes)  # type: ignore[operator]
    else:
        model = entry.builder(**overrides)
    if checkpoint_path is not None:
        load_checkpoint(model, checkpoint_path)
    if features_only:
        from .features import FeatureExtractor

        return FeatureExtractor(model, out_indices)
    return model
