"""The baseline a model must beat: scikit-learn's ``DummyClassifier`` or ``DummyRegressor``.

A model that does not beat predicting the most frequent class (for accuracy and F1),
the class shares (for ROC-AUC and Brier), or, for a regression target, the training
median (MAE, MAPE) or mean (RMSE, R²) by ``evaluation.baseline.margin`` has learned
nothing useful, whatever its absolute numbers say. The comparison is paired: the same
bootstrap resamples score both, so the interval of the improvement is reported too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor

from mlops.core.config import BaselineConfig
from mlops.stages.metrics import (
    LOWER_IS_BETTER,
    Predictions,
    bootstrap_weights,
    percentile_interval,
    quality_metrics,
    weighted_metrics,
)

__all__ = ["STRATEGIES", "baseline_predictions", "compare_with_baseline"]

# DummyClassifier strategy per metric: label metrics against the most frequent class,
# probabilistic ones against the class shares.
STRATEGIES = {"accuracy": "most_frequent", "f1": "most_frequent", "roc_auc": "prior",
              "brier": "prior",
              # DummyRegressor: the constant that minimises the metric on the training rows
              # (the median for absolute errors, the mean for squared ones).
              "mae": "median", "mape": "median", "rmse": "mean", "r2": "mean"}


def baseline_predictions(pred: Predictions, labels: Any, strategy: str) -> Predictions:
    """What ``DummyClassifier(strategy)`` (``DummyRegressor`` for regression) fitted on
    ``labels`` predicts for ``pred``'s rows."""
    labels = np.asarray(labels)
    if pred.regression:
        dummy = DummyRegressor(strategy=strategy).fit(np.zeros((len(labels), 1)),
                                                      labels.astype(float))
        values = dummy.predict(np.zeros((len(pred.y_true), 1)))
        return Predictions(pred.y_true, np.asarray(values, dtype=float), None, (), None)
    dummy = DummyClassifier(strategy=strategy).fit(np.zeros((len(labels), 1)), labels)
    rows = np.zeros((len(pred.y_true), 1))
    theirs = [str(c) for c in dummy.classes_]
    proba = np.zeros_like(pred.proba)
    for k, label in enumerate(pred.classes):  # the model's class order
        if str(label) in theirs:
            proba[:, k] = dummy.predict_proba(rows)[:, theirs.index(str(label))]
    return Predictions(pred.y_true, np.asarray(dummy.predict(rows)), proba, pred.classes,
                       pred.positive_index)


def compare_with_baseline(pred: Predictions, labels: Any, cfg: BaselineConfig, *,
                          samples: int, seed: int, fitted_on: str) -> dict[str, Any]:
    """The baseline section of ``evaluation.json``.

    ``labels`` are the training labels the dummy learns the class shares from;
    ``improvement`` is how much better the model is (lower-is-better metrics flipped), with
    its paired bootstrap interval when ``samples`` > 0.
    """
    metric = cfg.metric_for(pred.regression)
    strategy = STRATEGIES[metric]
    dummy = baseline_predictions(pred, labels, strategy)
    model_value = quality_metrics(pred)[metric]
    base_value = quality_metrics(dummy)[metric]
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    improvement = None if model_value is None or base_value is None else \
        sign * (model_value - base_value)
    interval: dict[str, Any] | None = None
    if samples > 0:
        weights = bootstrap_weights(len(pred.y_true), samples, seed)
        ours, theirs = weighted_metrics(pred, weights), weighted_metrics(dummy, weights)
        if metric in ours and metric in theirs:
            interval = percentile_interval(sign * (ours[metric] - theirs[metric]))
    kind = "DummyRegressor" if pred.regression else "DummyClassifier"
    return {
        "metric": metric, "estimator": f"{kind}(strategy={strategy!r})",
        "strategy": strategy, "fitted_on": fitted_on, "margin": cfg.margin,
        "direction": "max" if metric in LOWER_IS_BETTER else "min",
        "value": base_value, "model": model_value, "improvement": improvement,
        "interval": interval,
    }
