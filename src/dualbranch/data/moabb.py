"""EEG from MOABB (Mother of All BCI Benchmarks): a dataset + a motor-imagery paradigm -> :class:`SignalData`.

MOABB (Aristimunha et al., github.com/NeuroTechX/moabb, BSD-3) knows dozens of public BCI datasets
(BNCI2014_001 = BCI Competition IV 2a, BNCI2014_004 = IV 2b, Zhou2016, ...) and cuts their epochs
the same way for every dataset (its *paradigms*). :func:`load_moabb` asks MOABB for the epochs of
some subjects, keeps the chosen sessions, and returns them with every trial's group:

* ``groups="subject"``: the subject number (an int): ``loso`` is leave-one-subject-out
  (cross-subject), Euclidean alignment is per subject, metrics are per subject;
* ``groups="session"``: ``"<subject>/<session>"`` (a str, e.g. ``"1/0train"``): every recording
  session is a group, so ``loso`` is leave-one-session-out (cross-session; with several subjects,
  one subject's session is tested against all the other sessions) and alignment is per session.

Trials come in recorded order (subject, session, run), so the chronological ``holdout`` with
``test_fraction=0.5`` on a two-session dataset of equal halves (BNCI2014_001) trains on the first
session and tests on the second: the competition's own cross-session split.

MOABB downloads a dataset on first use (into ``path``, else MOABB's default, ``~/mne_data``);
nothing is downloaded for MOABB's ``FakeDataset``, which makes random data in memory (the tests use it).

Shape legend: n epochs, C channels, T samples.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, MissingDependencyError
from .signal import SignalData

__all__ = ["MOABB_GROUPS", "MOABB_PARADIGMS", "load_moabb", "moabb_dataset"]

#: Paradigms :func:`load_moabb` cuts epochs with (MOABB's class and its dataset ``paradigm`` attribute).
MOABB_PARADIGMS = {"motor_imagery": ("MotorImagery", "imagery")}
#: What a trial's group is: its subject, or its recording session.
MOABB_GROUPS = ("subject", "session")


def _import_moabb() -> Any:
    try:
        import moabb.datasets.utils
        import moabb.paradigms  # the paradigms are looked up on the module later
    except ImportError as err:
        raise MissingDependencyError(
            f"data.name=moabb needs MOABB ({err}); install it with: pip install 'dualbranch[moabb]'"
        ) from err
    return moabb


@contextlib.contextmanager
def _quiet_and_stored_in(path: str | None) -> Iterator[None]:
    """MOABB and MNE without their per-run chatter; downloads go to ``path`` (None: MOABB's default).

    MOABB reads the download folder from MNE's config, where an environment variable comes first, so
    setting ``MNE_DATA`` for the call alone leaves the user's saved MNE config untouched.
    """
    import mne

    old_env = os.environ.get("MNE_DATA")
    loggers = [logging.getLogger(name) for name in ("moabb", "mne")]
    levels = [logger.level for logger in loggers]
    try:
        if path is not None:
            os.environ["MNE_DATA"] = str(path)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with mne.utils.use_log_level("error"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # montage and metadata notes, once per run of every subject
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if path is not None:
            if old_env is None:
                os.environ.pop("MNE_DATA", None)
            else:
                os.environ["MNE_DATA"] = old_env


def _datasets_of(kind: str, names: Sequence[str]) -> list[str]:
    """MOABB's datasets of one paradigm (for an error message: MOABB has to build each to know)."""
    try:
        from moabb.datasets.utils import dataset_search

        with _quiet_and_stored_in(None):
            return sorted(type(d).__name__ for d in dataset_search(paradigm=kind) if type(d).__name__ != "FakeDataset")
    except Exception:  # only a hint: fall back to every name
        return sorted(names)


def moabb_dataset(name: str | None, args: dict[str, Any] | None = None, paradigm: str = "motor_imagery") -> Any:
    """An instance of MOABB's dataset class ``name`` (``BNCI2014_001``, ``Zhou2016``, ``FakeDataset``, ...).

    ``args`` go to the class (e.g. ``FakeDataset``'s ``n_subjects``, ``event_list``, ``channels``).
    A name MOABB does not know, or a dataset of another paradigm, is a ConfigError that lists the
    datasets of ``paradigm``. Building the instance downloads nothing.
    """
    if paradigm not in MOABB_PARADIGMS:
        raise ConfigError(f"data.moabb_paradigm: unknown paradigm {paradigm!r}; known: {', '.join(MOABB_PARADIGMS)}.")
    if not name:
        raise ConfigError("data.name=moabb needs data.moabb_dataset, e.g. BNCI2014_001, BNCI2014_004 or Zhou2016.")
    moabb = _import_moabb()
    from moabb.datasets.fake import FakeDataset

    kind = MOABB_PARADIGMS[paradigm][1]
    classes = {cls.__name__: cls for cls in moabb.datasets.utils.dataset_list}
    classes.setdefault("FakeDataset", FakeDataset)
    if name not in classes:
        close = difflib.get_close_matches(name, list(classes), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"data.moabb_dataset: MOABB {moabb.__version__} has no dataset {name!r}{hint}. "
            f"Its {paradigm} datasets: {', '.join(_datasets_of(kind, list(classes)))}."
        )
    try:
        dataset = classes[name](**(args or {}))
    except TypeError as err:
        raise ConfigError(f"data.moabb_args: {err} (MOABB dataset {name}).") from err
    if dataset.paradigm != kind:
        raise ConfigError(
            f"data.moabb_dataset: {name} is a {dataset.paradigm!r} dataset, not {paradigm}; its {paradigm} "
            f"datasets: {', '.join(_datasets_of(kind, list(classes)))}."
        )
    return dataset


def _check_choice(key: str, asked: Sequence[Any], available: Sequence[Any], what: str) -> None:
    missing = [a for a in asked if a not in available]
    if missing:
        raise ConfigError(f"data.{key}: {what} has no {missing}; it has {list(available)}.")


def load_moabb(
    dataset: str | None,
    subjects: Sequence[int] = (1,),
    sessions: Sequence[str | int] | None = None,
    events: Sequence[str] | None = None,
    l_freq: float | None = 7.0,
    h_freq: float | None = 30.0,
    tmin: float = 0.0,
    tmax: float = 4.0,
    resample: float | None = None,
    groups: str = "subject",
    path: str | None = None,
    dataset_args: dict[str, Any] | None = None,
    paradigm: str = "motor_imagery",
) -> SignalData:
    """Epochs of a MOABB dataset as :class:`SignalData` (x (n, C, T) in volts, float32).

    Args:
        dataset: MOABB's class name, e.g. ``BNCI2014_001`` (see :func:`moabb_dataset`).
        subjects: subject numbers (as MOABB numbers them, e.g. 1–9 for BNCI2014_001).
        sessions: MOABB session names to keep (e.g. ``["0train"]``); None keeps every session.
        events: the classes, MOABB event names (e.g. ``["left_hand", "right_hand"]``), in the order
            of the class codes; None: every event of the dataset, in the dataset's order.
        l_freq, h_freq: band-pass edges in Hz (MOABB's fmin / fmax; None: that side open).
        tmin, tmax: epoch window in seconds from the start of the dataset's task interval (the
            cue, for BNCI2014_001 2 s into the trial); both ends included, at the recording's rate
            (MOABB resamples the cut epochs).
        resample: new sampling rate in Hz (None: the recording's).
        groups: "subject" or "session" (see the module docstring).
        path: where MOABB keeps (and downloads) the data; None: MOABB's default.
        dataset_args: options of the dataset class.
        paradigm: "motor_imagery".
    """
    if groups not in MOABB_GROUPS:
        raise ConfigError(f"data.groups: expected one of {', '.join(MOABB_GROUPS)}, got {groups!r}.")
    if not tmin < tmax:
        raise ConfigError(f"data.tmin={tmin} must be before data.tmax={tmax}.")
    source = moabb_dataset(dataset, dataset_args, paradigm)
    _check_choice("subjects", list(subjects), list(source.subject_list), f"{dataset}")
    event_names = list(events) if events else list(source.event_id)
    _check_choice("moabb_events", event_names, list(source.event_id), f"{dataset}")
    if len(event_names) < 2:
        raise ConfigError(f"data.moabb_events: a classifier needs at least 2 classes, got {event_names}.")
    import moabb.paradigms

    cutter = getattr(moabb.paradigms, MOABB_PARADIGMS[paradigm][0])(
        events=event_names, n_classes=len(event_names), fmin=l_freq, fmax=h_freq, tmin=tmin, tmax=tmax,
        resample=resample,
    )  # fmt: skip
    with _quiet_and_stored_in(path):
        try:
            epochs, labels, meta = cutter.get_data(source, subjects=list(subjects), return_epochs=True)
        except OSError as err:  # a failed download, a full disk, an unreadable file (requests' errors too)
            where = path or "MOABB's data folder (~/mne_data unless MNE_DATA says otherwise)"
            raise DataError(
                f"MOABB could not read or download {dataset} subject(s) {list(subjects)} into {where}: {err}"
            ) from err
        x = epochs.get_data(copy=True)
    session_of = meta["session"].astype(str).to_numpy()
    keep = np.ones(len(labels), dtype=bool)
    if sessions is not None:
        wanted = [str(s) for s in sessions]
        _check_choice("sessions", wanted, list(dict.fromkeys(session_of)), f"{dataset} (subjects {list(subjects)})")
        keep = np.isin(session_of, wanted)
    subject_of = meta["subject"].to_numpy().astype(int)
    if groups == "subject":
        group_ids: np.ndarray = subject_of[keep]
    else:
        group_ids = np.asarray([f"{s}/{t}" for s, t in zip(subject_of[keep], session_of[keep])])
    labels = np.asarray(labels)[keep]
    present = [name for name in event_names if name in set(labels)]
    if len(present) < 2:
        raise DataError(f"{dataset}: the chosen subjects and sessions hold trials of {present} only.")
    code = {name: i for i, name in enumerate(present)}
    info = epochs.info
    return SignalData(
        x=x[keep].astype(np.float32),
        y=np.asarray([code[name] for name in labels], dtype=np.int64),
        class_names=tuple(present),
        sfreq=float(info["sfreq"]),
        ch_names=tuple(info.ch_names),
        groups=group_ids,
        chs_info=[dict(ch) for ch in info["chs"]],
    )
