"""Performance before labels: confidence-based performance estimation (CBPE).

A classifier's probabilities say how often it expects to be right. If they are calibrated
(a row scored 0.8 belongs to the predicted class 80 % of the time), the expected accuracy
of a set of predictions is the mean probability of the predicted class, and the expected
ROC-AUC follows from expected true and false positives at every threshold (as NannyML's
CBPE computes them). Neither needs a label, so the estimate is there the moment traffic
is scored, long before labels come back.

The probabilities are first calibrated by a map fitted on the held-out rows at evaluation
(:mod:`mlops.stages.calibration`, stored with the version as ``calibration.json``); the
served predictions never see it. The interval is that of the *realised* metric: labels are
drawn from the calibrated probabilities (``samples`` times), each draw through one of the
calibrator's bootstrap fits, and the metric is computed on each draw; so it covers the
label noise of these rows and the calibrator's own error. When the calibration check on
the held-out rows fails there is no estimate at all (the timeline and the monitoring screen
say why); :func:`calibration_check` measures the estimate against the held-out labels.

What CBPE cannot see: a change in how the target depends on the inputs (concept drift)
leaves the probabilities as they were, so the estimate stays put while accuracy falls.
It reacts to covariate shift (rows moving into regions where the model is less sure).
So it is an early warning (:func:`mlops.serving.rules.early_warning`), never a reason to
roll back on its own.

No estimate for regression: a regressor gives a value, not a distribution of its error,
so there is nothing to take an expectation over. The regression analogue (NannyML's
DLE) trains a second model on held-out residuals and assumes the error given the inputs
does not change; that assumption is exactly what fails under concept drift, and a wrong
estimate of the error would look as trustworthy as a right one. The template shows the
realised MAE once labels come and offers no estimate before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from mlops.stages.calibration import Calibrator

__all__ = ["Estimate", "calibration_check", "estimate", "expected_auc", "log_probabilities"]

SAMPLES = 400  # label draws for the interval
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """Estimated accuracy and ROC-AUC of ``n`` predictions, each with its interval."""

    n: int
    accuracy: float | None
    accuracy_interval: tuple[float, float] | None
    roc_auc: float | None
    roc_auc_interval: tuple[float, float] | None
    level: float = LEVEL

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        data = asdict(self)
        for key in ("accuracy_interval", "roc_auc_interval"):
            data[key] = list(data[key]) if data[key] is not None else None
        return data


def expected_auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Expected ROC-AUC of ``score`` when each row is positive with probability ``positive``.

    Expected true and false positives at each threshold (rows tied on the score move
    together) give an expected ROC curve; its area is the estimate.
    """
    score, positive = np.asarray(score, float), np.asarray(positive, float)
    p_total, n_total = positive.sum(), (1 - positive).sum()
    if len(score) == 0 or p_total <= 0 or n_total <= 0:
        return None
    order = np.argsort(-score, kind="stable")
    s, q = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each tie group
    tpr = np.r_[0.0, np.cumsum(q)[last] / p_total]
    fpr = np.r_[0.0, np.cumsum(1 - q)[last] / n_total]
    return float(np.trapezoid(tpr, fpr))


def _auc_of_draws(ranks: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """ROC-AUC per row of ``hits`` (draws x rows, bool) from the scores' ``ranks``
    (Mann-Whitney); NaN where a draw has one class only."""
    n_pos = hits.sum(axis=1).astype(float)
    n_neg = hits.shape[1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (hits @ ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def estimate(proba: np.ndarray, *, samples: int = SAMPLES, level: float = LEVEL,
             seed: int = 0, calibrator: Calibrator | None = None,
             roc_auc: bool = True) -> Estimate:
    """CBPE of predictions whose class probabilities are the rows of ``proba`` (n x k).

    The predicted class is each row's most probable one (what the router returns). ROC-AUC
    is that of the last column for two classes, else the macro one-vs-rest average.

    ``calibrator`` (fitted on the held-out rows, :mod:`mlops.stages.calibration`) maps the
    probabilities to calibrated ones for the estimate; the predicted class and the score
    the ROC-AUC ranks stay the model's own. Each label draw goes through one of the
    calibrator's bootstrap fits, so the interval covers the calibrator's error as well.
    ``roc_auc=False`` estimates accuracy alone (each row drawn right or wrong), faster.
    """
    proba = np.asarray(proba, dtype=float)
    n = len(proba)
    if n == 0 or proba.ndim != 2 or proba.shape[1] < 2:
        return Estimate(n, None, None, None, None, level)
    proba = np.clip(proba, 0, None)
    proba = proba / proba.sum(axis=1, keepdims=True)
    predicted = proba.argmax(axis=1)
    k = proba.shape[1]
    rng = np.random.default_rng(seed)
    samples = max(50, min(samples, 20_000_000 // (n * k)))  # bounded memory
    # Each draw's probabilities: the calibrator's fits in turn (draws x rows x classes).
    which = np.arange(samples) % (1 if calibrator is None else calibrator.members)
    tail = (1 - level) / 2
    # Accuracy: each row right or wrong, drawn from its chance of being right.
    right = proba[None, np.arange(n), predicted] if calibrator is None \
        else calibrator.right(proba)
    accuracy = float(right[0].mean())
    accs = (rng.random((samples, n), dtype=np.float32) < right[which]).mean(axis=1)
    acc_interval = (float(np.quantile(accs, tail)), float(np.quantile(accs, 1 - tail)))
    if not roc_auc:
        return Estimate(n, accuracy, acc_interval, None, None, level)
    members = proba[None] if calibrator is None else calibrator.apply_all(proba)
    point_proba = members[0]
    # Draw each row's label from its probabilities: draws x rows class indices.
    if k == 2:
        drawn = (rng.random((samples, n), dtype=np.float32) < members[which, :, 1]
                 ).astype(np.int8)
    else:
        cum = np.cumsum(members, axis=2)[which]
        drawn = (rng.random((samples, n, 1), dtype=np.float32) > cum[:, :, :-1]).sum(axis=2)
    columns = [k - 1] if k == 2 else range(k)
    point = [expected_auc(proba[:, c], point_proba[:, c]) for c in columns]
    per_class = np.stack([_auc_of_draws(rankdata(proba[:, c]), drawn == c) for c in columns])
    defined = np.isfinite(per_class).sum(axis=0)  # classes present in each draw
    with np.errstate(invalid="ignore"):
        aucs = np.where(np.isfinite(per_class), per_class, 0).sum(axis=0) / defined
    auc = None if any(p is None for p in point) else float(np.mean(point))
    finite = aucs[np.isfinite(aucs)]
    auc_interval = (float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))) \
        if auc is not None and len(finite) else None
    return Estimate(n, accuracy, acc_interval, auc, auc_interval, level)


def log_probabilities(rows: pd.DataFrame, model: Any = None) -> np.ndarray | None:
    """Class probabilities of logged predictions (successful rows of the log).

    For two classes the log's ``proba`` (the positive class) is enough; for more, the
    probabilities that a large batch kept (``class_proba``) are used, and the inputs of
    requests logged row by row are scored again with ``model`` (the version that
    answered). None when neither is possible (several classes and no model).
    """
    ok = rows[rows["error"].isna() & rows["proba"].notna()] if "error" in rows else rows
    classes = getattr(model, "classes_", None)
    if model is None or (classes is not None and len(classes) == 2):
        if model is None and ok["prediction"].nunique() > 2:
            return None
        p = ok["proba"].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])
    from mlops.serving.predlog import CLASS_PROBA, inputs_frame

    kept = ok[CLASS_PROBA].notna() if CLASS_PROBA in ok else pd.Series(False, index=ok.index)
    parts = [np.stack(ok.loc[kept, CLASS_PROBA].to_list())] if kept.any() else []
    inputs = inputs_frame(ok[~kept])
    if len(inputs):
        parts.append(model.predict_proba(inputs))
    return np.concatenate(parts) if parts else np.empty((0, len(classes)))


def calibration_check(proba: np.ndarray, y_true: np.ndarray, classes: Any, *,
                      bins: int = 10, calibration: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """How well CBPE's assumption holds on labelled data (the held-out set).

    The estimate from ``proba`` next to the realised accuracy and ROC-AUC, whether the
    realised values fall in the intervals, and the expected calibration error of the
    predicted class's probability (``bins`` equal-width bins). ``calibration`` (the
    version's ``calibration.json``) calibrates the estimate and the error measured, and
    its verdict (``trusted``, ``reason``: whether the estimate is shown) is passed on; the
    calibrator was fitted on these rows, so its figures here are in-sample (the
    cross-fitted ones are in the file's ``after``).
    """
    from mlops.stages.calibration import Calibrator

    proba = np.asarray(proba, dtype=float)
    classes = np.asarray(classes)
    y = np.asarray(y_true)
    calibrator = Calibrator.from_dict(calibration["calibrator"]) \
        if calibration and calibration.get("calibrator") else None
    est = estimate(proba, calibrator=calibrator)
    hit = classes[proba.argmax(axis=1)] == y
    conf = proba.max(axis=1) if calibrator is None else calibrator.right(proba)[0]
    which = np.minimum((conf * bins).astype(int), bins - 1)
    ece = float(sum(abs(hit[which == b].mean() - conf[which == b].mean()) * (which == b).mean()
                    for b in range(bins) if (which == b).any()))
    realised_auc = None
    if len(classes) == 2 and len(set(y.tolist())) == 2:
        from sklearn.metrics import roc_auc_score

        realised_auc = float(roc_auc_score(y == classes[-1], proba[:, -1]))
    elif len(classes) > 2 and set(y.tolist()) == set(classes.tolist()):
        from sklearn.metrics import roc_auc_score

        realised_auc = float(roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    acc = float(hit.mean()) if len(hit) else None

    def inside(value: float | None, interval: tuple[float, float] | None) -> bool | None:
        return None if value is None or interval is None else \
            bool(interval[0] <= value <= interval[1])

    return {"estimate": est.to_dict(), "realised_accuracy": acc, "realised_roc_auc": realised_auc,
            "accuracy_within_interval": inside(acc, est.accuracy_interval),
            "roc_auc_within_interval": inside(realised_auc, est.roc_auc_interval),
            "expected_calibration_error": ece, "rows": len(y),
            "calibrated": calibrator is not None,
            **({"trusted": bool(calibration.get("trusted")),
                "reason": calibration.get("reason")} if calibration else {})}
