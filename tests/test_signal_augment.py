"""Signal augmentation (dualbranch.data.signal_augment) and its use in SignalInputs."""

from __future__ import annotations

import pytest
import torch

from dualbranch.data.signal_augment import SignalAugment, augment_signals
from dualbranch.train.config import ConfigError, load_config
from dualbranch.train.kinds.signals import SignalAugmentSection, SignalInputs
from dualbranch.train.mixup import smooth_targets

ALL_ON = SignalAugment(shift=3, scale=0.2, jitter=0.1)


def _batch(b: int = 6, c: int = 4, t: int = 20) -> torch.Tensor:
    return torch.randn(b, c, t, generator=torch.Generator().manual_seed(1))


def test_shape_kept_and_deterministic_given_the_generator():
    x = _batch()
    first = augment_signals(x, ALL_ON, torch.Generator().manual_seed(7))
    again = augment_signals(x, ALL_ON, torch.Generator().manual_seed(7))
    other = augment_signals(x, ALL_ON, torch.Generator().manual_seed(8))
    assert first.shape == x.shape and first.dtype == x.dtype
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert not torch.allclose(first, x)


def test_off_by_default_leaves_the_batch_unchanged():
    x = _batch()
    assert augment_signals(x, SignalAugment(), torch.Generator().manual_seed(0)) is x
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    out, targets = SignalInputs(SignalAugmentSection()).train_batch(x, labels, 3, torch.Generator().manual_seed(0))
    assert torch.equal(out, x)
    assert torch.allclose(targets, smooth_targets(labels, 3, SignalAugmentSection().label_smoothing))


def test_shift_moves_whole_trials_and_fills_with_zeros():
    x = torch.arange(1, 11, dtype=torch.float32).view(1, 1, 10).repeat(8, 2, 1)
    out = augment_signals(x, SignalAugment(shift=3), torch.Generator().manual_seed(3))
    offsets = set()
    for trial in out:
        # out[t] = x[t - offset]: a right shift leaves `offset` leading zeros, a left one starts at 1 - offset
        offset = 1 - int(trial[0, 0]) if trial[0, 0] > 0 else int((trial[0] == 0).sum())
        assert abs(offset) <= 3
        assert torch.equal(trial, torch.roll(x[0], offset, dims=-1) * _inside(offset, 10))
        offsets.add(offset)
    assert len(offsets) > 1  # trials move independently


def _inside(offset: int, length: int) -> torch.Tensor:
    t = torch.arange(length) - offset
    return ((t >= 0) & (t < length)).float()


def test_scale_is_one_factor_per_trial_and_channel():
    x = _batch()
    out = augment_signals(x, SignalAugment(scale=0.3), torch.Generator().manual_seed(2))
    ratio = out / x
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio), rtol=1e-5)
    assert ratio[..., 0].std() > 0.05


def test_padding_stays_zero():
    x = _batch()
    x[:, :, 12:] = 0.0  # series of 12 real samples, zero-padded to 20 (as under length_policy: pad)
    out = augment_signals(x, SignalAugment(scale=0.5, jitter=0.5), torch.Generator().manual_seed(4))
    assert torch.equal(out[:, :, 12:], torch.zeros_like(out[:, :, 12:]))
    assert not torch.allclose(out[:, :, :12], x[:, :, :12])


def test_signal_mixup_mixes_inputs_and_targets_alike():
    x = _batch()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    inputs = SignalInputs(SignalAugmentSection(label_smoothing=0.0, mixup=0.4))
    out, targets = inputs.train_batch(x, labels, 3, torch.Generator().manual_seed(5))
    lam = float(targets[0, 0])  # sample 0 (class 0) mixed with the reversed batch's sample 0 (class 2)
    assert 0 < lam < 1
    assert torch.allclose(out, x * lam + x.flip(0) * (1 - lam), atol=1e-6)


@pytest.mark.parametrize("override", ["augment.shift=-1", "augment.jitter=-0.1", "augment.mixup=-1"])
def test_out_of_range_options_name_the_key(override):
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        load_config("basicmotions", [override])


def test_report_labels_training_curves_augmented_only_when_an_option_is_on(tmp_path):
    from dualbranch.train.config import dump_config
    from dualbranch.train.report import _augmented

    cases = (([], False), (["augment.jitter=0.1"], True), (["augment.mixup=0.2"], True))
    for index, (overrides, expected) in enumerate(cases):
        run = tmp_path / f"run{index}"
        run.mkdir()
        (run / "config.yaml").write_text(dump_config(load_config(None, ["data.name=signal_npz", *overrides])))
        assert _augmented(run) is expected
    assert load_config("japanesevowels").augment.jitter > 0  # the shipped UEA recipes augment
