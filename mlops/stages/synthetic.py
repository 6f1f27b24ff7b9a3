"""Synthetic frames with planted drift, shared by the drift tests and the drift benchmark.

20 columns (14 numeric with assorted shapes, 6 categorical with 2 to 12 categories). With
``shifted=True`` five columns carry the shifts named in :data:`PLANTED`; all other columns
keep their distribution, so any other flagged column is a false alarm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PLANTED", "synthetic_frame"]

PLANTED: dict[str, str] = {
    "mean_shift_large": "mean +1 sd",
    "mean_shift_small": "mean +0.1 sd",
    "scale_change": "sd x1.5",
    "cat_skew": "category shares reversed",
    "cat_share_5pt": "one category +5 points",
}


def _shares(k: int) -> np.ndarray:
    weights = np.arange(k, 0, -1, dtype=np.float64)
    return weights / weights.sum()


def _categories(rng: np.random.Generator, n: int, shares: np.ndarray, prefix: str
                ) -> pd.Series:
    labels = np.array([f"{prefix}_{i}" for i in range(len(shares))])
    return pd.Series(labels[rng.choice(len(shares), size=n, p=shares)], dtype="str")


def synthetic_frame(n: int, *, seed: int, shifted: bool = False) -> pd.DataFrame:
    """``n`` rows x 20 columns drawn with ``seed``; ``shifted`` plants :data:`PLANTED`."""
    rng = np.random.default_rng(seed)
    large, small, scale = (1.0, 0.1, 1.5) if shifted else (0.0, 0.0, 1.0)
    cols: dict[str, object] = {
        # A magnitude (an amount, an age), so never negative: a plain normal at 50 +- 10
        # falls below 0 about 3 times in 10 million rows, and the schema inferred from a
        # reference that never was negative rightly blocks those (hard_min 0). Folding
        # changes only those rare draws.
        "mean_shift_large": np.abs(rng.normal(50 + 10 * large, 10, n)),
        "mean_shift_small": rng.normal(100 * small, 100, n),
        "scale_change": rng.normal(5, 2 * scale, n),
        "lognormal": rng.lognormal(8, 0.8, n),
        "exponential": rng.exponential(3.0, n),
        "uniform": rng.uniform(-1, 1, n),
        "poisson": rng.poisson(4, n).astype(np.int64),
        "integers": rng.integers(18, 80, n),
        "bimodal": np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n),
                            rng.normal(3, 1, n)),
        "heavy_tail": rng.standard_t(3, n),
        "beta": rng.beta(2, 5, n),
        "gamma": rng.gamma(2.0, 2.0, n),
        "binary_int": (rng.random(n) < 0.2).astype(np.int64),
        "with_nan": np.where(rng.random(n) < 0.05, np.nan, rng.normal(0, 1, n)),
    }
    skew = _shares(5)
    if shifted:
        skew = skew[::-1].copy()
    share = _shares(4)
    if shifted:  # +5 points to the second category, taken proportionally from the rest
        others = np.arange(4) != 1
        share = share.copy()
        share[others] -= 0.05 * share[others] / share[others].sum()
        share[1] += 0.05
    cols["cat_skew"] = _categories(rng, n, skew, "s")
    cols["cat_share_5pt"] = _categories(rng, n, share, "p")
    cols["cat_binary"] = _categories(rng, n, np.array([0.6, 0.4]), "b")
    cols["cat_many"] = _categories(rng, n, _shares(12), "m")
    cols["cat_rare"] = _categories(rng, n, np.array([0.9, 0.07, 0.02, 0.008, 0.002]), "r")
    cols["cat_uniform"] = _categories(rng, n, np.full(6, 1 / 6), "u")
    return pd.DataFrame(cols)
