"""EEG through MNE: raw EDF/BDF/FIF -> band-pass -> epochs by annotation -> :class:`SignalData`.

:func:`load_eegbci` reads the PhysioNet EEG Motor Movement/Imagery Dataset (EEGMMIDB; Schalk et al.,
"BCI2000: A General-Purpose Brain-Computer Interface (BCI) System", IEEE Trans. Biomed. Eng. 51(6),
2004; Goldberger et al., "PhysioBank, PhysioToolkit, and PhysioNet", Circulation 101(23), 2000) in
MNE's ``eegbci`` folder layout, offline unless asked to download. Runs 4, 8, 12 hold imagined left
(T1) / right (T2) fist movements, 15 task trials per run, so 45 per subject.

Shape legend: n epochs, C channels, T samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, MissingFileError
from .signal import SignalData

__all__ = ["EEGBCI_TASKS", "eegbci_files", "epochs_from_raws", "load_eegbci", "read_raw"]

#: EEGMMIDB runs and the meaning of T1/T2 in them.
EEGBCI_TASKS: dict[str, tuple[tuple[int, ...], tuple[str, str]]] = {
    "imagined_left_right": ((4, 8, 12), ("left_fist", "right_fist")),
    "real_left_right": ((3, 7, 11), ("left_fist", "right_fist")),
    "imagined_fists_feet": ((6, 10, 14), ("both_fists", "both_feet")),
    "real_fists_feet": ((5, 9, 13), ("both_fists", "both_feet")),
}
_EEGBCI_SUBDIR = Path("files", "eegmmidb", "1.0.0")


def read_raw(path: str | Path, preload: bool = True) -> Any:
    """An MNE Raw from an EDF, BDF or FIF file (chosen by extension)."""
    import mne

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"No such recording: {path}")
    return mne.io.read_raw(path, preload=preload, verbose="error")


def eegbci_files(subject: int, runs: Sequence[int], path: str | Path, download: bool = False) -> list[Path]:
    """The EDF files of ``subject``'s ``runs`` under ``path``, without touching the network.

    ``path`` may be the folder that holds ``MNE-eegbci-data`` (what ``mne.datasets.eegbci`` calls
    the path) or ``MNE-eegbci-data`` itself. Missing files are an error unless ``download=True``,
    which lets MNE fetch them from PhysioNet into ``path``.
    """
    root = Path(path)
    bases = [root, root / "MNE-eegbci-data"]
    files = []
    for run in runs:
        name = Path(f"S{subject:03d}", f"S{subject:03d}R{run:02d}.edf")
        found = [b / _EEGBCI_SUBDIR / name for b in bases if (b / _EEGBCI_SUBDIR / name).exists()]
        if found:
            files.append(found[0])
            continue
        if not download:
            raise MissingFileError(
                f"EEGMMIDB subject {subject} run {run} is not under {root} (looked for "
                f"{bases[1] / _EEGBCI_SUBDIR / name}). Pass the folder that holds MNE-eegbci-data, or "
                "download=True to fetch it from PhysioNet."
            )
        from mne.datasets import eegbci

        parent = root.parent if root.name == "MNE-eegbci-data" else root
        files.extend(Path(f) for f in eegbci.load_data(subject, [run], path=str(parent), update_path=False))
    return files


def epochs_from_raws(
    raws: Sequence[Any],
    event_names: dict[str, str],
    l_freq: float | None,
    h_freq: float | None,
    tmin: float,
    tmax: float,
    groups: Sequence[Any] | None = None,
    picks: str | Sequence[str] = "eeg",
    resample: float | None = None,
) -> SignalData:
    """Band-pass each raw, cut epochs at the annotations in ``event_names``, stack into SignalData.

    Args:
        raws: MNE Raw objects (e.g. from :func:`read_raw`); each is filtered on its own.
        event_names: annotation description -> class name, e.g. ``{"T1": "left", "T2": "right"}``.
            Classes are ordered as the dict is.
        l_freq, h_freq: band-pass edges in Hz (None: no high-pass / no low-pass).
        tmin, tmax: epoch window around each annotation onset, in seconds (both ends included, so
            the epoch has ``round((tmax - tmin) * sfreq) + 1`` samples).
        groups: one id per raw (e.g. the subject), repeated for its epochs.
        picks: channels to keep.
        resample: new sampling rate in Hz, applied after filtering.
    """
    import mne

    class_names = list(dict.fromkeys(event_names.values()))
    xs, ys, gs = [], [], []
    info = None
    for i, raw in enumerate(raws):
        raw = raw.copy().pick(picks)
        if l_freq is not None or h_freq is not None:
            raw.filter(l_freq, h_freq, fir_design="firwin", skip_by_annotation="edge", verbose="error")
        if resample is not None:
            raw.resample(resample, verbose="error")
        present = {d: code for code, d in enumerate(event_names) if d in set(raw.annotations.description)}
        if not present:
            continue
        events, event_id = mne.events_from_annotations(raw, event_id=present, verbose="error")
        epochs = mne.Epochs(raw, events, event_id, tmin, tmax, baseline=None, preload=True, verbose="error")
        description_of = {code: d for d, code in event_id.items()}
        xs.append(epochs.get_data(copy=True))
        ys.extend(class_names.index(event_names[description_of[c]]) for c in epochs.events[:, 2])
        gs.extend([groups[i] if groups is not None else 0] * len(epochs))
        info = info or epochs.info
    if info is None:
        raise DataError(f"None of the annotations {list(event_names)} occur in the recordings.")
    return SignalData(
        x=np.concatenate(xs).astype(np.float32),
        y=np.asarray(ys, dtype=np.int64),
        class_names=tuple(class_names),
        sfreq=float(info["sfreq"]),
        ch_names=tuple(info.ch_names),
        groups=np.asarray(gs),
        chs_info=[dict(ch) for ch in info["chs"]],
    )


def load_eegbci(
    subject: int | Sequence[int] = 1,
    runs: Sequence[int] = (4, 8, 12),
    path: str | Path = "/work/shared/data",
    l_freq: float | None = 7.0,
    h_freq: float | None = 30.0,
    tmin: float = 0.0,
    tmax: float = 4.0,
    resample: float | None = None,
    class_names: tuple[str, str] = ("left_fist", "right_fist"),
    montage: str | None = "auto",
    download: bool = False,
) -> SignalData:
    """EEGMMIDB motor imagery as SignalData: T1 -> ``class_names[0]``, T2 -> ``class_names[1]``.

    With the defaults (subject 1, imagined left/right fist runs 4, 8, 12, 7–30 Hz, 0–4 s): 45 epochs
    × 64 channels × 641 samples at 160 Hz, ``groups`` = subject number, channel names standardised
    (``C3``, ``Cz``...) and electrode positions from ``montage`` in ``chs_info`` (for topomaps). See
    :data:`EEGBCI_TASKS` for the runs of the other tasks.

    Args:
        subject: one subject number (1–109) or several.
        path: the folder holding ``MNE-eegbci-data`` (or that folder itself); never downloads unless
            ``download=True``.
        montage: an MNE built-in montage name for the electrode positions; "auto" is the 10-05
            template ("colin27_1005", called "standard_1005" before MNE 1.13); None: no positions.
    """
    import mne
    from mne.datasets import eegbci

    if montage == "auto":
        montage = "colin27_1005" if "colin27_1005" in mne.channels.get_builtin_montages() else "standard_1005"
    subjects = [subject] if isinstance(subject, int) else list(subject)
    raws, groups = [], []
    for s in subjects:
        for file in eegbci_files(s, runs, path, download=download):
            raw = read_raw(file)
            eegbci.standardize(raw)  # "C3.." -> "C3", so a standard montage applies
            if montage is not None:
                raw.set_montage(mne.channels.make_standard_montage(montage), verbose="error")
            raws.append(raw)
            groups.append(s)
    return epochs_from_raws(
        raws,
        {"T1": class_names[0], "T2": class_names[1]},
        l_freq,
        h_freq,
        tmin,
        tmax,
        groups=groups,
        resample=resample,
    )
