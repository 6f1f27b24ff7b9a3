"""Metrics of one model on one frame, with bootstrap confidence intervals.

Regression targets get MAE, RMSE, R² and MAPE (MAPE only when no true value is zero;
otherwise it is None and :func:`undefined_metrics` says why). Binary targets score
``data.positive_class``; multiclass targets use macro averages and one-vs-rest ROC-AUC and
PR-AUC, and :func:`metric_label` names the average wherever a metric is shown. The Brier
score is on one scale for every task: the mean squared error of the class probabilities
summed over classes, halved, so it runs from 0 to 1 and equals
``sklearn.metrics.brier_score_loss`` for two classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.preprocessing import label_binarize

from mlops.core.config import Params
from mlops.core.exceptions import ConfigError, DataError

__all__ = [
    "CI_LEVEL",
    "HEADLINE_METRICS",
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "REGRESSION_METRICS",
    "Predictions",
    "bootstrap_intervals",
    "bootstrap_weights",
    "classification_metrics",
    "metric_label",
    "metric_names",
    "model_inputs",
    "percentile_interval",
    "positive_column",
    "positive_index",
    "predict",
    "quality_metrics",
    "regression_metrics",
    "undefined_metrics",
    "weighted_metrics",
]

CI_LEVEL = 0.95
# Metrics that get a bootstrap confidence interval.
HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "f1", "roc_auc", "brier")
LOWER_IS_BETTER: frozenset[str] = frozenset({
    "log_loss", "brier", "demographic_parity_difference", "equalized_odds_difference",
    "mae", "rmse", "mape", "mae_difference", "mae_ratio",
})
METRIC_NAMES: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc",
    "log_loss", "brier",
)
# Regression metrics; all four get an interval (MAPE when it is defined).
REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "r2", "mape")


def metric_names(regression: bool) -> tuple[str, ...]:
    """The model metrics of a task: :data:`REGRESSION_METRICS` or :data:`METRIC_NAMES`."""
    return REGRESSION_METRICS if regression else METRIC_NAMES


@dataclass(frozen=True)
class Predictions:
    """Labels and probabilities (or, for regression, true and predicted values) of one
    model on one frame."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None  # (n_rows, n_classes) in ``classes`` order; None: regression
    classes: tuple[Any, ...]  # empty for regression
    positive_index: int | None  # None: a multiclass target without data.positive_class

    @property
    def regression(self) -> bool:
        """True when the predictions are numbers, not classes."""
        return self.proba is None

    @property
    def binary(self) -> bool:
        """True for a two-class target."""
        return not self.regression and len(self.classes) == 2

    @property
    def task(self) -> str:
        """``binary``, ``multiclass`` or ``regression``."""
        return "regression" if self.regression else "binary" if self.binary else "multiclass"

    @property
    def positive_class(self) -> Any:
        """The favourable class (``data.positive_class``), or None if there is none."""
        return None if self.positive_index is None else self.classes[self.positive_index]

    @property
    def score(self) -> np.ndarray:
        """Probability of the positive class."""
        if self.positive_index is None:
            raise ConfigError("this needs data.positive_class (the class whose probability "
                              "is scored); set it", key="data.positive_class")
        return self.proba[:, self.positive_index]

    @property
    def y_pos(self) -> np.ndarray:
        """1 where the true label is the positive class."""
        return (self.y_true == self.positive_class).astype(int)

    @property
    def pred_pos(self) -> np.ndarray:
        """1 where the predicted label is the positive class."""
        return (self.y_pred == self.positive_class).astype(int)


def model_inputs(model: Any, frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The columns ``model`` was fitted on, in order, or :class:`DataError`."""
    features = frame.drop(columns=[target])
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return features
    missing = [c for c in names if c not in features.columns]
    if missing:
        raise DataError(
            f"evaluation data lacks model input columns {missing}; evaluate on data with the "
            "same columns as the training data", column=missing[0], rule="model_inputs",
        )
    return features[list(names)]


def predict(model: Any, frame: pd.DataFrame, params: Params) -> Predictions:
    """Predict labels and probabilities of ``frame`` (which holds the target column);
    for a regression target, the predicted values."""
    target = params.data.target
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is missing from the evaluation data",
                        column=target, rule="target")
    if params.data.regression:
        y_true = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(y_true).all():
            raise DataError(f"target {target!r} has missing or non-numeric values in the "
                            "evaluation data; a regression target must be a number in every "
                            "row", column=target, rule="labels")
        features = model_inputs(model, frame, target)
        return Predictions(y_true=y_true,
                           y_pred=np.asarray(model.predict(features), dtype=float).ravel(),
                           proba=None, classes=(), positive_index=None)
    if not hasattr(model, "predict_proba"):
        raise ConfigError(
            f"{type(model).__name__} has no predict_proba; evaluation needs class "
            "probabilities (ROC-AUC, log loss, Brier). Use a probabilistic classifier",
            key="model.estimator",
        )
    features = model_inputs(model, frame, target)
    classes = tuple(np.asarray(model.classes_).tolist())
    y_true = frame[target].to_numpy()
    unseen = sorted({str(v) for v in pd.unique(y_true)} - {str(c) for c in classes})
    if unseen:
        raise DataError(
            f"target {target!r} has labels {unseen} in the evaluation data that the model "
            f"never saw (its classes are {list(classes)}); split the data stratified",
            column=target, rule="labels",
        )
    return Predictions(
        y_true=y_true,
        y_pred=np.asarray(model.predict(features)),
        proba=np.asarray(model.predict_proba(features), dtype=float),
        classes=classes,
        positive_index=positive_index(classes, params.data.positive_class),
    )


def classification_metrics(pred: Predictions) -> dict[str, float | None]:
    """Accuracy, balanced accuracy (recall averaged over classes: any constant prediction
    scores 1 / classes), precision, recall, F1, ROC-AUC, PR-AUC, log loss and Brier score.

    Binary targets score the positive class; multiclass targets use macro averages and
    one-vs-rest ROC-AUC and PR-AUC (see :func:`metric_label`). The Brier score is halved
    for multiclass (module docstring). A metric undefined on this data is ``None``.
    """
    y, labels = pred.y_true, list(pred.classes)
    if pred.binary:
        avg: dict[str, Any] = {"average": "binary", "pos_label": pred.positive_class}
        roc = _defined(roc_auc_score, pred.y_pos, pred.score)
        pr_auc = _defined(average_precision_score, pred.y_pos, pred.score)
        brier = float(np.mean((pred.y_pos - pred.score) ** 2))
    else:
        avg = {"average": "macro", "labels": labels}
        onehot = label_binarize(y, classes=labels)
        roc = _defined(roc_auc_score, y, pred.proba, multi_class="ovr", average="macro",
                       labels=labels)
        pr_auc = _defined(average_precision_score, onehot, pred.proba, average="macro")
        brier = float(np.mean(np.sum((onehot - pred.proba) ** 2, axis=1))) / 2.0
    return {
        "accuracy": float(accuracy_score(y, pred.y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred.y_pred)),
        "precision": float(precision_score(y, pred.y_pred, zero_division=0, **avg)),
        "recall": float(recall_score(y, pred.y_pred, zero_division=0, **avg)),
        "f1": float(f1_score(y, pred.y_pred, zero_division=0, **avg)),
        "roc_auc": roc,
        "pr_auc": pr_auc,
        "log_loss": float(log_loss(y, pred.proba, labels=labels)),
        "brier": brier,
    }


def regression_metrics(pred: Predictions) -> dict[str, float | None]:
    """MAE, RMSE, R² and MAPE (a share: 0.1 is 10 %); MAPE is None when a true value is 0
    (see :func:`undefined_metrics`), R² when every true value is the same."""
    y, p = pred.y_true, pred.y_pred
    return {
        "mae": float(mean_absolute_error(y, p)),
        "rmse": float(root_mean_squared_error(y, p)),
        "r2": float(r2_score(y, p)) if np.ptp(y) > 0 else None,
        "mape": float(mean_absolute_percentage_error(y, p)) if np.all(y != 0) else None,
    }


def quality_metrics(pred: Predictions) -> dict[str, float | None]:
    """:func:`regression_metrics` or :func:`classification_metrics`, as the task needs."""
    return regression_metrics(pred) if pred.regression else classification_metrics(pred)


def undefined_metrics(pred: Predictions) -> dict[str, str]:
    """Why a metric of ``pred`` is None, by metric (empty when all are defined)."""
    if not pred.regression:
        return {}
    notes = {}
    zeros = int(np.sum(pred.y_true == 0))
    if zeros:
        notes["mape"] = (f"undefined: {zeros} true value(s) are 0, and a percentage of 0 "
                         "is not defined")
    if np.ptp(pred.y_true) == 0:
        notes["r2"] = "undefined: every true value is the same"
    return notes


def bootstrap_intervals(pred: Predictions, *, samples: int, seed: int,
                        level: float = CI_LEVEL) -> dict[str, dict[str, float | None]]:
    """Percentile bootstrap intervals of the headline metrics (:data:`HEADLINE_METRICS`,
    or every regression metric that is defined).

    All resamples are evaluated at once: a resample is a row of multinomial counts, and
    every metric is a weighted sum over the original rows (ROC-AUC as a weighted
    Mann-Whitney statistic), which equals computing it on the resampled rows.
    """
    if samples <= 0:
        return {}
    values = weighted_metrics(pred, bootstrap_weights(len(pred.y_true), samples, seed))
    return {name: percentile_interval(value, level) for name, value in values.items()}


def bootstrap_weights(n: int, samples: int, seed: int) -> np.ndarray:
    """``(samples, n)`` resample counts: row ``i`` says how often each row is drawn."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(samples, n))
    offsets = np.arange(samples)[:, None] * n
    weights = np.bincount((draws + offsets).ravel(), minlength=samples * n)
    return weights.reshape(samples, n).astype(float)


def percentile_interval(values: np.ndarray, level: float = CI_LEVEL
                        ) -> dict[str, float | None]:
    """The central ``level`` percentile interval of the finite ``values``."""
    tail = (1.0 - level) / 2.0 * 100.0
    finite = values[np.isfinite(values)]
    low, high = np.percentile(finite, [tail, 100.0 - tail]) if finite.size else (None, None)
    return {"low": low, "high": high, "level": level}


def metric_label(metric: str, *, task: str, positive_class: Any = None, unit: str = "") -> str:
    """What ``metric`` measures, averages named: ``macro F1``, ``F1 of class 1``; for
    regression with the target's ``unit``: ``mean absolute error (EUR)``."""
    if task == "regression":
        of = f" ({unit})" if unit else ""
        return {"mae": f"mean absolute error{of}", "rmse": f"root mean squared error{of}",
                "r2": "R² (coefficient of determination)",
                "mape": "mean absolute percentage error (a share: 0.1 is 10 %)",
                "mae_difference": f"largest difference of group MAE{of}",
                "mae_ratio": "largest group MAE over smallest"}.get(metric, metric)
    if task == "binary":
        of = f" of class {positive_class}"
        return {"precision": f"precision{of}", "recall": f"recall{of}", "f1": f"F1{of}",
                "roc_auc": "ROC-AUC", "pr_auc": f"PR-AUC{of}", "log_loss": "log loss",
                "brier": "Brier score", "accuracy": "accuracy",
                "balanced_accuracy": "balanced accuracy"}.get(metric, metric)
    return {"precision": "macro precision", "recall": "macro recall", "f1": "macro F1",
            "roc_auc": "macro one-vs-rest ROC-AUC", "pr_auc": "macro one-vs-rest PR-AUC",
            "log_loss": "log loss", "brier": "Brier score (summed over classes, halved)",
            "accuracy": "accuracy",
            "balanced_accuracy": "balanced accuracy (macro recall)"}.get(metric, metric)


def weighted_metrics(pred: Predictions, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Headline metrics for every row of ``weights`` (resample counts), shape (samples,)."""
    n = weights.shape[1]
    if pred.regression:
        return _weighted_regression(pred, weights)
    correct = (pred.y_pred == pred.y_true).astype(float)
    out = {"accuracy": weights @ correct / n}
    if pred.binary:
        out["f1"] = _weighted_f1(weights, pred.y_pos, pred.pred_pos)
        out["roc_auc"] = _weighted_auc(weights, pred.y_pos, pred.score)
        out["brier"] = weights @ ((pred.y_pos - pred.score) ** 2) / n
        return out
    onehot = label_binarize(pred.y_true, classes=list(pred.classes))
    pred_onehot = label_binarize(pred.y_pred, classes=list(pred.classes))
    per_class = range(len(pred.classes))
    out["f1"] = np.mean([_weighted_f1(weights, onehot[:, k], pred_onehot[:, k])
                         for k in per_class], axis=0)
    out["roc_auc"] = np.mean([_weighted_auc(weights, onehot[:, k], pred.proba[:, k])
                              for k in per_class], axis=0)
    out["brier"] = weights @ np.sum((onehot - pred.proba) ** 2, axis=1) / n / 2.0
    return out


def _weighted_regression(pred: Predictions, weights: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE, R² (and MAPE when defined) per weight row, as on the resampled rows."""
    n = weights.shape[1]
    y, error = pred.y_true, pred.y_pred - pred.y_true
    squared = weights @ error**2 / n
    centred = y - y.mean()  # centred first: no cancellation for large values
    total = weights @ centred**2 / n - (weights @ centred / n) ** 2  # variance per resample
    out = {"mae": weights @ np.abs(error) / n, "rmse": np.sqrt(squared),
           "r2": np.divide(total - squared, total, out=np.full_like(total, np.nan),
                           where=total > 0)}
    if np.all(y != 0):
        out["mape"] = weights @ np.abs(error / y) / n
    return out


def _weighted_f1(weights: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    tp = weights @ (y * p)
    wrong = weights @ (y * (1 - p)) + weights @ ((1 - y) * p)
    denominator = 2 * tp + wrong
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _weighted_auc(weights: np.ndarray, y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC-AUC per weight row: weighted share of (positive, negative) pairs ranked right,
    ties counting one half."""
    from scipy import sparse

    unique, inverse = np.unique(score, return_inverse=True)
    n = len(score)
    # Sparse: a dense rows x distinct-scores matrix grows with the square of the rows.
    by_score = sparse.csr_array((np.ones(n), (np.arange(n), inverse)), shape=(n, len(unique)))
    pos = (weights * y) @ by_score
    neg = (weights * (1 - y)) @ by_score
    neg_below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    ranked = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    return np.divide(ranked, pairs, out=np.full_like(pairs, np.nan), where=pairs > 0)


def _defined(metric: Any, *args: Any, **kwargs: Any) -> float | None:
    """``metric(...)``, or ``None`` when the data leaves it undefined (one class only)."""
    try:
        value = float(metric(*args, **kwargs))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def positive_index(classes: tuple[Any, ...], positive: Any) -> int | None:
    """Index of ``positive`` in ``classes``; None for a multiclass target without one.

    A binary target needs ``data.positive_class``: the class that precision, recall and F1
    score and that fairness treats as the favourable outcome.
    """
    if positive is None:
        if len(classes) == 2:
            raise ConfigError(
                f"data.positive_class is null but the target is binary (classes "
                f"{list(classes)}); set it to the class to detect, the one that precision, "
                "recall and F1 score and that fairness treats as favourable (mlops init "
                "picks the minority class)", key="data.positive_class")
        return None
    found = _class_index(classes, positive)
    if found is None:
        raise ConfigError(
            f"data.positive_class is {positive!r} but the model's classes are "
            f"{list(classes)}; set data.positive_class to the favourable class (or null for "
            "a multiclass target)", key="data.positive_class",
        )
    return found


def positive_column(classes: Sequence[Any], positive: Any) -> int:
    """The column of ``predict_proba`` that serving logs as ``proba``, monitoring compares
    and explanations explain: ``positive``'s, matched as :func:`positive_index` does (equal,
    or the same text), else the last class's.

    The fallback never raises, because serving must answer: a multiclass target without a
    positive class (or a ``positive`` the model never saw) reports the last class, and a
    model fitted on a single class reports that class.
    """
    if not len(classes):
        raise ValueError("a classifier without classes has no probability column")
    found = None if positive is None else _class_index(classes, positive)
    return len(classes) - 1 if found is None else found


def _class_index(classes: Sequence[Any], positive: Any) -> int | None:
    for i, label in enumerate(classes):
        if label == positive or str(label) == str(positive):
            return i
    return None
