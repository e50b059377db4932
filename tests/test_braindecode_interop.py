"""dualbranch's signal models inside braindecode: EEGClassifier builds them from the data, and scikit-learn
cross-validates them.

braindecode imports torchaudio, whose PyPI release must match torch's exactly, so these tests run in a
venv of their own (torch 2.9.1 + torchaudio 2.9.*): ``bash scripts/braindecode_env.sh``. The default
test run deselects them (marker ``braindecode``, pyproject's addopts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.braindecode

CH_NAMES = ["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CP4", "Pz"]
SFREQ, N_TIMES = 125.0, 250  # 2 s
# small versions of the models (braindecode fills in n_chans, n_times, n_outputs, sfreq, chs_info)
MODELS = {
    "dbconformer": {"depth": 1, "patch_size": 50},  # 5 temporal tokens of 250 samples
    "mvcnet": {"n_filters": 8, "patch_size": 50, "temporal_kernel": 31},
}


@pytest.fixture(scope="module")
def braindecode() -> Any:
    module = pytest.importorskip("braindecode", reason="braindecode is not installed: bash scripts/braindecode_env.sh")
    torch.set_num_threads(2)
    return module


def _trials(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 8, 250) noise with a 10 Hz rhythm, weaker over the hemisphere opposite the imagined hand:
    class 0 (left hand) loses it at C4, class 1 (right hand) at C3 (event-related desynchronisation)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(N_TIMES) / SFREQ
    x = rng.standard_normal((n, len(CH_NAMES), N_TIMES))
    rhythm = np.sin(2 * np.pi * 10 * t[None, :] + rng.uniform(0, 2 * np.pi, (n, 1)))
    for i, label in enumerate(y):
        for ch in ("C3", "C4"):
            weak = (ch == "C4") if label == 0 else (ch == "C3")
            x[i, CH_NAMES.index(ch)] += (0.3 if weak else 3.0) * rhythm[i]
    return x.astype(np.float32), y


def _epochs(x: np.ndarray) -> Any:
    """``x`` (in µV, as the arrays the other tests feed) as mne.Epochs, which hold volts as real EEG does."""
    import mne

    info = mne.create_info(CH_NAMES, SFREQ, ch_types="eeg")
    info.set_montage("standard_1020")
    return mne.EpochsArray(x * 1e-6, info, verbose="error")


def _classifier(braindecode: Any, model: str, epochs: int = 20, **module_args: Any) -> Any:
    from dualbranch.models import DBConformer, MVCNet

    module = {"dbconformer": DBConformer, "mvcnet": MVCNet}[model]
    options = {f"module__{k}": v for k, v in {**MODELS[model], **module_args}.items()}
    return braindecode.EEGClassifier(
        module,  # the class: braindecode builds it with the data's n_chans, n_times, n_outputs, ...
        optimizer=torch.optim.AdamW,
        optimizer__lr=1e-3,
        batch_size=16,
        max_epochs=epochs,
        train_split=None,
        iterator_train__shuffle=True,
        iterator_train__drop_last=False,
        verbose=0,
        **options,
    )


@pytest.mark.parametrize("model", sorted(MODELS))
def test_eegclassifier_builds_and_trains_a_dualbranch_model_from_mne_epochs(braindecode, model):
    torch.manual_seed(0)
    x, y = _trials()
    epochs = _epochs(x)
    # From mne.Epochs braindecode passes chs_info but not n_chans: ours, like braindecode's models,
    # default to n_chans=None and count chs_info
    clf = _classifier(braindecode, model).fit(epochs, y)
    net = clf.module_
    # braindecode read the signal's shape, rate and channel descriptions off the epochs
    assert (net.n_chans, net.n_times, net.n_outputs, net.sfreq) == (8, N_TIMES, 2, SFREQ)
    assert net.ch_names == CH_NAMES
    assert clf.predict_proba(epochs).shape == (60, 2)
    # predict from epochs too: braindecode reads mne.Epochs in its own units, not as the raw array
    assert (clf.predict(epochs) == y).mean() > 0.8  # it learnt the training trials


@pytest.mark.parametrize("model", sorted(MODELS))
def test_cross_val_score_with_a_dualbranch_model(braindecode, model):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    torch.manual_seed(0)
    x, y = _trials(seed=1)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(_classifier(braindecode, model), x, y, cv=cv, scoring="balanced_accuracy")
    print(f"{model}: balanced accuracy per fold {np.round(scores, 3).tolist()}")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert scores.mean() > 0.7  # the lateralised rhythm is easy to find; chance is 0.5


def test_eegclassifier_trains_a_dualbranch_model_instance_on_arrays(braindecode):
    from dualbranch.models import DBConformer

    torch.manual_seed(0)
    x, y = _trials(n=16)
    model = DBConformer(n_chans=len(CH_NAMES), n_outputs=2, n_times=N_TIMES, depth=1, patch_size=50)
    clf = braindecode.EEGClassifier(model, max_epochs=1, batch_size=8, train_split=None, verbose=0).fit(x, y)
    assert clf.module_ is model  # the instance itself, trained in place
    assert clf.predict_proba(x).shape == (16, 2)


def test_eegclassifier_takes_a_model_trained_by_dualbranch_fit(braindecode, tmp_path):
    from dualbranch.cli import main
    from dualbranch.train.pipeline import load_fold_models

    x, y = _trials(n=40)
    np.savez(tmp_path / "trials.npz", x=x, y=y)
    argv = ["fit", "data.name=signal_npz", f"data.path={tmp_path / 'trials.npz'}", "model.name=dbconformer",
            "model.args.depth=1", "model.args.patch_size=50", "optim.epochs=1", "data.val_ratio=0.25",
            "trainer.threads=1", "trainer.progress_bar=false", "output.report=false", f"output.root={tmp_path}",
            "output.name=run"]  # fmt: skip
    assert main(argv) == 0
    [fold], _ = load_fold_models(tmp_path / "run")
    model = fold.model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).softmax(dim=1).numpy()
    clf = braindecode.EEGClassifier(model, max_epochs=1, batch_size=8, train_split=None, verbose=0).initialize()
    np.testing.assert_allclose(clf.predict_proba(x), expected, atol=1e-6)  # the saved weights, as trained
