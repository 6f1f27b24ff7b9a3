"""Feature leakage: one column that alone predicts the target almost perfectly.

Real features rarely do that; a column that does was usually recorded after the outcome
or derived from it (a leak), and the model trained on it will fail in production. Each
feature gets a single-feature score on training data:

* classification: ROC-AUC of the feature alone (one class against the rest, averaged over
  classes), the larger of the AUC and 1 - AUC, so a reversed relation counts too;
* numeric target: R² of the feature alone.

A numeric feature is scored by its ranks (a monotone relation: AUC) or its linear fit
(R²), and also, like a categorical feature, by an out-of-fold target encoding of its
values (two folds, so a unique-per-row identifier scores as noise, not as a perfect
predictor), which catches non-monotone relations. The best of the two counts. Rows are
sampled down to :data:`MAX_ROWS`, so the check costs milliseconds whatever the data size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["MAX_ROWS", "FeatureScore", "single_feature_scores"]

MAX_ROWS = 20_000
_BINS = 20  # quantile bins of a numeric feature for its target encoding


@dataclass(frozen=True)
class FeatureScore:
    """How well ``column`` alone predicts the target (``measure``: roc_auc or r2)."""

    column: str
    measure: str
    score: float

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON-friendly)."""
        return asdict(self)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC-AUC of ``scores`` for the boolean ``positive``, at least 0.5 (either direction)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = stats.rankdata(scores)
    auc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(max(auc, 1 - auc))


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    return float(max(0.0, 1 - ((y - pred) ** 2).sum() / total))


def _codes(series: pd.Series, numeric: bool) -> np.ndarray:
    """Integer codes of a column's values (quantile bins for numbers; NaN its own code)."""
    if numeric:
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        values = values.where(np.isfinite(values))  # inf joins NaN's code
        if values.nunique() > _BINS:
            values = pd.qcut(values, _BINS, labels=False, duplicates="drop")
        series = values
    codes, _ = pd.factorize(series, use_na_sentinel=False)
    return codes


def _encoded(codes: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold mean of ``y`` per code; a code unseen in the other fold gets the mean."""
    out = np.empty(y.size, dtype=np.float64)
    size = int(codes.max()) + 1 if codes.size else 1
    for fold in (0, 1):
        fit, apply = folds != fold, folds == fold
        sums = np.bincount(codes[fit], weights=y[fit], minlength=size)
        counts = np.bincount(codes[fit], minlength=size)
        prior = y[fit].mean() if fit.any() else 0.0
        means = np.where(counts > 0, sums / np.maximum(counts, 1), prior)
        out[apply] = means[codes[apply]]
    return out


def single_feature_scores(
    frame: pd.DataFrame,
    target: str,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    classification: bool,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> list[FeatureScore]:
    """Each feature's single-feature score for predicting ``target``, best first.

    Rows with a missing target are left out; with fewer than two target values nothing
    can be scored and the list is empty.
    """
    data = frame[frame[target].notna()]
    if len(data) > max_rows:
        data = data.sample(n=max_rows, random_state=seed)
    if len(data) < 4 or data[target].nunique() < 2:
        return []
    folds = np.random.default_rng(seed).permutation(len(data)) % 2
    if classification:
        labels = data[target].astype(str).to_numpy()
        classes = np.unique(labels)
        # One class against the rest; with two classes one of them says it all.
        targets = [labels == c for c in (classes[1:] if classes.size == 2 else classes)]
    else:
        y = pd.to_numeric(data[target], errors="coerce").to_numpy(dtype=np.float64)
    scores = []
    for column in [*numeric, *categorical]:
        if column == target or column not in data.columns:
            continue
        is_num = column in numeric
        codes = _codes(data[column], is_num)
        values = None
        if is_num:
            values = pd.to_numeric(data[column], errors="coerce").to_numpy(dtype=np.float64)
            lowest = np.nanmin(values) - 1 if np.isfinite(values).any() else 0.0
            values = np.where(np.isfinite(values), values, lowest)
        if classification:
            per_class = []
            for positive in targets:
                best = _auc(_encoded(codes, positive.astype(np.float64), folds), positive)
                if values is not None:
                    best = max(best, _auc(values, positive))
                per_class.append(best)
            scores.append(FeatureScore(column, "roc_auc", float(np.mean(per_class))))
        else:
            best = _r2(_encoded(codes, y, folds), y)
            if values is not None and np.std(values) > 0 and np.std(y) > 0:
                best = max(best, float(np.corrcoef(values, y)[0, 1] ** 2))
            scores.append(FeatureScore(column, "r2", best))
    return sorted(scores, key=lambda s: -s.score)
