"""The signal kind: EEG through MNE (EEGMMIDB), UEA multivariate series bundled with aeon, ``.npz`` arrays.

Examples are float signals (n, C, T) with optional subject ids (``groups``) and a padding mask for
variable-length series (``data.length_policy``: pad | resample | error; nothing is ever cut). The
preprocessing (Euclidean alignment per subject, standardisation) is fitted on a fold's training
examples only (:class:`~dualbranch.data.signal_preprocessing.SignalPreprocessor`); the input pipeline
adds the optional training-time augmentation (time shift, amplitude scaling, jitter, Mixup — all off
by default). Image augmentation and CutMix are never applied to signals.

Shape legend: n examples, B batch, C channels, T samples, K classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import matplotlib.pyplot as plt
import numpy as np
import torch
from pydantic import Field

from ...data.eeg import EEGBCI_TASKS, load_eegbci
from ...data.moabb import MOABB_GROUPS, MOABB_PARADIGMS, load_moabb
from ...data.series import load_npz, load_uea_splits, stack_series
from ...data.signal import SignalData
from ...data.signal_augment import SignalAugment, augment_signals
from ...data.signal_preprocessing import SignalPreprocessor
from ...errors import ConfigError, DataError, MissingFileError
from ...signal_plots import has_positions, plot_channel_weights
from .. import figures
from ..mixup import mix_batch
from ..sections import AugmentSection, DataSection, Positive, Strength
from .base import DataKind, FoldEvaluation, InputPipeline, RunData, register_kind

__all__ = ["SignalAugmentSection", "SignalDataSection", "SignalInputs", "SignalKind"]

DEFAULT_EEG_ROOT = "/work/shared/data"  # the folder holding MNE-eegbci-data on this project's machines
# data at least this wide and long, with a sampling rate, is EEG-like (model.name: auto picks DBConformer)
EEG_MIN_CHANNELS, EEG_MIN_TIMES = 8, 128
SERIES_MIXUP = 0.2  # Mixup α the recipe gives series that are not EEG-like (see SignalKind.recipe)


def _eeg_like(signals: SignalData) -> bool:
    return signals.n_chans >= EEG_MIN_CHANNELS and signals.n_times >= EEG_MIN_TIMES and signals.sfreq is not None


@dataclass
class SignalDataSection(DataSection):
    """``data`` of a signal run: eegbci | uea | signal_npz."""

    # uea: a set bundled with aeon (e.g. BasicMotions, JapaneseVowels), or any UEA/UCR set downloaded into data.path
    uea_name: str | None = None
    subjects: list[int] = field(default_factory=lambda: [1])  # eegbci: subject numbers 1–109
    task: Literal[tuple(EEGBCI_TASKS)] = "imagined_left_right"  # eegbci: which runs and classes
    l_freq: float | None = 7.0  # eegbci band-pass, Hz
    h_freq: float | None = 30.0
    tmin: float = 0.0  # eegbci epoch window around the cue, seconds
    tmax: float = 4.0
    resample: float | None = None  # eegbci: new sampling rate, Hz
    length_policy: Literal["pad", "resample", "error"] = "pad"  # unequal lengths (pad: + mask)
    length: Positive | None = None
    alignment: Literal["none", "euclidean"] = "none"  # per subject; test trials aligned online
    standardize: Literal["channel", "trial", "none"] = "channel"
    # moabb (also reads subjects, l_freq, h_freq, tmin, tmax, resample; path: where MOABB downloads to)
    moabb_dataset: str | None = None  # a MOABB dataset class: BNCI2014_001, BNCI2014_004, Zhou2016, ...
    moabb_paradigm: Literal[tuple(MOABB_PARADIGMS)] = "motor_imagery"
    moabb_events: list[str] | None = None  # the classes, MOABB event names (left_hand, ...); null: all
    moabb_args: dict[str, Any] = field(default_factory=dict)  # options of the dataset class
    sessions: list[str | int] | None = None  # MOABB session names to keep (e.g. [0train]); null: all
    groups: Literal[MOABB_GROUPS] = "subject"  # session: loso leaves one session out


@dataclass
class SignalAugmentSection(AugmentSection):
    """``augment`` of a signal run (see :mod:`dualbranch.data.signal_augment`); all off by default."""

    shift: Annotated[int, Field(ge=0, description="0 (off) or more samples")] = 0  # largest time shift, zero-filled
    scale: Strength = 0.0  # std of the log of a per-channel amplitude factor
    jitter: Strength = 0.0  # std of added Gaussian noise (inputs are standardised)
    mixup: Strength = 0.0  # Mixup Beta(α, α); 0 turns it off


class SignalInputs(InputPipeline):
    """Preprocessed float signals (B, C, T), given to the model as they are; at training time the
    augmentation of ``augment`` and label smoothing."""

    def __init__(self, augment: SignalAugmentSection | None = None) -> None:
        super().__init__()
        section = augment if augment is not None else SignalAugmentSection(label_smoothing=0.0)
        self.label_smoothing = section.label_smoothing
        self.mixup_alpha = section.mixup
        self.augment = SignalAugment(section.shift, section.scale, section.jitter)

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float()

    def train_batch(
        self, batch: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = augment_signals(self.prepare(batch), self.augment, generator)
        # Mixup only (CutMix's pasted box is an image idea); every batch is mixed when it is on
        return mix_batch(x, labels, num_classes, self.label_smoothing, self.mixup_alpha, 0.0, 1.0, 0.0, generator)


def _concat(parts: list[SignalData]) -> SignalData:
    first = parts[0]
    masks = None
    if any(p.mask is not None for p in parts):
        masks = np.concatenate([p.mask if p.mask is not None else np.ones((len(p), p.n_times), bool) for p in parts])
    groups = None
    if any(p.groups is not None for p in parts):
        groups = np.concatenate([p.groups if p.groups is not None else np.zeros(len(p), int) for p in parts])
    x, y = np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts])
    return SignalData(x, y, first.class_names, first.sfreq, first.ch_names, groups, first.chs_info, masks)


def _with_test(train: SignalData, test: SignalData) -> RunData:
    data = _concat([train, test])
    return RunData(data, data.y, data.class_names, data.groups, own_test=np.arange(len(train), len(data)))


def _load_uea(data: SignalDataSection) -> RunData:
    if not data.uea_name:
        raise ConfigError("data.name=uea needs data.uea_name, e.g. BasicMotions or JapaneseVowels.")
    train, test = load_uea_splits(data.uea_name, data.length_policy, data.length, data.path)
    return _with_test(train, test)


def _load_npz(data: SignalDataSection) -> RunData:
    if data.path is None:
        raise ConfigError("data.name=signal_npz needs data.path (an .npz with x (n, C, T) and y (n,)).")
    train = load_npz(data.path, data.length_policy, data.length)
    if data.test_path is None:
        return RunData(train, train.y, train.class_names, train.groups)
    test = load_npz(data.test_path, data.length_policy, data.length or train.n_times)
    if test.class_names != train.class_names or test.n_chans != train.n_chans:
        raise ConfigError(
            f"{data.test_path} has classes {test.class_names} × {test.n_chans} channels but {data.path} "
            f"has {train.class_names} × {train.n_chans}; save both with the same class_names and channels."
        )
    if test.n_times != train.n_times:
        train = load_npz(data.path, data.length_policy, test.n_times)
    return _with_test(train, test)


def _plain_chs_info(chs_info: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """MNE channel descriptions reduced to JSON: name and the 12-value ``loc`` (NaN -> 0)."""
    if chs_info is None:
        return None
    return [
        {"ch_name": str(ch["ch_name"]), "loc": np.nan_to_num(np.asarray(ch["loc"], dtype=float)).tolist()}
        for ch in chs_info
    ]


@register_kind
class SignalKind(DataKind):
    name = "signals"
    datasets = ("eegbci", "uea", "signal_npz", "moabb")
    data_section = SignalDataSection
    augment_section = SignalAugmentSection

    def load(self, data: SignalDataSection, seed: int, progress: bool = True) -> RunData:
        if data.name == "uea":
            return _load_uea(data)
        if data.name == "signal_npz":
            return _load_npz(data)
        if data.name == "moabb":
            signals = load_moabb(
                data.moabb_dataset, data.subjects, data.sessions, data.moabb_events, data.l_freq, data.h_freq,
                data.tmin, data.tmax, data.resample, data.groups, data.path, data.moabb_args, data.moabb_paradigm,
            )  # fmt: skip
            return RunData(signals, signals.y, signals.class_names, signals.groups)
        runs, class_names = EEGBCI_TASKS[data.task]
        signals = load_eegbci(
            data.subjects, runs, data.path or DEFAULT_EEG_ROOT, data.l_freq, data.h_freq, data.tmin, data.tmax,
            data.resample, class_names,
        )  # fmt: skip
        return RunData(signals, signals.y, signals.class_names, signals.groups)

    def default_model(self, dataset: RunData) -> tuple[str, str]:
        signals: SignalData = dataset.examples  # type: ignore[assignment]
        shape = f"{signals.n_chans} channels × {signals.n_times} samples"
        if _eeg_like(signals):
            return "dbconformer", f"{shape} at {signals.sfreq:g} Hz: EEG-like, the temporal + spatial dual branch"
        return "rocketformer", f"{shape}: ROCKET's random dilated kernels (ridge, closed form) + a patch Transformer"

    def recipe(self, dataset: RunData, n_train: int, model_name: str) -> list[tuple[str, Any, str]]:
        signals: SignalData = dataset.examples  # type: ignore[assignment]
        shift = signals.n_times // 20
        choices: list[tuple[str, Any, str]] = [
            ("augment.shift", shift, f"time shifts of up to 5 % of {signals.n_times} samples"),
            ("augment.scale", 0.1, "per-channel amplitude factors exp(0.1·N(0, 1))"),
            # CrossViT-1D's heads read the mean patch token, which beat the CLS token on small UCR sets
            # (docs/recipes.md, "The measurements behind the choices")
            ("model.args.global_pool", "avg", "each branch's head reads its mean patch token"),
        ]
        if model_name == "rocketformer":
            # its kernel branch is fitted in closed form (ROCKET's ridge classifier does the heavy lifting), so
            # gradient updates train the Transformer branch only and a quarter of the 2,000-update floor
            # does (docs/recipes.md, "The measurements behind the choices")
            choices.append(("optim.budget", "600", "RocketFormer: the Transformer branch's updates"))
        if not _eeg_like(signals):
            # Mixup pays on small series sets that are not EEG (docs/recipes.md, "The measurements behind the
            # choices"); EEG keeps the recipe measured on it, without Mixup.
            choices.append(("augment.mixup", SERIES_MIXUP, f"Mixup α={SERIES_MIXUP} between series of a batch"))
        return choices

    def model_args(self, dataset: RunData, data: Any, model_fields: set[str], model_name: str) -> dict[str, Any]:
        if "n_chans" not in model_fields:
            raise ConfigError(
                f"model.name={model_name} reads images; signal data needs a signal model (e.g. dbconformer, "
                "eeg_conformer; `dualbranch models`)."
            )
        signals: SignalData = dataset.examples  # type: ignore[assignment]
        args = {
            "n_chans": signals.n_chans, "n_times": signals.n_times, "n_outputs": signals.n_classes,
            "sfreq": signals.sfreq, "chs_info": _plain_chs_info(signals.chs_info),
        }  # fmt: skip
        return {k: v for k, v in args.items() if k in model_fields}

    def describe(self, dataset: RunData, data: SignalDataSection) -> dict[str, Any]:
        signals: SignalData = dataset.examples  # type: ignore[assignment]
        return {
            "input_shape": [signals.n_chans, signals.n_times],
            "ch_names": list(signals.ch_names or ()),
            "sfreq": signals.sfreq,
            "length_policy": data.length_policy,
            # what a group is: the subject, or for MOABB with groups=session the session
            "group_name": data.groups if data.name == "moabb" else "subject",
        }

    def fit_preprocessing(self, train: SignalData, data: SignalDataSection) -> SignalPreprocessor:  # type: ignore[override]
        return SignalPreprocessor.fit(train, data.alignment, data.standardize)

    def read_preprocessing(self, values: dict[str, Any] | None, record: dict[str, Any]) -> SignalPreprocessor:
        if values is None:
            raise DataError("A signal run keeps preprocessing.json beside each model; it is missing.")
        return SignalPreprocessor.from_json(values)

    def loader_inputs(  # type: ignore[override]
        self,
        examples: SignalData,
        preprocessing: SignalPreprocessor,
        training: bool,
        augment: Any = None,
        seed: int = 0,
    ) -> torch.Tensor:
        return torch.from_numpy(preprocessing.transform(examples, training))

    def input_pipeline(self, preprocessing: Any, augment: SignalAugmentSection) -> SignalInputs:  # type: ignore[override]
        return SignalInputs(augment)

    def read_inputs(
        self, paths: Sequence[str], record: dict[str, Any], on_corrupt: str = "error"
    ) -> tuple[list[str], SignalData, list[tuple[str, str]]]:
        if len(paths) != 1 or not paths[0].endswith(".npz"):
            raise DataError("A signal run predicts from one .npz file holding x (n, C, T) (optional: groups, mask).")
        path = Path(paths[0])
        if not path.is_file():
            raise MissingFileError(f"{path} does not exist.")
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files:
                raise DataError(
                    f"{path} has no array 'x' (it has {f.files}); save np.savez(path, x=signals (n, C, T))."
                )
            arrays = {k: f[k] for k in f.files}
        x = arrays["x"][:, None, :] if arrays["x"].ndim == 2 else arrays["x"]
        n_chans, n_times = record["input_shape"]
        if x.ndim != 3 or x.shape[1] != n_chans:
            raise DataError(
                f"{path}: x is {x.shape}; the run's model reads (n, {n_chans} channels, {n_times} samples)."
            )
        mask = arrays.get("mask")
        if x.shape[2] != n_times:
            try:
                x, mask = stack_series(list(x), record["data"]["length_policy"], n_times)
            except ValueError as err:
                raise DataError(f"{path}: series of {x.shape[2]} samples, the model reads {n_times}: {err}") from err
        signals = SignalData(
            x=x,
            y=np.zeros(len(x), dtype=np.int64),
            class_names=tuple(record["class_names"]),
            groups=arrays.get("groups"),
            mask=mask,
            require_all_classes=False,
        )  # fmt: skip  (labels are not needed to predict)
        return [f"{paths[0]}[{i}]" for i in range(len(signals))], signals, []

    def group_name(self, facts: dict[str, Any]) -> str:
        return facts.get("group_name", "subject")  # run.json files before it was kept: subjects

    def extra_metrics(self, folds: list[FoldEvaluation], record: dict[str, Any]) -> dict[str, Any]:
        weights = []
        for fold in folds:
            if hasattr(fold.model, "channel_attention_weights"):
                with torch.no_grad():
                    batches = torch.arange(len(fold.y)).split(256)
                    w = torch.cat([fold.model.channel_attention_weights(fold.model_input(i)) for i in batches])
                weights.append(w.mean(dim=0).numpy())
        if not weights:
            return {}
        names = record["data"]["ch_names"]
        return {"channel_attention": dict(zip(names, np.mean(weights, axis=0).round(6).tolist()))}

    def report_sections(
        self, folds: list[FoldEvaluation], record: dict[str, Any], metrics: dict[str, Any], thumbnails: int
    ) -> list[str]:
        weights = metrics.get("channel_attention")
        if not weights:
            return []
        chs_info = record["model_args"].get("chs_info")
        values = np.asarray(list(weights.values()))
        kind = "topomap" if has_positions(chs_info) else "bar"
        fig, ax = plt.subplots(figsize=(4.5, 4.5) if kind == "topomap" else (max(5, 0.3 * len(values)), 3.2))
        # the colour range is the weights' own: near-uniform attention would otherwise be one flat colour
        vlim = (float(values.min()), float(values.max()))
        title = "channel attention (mean over test examples and folds)"
        plot_channel_weights(values, chs_info, list(weights), ax=ax, title=title, kind=kind, vlim=vlim)
        return [
            "<h2>Channel attention</h2>",
            '<p class="note">The weight each channel gets when the spatial branch pools its channel tokens '
            "(rows sum to 1; uniform is 1 / channels).</p>",
            figures.png(fig),
        ]
