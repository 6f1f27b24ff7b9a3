"""Evaluation of a fitted model on held-out data: everything the gates and the report read.

:func:`evaluate` returns one JSON-ready dict: metrics (with what each measures, averages
named) and their bootstrap confidence intervals, the comparison with a trivial baseline,
the confusion matrix (classification), fairness per sensitive feature (error by group for
regression), permutation importance, behavioural
tests, the comparison with the production model, and one verdict per gate. Floats are
rounded to :data:`DECIMALS` places and the dict holds no time or run id, so the same model,
data and params always give byte-identical ``evaluation.json`` (see :func:`write_json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix

from mlops.core.config import Params
from mlops.core.threads import limited_threads
from mlops.stages.baseline import compare_with_baseline
from mlops.stages.behaviour import run_behaviour
from mlops.stages.fairness import (
    REGRESSION_FAIRNESS_METRICS,
    group_error,
    group_fairness,
    sensitive_groups,
)
from mlops.stages.gates import check_config, flat_metrics, gate_verdicts
from mlops.stages.metrics import (
    CI_LEVEL,
    Predictions,
    bootstrap_intervals,
    bootstrap_weights,
    metric_label,
    metric_names,
    model_inputs,
    percentile_interval,
    predict,
    quality_metrics,
    undefined_metrics,
    weighted_metrics,
)

__all__ = ["DECIMALS", "difference_intervals", "evaluate", "fairness_metrics", "importance",
           "tidy", "write_json"]

DECIMALS = 6
# Few repeats keep the whole evaluation in about a second; the spread is reported as std.
PERMUTATION_REPEATS = 5


def evaluate(model: Any, frame: pd.DataFrame, params: Params, *,
             champion: Any | None = None, train_frame: pd.DataFrame | None = None
             ) -> dict[str, Any]:
    """Evaluate ``model`` (and ``champion``, the production model, if given) on ``frame``.

    ``frame`` is the held-out split with the target column; ``train_frame`` (the training
    split) gives the class shares the baseline learns, else the held-out labels do.
    Returns the JSON-ready result; ``result["gates"]`` holds the verdicts and
    ``result["passed"]`` is True when all pass.
    """
    check_config(params)
    with limited_threads():
        return _evaluate(model, frame, params, champion, train_frame)


def _evaluate(model: Any, frame: pd.DataFrame, params: Params, champion: Any | None,
              train_frame: pd.DataFrame | None) -> dict[str, Any]:
    target, cfg = params.data.target, params.evaluation
    pred = predict(model, frame, params)
    features = model_inputs(model, frame, target)
    labels = (frame if train_frame is None else train_frame)[target]
    regression = pred.regression
    named = metric_names(regression) + (REGRESSION_FAIRNESS_METRICS if regression else ())
    result: dict[str, Any] = {
        "task": pred.task,
        "target": target,
        "classes": list(pred.classes),
        "positive_class": pred.positive_class,
        "unit": params.data.unit if regression else "",
        "n_samples": len(frame),
        "metric_labels": {m: metric_label(m, task=pred.task, positive_class=pred.positive_class,
                                          unit=params.data.unit) for m in named},
        "metric_notes": undefined_metrics(pred),
        **_quality(pred, frame, params),
        "bootstrap": {"samples": cfg.bootstrap_samples, "seed": params.seed},
        "confidence_intervals": bootstrap_intervals(
            pred, samples=cfg.bootstrap_samples, seed=params.seed),
        "baseline": compare_with_baseline(
            pred, labels, cfg.baseline, samples=cfg.bootstrap_samples, seed=params.seed,
            fitted_on="held-out split" if train_frame is None else "training split"),
        "importance": importance(model, frame, params, binary=pred.binary),
        "behaviour": run_behaviour(
            model, features, cfg.invariance, cfg.directional,
            seed=params.seed, positive_index=pred.positive_index, regression=regression),
        "champion": None,
    }
    if champion is not None:
        champion_pred = predict(champion, frame, params)
        theirs = tidy(_quality(champion_pred, frame, params))
        ours, base = flat_metrics(tidy(result)), flat_metrics(theirs)
        result["champion"] = {
            "metrics": base,
            "difference": {k: None if ours[k] is None or base.get(k) is None
                           else ours[k] - base[k] for k in ours},
            # Paired: both models are scored on the same resampled rows.
            "difference_intervals": difference_intervals(
                pred, champion_pred, samples=params.evaluation.bootstrap_samples,
                seed=params.seed),
        }
    result = tidy(result)  # gates compare the rounded values that the report shows
    result["gates"] = gate_verdicts(result, params)
    result["passed"] = all(g["passed"] for g in result["gates"])
    return tidy(result)


def difference_intervals(ours: Predictions, theirs: Predictions, *, samples: int, seed: int,
                         level: float = CI_LEVEL) -> dict[str, dict[str, float | None]]:
    """Paired percentile bootstrap intervals of ``ours - theirs`` for the headline metrics.

    Both prediction sets are of the same rows; every resample weighs the rows once, and
    both models are scored with those weights, so the interval is of the difference itself
    (narrower than the two separate intervals suggest when the models agree).
    """
    if samples <= 0:
        return {}
    weights = bootstrap_weights(len(ours.y_true), samples, seed)
    a, b = weighted_metrics(ours, weights), weighted_metrics(theirs, weights)
    return {name: percentile_interval(a[name] - b[name], level) for name in a}


def fairness_metrics(pred: Predictions, frame: pd.DataFrame, params: Params
                     ) -> dict[str, dict[str, Any]]:
    """Per-group metrics and parity summaries for each of ``data.sensitive_features``
    (regression: error by group, :func:`mlops.stages.fairness.group_error`)."""
    groups = sensitive_groups(frame, params.data.sensitive_features,
                              bins=params.evaluation.group_bins)
    if pred.regression:
        return {column: group_error(pred.y_true, pred.y_pred, labels,
                                    min_group_size=params.evaluation.min_group_size)
                for column, labels in groups.items()}
    return {column: group_fairness(pred.y_true, pred.y_pred, labels,
                                   outcome=pred.positive_class,
                                   min_group_size=params.evaluation.min_group_size)
            for column, labels in groups.items()}


def importance(model: Any, frame: pd.DataFrame, params: Params, *, binary: bool
               ) -> dict[str, Any]:
    """Permutation importance of every input column on ``frame``, highest first
    (scored by ROC-AUC, or R² for a regression target)."""
    features = model_inputs(model, frame, params.data.target)
    scoring = "r2" if params.data.regression else "roc_auc" if binary else "roc_auc_ovr"
    found = permutation_importance(
        model, features, frame[params.data.target], scoring=scoring,
        n_repeats=PERMUTATION_REPEATS, random_state=params.seed, n_jobs=1,
    )
    rows = [
        {"feature": str(name), "importance_mean": float(mean), "importance_std": float(std)}
        for name, mean, std in zip(features.columns, found.importances_mean,
                                   found.importances_std, strict=True)
    ]
    # Round before sorting so ties order by name on every machine.
    rows.sort(key=lambda r: (-round(r["importance_mean"], DECIMALS), r["feature"]))
    top = [r["feature"] for r in rows[: params.evaluation.top_features]]
    return {"scoring": scoring, "n_repeats": PERMUTATION_REPEATS, "features": rows, "top": top}


def tidy(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, floats rounded, NaN/inf to ``None``."""
    if isinstance(value, Mapping):
        return {str(k): tidy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tidy(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        # "+ 0.0" turns -0.0 into 0.0 so the bytes never depend on the sign of a zero.
        return round(value, DECIMALS) + 0.0 if np.isfinite(value) else None
    raise TypeError(f"cannot store {type(value).__name__} in evaluation.json")


def write_json(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``data`` as sorted, indented JSON; equal data give identical bytes."""
    from mlops.core.lineage import write_json_atomic

    path, clean = Path(path), tidy(data)
    json.dumps(clean, allow_nan=False)  # NaN or inf would not be valid JSON: fail here
    write_json_atomic(clean, path)
    return path


def _quality(pred: Predictions, frame: pd.DataFrame, params: Params) -> dict[str, Any]:
    """The sections computed for both the candidate and the champion."""
    if pred.regression:
        return {"metrics": quality_metrics(pred), "confusion_matrix": None,
                "fairness": fairness_metrics(pred, frame, params)}
    labels = list(pred.classes)
    matrix = confusion_matrix(pred.y_true, pred.y_pred, labels=labels)
    return {
        "metrics": quality_metrics(pred),
        "confusion_matrix": {"labels": labels, "matrix": matrix.tolist()},
        "fairness": fairness_metrics(pred, frame, params),
    }
