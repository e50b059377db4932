"""Evaluation protocols (hold-out, k-fold, leave-one-subject-out), metrics and the CSP + LDA baseline."""

from .metrics import classification_metrics, per_group_metrics, summarize
from .protocols import (
    ProtocolResult,
    Split,
    chronological_holdout,
    leave_one_subject_out,
    make_splits,
    run_protocol,
    stratified_kfold,
)

__all__ = [
    "ProtocolResult",
    "Split",
    "chronological_holdout",
    "classification_metrics",
    "leave_one_subject_out",
    "make_splits",
    "per_group_metrics",
    "run_protocol",
    "stratified_kfold",
    "summarize",
]
