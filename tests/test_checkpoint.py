"""Loading and saving weights: both published namings, strict checks, safe and clear failures."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

import dualbranch
from dualbranch.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    read_state_dict,
    save_checkpoint,
)
from dualbranch.errors import ConfigError, MissingFileError

TINY = {"img_size": 48, "embed_dim": (32, 64), "num_heads": (2, 2), "num_classes": 10}


def _pair(name: str = "crossvit_9_240", **overrides) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    source = dualbranch.create_model(name, **{**TINY, **overrides}).eval()
    torch.manual_seed(1)
    target = dualbranch.create_model(name, **{**TINY, **overrides}).eval()
    return source, target


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.randn(2, *a.input_shape)
    with torch.no_grad():
        return torch.equal(a(x), b(x))


@pytest.mark.parametrize("naming", ["ours", "timm", "official"])
def test_safetensors_round_trip_in_every_naming(naming, tmp_path):
    source, target = _pair()
    assert not _same_outputs(source, target)
    path = save_checkpoint(source, tmp_path / "w.safetensors", naming=naming)
    keys = set(read_state_dict(path))
    assert ("pos_embed_0" in keys) == (naming == "timm")
    assert ("blocks.0.projs.0.2.weight" in keys) == (naming != "ours")
    load_checkpoint(target, path)
    assert _same_outputs(source, target)


@pytest.mark.parametrize("naming", ["timm", "official"])
def test_pth_in_published_naming_and_wrappers(naming, tmp_path):
    source, target = _pair("crossvit_9_dagger_240")
    published = source.published_state_dict(naming)
    # the official training script wraps the weights; DDP prefixes them with 'module.'
    wrapped = {"model": {f"module.{k}": v for k, v in published.items()}, "epoch": 3}
    torch.save(wrapped, tmp_path / "w.pth")
    loaded = dualbranch.create_model("crossvit_9_dagger_240", checkpoint_path=str(tmp_path / "w.pth"), **TINY)
    assert _same_outputs(source, loaded.eval())
    load_checkpoint(target, tmp_path / "w.pth")
    assert _same_outputs(source, target)


def test_multi_layer_fusion_round_trips_through_official_naming(tmp_path):
    source, target = _pair(fusion_depth=2)
    keys = set(source.published_state_dict("official"))
    assert "blocks.0.fusion.0.1.attn.wq.weight" in keys
    save_checkpoint(source, tmp_path / "w.safetensors", naming="official")
    load_checkpoint(target, tmp_path / "w.safetensors")
    assert _same_outputs(source, target)


def test_wrong_variant_names_keys_shapes_and_the_right_variant(tmp_path):
    with torch.device("meta"):
        crossvit_15 = dualbranch.create_model("crossvit_15_240")
    # a real-size checkpoint of crossvit_15_240 in timm naming (zeros: only the shapes matter here)
    weights = {k: torch.zeros(v.shape) for k, v in crossvit_15.published_state_dict("timm").items()}
    path = tmp_path / "crossvit_15.pth"
    torch.save(weights, path)
    with torch.device("meta"):
        crossvit_9 = dualbranch.create_model("crossvit_9_240")
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(crossvit_9, path)
    message = str(err.value)
    assert "patch_embed.0.proj.weight: (192, 3, 12, 12) vs (128, 3, 12, 12)" in message
    assert "missing from the checkpoint: blocks.0.blocks.1.3" not in message  # 9 has fewer blocks
    assert "not in the model: blocks.0.blocks.1.3" in message
    assert "looks like a checkpoint of 'crossvit_15_240'" in message


def test_head_only_mismatch_suggests_reset_classifier(tmp_path):
    source, _ = _pair()
    path = save_checkpoint(source, tmp_path / "w.safetensors")
    other = dualbranch.create_model("crossvit_9_240", **{**TINY, "num_classes": 3})
    with pytest.raises(CheckpointMismatchError, match="reset_classifier"):
        load_checkpoint(other, path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"model": _Exploit()}, handle)
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(path)
    torch.save({"weights": torch.zeros(2), "hook": _Exploit()}, tmp_path / "evil_zip.pth")
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(tmp_path / "evil_zip.pth")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_file_gets_a_clear_error(suffix, tmp_path):
    source, target = _pair()
    path = tmp_path / f"w{suffix}"
    if suffix == ".pth":
        torch.save(source.state_dict(), path)
    else:
        save_checkpoint(source, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(target, path)


def test_missing_file_and_wrong_save_suffix(tmp_path):
    source, _ = _pair()
    with pytest.raises(MissingFileError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pth")
    with pytest.raises(ConfigError, match=r"\.safetensors"):
        save_checkpoint(source, tmp_path / "w.pth")


def test_save_is_atomic_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    source, _ = _pair()
    path = save_checkpoint(source, tmp_path / "w.safetensors")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", crash)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(source, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]  # no temp file left behind


def test_pretrained_download_from_url_then_cache(tmp_path, monkeypatch):
    """The real download path, fed a file:// URL (no network here): official .pth, head replaced."""
    source, _ = _pair(num_classes=1000)  # published weights are ImageNet-1k
    published = tmp_path / "published" / "crossvit_9_224.pth"
    published.parent.mkdir()
    torch.save(source.published_state_dict("official"), published)
    monkeypatch.setenv("DUALBRANCH_CACHE", str(tmp_path / "cache"))
    url = published.as_uri()
    model = dualbranch.create_model("crossvit_9_240", pretrained=url, **{**TINY, "num_classes": 4}).eval()
    assert (tmp_path / "cache" / "crossvit_9_224.pth").is_file()
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 4)
    assert torch.equal(model.pos_embed[0], source.pos_embed[0])
    published.unlink()  # the second call is served from the cache
    again = dualbranch.create_model("crossvit_9_240", pretrained=url, **{**TINY, "num_classes": 1000})
    assert torch.equal(again.head[0].weight, source.head[0].weight)


def test_failed_download_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALBRANCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CheckpointError, match="checkpoint_path"):
        dualbranch.create_model("crossvit_9_240", pretrained=(tmp_path / "missing.pth").as_uri())
    assert not any((tmp_path / "cache").iterdir())
