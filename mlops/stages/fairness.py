"""Group fairness on held-out predictions with fairlearn's ``MetricFrame``.

Fairness is measured for the favourable outcome (``data.positive_class``): for a multiclass
target that is one class against the rest, so demographic parity and equalized odds keep
their usual binary meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from sklearn.metrics import accuracy_score

from mlops.core.exceptions import DataError
from mlops.core.schema import is_number

__all__ = ["FAIRNESS_METRICS", "AGE_COLUMN", "sensitive_groups", "group_fairness"]

# Summary metrics computed for every sensitive feature; gates may name any of them.
FAIRNESS_METRICS: tuple[str, ...] = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
)
# The numeric sensitive column that ``evaluation.age_bins`` bands.
AGE_COLUMN = "age"
# Numeric sensitive columns with more distinct values than this are banded, not used raw.
_MAX_RAW_GROUPS = 10
_OTHER_NUMERIC_BANDS = 4


def sensitive_groups(
    frame: pd.DataFrame, columns: Sequence[str], *, age_bins: Sequence[float]
) -> dict[str, pd.Series]:
    """Group label (a string) of every row for each sensitive column.

    A numeric ``age`` is cut into ``age_bins`` as half-open bands ``[lo, hi)`` (rows outside
    get ``"out of range"``); any other numeric column with more than 10 values is cut into
    quartiles; everything else is used as is.
    """
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
        if numeric and column == AGE_COLUMN and len(age_bins) >= 2:
            bands = pd.cut(values, bins=list(age_bins), right=False)
        elif numeric and values.nunique() > _MAX_RAW_GROUPS:
            bands = pd.qcut(values, q=_OTHER_NUMERIC_BANDS, duplicates="drop")
        else:
            groups[column] = values.astype(str)
            continue
        labels = bands.astype("object").map(_band_label, na_action="ignore")
        groups[column] = labels.fillna("out of range").astype(str)
    return groups


def group_fairness(
    y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series
) -> dict[str, Any]:
    """Per-group metrics and the fairness summary for one sensitive feature.

    ``y_true`` and ``y_pred`` are 0/1 arrays (1 = the favourable outcome).
    """
    sensitive = groups.to_numpy()
    frame = MetricFrame(
        metrics={
            "count": count,
            "selection_rate": selection_rate,
            "accuracy": accuracy_score,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive,
    )
    by_group = frame.by_group
    per_group = {
        str(name): {metric: _number(by_group.loc[name, metric]) for metric in by_group.columns}
        | {"count": int(by_group.loc[name, "count"])}
        for name in sorted(by_group.index, key=str)
    }
    summary = {
        "demographic_parity_difference": demographic_parity_difference(
            y_true, y_pred, sensitive_features=sensitive
        ),
        "demographic_parity_ratio": demographic_parity_ratio(
            y_true, y_pred, sensitive_features=sensitive
        ),
        "equalized_odds_difference": equalized_odds_difference(
            y_true, y_pred, sensitive_features=sensitive
        ),
    }
    return {"groups": per_group, **{k: _number(v) for k, v in summary.items()}}


def _band_label(interval: pd.Interval) -> str:
    """``[25, 40)`` for a half-open interval; integers without a trailing ``.0``."""
    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"
    left, right = ("[", ")") if interval.closed == "left" else ("(", "]")
    return f"{left}{fmt(interval.left)}, {fmt(interval.right)}{right}"


def _number(value: Any) -> float | None:
    """A plain float, or ``None`` where the metric is undefined (NaN)."""
    value = float(value)
    return None if np.isnan(value) else value
