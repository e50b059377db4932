"""The data-kind protocol: what the run pipeline needs from a kind of data (images, signals, ...).

A kind is a plugin of the one run pipeline (:mod:`dualbranch.train.pipeline`). It

* names the datasets it serves (``data.name``) and the config sections it reads (its own
  :class:`~dualbranch.train.sections.DataSection` and ``AugmentSection`` subclasses);
* loads every example of the configured dataset into a :class:`RunData` (its own test or validation
  split marked by index), so folds are plain index arrays that work for any kind; it makes the
  folds (by default a protocol of :func:`dualbranch.evaluation.protocols.make_folds`; a kind whose
  examples must not be shuffled, such as forecasting windows, refuses what does not suit it);
* says which model arguments the data implies (input size, channels, classes);
* says how its outputs are scored (:meth:`DataKind.scoring`, :mod:`dualbranch.train.scoring`):
  classes by default, or the kind's own scoring (e.g. forecast errors);
* fits its preprocessing on a fold's training examples and saves it as JSON (never pickle); says what of
  it a model's :class:`~dualbranch.registry.WeightConfig` records (normalisation, resizing) and which of
  its data keys feed a fine-tuning run as a checkpoint's weight config says;
* turns examples into what the loader serves (:meth:`DataKind.loader_inputs`: one in-memory tensor, or
  a map-style torch Dataset that makes each example on demand, e.g. photos decoded in DataLoader
  workers) and gives the :class:`InputPipeline` that makes model input from a batch of them
  (normalisation, training-time augmentation, soft targets);
* reads raw inputs for ``predict`` and contributes its own report sections and metrics;
* may fit models of its own without training (:attr:`DataKind.own_models`, e.g. the forecasting kind's
  statistical forecasters): a run keeps one instead of training ``model.name`` when its data section says
  so (:meth:`DataKind.own_model`), or when the kind's comparison on a validation period prefers it
  (:meth:`DataKind.choose_own_model`); the kind saves it in the fold folder and reads it back.

Nothing outside a kind's module asks which kind a run is: the pipeline only calls this protocol.

Shape legend: n examples, B batch, K classes.
"""

from __future__ import annotations

import abc
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset as TorchDataset

from ...errors import ConfigError
from ...evaluation.protocols import Fold, make_folds
from ...registry import WeightConfig
from ..scoring import ClassificationScoring, Scoring
from ..sections import AugmentSection, DataSection, EvaluationSection

__all__ = [
    "KINDS",
    "DataKind",
    "Examples",
    "FoldEvaluation",
    "InputPipeline",
    "LoaderInputs",
    "Preprocessing",
    "RunData",
    "kind_for_dataset",
    "kind_named",
    "register_kind",
    "stack_items",
]


#: What a kind serves the loader for n examples: a tensor (n, ...) in memory, or a map-style torch Dataset whose
#: item i is example i's tensor, made on demand (its training items may take ``(i, epoch)`` keys; see
#: :mod:`dualbranch.train.datamodule`).
LoaderInputs = torch.Tensor | TorchDataset


def stack_items(inputs: LoaderInputs, index: torch.Tensor | np.ndarray | Sequence[int]) -> torch.Tensor:
    """The loader inputs of the examples at ``index`` as one tensor (k, ...)."""
    if isinstance(inputs, torch.Tensor):
        return inputs[torch.as_tensor(index, dtype=torch.long)]
    return torch.stack([inputs[int(i)] for i in torch.as_tensor(index).flatten().tolist()])


class Examples(Protocol):
    """A kind's container of examples (``ImageData``, ``SignalData``, ...): sized and indexable."""

    def __len__(self) -> int: ...

    def subset(self, index: np.ndarray) -> Examples: ...


class Preprocessing(Protocol):
    """What a fold's training data decided (normalisation statistics, alignment, ...); JSON only."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass
class RunData:
    """Every example of a run's data, with what the splits need.

    Attributes:
        examples: the kind's container of all n examples.
        y: (n,) int64, what the loader serves beside each example: class codes in 0..K-1 for a
            classifier (the protocols stratify by them); a kind without classes serves its own key
            (forecasting: each window's first row) and its input pipeline's ``targets`` makes the
            targets from the batch.
        class_names: the K class names (empty for a kind without classes).
        groups: (n,) subject / session id of each example, or None (one group).
        own_test: indices of the dataset's own test split, or None.
        own_val: indices of a validation split of the data's own (``data.val_path``; forecasting: the
            validation period), or None (held out of the rest by ``data.val_ratio``).
        decided: what loading decided about the data (dotted config key, value, reason), e.g. which
            image pipeline suits the files; printed and stored with the run's recipe.
    """

    examples: Examples
    y: np.ndarray
    class_names: tuple[str, ...]
    groups: np.ndarray | None = None
    own_test: np.ndarray | None = None
    own_val: np.ndarray | None = None
    decided: list[tuple[str, Any, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class FoldEvaluation:
    """One fold's model scored on its test (or validation) examples, for metrics and reports
    (a :class:`~dualbranch.train.scoring.ScoredFold`)."""

    name: str
    model: nn.Module
    inputs: InputPipeline
    examples: Examples  # the scored examples
    index: np.ndarray  # (n,) their indices in the RunData
    y: np.ndarray  # (n, ...) targets: true class codes (n,), or what the kind's outputs are scored against
    outputs: torch.Tensor  # (n, ...) the model's outputs: logits (n, K) of a classifier, or the kind's (e.g. forecasts)
    loader_inputs: LoaderInputs  # (n, ...) what the loader served for them (after the kind's preprocessing)
    groups: np.ndarray | None = None  # (n,) group (subject) of each example, or None
    preprocessing: Any = None  # the fold's preprocessing

    @torch.no_grad()
    def model_input(self, index: torch.Tensor) -> torch.Tensor:
        """What the model saw for the examples at ``index`` (made on demand: it can be large)."""
        return self.inputs.prepare(stack_items(self.loader_inputs, index))


class InputPipeline(nn.Module, abc.ABC):
    """Between the loader and the model: ``prepare`` turns a loader batch into model input;
    ``train_batch`` adds training-time augmentation and returns the targets of the loss (soft targets
    (B, K) for a classifier); ``targets`` gives what the model's outputs are scored against.

    Constants are non-persistent buffers: they follow the task to its device and never enter a
    checkpoint (the checkpoint holds ``model.*`` only). ``memory_format`` is the layout the model's
    4-D weights and the training batches take while training (images: channels-last, which the CPU
    convolution kernels run fastest in); the trained model returns to the contiguous layout.
    """

    memory_format: ClassVar[torch.memory_format] = torch.contiguous_format

    @abc.abstractmethod
    def prepare(self, batch: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def train_batch(
        self, batch: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def targets(self, batch: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """What the outputs for a loader batch are scored against: the labels (B,) as the loader serves
        them (class codes), unless a kind makes its targets from the batch itself."""
        return labels


class DataKind(abc.ABC):
    """A kind of data; see the module docstring. Subclasses register with :func:`register_kind`."""

    name: ClassVar[str]
    datasets: ClassVar[tuple[str, ...]]
    data_section: ClassVar[type[DataSection]]
    augment_section: ClassVar[type[AugmentSection]]

    #: Models this kind fits itself, without training (names a run record may hold instead of a registered model).
    own_models: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def load(self, data: Any, seed: int, progress: bool = True) -> RunData:
        """Every example of the dataset ``data`` (this kind's DataSection) describes (``progress``: show
        progress bars while reading)."""

    @abc.abstractmethod
    def model_args(self, dataset: RunData, data: Any, model_fields: set[str], model_name: str) -> dict[str, Any]:
        """Model arguments the data implies (``data``: this kind's DataSection, as the recipe resolved it),
        among the model's config fields ``model_fields``."""

    @abc.abstractmethod
    def describe(self, dataset: RunData, data: Any) -> dict[str, Any]:
        """This kind's facts for ``run.json`` (``data``): input shape, channel names, ..."""

    @abc.abstractmethod
    def fit_preprocessing(self, train: Examples, data: Any) -> Preprocessing:
        """Fit on a fold's training examples only (nothing from validation or test leaks in)."""

    @abc.abstractmethod
    def read_preprocessing(self, values: dict[str, Any] | None, record: dict[str, Any]) -> Preprocessing:
        """The preprocessing saved as ``values`` (None: the fold has no ``preprocessing.json``; ``record`` is the
        run's ``run.json``)."""

    def feed(self, preprocessing: Preprocessing) -> dict[str, Any]:
        """What of ``preprocessing`` a trained model's :class:`~dualbranch.registry.WeightConfig` records:
        its per-channel ``mean`` / ``std`` and, where inputs are resized, ``interpolation`` / ``crop_pct``
        (None where the preprocessing has none: the run's own feed replaces a published one's)."""
        return {key: getattr(preprocessing, key, None) for key in ("mean", "std", "interpolation", "crop_pct")}

    def fed_as(self, weights: WeightConfig) -> dict[str, Any]:
        """This kind's data keys (``data.*``) that feed a fine-tuning run's inputs as ``weights`` were fed
        (size, normalisation, crop); none by default: the run fits its own on its training data."""
        return {}

    @abc.abstractmethod
    def loader_inputs(
        self, examples: Examples, preprocessing: Preprocessing, training: bool, augment: Any = None, seed: int = 0
    ) -> LoaderInputs:
        """What the loader serves for ``examples`` (n, ...): a tensor, or a torch Dataset made on demand.
        ``training``: these are a fold's training examples; ``augment`` (this kind's AugmentSection) and
        ``seed`` (the run's) are for augmentation made per example as it is loaded."""

    @abc.abstractmethod
    def input_pipeline(self, preprocessing: Preprocessing, augment: Any) -> InputPipeline:
        """The pipeline from loader batches to model input (``augment``: this kind's AugmentSection)."""

    @abc.abstractmethod
    def read_inputs(
        self, paths: Sequence[str], record: dict[str, Any], on_corrupt: str = "error"
    ) -> tuple[list[str], Examples, list[tuple[str, str]]]:
        """New examples for ``predict`` from files, labels not needed: (names, examples, skipped), where
        ``skipped`` lists (input, reason) of inputs left out as unreadable (``on_corrupt="skip"``; with
        "error" an unreadable input is an error that names every one)."""

    @abc.abstractmethod
    def default_model(self, dataset: RunData) -> tuple[str, str]:
        """The registered model that suits this data's shape (``model.name: auto``), and why."""

    def folds(self, dataset: RunData, data: Any, evaluation: EvaluationSection, seed: int) -> list[Fold]:
        """The folds a run trains and tests on (deterministic given ``seed``): by default the protocol of
        ``evaluation`` over the classes of ``dataset`` (:func:`~dualbranch.evaluation.protocols.make_folds`)."""
        return make_folds(
            dataset, evaluation.protocol, own_test=dataset.own_test, own_val=dataset.own_val,
            val_ratio=data.val_ratio, folds=evaluation.folds, test_fraction=evaluation.test_fraction, seed=seed,
            limit_train=data.limit_train, limit_eval=data.limit_eval, class_names=dataset.class_names,
        )  # fmt: skip

    def own_model(self, data: Any) -> str | None:
        """The model of :attr:`own_models` that the run configured by ``data`` (this kind's DataSection) fits
        instead of training ``model.name``; None (the default): the run trains."""
        return None

    def choose_own_model(
        self, dataset: RunData, data: Any, fold: Fold, model_name: str, validate: Callable[[Fold], FoldEvaluation]
    ) -> tuple[str, Any, str] | None:
        """A choice (dotted key, value, reason) made by comparing ``model_name`` with this kind's own models on
        a validation period of ``fold``'s training part: ``validate(inner_fold)`` trains ``model_name`` on
        ``inner_fold.train`` and scores it on ``inner_fold.test``. None (the default): no comparison. A value
        that makes :meth:`own_model` name a model makes the run fit that one instead."""
        return None

    def fit_own_model(self, dataset: RunData, fold: Fold, data: Any, preprocessing: Preprocessing, out: Path) -> None:
        """Fit :meth:`own_model` on ``fold``'s training part and save it in the fold folder ``out``. Reached only
        through a kind with :attr:`own_models`, which :func:`register_kind` makes implement it."""
        raise NotImplementedError(f"The {self.name} kind has no models of its own.")

    def load_own_model(self, out: Path, preprocessing: Preprocessing, record: dict[str, Any]) -> nn.Module:
        """The model of :attr:`own_models` saved in the fold folder ``out``: fed ``preprocessing``'s inputs
        (as a trained model is), it gives outputs scored as a trained model's."""
        raise NotImplementedError(f"The {self.name} kind has no models of its own.")

    def scoring(self, class_names: Sequence[str], facts: dict[str, Any]) -> Scoring:
        """How this kind's outputs are scored, given the run's classes and this kind's facts (``describe``,
        as kept in ``run.json``); by default as classes."""
        return ClassificationScoring(class_names, self.group_name(facts))

    def recipe(self, dataset: RunData, n_train: int, model_name: str) -> list[tuple[str, Any, str]]:
        """This kind's recipe choices (dotted key, value, reason), e.g. augmentation that suits the data
        and the model ``model_name``; applied only to keys the user left at their defaults, and
        ``model.args.*`` keys only to a model with that option (:mod:`dualbranch.train.recipe`)."""
        return []

    def schedule_recipe(self, dataset: RunData, epochs: int) -> list[tuple[str, Any, str]]:
        """Choices that depend on the length of the training schedule (``epochs`` passes over the data),
        made once the budget has set it, e.g. how hard to augment; applied as :meth:`recipe`'s are."""
        return []

    def group_name(self, facts: dict[str, Any]) -> str:
        """What a group (``RunData.groups``) is called in metrics and reports, given this kind's facts."""
        return "group"

    def extra_metrics(self, folds: list[FoldEvaluation], record: dict[str, Any]) -> dict[str, Any]:
        """Kind-specific entries for ``metrics.json`` (e.g. channel attention)."""
        return {}

    def report_sections(
        self, folds: list[FoldEvaluation], record: dict[str, Any], metrics: dict[str, Any], thumbnails: int
    ) -> list[str]:
        """HTML sections of this kind for ``report.html``, after the common ones."""
        return []


KINDS: dict[str, DataKind] = {}


def register_kind(kind: type[DataKind]) -> type[DataKind]:
    """Class decorator: register a kind; its dataset names must be new."""
    taken = {name for other in KINDS.values() for name in other.datasets}
    clash = taken.intersection(kind.datasets)
    if kind.name in KINDS or clash:
        raise ValueError(f"Data kind {kind.name!r} or dataset(s) {sorted(clash)} registered twice.")
    hooks = ("own_model", "fit_own_model", "load_own_model")
    missing = [hook for hook in hooks if kind.own_models and getattr(kind, hook) is getattr(DataKind, hook)]
    if missing:
        raise TypeError(f"Data kind {kind.name!r} declares own_models but does not implement {', '.join(missing)}.")
    KINDS[kind.name] = kind()
    return kind


def kind_for_dataset(name: str, where: str = "") -> DataKind:
    """The kind serving ``data.name``; a ConfigError naming every known dataset otherwise (and ``where`` the name
    was set: a file and line, or the command line)."""
    for kind in KINDS.values():
        if name in kind.datasets:
            return kind
    known = [d for kind in KINDS.values() for d in kind.datasets]
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listing = "; ".join(f"{kind.name}: {', '.join(kind.datasets)}" for kind in KINDS.values())
    where = f"{where}: " if where else ""
    raise ConfigError(f"{where}data.name: unknown dataset {name!r}{hint}. Known datasets — {listing}.")


def kind_named(name: str, where: Path | str = "run.json") -> DataKind:
    """The kind registered as ``name`` (as written in a run record)."""
    if name not in KINDS:
        raise ConfigError(f"{where}: unknown data kind {name!r}; this dualbranch knows {', '.join(KINDS)}.")
    return KINDS[name]
