"""A calibrator for the estimate before labels, fitted on the held-out rows at evaluation.

CBPE (:mod:`mlops.monitoring.cbpe`) reads a classifier's probabilities as the chance of
being right; it is only as good as they are calibrated. :func:`calibration_result` fits a
map from the model's probabilities to calibrated ones on the held-out rows, measures the
calibration before and after (Brier score, expected calibration error; "after" is
cross-fitted, each fold calibrated by a map that never saw it) and decides whether the
estimate can be trusted. The map is used **for the estimate only**: the served model and
its probabilities are not touched.

- **Method.** Isotonic regression when every calibrated column has at least
  :data:`ISOTONIC_MIN_ROWS` held-out rows, else a sigmoid (Platt) fit: isotonic can follow
  any monotone shape but over-fits small sets (Niculescu-Mizil and Caruana, 2005, found it
  worse than sigmoid below about a thousand rows); the sigmoid's two parameters do not.
  Two classes calibrate the positive class's probability; more classes calibrate each
  class one-vs-rest and renormalise the rows.
- **Its own uncertainty.** The map is fitted again on :data:`BOOTSTRAP` resamples of the
  held-out rows and all fits are stored; the estimate draws each of its label samples
  through one of them, so its interval covers the error of the map as well as label noise.
- **Stored as plain numbers** (``calibration.json``: thresholds of isotonic fits, ``a, b``
  of sigmoid fits), never as a pickled object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BOOTSTRAP", "CALIBRATION_FILE", "Calibrator", "ISOTONIC_MIN_ROWS", "MAX_ECE",
           "MIN_ROWS", "brier_score", "calibration_result", "expected_calibration_error",
           "fit_calibrator"]

CALIBRATION_FILE = "calibration.json"
ISOTONIC_MIN_ROWS = 1000  # per calibrated column; fewer: a sigmoid
BOOTSTRAP = 25  # resampled fits kept for the interval
MIN_ROWS = 50  # fewer held-out rows: no calibrator, no estimate
MAX_ECE = 0.10  # cross-fitted expected calibration error above this: estimate not shown
FOLDS = 5
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _fit_one(p: np.ndarray, y: np.ndarray, method: str) -> dict[str, Any]:
    """One map of column probabilities ``p`` to the chance that ``y`` (bool) is true."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y)
        return {"x": np.round(iso.X_thresholds_, 6), "y": np.round(iso.y_thresholds_, 6)}
    from scipy.optimize import minimize

    z, t = _logit(p), y.astype(float)

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:  # log-loss and its gradient
        s = ab[0] * z + ab[1]
        q = 1 / (1 + np.exp(-s))
        value = float(np.sum(np.logaddexp(0, s) - t * s)) + 1e-3 * float(ab @ ab)
        g = q - t
        return value, np.array([g @ z, g.sum()]) + 2e-3 * ab

    a, b = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B").x
    return {"a": round(float(a), 6), "b": round(float(b), 6)}


def _apply_one(p: np.ndarray, fit: Mapping[str, Any]) -> np.ndarray:
    if "x" in fit:
        return np.interp(p, fit["x"], fit["y"])
    return 1 / (1 + np.exp(-(fit["a"] * _logit(p) + fit["b"])))


@dataclass(frozen=True)
class Calibrator:
    """Maps a model's class probabilities to calibrated ones (for the estimate only).

    ``fits[m][j]`` is member ``m``'s map of column ``columns[j]``; member 0 is fitted on
    all held-out rows, the others on bootstrap resamples of them.
    """

    method: str
    n_classes: int
    columns: tuple[int, ...]
    fits: tuple[tuple[Mapping[str, Any], ...], ...]

    @property
    def members(self) -> int:
        """How many fits: 1 + the bootstrap ones."""
        return len(self.fits)

    def apply(self, proba: np.ndarray, member: int = 0) -> np.ndarray:
        """Calibrated probabilities (n x k) of ``proba`` by fit ``member``."""
        proba = np.asarray(proba, dtype=float)
        if self.n_classes == 2:
            q = np.clip(_apply_one(proba[:, 1], self.fits[member][0]), 0, 1)
            return np.column_stack([1 - q, q])
        fits = self.fits[member][:len(self.columns)]
        q = np.column_stack([_apply_one(proba[:, c], f)
                             for c, f in zip(self.columns, fits, strict=True)])
        total = q.sum(axis=1, keepdims=True)
        return np.where(total > 0, q / np.where(total > 0, total, 1), proba)

    def apply_all(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities by every member: members x n x k."""
        proba = np.asarray(proba, dtype=float)
        if self.method != "sigmoid" or self.n_classes != 2:
            return np.stack([self.apply(proba, m) for m in range(self.members)])
        a = np.array([member[0]["a"] for member in self.fits])[:, None]
        b = np.array([member[0]["b"] for member in self.fits])[:, None]
        q = 1 / (1 + np.exp(-(a * _logit(proba[:, 1])[None, :] + b)))
        return np.stack([1 - q, q], axis=2)

    def right(self, proba: np.ndarray) -> np.ndarray:
        """Chance that each row's served class (its most probable) is right, by every
        member: members x n. Two classes read it off the calibrated probabilities; more
        classes have a map of their own from the top probability (top-label calibration),
        which is what accuracy needs and what renormalised one-vs-rest maps bias."""
        proba = np.asarray(proba, dtype=float)
        served = proba.argmax(axis=1)
        if self.n_classes == 2:
            return self.apply_all(proba)[:, np.arange(len(proba)), served]
        top = proba[np.arange(len(proba)), served]
        return np.stack([np.clip(_apply_one(top, member[-1]), 0, 1) for member in self.fits])

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (JSON-ready)."""
        return {"method": self.method, "n_classes": self.n_classes,
                "columns": list(self.columns),
                "fits": [[{key: np.asarray(v).tolist() for key, v in fit.items()}
                          for fit in member] for member in self.fits]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """The calibrator that :meth:`to_dict` wrote."""
        return cls(str(data["method"]), int(data["n_classes"]),
                   tuple(int(c) for c in data["columns"]),
                   tuple(tuple({key: np.asarray(v, dtype=float) if isinstance(v, list)
                                else float(v) for key, v in f.items()} for f in member)
                         for member in data["fits"]))


def _targets(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """n x k one-hot of ``y`` over ``classes``."""
    return np.asarray(y)[:, None] == np.asarray(classes)[None, :]


def fit_calibrator(proba: np.ndarray, y_true: np.ndarray, classes: Sequence[Any], *,
                   bootstrap: int = BOOTSTRAP, seed: int = 0,
                   method: str | None = None) -> Calibrator:
    """Fit the calibrator on labelled rows (the held-out set); ``method`` forces one."""
    proba = np.asarray(proba, dtype=float)
    classes = np.asarray(classes)
    onehot = _targets(y_true, classes)
    k = len(classes)
    columns = (1,) if k == 2 else tuple(range(k))
    if method is None:
        smallest = min(len(proba), *(2 * min(onehot[:, c].sum(), (~onehot[:, c]).sum())
                                     for c in columns))
        method = "isotonic" if smallest >= ISOTONIC_MIN_ROWS else "sigmoid"
    rng = np.random.default_rng(seed)
    samples = [np.arange(len(proba))] + [rng.integers(0, len(proba), len(proba))
                                         for _ in range(bootstrap)]
    top, hit = proba.max(axis=1), onehot[np.arange(len(proba)), proba.argmax(axis=1)]
    fits = tuple(tuple(_fit_one(proba[idx, c], onehot[idx, c], method) for c in columns)
                 + ((_fit_one(top[idx], hit[idx], method),) if k > 2 else ())
                 for idx in samples)
    return Calibrator(method, k, columns, fits)


def brier_score(proba: np.ndarray, y_true: np.ndarray, classes: Sequence[Any]) -> float:
    """Mean squared distance of the probabilities from the one-hot labels (sum over
    classes; for two classes half of it, the usual binary Brier score)."""
    proba = np.asarray(proba, dtype=float)
    score = float(((proba - _targets(y_true, np.asarray(classes))) ** 2).sum(axis=1).mean())
    return score / 2 if proba.shape[1] == 2 else score


def expected_calibration_error(proba: np.ndarray, y_true: np.ndarray, classes: Sequence[Any],
                               *, bins: int = 10, predicted: np.ndarray | None = None
                               ) -> float:
    """Gap between the predicted class's probability and how often it is right, averaged
    over ``bins`` equal-width bins weighted by their rows. ``predicted``: class indices
    (default: each row's most probable)."""
    proba = np.asarray(proba, dtype=float)
    predicted = proba.argmax(axis=1) if predicted is None else np.asarray(predicted)
    hit = np.asarray(classes)[predicted] == np.asarray(y_true)
    return _ece(proba[np.arange(len(proba)), predicted], hit, bins)


def _ece(conf: np.ndarray, hit: np.ndarray, bins: int = 10) -> float:
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return float(sum(abs(hit[which == b].mean() - conf[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def _cross_fitted(proba: np.ndarray, y: np.ndarray, classes: np.ndarray, method: str,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each fold calibrated by a map fitted on the other folds: the probabilities, and the
    chance that the served class is right."""
    from sklearn.model_selection import StratifiedKFold

    out, right = np.empty_like(proba), np.empty(len(proba))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    for fit_rows, rows in folds.split(proba, y):
        cal = fit_calibrator(proba[fit_rows], y[fit_rows], classes, bootstrap=0,
                             method=method)
        out[rows] = cal.apply(proba[rows])
        right[rows] = cal.right(proba[rows])[0]
    return out, right


def calibration_result(proba: np.ndarray, y_true: np.ndarray, classes: Sequence[Any], *,
                       seed: int = 0) -> dict[str, Any]:
    """Fit the calibrator on held-out ``proba`` and labels; JSON-ready result.

    ``before`` and ``after`` hold the Brier score and the expected calibration error of the
    predicted class (the served one: the most probable before calibration); ``after`` is
    cross-fitted. ``trusted`` says whether the estimate before labels should be shown, and
    ``reason`` says why in words; ``calibrator`` is :meth:`Calibrator.to_dict` (None when
    there are too few rows to fit one).
    """
    proba = np.asarray(proba, dtype=float)
    y = np.asarray(y_true)
    classes = np.asarray(classes)
    served = proba.argmax(axis=1)
    before = {"brier": brier_score(proba, y, classes),
              "ece": expected_calibration_error(proba, y, classes)}
    out: dict[str, Any] = {"rows": len(y), "before": before, "after": None, "method": None,
                           "trusted": False, "reason": "", "calibrator": None}
    counts = _targets(y, classes).sum(axis=0)
    if len(y) < MIN_ROWS or counts.min() < FOLDS:
        out["reason"] = (f"only {len(y)} held-out rows ({int(counts.min())} of the rarest "
                         f"class): at least {MIN_ROWS}, and {FOLDS} of each class, are needed "
                         "to calibrate the probabilities, so there is no estimate before "
                         "outcomes are known")
        return out
    cal = fit_calibrator(proba, y, classes, seed=seed)
    crossed, q = _cross_fitted(proba, y, classes, cal.method, seed)
    hit = classes[served] == y
    after = {"brier": brier_score(crossed, y, classes), "ece": _ece(q, hit)}
    # The realised held-out accuracy against the cross-fitted estimate's 95 % interval
    # (label noise, normal approximation): a calibrated estimate lands in it.
    estimated, realised = float(q.mean()), float(hit.mean())
    half = 1.96 * float(np.sqrt((q * (1 - q)).sum())) / len(y) + 0.5 / len(y)
    within = abs(realised - estimated) <= half
    out.update(after=after, method=cal.method, calibrator=cal.to_dict(),
               estimated_accuracy=estimated, realised_accuracy=realised,
               accuracy_within_interval=bool(within))
    if after["ece"] > MAX_ECE:
        out["reason"] = (f"even after calibration the model's probabilities are off by "
                         f"{after['ece']:.0%} on average on the held-out rows (at most "
                         f"{MAX_ECE:.0%} is trusted), so an estimate made from them could "
                         "mislead")
    elif not within:
        out["reason"] = (f"on the held-out rows the calibrated estimate said "
                         f"{estimated:.1%} accuracy but it was {realised:.1%}, outside the "
                         "estimate's own interval, so the estimate is not trusted")
    else:
        out["trusted"] = True
        out["reason"] = (f"calibrated on {len(y)} held-out rows ({cal.method}); expected "
                         f"calibration error {before['ece']:.3f} before, {after['ece']:.3f} "
                         "after")
    return out
