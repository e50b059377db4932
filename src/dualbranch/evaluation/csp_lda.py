"""The classical motor-imagery baseline: common spatial patterns + linear discriminant analysis.

CSP (Ramoser, Müller, Pfurtscheller, IEEE Trans. Rehabil. Eng. 8(4), 2000; here
:class:`mne.decoding.CSP`) finds spatial filters whose output variance best separates the classes;
the log-variances of the filtered trials are classified by LDA (scikit-learn). It runs on the same
:class:`~dualbranch.evaluation.protocols.Split` folds as the deep models via :func:`csp_lda_fit_predict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.signal import SignalData

__all__ = ["csp_lda_fit_predict", "make_csp_lda"]


def make_csp_lda(n_components: int = 4, reg: Any = None) -> Any:
    """A scikit-learn Pipeline CSP(n_components, log-variance features) -> LDA, fit on (n, C, T)."""
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import Pipeline

    return Pipeline([("csp", CSP(n_components=n_components, reg=reg, log=True)), ("lda", LinearDiscriminantAnalysis())])


def csp_lda_fit_predict(train: SignalData, test: SignalData, n_components: int = 4, reg: Any = None) -> np.ndarray:
    """Fit CSP + LDA on ``train``, return predicted class codes for ``test`` (a ``run_protocol`` callable)."""
    if train.mask is not None or test.mask is not None:
        raise ValueError("CSP needs equal-length trials; resample padded series (length_policy='resample').")
    import mne

    pipeline = make_csp_lda(n_components, reg)
    # float64: CSP's covariance eigenproblem is better conditioned; MNE's per-fold logging is noise here
    with mne.utils.use_log_level("error"):
        pipeline.fit(train.x.astype(np.float64), train.y)
        return pipeline.predict(test.x.astype(np.float64))
