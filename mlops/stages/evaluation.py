"""Evaluation of a fitted classifier on held-out data, and the gates that decide release.

:func:`evaluate` returns one JSON-ready dict: metrics with bootstrap confidence intervals,
the confusion matrix, fairness per sensitive feature, permutation importance, behavioural
tests, the comparison with the production model, and one verdict per gate. Floats are
rounded to :data:`DECIMALS` places and the dict holds no time or run id, so the same model,
data and params always give byte-identical ``evaluation.json`` (see :func:`write_json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.preprocessing import label_binarize

from mlops.core.config import Params
from mlops.core.exceptions import ConfigError, DataError, GateFailedError
from mlops.stages.behaviour import check_directional_spec, run_behaviour
from mlops.stages.fairness import FAIRNESS_METRICS, group_fairness, sensitive_groups

__all__ = [
    "check_config",
    "DECIMALS",
    "CI_LEVEL",
    "HEADLINE_METRICS",
    "LOWER_IS_BETTER",
    "Predictions",
    "predict",
    "classification_metrics",
    "bootstrap_intervals",
    "fairness_metrics",
    "importance",
    "evaluate",
    "gate_verdicts",
    "verdict_table",
    "failed_gates",
    "raise_on_failed_gates",
    "flat_metrics",
    "tidy",
    "write_json",
]

DECIMALS = 6
CI_LEVEL = 0.95
# Metrics that get a bootstrap confidence interval.
HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "f1", "roc_auc", "brier")
LOWER_IS_BETTER: frozenset[str] = frozenset({
    "log_loss", "brier", "demographic_parity_difference", "equalized_odds_difference",
})
METRIC_NAMES: tuple[str, ...] = (
    "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier",
)
# Few repeats keep the whole evaluation in about a second; the spread is reported as std.
PERMUTATION_REPEATS = 5


@dataclass(frozen=True)
class Predictions:
    """Labels and probabilities of one model on one frame."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray  # (n_rows, n_classes), columns in ``classes`` order
    classes: tuple[Any, ...]
    positive_index: int

    @property
    def binary(self) -> bool:
        """True for a two-class target."""
        return len(self.classes) == 2

    @property
    def positive_class(self) -> Any:
        """The favourable class (``data.positive_class``)."""
        return self.classes[self.positive_index]

    @property
    def score(self) -> np.ndarray:
        """Probability of the positive class."""
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
    """Predict labels and probabilities of ``frame`` (which holds the target column)."""
    target = params.data.target
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is missing from the evaluation data",
                        column=target, rule="target")
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
        positive_index=_positive_index(classes, params.data.positive_class),
    )


def classification_metrics(pred: Predictions) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1, ROC-AUC, PR-AUC, log loss and Brier score.

    Binary targets score the positive class; multiclass targets use macro averages and
    one-vs-rest ROC-AUC and PR-AUC. A metric that is undefined on this data is ``None``.
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
        brier = float(np.mean(np.sum((onehot - pred.proba) ** 2, axis=1)))
    return {
        "accuracy": float(accuracy_score(y, pred.y_pred)),
        "precision": float(precision_score(y, pred.y_pred, zero_division=0, **avg)),
        "recall": float(recall_score(y, pred.y_pred, zero_division=0, **avg)),
        "f1": float(f1_score(y, pred.y_pred, zero_division=0, **avg)),
        "roc_auc": roc,
        "pr_auc": pr_auc,
        "log_loss": float(log_loss(y, pred.proba, labels=labels)),
        "brier": brier,
    }


def bootstrap_intervals(pred: Predictions, *, samples: int, seed: int,
                        level: float = CI_LEVEL) -> dict[str, dict[str, float | None]]:
    """Percentile bootstrap intervals of :data:`HEADLINE_METRICS`.

    All resamples are evaluated at once: a resample is a row of multinomial counts, and
    every metric is a weighted sum over the original rows (ROC-AUC as a weighted
    Mann-Whitney statistic), which equals computing it on the resampled rows.
    """
    if samples <= 0:
        return {}
    n = len(pred.y_true)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(samples, n))
    offsets = np.arange(samples)[:, None] * n
    weights = np.bincount((draws + offsets).ravel(), minlength=samples * n)
    values = _weighted_metrics(pred, weights.reshape(samples, n).astype(float))
    tail = (1.0 - level) / 2.0 * 100.0
    intervals: dict[str, dict[str, float | None]] = {}
    for name in HEADLINE_METRICS:
        finite = values[name][np.isfinite(values[name])]
        low, high = np.percentile(finite, [tail, 100.0 - tail]) if finite.size else (None, None)
        intervals[name] = {"low": low, "high": high, "level": level}
    return intervals


def fairness_metrics(pred: Predictions, frame: pd.DataFrame, params: Params
                     ) -> dict[str, dict[str, Any]]:
    """Per-group metrics and parity summaries for each of ``data.sensitive_features``."""
    groups = sensitive_groups(frame, params.data.sensitive_features,
                              age_bins=params.evaluation.age_bins)
    return {column: group_fairness(pred.y_pos, pred.pred_pos, labels)
            for column, labels in groups.items()}


def importance(model: Any, frame: pd.DataFrame, params: Params, *, binary: bool
               ) -> dict[str, Any]:
    """Permutation importance of every input column on ``frame``, highest first."""
    features = model_inputs(model, frame, params.data.target)
    scoring = "roc_auc" if binary else "roc_auc_ovr"
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


def evaluate(model: Any, frame: pd.DataFrame, params: Params, *,
             champion: Any | None = None) -> dict[str, Any]:
    """Evaluate ``model`` (and ``champion``, the production model, if given) on ``frame``.

    ``frame`` is the held-out split with the target column. Returns the JSON-ready result;
    ``result["gates"]`` holds the verdicts and ``result["passed"]`` is True when all pass.
    """
    check_config(params)
    pred = predict(model, frame, params)
    features = model_inputs(model, frame, params.data.target)
    result: dict[str, Any] = {
        "task": "binary" if pred.binary else "multiclass",
        "target": params.data.target,
        "classes": list(pred.classes),
        "positive_class": pred.positive_class,
        "n_samples": len(frame),
        **_quality(pred, frame, params),
        "bootstrap": {"samples": params.evaluation.bootstrap_samples, "seed": params.seed},
        "confidence_intervals": bootstrap_intervals(
            pred, samples=params.evaluation.bootstrap_samples, seed=params.seed),
        "importance": importance(model, frame, params, binary=pred.binary),
        "behaviour": run_behaviour(
            model, features, params.evaluation.invariance, params.evaluation.directional,
            seed=params.seed, positive_index=pred.positive_index),
        "champion": None,
    }
    if champion is not None:
        theirs = tidy(_quality(predict(champion, frame, params), frame, params))
        ours, base = flat_metrics(tidy(result)), flat_metrics(theirs)
        result["champion"] = {
            "metrics": base,
            "difference": {k: None if ours[k] is None or base.get(k) is None
                           else ours[k] - base[k] for k in ours},
        }
    result = tidy(result)  # gates compare the rounded values that the report shows
    result["gates"] = gate_verdicts(result, params)
    result["passed"] = all(g["passed"] for g in result["gates"])
    return tidy(result)


def flat_metrics(result: Mapping[str, Any]) -> dict[str, float | None]:
    """Model metrics plus fairness summaries as ``metric[feature]``, in one flat dict."""
    flat = dict(result["metrics"])
    for feature, section in result.get("fairness", {}).items():
        for metric in FAIRNESS_METRICS:
            flat[f"{metric}[{feature}]"] = section[metric]
    return flat


def gate_verdicts(result: Mapping[str, Any], params: Params) -> list[dict[str, Any]]:
    """One verdict per gate: thresholds, behavioural tests and the champion comparison.

    Each verdict has ``gate``, ``metric``, ``value``, ``threshold``, ``direction``
    (``min``: value must be >= threshold, ``max``: <=), ``passed`` and ``key`` (the
    params key to change if the threshold itself is wrong).
    """
    rows: list[dict[str, Any]] = []
    for name, threshold in params.evaluation.gates.items():
        direction, metric = _parse_gate(name, params)
        key = f"evaluation.gates.{name}"
        if metric in FAIRNESS_METRICS:
            for feature, section in result["fairness"].items():
                rows.append(_verdict(f"{name}[{feature}]", metric, section[metric],
                                     threshold, direction, key))
        else:
            rows.append(_verdict(name, metric, result["metrics"][metric], threshold,
                                 direction, key))
    for test in result["behaviour"]:
        rows.append(_verdict(f"{test['kind']}[{test['column']}]", "failed_share",
                             test["failed_share"], 0.0, "max", f"evaluation.{test['kind']}"))
    if result.get("champion"):
        tolerance = params.evaluation.champion_tolerance
        for name in params.evaluation.gates:
            direction, metric = _parse_gate(name, params)
            base = result["champion"]["metrics"].get(metric)
            if metric in FAIRNESS_METRICS or base is None:
                continue
            threshold = base - tolerance if direction == "min" else base + tolerance
            rows.append(_verdict(f"champion_{metric}", metric, result["metrics"][metric],
                                 threshold, direction, "evaluation.champion_tolerance"))
    return rows


def verdict_table(result: Mapping[str, Any]) -> pd.DataFrame:
    """The gate verdicts as a table: gate, value, threshold, passed."""
    columns = ["gate", "value", "threshold", "passed"]
    return pd.DataFrame([{c: g[c] for c in columns} for g in result["gates"]], columns=columns)


def failed_gates(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The verdicts that did not pass."""
    return [g for g in result["gates"] if not g["passed"]]


def raise_on_failed_gates(result: Mapping[str, Any]) -> None:
    """Raise :class:`GateFailedError` naming every failed gate; return if all passed."""
    failed = failed_gates(result)
    if not failed:
        return
    lines = []
    for g in failed:
        sign = ">=" if g["direction"] == "min" else "<="
        value = "not computable" if g["value"] is None else f"{g['value']:.6g}"
        lines.append(f"  - {g['gate']}: {g['metric']} = {value}, must be {sign} "
                     f"{g['threshold']:.6g} (threshold from {g['key']})")
    names = ", ".join(g["gate"] for g in failed)
    raise GateFailedError(
        f"{len(failed)} evaluation gate(s) failed: {names}\n" + "\n".join(lines) + "\n"
        "The model must not be registered. Improve the model or the data; change a "
        "threshold in params.yaml only if the threshold itself is wrong.",
        gates=[g["gate"] for g in failed],
    )


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
    labels = list(pred.classes)
    matrix = confusion_matrix(pred.y_true, pred.y_pred, labels=labels)
    return {
        "metrics": classification_metrics(pred),
        "confusion_matrix": {"labels": labels, "matrix": matrix.tolist()},
        "fairness": fairness_metrics(pred, frame, params),
    }


def _weighted_metrics(pred: Predictions, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Headline metrics for every row of ``weights`` (resample counts), shape (samples,)."""
    n = weights.shape[1]
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
    out["brier"] = weights @ np.sum((onehot - pred.proba) ** 2, axis=1) / n
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


def _positive_index(classes: tuple[Any, ...], positive: Any) -> int:
    for i, label in enumerate(classes):
        if label == positive or str(label) == str(positive):
            return i
    raise ConfigError(
        f"data.positive_class is {positive!r} but the model's classes are {list(classes)}; "
        "set data.positive_class to the favourable class", key="data.positive_class",
    )


def _parse_gate(name: str, params: Params) -> tuple[str, str]:
    """``("min", "roc_auc")`` for ``min_roc_auc``; ConfigError for an unknown gate."""
    key = f"evaluation.gates.{name}"
    direction, _, metric = name.partition("_")
    known = (*METRIC_NAMES, *FAIRNESS_METRICS)
    if direction not in ("min", "max") or metric not in known:
        raise ConfigError(
            f"{key}: a gate is min_<metric> or max_<metric> with <metric> one of "
            f"{list(known)}", key=key,
        )
    if metric in FAIRNESS_METRICS and not params.data.sensitive_features:
        raise ConfigError(f"{key}: fairness gates need data.sensitive_features; list them "
                          "or remove the gate", key=key)
    return direction, metric


def check_config(params: Params) -> None:
    """Fail before any work when a gate or behavioural spec in params is malformed."""
    for name in params.evaluation.gates:
        _parse_gate(name, params)
    for column, spec in params.evaluation.directional.items():
        check_directional_spec(column, spec)
    if params.evaluation.bootstrap_samples < 0:
        raise ConfigError("evaluation.bootstrap_samples must be >= 0 (0 turns intervals off)",
                          key="evaluation.bootstrap_samples")


def _verdict(gate: str, metric: str, value: float | None, threshold: float,
             direction: str, key: str) -> dict[str, Any]:
    if value is None:
        passed = False
    else:
        passed = value >= threshold if direction == "min" else value <= threshold
    return {"gate": gate, "metric": metric, "value": value, "threshold": float(threshold),
            "direction": direction, "passed": bool(passed), "key": key}
