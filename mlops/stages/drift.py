"""Fast drift detection between a reference (training) frame and a current batch.

Numeric columns: two-sample Kolmogorov–Smirnov test plus the population stability index
(PSI). Categorical columns: chi-square test plus the Jensen–Shannon distance (base 2).

Speed comes from doing the expensive part once per column: each column is sorted once
(numpy's SIMD sort is faster than binning with ``searchsorted``), and the reference is
reduced to cumulative counts at up to 1,000 of its own quantiles. The current column
becomes its counts at those edges (:class:`NumericCounts`), which add up over chunks, so a
file read in chunks gives exactly the counts of the whole column. The KS statistic is the
largest CDF gap at those quantiles (a lower bound of the exact statistic, so the p-value is
conservative) and the PSI uses the deciles among them. Categories are counted with
``pandas.Series.value_counts``, which is far faster than ``np.unique`` on strings.

A column drifts only when both hold (see ``docs/validation.md``):

* its Holm-adjusted p-value (over all columns tested together) is below ``alpha``, so
  testing 20 columns does not raise 20 chances of a false alarm, and
* its effect size reaches a floor (``min_psi`` / ``min_js``), so on very large batches a
  statistically significant but negligible difference is not reported.

A drifted column is graded: ``block`` when its effect is also above ``block_psi`` /
``block_js`` (a large shift), else ``warn``; a column that did not drift is ``pass``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from mlops.core.config import ValidationConfig
from mlops.core.schema import is_number

__all__ = [
    "DriftThresholds",
    "NumericCounts",
    "NumericProfile",
    "CategoricalProfile",
    "ColumnDrift",
    "DriftResult",
    "profile_reference",
    "compare",
    "compare_counts",
    "current_counts",
    "detect_drift",
    "label_drift",
    "label_drift_counts",
    "label_drift_numeric",
    "holm",
    "numeric_counts",
]

KS_POINTS = 1000  # reference quantiles at which the CDFs are compared
PSI_BINS = 10  # deciles: PSI's usual binning, and stable at 10k rows
SHARE_FLOOR = 1e-4  # empty bins get this share so PSI stays finite (Evidently does the same)
MIN_EXPECTED = 5.0  # categories expected fewer times than this are pooled for chi-square


@dataclass(frozen=True)
class NumericProfile:
    """A numeric reference column reduced to cumulative counts at its own quantiles."""

    column: str
    n: int
    edges: np.ndarray  # sorted, unique reference values at the quantile positions
    cum_counts: np.ndarray  # reference values <= each edge
    psi_edges: np.ndarray  # the deciles among ``edges``
    psi_counts: np.ndarray  # reference counts per decile bin (len(psi_edges) + 1)


@dataclass(frozen=True)
class CategoricalProfile:
    """A categorical reference column reduced to its category counts."""

    column: str
    n: int
    counts: pd.Series  # category -> count, non-null values only


@dataclass(frozen=True)
class ColumnDrift:
    """Drift verdict for one column."""

    column: str
    kind: str  # "numeric" or "categorical"
    test: str  # "ks" or "chi2"
    statistic: float
    p_value: float
    p_adjusted: float
    effect_name: str  # "psi" or "js"
    effect: float
    effect_floor: float
    drifted: bool
    effect_block: float | None = None  # above this (and drifted) the grade is block
    grade: str = "pass"  # pass, warn (drifted) or block (drifted, large effect)

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON-friendly)."""
        return asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of every tested column and the data-set verdict."""

    columns: tuple[ColumnDrift, ...]
    alpha: float
    max_drifted_share: float
    drifted_columns: tuple[str, ...] = field(init=False)
    drifted_share: float = field(init=False)
    dataset_drift: bool = field(init=False)

    def __post_init__(self) -> None:
        drifted = tuple(c.column for c in self.columns if c.drifted)
        share = len(drifted) / len(self.columns) if self.columns else 0.0
        object.__setattr__(self, "drifted_columns", drifted)
        object.__setattr__(self, "drifted_share", share)
        object.__setattr__(self, "dataset_drift", share > self.max_drifted_share)

    @property
    def blocked_columns(self) -> tuple[str, ...]:
        """Columns whose drift is large enough to block."""
        return tuple(c.column for c in self.columns if c.grade == "block")

    def to_frame(self) -> pd.DataFrame:
        """One row per column."""
        return pd.DataFrame([c.to_dict() for c in self.columns])

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON-friendly)."""
        return {
            "alpha": self.alpha,
            "max_drifted_share": self.max_drifted_share,
            "drifted_columns": list(self.drifted_columns),
            "drifted_share": self.drifted_share,
            "dataset_drift": self.dataset_drift,
            "columns": [c.to_dict() for c in self.columns],
        }


@dataclass(frozen=True)
class DriftThresholds:
    """When a column drifts and when its drift blocks (see the module docstring).

    ``alpha``: Holm-adjusted p-value below which a difference is significant; ``min_psi`` /
    ``min_js``: the effect a significant column must reach to drift; ``max_drifted_share``:
    the share of drifted columns above which the data set drifted; ``block_psi`` /
    ``block_js``: the effect above which a drifted column blocks (None: never).
    """

    alpha: float = 0.01
    min_psi: float = 0.005
    min_js: float = 0.01
    max_drifted_share: float = 0.3
    block_psi: float | None = None
    block_js: float | None = None

    @classmethod
    def from_config(cls, cfg: ValidationConfig, *, blocking: bool = False) -> DriftThresholds:
        """The thresholds of ``params.validation``; ``blocking`` adds the block thresholds
        of ``drift_psi`` and ``drift_js`` (the validation gate grades them, monitoring
        only reports drift)."""
        return cls(alpha=cfg.drift_alpha, min_psi=cfg.drift_min_psi, min_js=cfg.drift_min_js,
                   max_drifted_share=cfg.max_drifted_share,
                   block_psi=cfg.limits("drift_psi").block if blocking else None,
                   block_js=cfg.limits("drift_js").block if blocking else None)


_DEFAULTS = DriftThresholds()


def _numeric_values(series: pd.Series) -> np.ndarray:
    """Sorted float values without NaN (NaN sorts last, so it is cut off the end)."""
    values = np.sort(series.to_numpy(dtype=np.float64, na_value=np.nan))
    if values.size and np.isnan(values[-1]):
        return values[: values.size - int(np.isnan(values).sum())]
    return values


def _numeric_profile(column: str, series: pd.Series) -> NumericProfile:
    ref = _numeric_values(series)
    n = ref.size
    if n == 0:
        empty = np.empty(0)
        return NumericProfile(column, 0, empty, empty.astype(np.int64), empty,
                              np.zeros(1, dtype=np.int64))
    k = min(KS_POINTS, n)
    edges = np.unique(ref[(np.arange(1, k) * n) // k])
    cum = np.searchsorted(ref, edges, side="right")
    psi_edges = np.unique(ref[(np.arange(1, PSI_BINS) * n) // PSI_BINS])
    psi_cum = np.searchsorted(ref, psi_edges, side="right")
    psi_counts = np.diff(np.concatenate(([0], psi_cum, [n])))
    return NumericProfile(column, n, edges, cum, psi_edges, psi_counts)


def profile_reference(
    reference: pd.DataFrame, *, numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, NumericProfile | CategoricalProfile]:
    """Reduce each reference column to what drift tests need; reuse it across batches."""
    profiles: dict[str, NumericProfile | CategoricalProfile] = {}
    for column in numeric:
        profiles[column] = _numeric_profile(column, reference[column])
    for column in categorical:
        counts = reference[column].value_counts(dropna=True, sort=False)
        profiles[column] = CategoricalProfile(column, int(counts.sum()), counts)
    return profiles


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two count vectors over the same bins."""
    e = np.maximum(expected / max(expected.sum(), 1), SHARE_FLOOR)
    a = np.maximum(actual / max(actual.sum(), 1), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between two count vectors."""
    p = p_counts / max(p_counts.sum(), 1)
    q = q_counts / max(q_counts.sum(), 1)
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


@dataclass(frozen=True)
class NumericCounts:
    """A current numeric column as counts on a profile's edges; mergeable by ``+``.

    ``cum`` holds the values <= each of ``profile.edges``, ``psi_cum`` those <= each of
    ``profile.psi_edges``: all the KS statistic and PSI need, so chunks of a file too large
    for memory add up to exactly the counts of the whole column.
    """

    m: int  # values that are not NaN
    cum: np.ndarray
    psi_cum: np.ndarray

    def __add__(self, other: NumericCounts) -> NumericCounts:
        return NumericCounts(self.m + other.m, self.cum + other.cum,
                             self.psi_cum + other.psi_cum)


def numeric_counts(profile: NumericProfile, series: pd.Series) -> NumericCounts:
    """The counts of ``series`` (one chunk or all of it) on ``profile``'s edges.

    The values are sorted once (numpy's SIMD sort is about ten times faster than binning
    a million values with ``searchsorted``) and the edges looked up in them.
    """
    values = _numeric_values(series)
    return NumericCounts(int(values.size),
                         np.searchsorted(values, profile.edges, side="right").astype(np.int64),
                         np.searchsorted(values, profile.psi_edges, side="right").astype(
                             np.int64))


def _numeric_test(profile: NumericProfile, counts: NumericCounts) -> tuple[float, float, float]:
    """(KS statistic, p-value, PSI) of the current column's counts against the profile."""
    m = counts.m
    if profile.n == 0 or m == 0:
        return 0.0, 1.0, 0.0
    cdf_ref = profile.cum_counts / profile.n
    cdf_cur = counts.cum / m
    d = float(np.max(np.abs(cdf_ref - cdf_cur))) if profile.edges.size else 0.0
    en = profile.n * m / (profile.n + m)
    # The same distribution scipy's ks_2samp uses for large samples (mode="asymp").
    p_value = float(stats.kstwo.sf(d, np.round(en))) if d > 0 else 1.0
    cur_counts = np.diff(np.concatenate(([0], counts.psi_cum, [m])))
    return d, p_value, psi(profile.psi_counts, cur_counts)


def _categorical_test(
    ref_counts: pd.Series, cur_counts: pd.Series
) -> tuple[float, float, float]:
    """(chi-square statistic, p-value, JS distance) between two category count series."""
    table = pd.concat([ref_counts, cur_counts], axis=1, keys=["ref", "cur"]).fillna(0)
    ref = table["ref"].to_numpy(dtype=np.float64)
    cur = table["cur"].to_numpy(dtype=np.float64)
    n_ref, n_cur = ref.sum(), cur.sum()
    if n_ref == 0 or n_cur == 0:
        return 0.0, 1.0, 0.0
    js = js_distance(ref, cur)
    # Pool categories too rare for the chi-square approximation into one bucket; unseen
    # categories (zero in the reference) land there too and still count.
    rare = (ref + cur) * min(n_ref, n_cur) / (n_ref + n_cur) < MIN_EXPECTED
    if rare.any():
        ref = np.append(ref[~rare], ref[rare].sum())
        cur = np.append(cur[~rare], cur[rare].sum())
        keep = (ref + cur) > 0
        ref, cur = ref[keep], cur[keep]
    if ref.size < 2:
        return 0.0, 1.0, js
    total = ref + cur
    n = n_ref + n_cur
    exp_ref, exp_cur = total * n_ref / n, total * n_cur / n
    chi2 = float(np.sum((ref - exp_ref) ** 2 / exp_ref + (cur - exp_cur) ** 2 / exp_cur))
    return chi2, float(stats.chi2.sf(chi2, ref.size - 1)), js


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    result = np.empty(m)
    result[order] = adjusted
    return result


def compare(profiles: Mapping[str, NumericProfile | CategoricalProfile],
            current: pd.DataFrame, thresholds: DriftThresholds = _DEFAULTS
            ) -> DriftResult:
    """Test each profiled column of ``current`` for drift; Holm-correct over all of them."""
    return compare_counts(profiles, current_counts(profiles, current), thresholds)


def current_counts(profiles: Mapping[str, NumericProfile | CategoricalProfile],
                   current: pd.DataFrame) -> dict[str, NumericCounts | pd.Series]:
    """What the drift tests read of ``current``: per profiled column, its
    :class:`NumericCounts` on the profile's edges or its category counts."""
    return {column: numeric_counts(profile, current[column])
            if isinstance(profile, NumericProfile)
            else current[column].value_counts(dropna=True, sort=False)
            for column, profile in profiles.items()}


def compare_counts(
    profiles: Mapping[str, NumericProfile | CategoricalProfile],
    current: Mapping[str, NumericCounts | pd.Series],
    thresholds: DriftThresholds = _DEFAULTS,
) -> DriftResult:
    """:func:`compare` on the current columns' counts (:class:`NumericCounts` for numeric
    columns, value counts for categorical ones): what a chunked read merges."""
    th = thresholds
    raw: list[tuple[str, str, str, float, float, str, float, float, float | None]] = []
    for column, profile in profiles.items():
        if isinstance(profile, NumericProfile):
            stat, p, effect = _numeric_test(profile, current[column])
            raw.append((column, "numeric", "ks", stat, p, "psi", effect, th.min_psi,
                        th.block_psi))
        else:
            stat, p, effect = _categorical_test(profile.counts, current[column])
            raw.append((column, "categorical", "chi2", stat, p, "js", effect, th.min_js,
                        th.block_js))
    adjusted = holm([r[4] for r in raw])
    columns = tuple(
        _graded(col, kind, test, stat, p, float(p_adj), name, effect, floor, block, th.alpha)
        for (col, kind, test, stat, p, name, effect, floor, block), p_adj in zip(
            raw, adjusted, strict=True)
    )
    return DriftResult(columns, th.alpha, th.max_drifted_share)


def _graded(column: str, kind: str, test: str, stat: float, p: float, p_adj: float,
            name: str, effect: float, floor: float, block: float | None,
            alpha: float) -> ColumnDrift:
    drifted = bool(p_adj < alpha and effect >= floor)
    large = drifted and block is not None and effect > block
    return ColumnDrift(column, kind, test, stat, p, p_adj, name, effect, floor, drifted,
                       block, "block" if large else "warn" if drifted else "pass")


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    thresholds: DriftThresholds = _DEFAULTS,
) -> DriftResult:
    """Drift of ``current`` against ``reference`` over the given (or all shared) columns.

    Without ``numeric``/``categorical``, columns present in both frames are split by the
    reference dtype: numbers (not booleans) are numeric, everything else categorical.
    """
    if numeric is None or categorical is None:
        shared = [c for c in reference.columns if c in current.columns]
        auto_num = [c for c in shared if is_number(reference[c])]
        numeric = auto_num if numeric is None else numeric
        categorical = ([c for c in shared if c not in auto_num]
                       if categorical is None else categorical)
    profiles = profile_reference(reference, numeric=numeric, categorical=categorical)
    return compare(profiles, current, thresholds)


def label_drift(
    reference: pd.Series, current: pd.Series, *, alpha: float = 0.01, min_js: float = 0.01,
    block_js: float | None = None,
) -> ColumnDrift:
    """Drift of the label distribution (chi-square + JS distance; a single test).

    A numeric (regression) target is profiled like any numeric column instead; see
    :func:`label_drift_numeric`.
    """
    return label_drift_counts(str(reference.name),
                              reference.value_counts(dropna=True, sort=False),
                              current.value_counts(dropna=True, sort=False), alpha=alpha,
                              min_js=min_js, block_js=block_js)


def label_drift_counts(
    name: str, reference: pd.Series, current: pd.Series, *, alpha: float = 0.01,
    min_js: float = 0.01, block_js: float | None = None,
) -> ColumnDrift:
    """:func:`label_drift` on label counts (label -> count), as a chunked read merges them."""
    stat, p, js = _categorical_test(reference, current)
    return _graded(name, "label", "chi2", stat, p, p, "js", js, min_js, block_js, alpha)


def label_drift_numeric(
    profile: NumericProfile, current: NumericCounts, *, alpha: float = 0.01,
    min_psi: float = 0.01, block_psi: float | None = None,
) -> ColumnDrift:
    """Drift of a numeric (regression) target, from its counts on the reference's edges.

    The numeric columns' path (KS test and PSI), on the mergeable counts that a frame or
    its chunks add up to, so a target with millions of distinct values stays a histogram.
    """
    stat, p, effect = _numeric_test(profile, current)
    return _graded(profile.column, "label", "ks", stat, p, p, "psi", effect, min_psi,
                   block_psi, alpha)
