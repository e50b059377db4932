"""The forecasting kind: series tables (CSV, parquet, ``.npz``) as look-back / horizon windows.

``data.name``: ``series`` reads a user's file (``data.path``), laid out as the long-horizon benchmarks
are (ETTh1, ETTm1, Weather, Electricity: a time column, then one numeric column per variable), so
those files run unchanged; ``uschange``, ``daphnet``, ``solar`` and ``airline`` are tables aeon ships
(read offline: :mod:`dualbranch.data.bundled_series`).

The field's protocol (:mod:`dualbranch.data.forecasting`): chronological borders (ETT's 12/4/4
months, or 70/10/20 %), the scaler fitted on the training rows only, windows that never cross a
border, every window of the validation and test parts (stride 1 unless ``data.stride``). The run
has one fold, "run": the training windows, the validation windows (the best checkpoint by
validation MSE; ``data.val_ratio: 0`` trains without them and keeps the last epoch) and the test
windows. Shuffled or grouped protocols (kfold, loso, holdout) would train on the future and are
refused. Scoring: :mod:`.forecast_scoring`; the loader's windows: :mod:`.series_windows`.

Time features (``data.time_features``, :mod:`dualbranch.data.time_features`): the calendar features
of the time column (``timeF``: hour, weekday, day of month, day of year, ... by the data's frequency,
scaled to ±0.5) are served after the variables in every window; a model reads them as its paper's code
does (iTransformer: extra tokens; Informer, Autoformer: embeddings) and they are never forecast or
scored. A model whose contract says it reads the horizon's time features (``future_marks``: the decoder
of Informer and Autoformer embeds the calendar of the steps it forecasts, known in advance) gets them
too: the recipe sets ``data.horizon_marks`` for it, and its input is the look-back plus the horizon rows
with their variate values replaced by zeros (:mod:`.series_windows`); ``predict`` extends each file's
time column by the horizon at the data's step.

Training protocol (:mod:`.forecast_recipe`): the long-horizon papers' — batch 32, at most 10 epochs, early
stopping on validation MSE with patience 3 (the kept model is the best validation epoch), the learning rate
halved after each epoch, no gradient clipping, no weight decay, and the sizes a model's official scripts give
large data sets. A short series (under 1,000 training windows) keeps the general recipe's schedule
(:mod:`dualbranch.train.recipe`: at least 2,000 updates, warm-up + cosine, a small batch).

Short series (:mod:`.forecast_statistical`, ``data.statistical``): a short series or table (under 1,000
training windows, as above) first compares the global model with seasonal naive and AutoETS on the last
horizon of its training part and keeps the best; a statistical winner, refitted on the whole training
part, is the run's model (its look-back: the whole training part), saved as JSON and read back by
``test`` and ``predict``. ``data.statistical=none`` keeps the global model; ``ets`` or
``seasonal_naive`` forces that one.

``predict`` reads CSV / parquet / ``.npz`` files with the run's columns and forecasts the horizon
after each file's last ``seq_len`` rows, on the original scale.

Shape legend: T rows, C variables, C_t targets, L look-back (seq_len), H horizon (pred_len), n windows,
M time features.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from ...data.bundled_series import BUNDLED_SERIES, load_bundled
from ...data.forecasting import FORECAST_SPLIT_PROTOCOLS, infer_protocol, prepare_forecasting, split_borders
from ...data.series_table import SeriesTable, load_series
from ...errors import ConfigError, DataError
from ...evaluation.protocols import Fold
from .. import figures
from ..scoring import Scoring
from ..sections import AugmentSection, DataSection, EvaluationSection, Positive
from .base import DataKind, FoldEvaluation, RunData, register_kind
from .forecast_marks import horizon_calendar, reads_future_marks, series_marks
from .forecast_recipe import PAPER_MIN_WINDOWS, forecast_recipe
from .forecast_report import forecast_grid, gate_bars
from .forecast_scoring import ForecastScoring
from .forecast_statistical import METHODS, NAMES, choose_statistical, fit_statistical, load_statistical
from .series_windows import SeriesInputs, SeriesScaling, SeriesWindows, served_table, window_view

__all__ = ["ForecastAugmentSection", "ForecastDataSection", "ForecastingKind"]


@dataclass
class ForecastDataSection(DataSection):
    """``data`` of a forecasting run: series (a file at data.path) | uschange | daphnet | solar | airline."""

    # look-back L, rows the model reads; auto: 96 (the long-horizon papers'), shorter for a short training
    # part (at most half its rows after the horizon, so it still holds as many windows as L)
    seq_len: Annotated[Positive | Literal["auto"], Field(description="auto or ≥ 1")] = "auto"
    pred_len: Positive = 96  # horizon H, rows it forecasts
    targets: list[str] | None = None  # the variables to forecast (one: the "MS" setting); null: every input
    columns: list[str] | None = None  # the input variables, in order; null: every column but the time column
    stride: Positive = 1  # rows between consecutive windows, in every part (1: the protocol)
    # borders; auto: ETTh*/ETTm* by file name, else ratio
    protocol: Literal[("auto", *FORECAST_SPLIT_PROTOCOLS)] = "auto"
    time_column: str | None = "auto"  # auto: "date", else a first non-numeric column; null: none
    # calendar features of the time column fed beside the variables, never forecast (data/time_features.py):
    # timeF (hour, weekday, day of month, day of year, ... by frequency, as the official code); none;
    # auto: timeF when the time column holds dates
    time_features: Literal["auto", "timeF", "none"] = "auto"
    # serve the time features of the horizon rows too (never their values): set by the recipe for a model
    # whose decoder reads the calendar of the steps it forecasts (Informer, Autoformer: `future_marks`)
    horizon_marks: bool = False
    # a statistical model for a short series (train/kinds/forecast_statistical.py): auto compares the global
    # model with seasonal naive and AutoETS on the training part's last horizon for a short series (every
    # target; several in their standard deviations) and keeps the best; none: the global model;
    # ets / seasonal_naive: that model
    statistical: Literal["auto", "none", "ets", "seasonal_naive"] = "auto"


@dataclass
class ForecastAugmentSection(AugmentSection):
    """``augment`` of a forecasting run: none (the published recipes use none)."""

    label_smoothing: Annotated[float, Field(ge=0, le=0, description="0 (forecasts have no classes)")] = 0.0


def _table(data: ForecastDataSection) -> SeriesTable:
    if data.test_path is not None:
        raise ConfigError(
            "data.test_path: a forecasting run splits one table chronologically (data.protocol); put the test "
            "period at the end of data.path instead."
        )
    if data.name == "series":
        if data.path is None:
            raise ConfigError("data.name=series needs data.path: a .csv, .parquet or .npz series table.")
        return load_series(data.path, columns=data.columns, time_column=data.time_column)
    return load_bundled(data.name, columns=data.columns)


LONG_LOOK_BACK = 96  # the look-back of the long-horizon tables (Informer to iTransformer)


def _look_back(table: SeriesTable, data: ForecastDataSection) -> tuple[int, str | None]:
    """``data.seq_len``, or for ``auto`` the look-back that suits the training part, and why (None: as set)."""
    if data.seq_len != "auto":
        return int(data.seq_len), None
    protocol = infer_protocol(table.source) if data.protocol == "auto" else data.protocol
    n_train = split_borders(len(table.values), 1, protocol, pred_len=data.pred_len)["train"][1]
    if data.statistical in METHODS:
        return n_train, f"{NAMES[data.statistical]} reads the whole training part ({n_train} rows)"
    fits = (n_train - data.pred_len + 1) // 2  # as many training windows as look-back rows
    if fits >= LONG_LOOK_BACK:
        return LONG_LOOK_BACK, "the long-horizon papers' look-back"
    if fits < 1:
        raise DataError(
            f"The training part has {n_train} rows, too few for a horizon of {data.pred_len} (data.pred_len) and a "
            "look-back; set data.pred_len smaller, or give a longer table."
        )
    return fits, f"{n_train} training rows: half of those before the last horizon, so there are as many windows"


def _spread(index: np.ndarray, n: int | None) -> np.ndarray:
    """``n`` of ``index`` evenly spaced over it (all of it when n is None or larger): a quick run still
    sees the whole period."""
    if n is None or n >= len(index):
        return index
    return index[np.unique(np.linspace(0, len(index) - 1, n).round().astype(int))]


@register_kind
class ForecastingKind(DataKind):
    name = "forecasting"
    datasets = ("series", *BUNDLED_SERIES)
    data_section = ForecastDataSection
    augment_section = ForecastAugmentSection
    own_models = METHODS

    def load(self, data: ForecastDataSection, seed: int, progress: bool = True) -> RunData:
        table = _table(data)
        seq_len, why = _look_back(table, data)
        try:
            windows = prepare_forecasting(
                table, seq_len, data.pred_len, data.targets, data.stride, data.protocol,
                train_windows=data.statistical not in METHODS,
            )  # fmt: skip
        except DataError as err:
            raise DataError(f"{err} Set data.seq_len and data.pred_len smaller, or give a longer table.") from err
        marks, mark_facts = series_marks(table, data.time_features)
        parts = windows.parts()
        starts = np.concatenate(
            [np.arange(len(part)) * data.stride + part.first_row for part in parts.values()]
        ).astype(np.int64)
        examples = SeriesWindows(
            table.values, starts, seq_len + data.pred_len, seq_len, windows.target_indices, table.columns,
            table.timestamps, windows.borders["train"], {**windows.summary(), "time_features": mark_facts}, marks,
        )  # fmt: skip
        n_train, n_val = len(parts["train"]), len(parts["val"])
        own_val = np.arange(n_train, n_train + n_val)
        own_test = np.arange(n_train + n_val, len(starts))
        # the loader serves each window's first row beside it; the input pipeline makes the targets
        decided = [("data.seq_len", seq_len, why)] if why else []
        return RunData(examples, starts.copy(), (), None, own_test, own_val, decided)

    def folds(  # type: ignore[override]
        self, dataset: RunData, data: ForecastDataSection, evaluation: EvaluationSection, seed: int
    ) -> list[Fold]:
        if evaluation.protocol != "none":
            raise ConfigError(
                f"evaluation.protocol={evaluation.protocol}: a forecasting run is scored on the test period after its "
                "training and validation periods (protocol none); shuffled or grouped folds would train on the future."
            )
        own_val, own_test = dataset.own_val, dataset.own_test  # load() marks both
        held_out = [i for i in (own_val, own_test) if i is not None]
        train = np.setdiff1d(np.arange(len(dataset)), np.concatenate(held_out)) if held_out else np.arange(len(dataset))
        # no validation windows (data.val_ratio 0, or a validation part too short for one): the last epoch is kept
        no_val = data.val_ratio == 0 or own_val is None or len(own_val) == 0
        val = None if no_val else _spread(own_val, data.limit_eval)
        test = None if own_test is None else _spread(own_test, data.limit_eval)
        return [Fold("run", _spread(train, data.limit_train), val, test)]

    def scoring(self, class_names: Sequence[str], facts: dict[str, Any]) -> Scoring:
        return ForecastScoring(facts)

    def own_model(self, data: ForecastDataSection) -> str | None:  # type: ignore[override]
        return data.statistical if data.statistical in METHODS else None

    def choose_own_model(  # type: ignore[override]
        self, dataset: RunData, data: ForecastDataSection, fold: Fold, model_name: str,
        validate: Callable[[Fold], FoldEvaluation],
    ) -> tuple[str, Any, str] | None:  # fmt: skip
        """For a short series (the short-series rule of :meth:`recipe`: fewer training windows than
        ``PAPER_MIN_WINDOWS``) with the default look-back, the best of the global model, seasonal naive and
        AutoETS on the training part's last horizon (:mod:`.forecast_statistical`). A ``data.seq_len`` set by
        hand configures the global model's windows, too short a history for a statistical model: no comparison."""
        if data.statistical != "auto" or data.seq_len != "auto" or not 0 < len(fold.train) < PAPER_MIN_WINDOWS:
            return None
        chosen, why = choose_statistical(dataset, fold, model_name, validate)
        return "data.statistical", chosen, why

    def fit_own_model(  # type: ignore[override]
        self, dataset: RunData, fold: Fold, data: ForecastDataSection, preprocessing: SeriesScaling, out: Path
    ) -> None:
        fit_statistical(data.statistical, dataset.examples, preprocessing, data.pred_len, out)  # type: ignore[arg-type]

    def load_own_model(self, out: Path, preprocessing: SeriesScaling, record: dict[str, Any]) -> torch.nn.Module:  # type: ignore[override]
        return load_statistical(out, preprocessing)

    def default_model(self, dataset: RunData) -> tuple[str, str]:
        windows: SeriesWindows = dataset.examples  # type: ignore[assignment]
        return "gateformer", (
            f"{len(windows.columns)} variables × look-back {windows.seq_len}: global and temporal branches gated per "
            "variate, then attention across variates"
        )

    def recipe(self, dataset: RunData, n_train: int, model_name: str) -> list[tuple[str, Any, str]]:
        return forecast_recipe(dataset.examples, n_train, model_name)  # type: ignore[arg-type]

    def model_args(self, dataset: RunData, data: Any, model_fields: set[str], model_name: str) -> dict[str, Any]:
        if "n_vars" not in model_fields:
            raise ConfigError(
                f"model.name={model_name} is not a forecasting model; series windows need one such as gateformer, "
                "itransformer or dlinear (`dualbranch models`)."
            )
        windows: SeriesWindows = dataset.examples  # type: ignore[assignment]
        targets = None if windows.target_indices is None else list(windows.target_indices)
        n_marks = 0 if windows.marks is None else int(windows.marks.shape[1])
        if n_marks and "n_marks" not in model_fields:
            raise ConfigError(f"model.name={model_name} reads no time features; set data.time_features=none.")
        if n_marks and bool(data.horizon_marks) != reads_future_marks(model_name):
            raise ConfigError(
                f"data.horizon_marks={str(data.horizon_marks).lower()}: model.name={model_name} "
                + ("does not read" if data.horizon_marks else "reads")
                + " the time features of the horizon; leave data.horizon_marks at its default (the recipe sets it)."
            )
        args = {"n_vars": len(windows.columns), "seq_len": windows.seq_len, "pred_len": windows.span - windows.seq_len,
                "target_indices": targets, "n_marks": n_marks}  # fmt: skip
        return {k: v for k, v in args.items() if k in model_fields}

    def describe(self, dataset: RunData, data: ForecastDataSection) -> dict[str, Any]:
        windows: SeriesWindows = dataset.examples  # type: ignore[assignment]
        summary = windows.summary
        n_marks = 0 if windows.marks is None else int(windows.marks.shape[1])
        future = bool(data.horizon_marks and n_marks)
        return {
            # the model's input: the look-back, and with the horizon's time features the horizon rows too
            "input_shape": [windows.span if future else windows.seq_len, len(windows.columns) + n_marks],
            "horizon_marks": future,
            **{k: summary[k] for k in ("source", "protocol", "seq_len", "pred_len", "stride", "columns", "targets")},
            "target_indices": None if windows.target_indices is None else list(windows.target_indices),
            "time_column": data.time_column,
            "time_features": summary.get("time_features"),
            "borders": summary["borders"],
            "windows": summary["windows"],
        }

    def fit_preprocessing(self, train: SeriesWindows, data: ForecastDataSection) -> SeriesScaling:  # type: ignore[override]
        return SeriesScaling.fit(train, bool(data.horizon_marks))

    def read_preprocessing(self, values: dict[str, Any] | None, record: dict[str, Any]) -> SeriesScaling:
        if values is None:
            raise DataError("A forecasting run keeps preprocessing.json (its scaler) beside the model; it is missing.")
        return SeriesScaling.from_json(values)

    def loader_inputs(  # type: ignore[override]
        self, examples: SeriesWindows, preprocessing: SeriesScaling, training: bool, augment: Any = None, seed: int = 0
    ) -> torch.Tensor:
        return window_view(served_table(examples, preprocessing), examples.starts, examples.span)

    def input_pipeline(self, preprocessing: SeriesScaling, augment: Any) -> SeriesInputs:  # type: ignore[override]
        return SeriesInputs(
            preprocessing.seq_len, preprocessing.target_indices, len(preprocessing.mean), preprocessing.horizon_marks
        )

    def read_inputs(
        self, paths: Sequence[str], record: dict[str, Any], on_corrupt: str = "error"
    ) -> tuple[list[str], SeriesWindows, list[tuple[str, str]]]:
        facts = record["data"]
        seq_len, columns = int(facts["seq_len"]), list(facts["columns"])
        # a model that reads the horizon's time features gets H more rows: the calendar after the file's end
        ahead = int(facts["pred_len"]) if facts.get("horizon_marks") else 0
        tables, marks = [], []
        mark_facts = facts.get("time_features")
        for path in paths:
            if Path(path).suffix.lower() not in (".csv", ".parquet", ".npz"):
                raise DataError(f"{path}: a forecasting run predicts from .csv, .parquet or .npz series tables.")
            table = load_series(path, columns=columns, time_column=facts.get("time_column", "auto"))
            if len(table.values) < seq_len:
                raise DataError(f"{path} has {len(table.values)} rows; the model reads the last {seq_len} (seq_len).")
            tables.append(np.concatenate([table.values, np.zeros((ahead, len(columns)))]))  # (T + H, C)
            if mark_facts:
                values, _ = series_marks(table, "timeF", mark_facts["frequency"])
                if ahead:
                    values = np.concatenate([values, horizon_calendar(table, ahead, mark_facts["frequency"], path)])
                marks.append(values)
        ends = np.cumsum([len(t) for t in tables]) - ahead  # the row after each file's last one
        targets = facts.get("target_indices")
        examples = SeriesWindows(
            np.concatenate(tables), (ends - seq_len).astype(np.int64), seq_len + ahead, seq_len,
            None if targets is None else tuple(targets), tuple(columns),
            marks=np.concatenate(marks) if marks else None,
        )  # fmt: skip
        return list(paths), examples, []

    def extra_metrics(self, folds: list[FoldEvaluation], record: dict[str, Any]) -> dict[str, Any]:
        """The mean of Gateformer's two gates over the test windows (which branch the model relied on)."""
        totals: dict[str, float] = {}
        count = 0
        for fold in folds:
            if not hasattr(fold.model, "gate_values"):
                continue
            for batch in torch.arange(len(fold.y)).split(256):
                for name, value in fold.model.gate_values(fold.model_input(batch)).items():
                    totals[name] = totals.get(name, 0.0) + value * len(batch)
                count += len(batch)
        return {"gates": {k: round(v / count, 6) for k, v in totals.items()}} if count else {}

    def report_sections(
        self, folds: list[FoldEvaluation], record: dict[str, Any], metrics: dict[str, Any], thumbnails: int
    ) -> list[str]:
        sections = [
            "<h2>Forecasts and truth</h2>",
            '<p class="note">A few test windows, original scale: the look-back the model read, the truth after '
            "it and the forecast.</p>",
            forecast_grid(folds[0]),
        ]
        gates = metrics.get("gates")
        if gates:
            sections += [
                "<h2>Gates</h2>",
                '<p class="note">Mean gate values over the test windows. Gate 1 weighs the global branch (a linear '
                "map of the whole look-back) against the temporal branch (attention over patches): 1 is global "
                "only. Gate 2 weighs each variate's own representation against the cross-variate encoder's: 1 is "
                "no information from other variates.</p>",
                figures.table(["gate", "mean"], [[html.escape(name), f"{value:.3f}"] for name, value in gates.items()]),
                gate_bars(gates),
            ]
        return sections
