"""State-dict key names of CrossViT: ours, timm's and the official (IBM) code's.

The three namings differ only here (b = branch, s = stage, l = fusion layer):

    ours                                 official (IBM .pth)            timm
    pos_embed.b / cls_token.b            pos_embed.b / cls_token.b      pos_embed_b / cls_token_b
    blocks.s.fusion.projs.b.*            blocks.s.projs.b.*             (as official)
    blocks.s.fusion.revert_projs.b.*     blocks.s.revert_projs.b.*      (as official)
    blocks.s.fusion.layers.b.l.*         blocks.s.fusion.b.* (L = 1)    (as official)
                                         blocks.s.fusion.b.l.* (L > 1)

Everything else (patch_embed, blocks.s.blocks.b.i, norm.b, head.b) is identical.
"""

from __future__ import annotations

import re

import torch

from ..errors import ConfigError

__all__ = ["crossvit_keys_from_published", "crossvit_keys_to_published", "detect_crossvit_naming"]

_TIMM_TOKEN = re.compile(r"^(pos_embed|cls_token)_(\d+)$")
_OURS_TOKEN = re.compile(r"^(pos_embed|cls_token)\.(\d+)$")
_PUBLISHED_PROJ = re.compile(r"^blocks\.(\d+)\.(projs|revert_projs)\.")
_PUBLISHED_FUSION = re.compile(r"^blocks\.(\d+)\.fusion\.(\d+)\.(\d+\.)?")
_OURS_PROJ = re.compile(r"^blocks\.(\d+)\.fusion\.(projs|revert_projs)\.")
_OURS_FUSION = re.compile(r"^blocks\.(\d+)\.fusion\.layers\.(\d+)\.(\d+)\.")


def detect_crossvit_naming(keys: list[str]) -> str:
    """'timm', 'official' or 'ours', from the key names alone."""
    if any(_TIMM_TOKEN.match(k) for k in keys):
        return "timm"
    if any(_PUBLISHED_PROJ.match(k) for k in keys):
        return "official"
    return "ours"


def _published_to_ours(key: str) -> str:
    key = _TIMM_TOKEN.sub(r"\1.\2", key)
    key = _PUBLISHED_PROJ.sub(r"blocks.\1.fusion.\2.", key)
    match = _PUBLISHED_FUSION.match(key)
    if match:
        layer = (match.group(3) or "0.").rstrip(".")
        key = f"blocks.{match.group(1)}.fusion.layers.{match.group(2)}.{layer}." + key[match.end() :]
    return key


def crossvit_keys_from_published(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm or official state dict to our naming (ours passes through unchanged)."""
    if detect_crossvit_naming(list(state_dict)) == "ours":
        return dict(state_dict)
    return {_published_to_ours(k): v for k, v in state_dict.items()}


def crossvit_keys_to_published(
    state_dict: dict[str, torch.Tensor], naming: str = "timm", fusion_depth: int = 1
) -> dict[str, torch.Tensor]:
    """Rename our state dict to ``naming`` ('timm' or 'official')."""
    if naming not in ("timm", "official"):
        raise ConfigError(f"naming must be 'timm' or 'official', got {naming!r}.")
    renamed = {}
    for key, value in state_dict.items():
        if naming == "timm":
            key = _OURS_TOKEN.sub(r"\1_\2", key)
        key = _OURS_PROJ.sub(r"blocks.\1.\2.", key)
        match = _OURS_FUSION.match(key)
        if match:
            stage, branch, layer = match.groups()
            # The official code names a single fusion layer without an index (its "backward
            # capability" path, used by every published model).
            inner = "" if fusion_depth == 1 else f"{layer}."
            key = f"blocks.{stage}.fusion.{branch}.{inner}" + key[match.end() :]
        renamed[key] = value
    return renamed
