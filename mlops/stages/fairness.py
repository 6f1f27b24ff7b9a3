"""Group fairness on held-out predictions with fairlearn's ``MetricFrame``.

Fairness is measured for the favourable outcome (``data.positive_class``): for a multiclass
target that is one class against the rest, so demographic parity and equalized odds keep
their usual binary meaning, and the per-group accuracy is the one-vs-rest accuracy of that
class. A multiclass target without a positive class gets per-group (all-class) accuracy
only. Groups smaller than ``evaluation.min_group_size`` are reported but left out of the
parity summaries, so they never decide a gate.

A regression target has no favourable outcome: :func:`group_error` reports the error of
each group (MAE, RMSE, mean signed error) and two summaries over the groups big enough to
count, the largest difference and the largest ratio of group MAE
(:data:`REGRESSION_FAIRNESS_METRICS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, mean_absolute_error, root_mean_squared_error

from mlops.core.exceptions import DataError
from mlops.core.schema import is_number

__all__ = ["ALL_FAIRNESS_METRICS", "FAIRNESS_METRICS", "REGRESSION_FAIRNESS_METRICS",
           "fairness_metric_names", "group_error", "group_fairness", "sensitive_groups"]

# Summary metrics computed for every sensitive feature; gates may name any of them.
FAIRNESS_METRICS: tuple[str, ...] = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
)
# The same for a regression target: largest group MAE minus smallest, and largest over
# smallest (both over the groups with at least evaluation.min_group_size rows).
REGRESSION_FAIRNESS_METRICS: tuple[str, ...] = ("mae_difference", "mae_ratio")
ALL_FAIRNESS_METRICS = (*FAIRNESS_METRICS, *REGRESSION_FAIRNESS_METRICS)


def fairness_metric_names(regression: bool) -> tuple[str, ...]:
    """The fairness summaries gates may name for a task."""
    return REGRESSION_FAIRNESS_METRICS if regression else FAIRNESS_METRICS
# Numeric sensitive columns without bins and with more distinct values than this are
# cut into quartiles, not used raw.
_MAX_RAW_GROUPS = 10
_OTHER_NUMERIC_BANDS = 4


def sensitive_groups(
    frame: pd.DataFrame, columns: Sequence[str], *,
    bins: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, pd.Series]:
    """Group label (a string) of every row for each sensitive column.

    A numeric column with ``bins`` (``evaluation.group_bins``) is cut into half-open bands
    ``[lo, hi)`` (rows outside get ``"out of range"``); any other numeric column with more
    than 10 values is cut into quartiles; everything else is used as is.
    """
    bins = bins or {}
    groups: dict[str, pd.Series] = {}
    for column in columns:
        if column not in frame.columns:
            raise DataError(
                f"sensitive feature {column!r} (data.sensitive_features) is not a column of "
                f"the evaluation data; columns are {list(frame.columns)}. Fix the name in "
                "params.yaml or remove it", column=column, rule="sensitive_feature",
            )
        values = frame[column]
        numeric = is_number(values)
        edges = list(bins.get(column, ()))
        if numeric and len(edges) >= 2:
            bands = pd.cut(values, bins=edges, right=False)
        elif numeric and values.nunique() > _MAX_RAW_GROUPS:
            bands = pd.qcut(values, q=_OTHER_NUMERIC_BANDS, duplicates="drop")
        else:
            groups[column] = values.astype(str)
            continue
        labels = bands.astype("object").map(_band_label, na_action="ignore")
        groups[column] = labels.fillna("out of range").astype(str)
    return groups


def group_fairness(
    y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series, *,
    outcome: Any = None, min_group_size: int = 1,
) -> dict[str, Any]:
    """Per-group metrics and the fairness summary for one sensitive feature.

    ``y_true`` and ``y_pred`` are labels; ``outcome`` is the favourable class (None: a
    multiclass target without one, which gets counts and accuracy only). The summaries use
    the groups with at least ``min_group_size`` rows; ``skipped_groups`` lists the others,
    and with fewer than two groups left the summaries are None (``gated`` is False).
    """
    sensitive = groups.to_numpy()
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    metrics: dict[str, Any] = {"count": count, "accuracy": accuracy_score}
    if outcome is not None:
        y_true = (y_true == outcome).astype(int)
        y_pred = (y_pred == outcome).astype(int)
        metrics |= {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                    "false_positive_rate": false_positive_rate}
    by_group = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred,
                           sensitive_features=sensitive).by_group
    per_group = {
        str(name): {metric: _number(by_group.loc[name, metric]) for metric in by_group.columns}
        | {"count": int(by_group.loc[name, "count"])}
        for name in sorted(by_group.index, key=str)
    }
    skipped = [g for g, m in per_group.items() if m["count"] < min_group_size]
    kept = np.isin(sensitive.astype(str), [g for g in per_group if g not in skipped])
    gated = outcome is not None and len(per_group) - len(skipped) >= 2
    summary: dict[str, Any] = dict.fromkeys(FAIRNESS_METRICS)
    if gated:
        args = (y_true[kept], y_pred[kept])
        features = sensitive[kept]
        summary = {
            "demographic_parity_difference": demographic_parity_difference(
                *args, sensitive_features=features),
            "demographic_parity_ratio": demographic_parity_ratio(
                *args, sensitive_features=features),
            "equalized_odds_difference": equalized_odds_difference(
                *args, sensitive_features=features),
        }
    return {"groups": per_group, "skipped_groups": skipped, "min_group_size": min_group_size,
            "gated": gated, **{k: _number(v) for k, v in summary.items()}}


def group_error(y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series, *,
                min_group_size: int = 1) -> dict[str, Any]:
    """Per-group error of a regression model and the spread of group MAE, for one feature.

    Each group gets ``count``, ``mae``, ``rmse`` and ``mean_error`` (predicted minus true:
    positive means the model over-predicts for that group). ``mae_difference`` and
    ``mae_ratio`` compare the groups with at least ``min_group_size`` rows; with fewer
    than two such groups they are None and ``gated`` is False.
    """
    sensitive = groups.to_numpy()
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)

    def mean_error(t: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean(p - t))

    frame = MetricFrame(metrics={"count": count, "mae": mean_absolute_error,
                                 "rmse": root_mean_squared_error, "mean_error": mean_error},
                        y_true=y_true, y_pred=y_pred, sensitive_features=sensitive)
    by_group = frame.by_group
    per_group = {
        str(name): {metric: _number(by_group.loc[name, metric]) for metric in by_group.columns}
        | {"count": int(by_group.loc[name, "count"])}
        for name in sorted(by_group.index, key=str)
    }
    skipped = [g for g, m in per_group.items() if m["count"] < min_group_size]
    errors = [m["mae"] for g, m in per_group.items() if g not in skipped]
    gated = len(errors) >= 2
    difference = max(errors) - min(errors) if gated else None
    ratio = (max(errors) / min(errors) if min(errors) > 0 else None) if gated else None
    return {"groups": per_group, "skipped_groups": skipped, "min_group_size": min_group_size,
            "gated": gated, "mae_difference": _number(difference),
            "mae_ratio": _number(ratio)}


def _band_label(interval: pd.Interval) -> str:
    """``[25, 40)`` for a half-open interval; integers without a trailing ``.0``."""
    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"
    left, right = ("[", ")") if interval.closed == "left" else ("(", "]")
    return f"{left}{fmt(interval.left)}, {fmt(interval.right)}{right}"


def _number(value: Any) -> float | None:
    """A plain float, or ``None`` where the metric is undefined (NaN) or not computed."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value
