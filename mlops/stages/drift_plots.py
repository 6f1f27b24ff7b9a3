"""Distribution plots of reference vs current for drifted columns (notebook and reports).

Built on ``matplotlib.figure.Figure`` without pyplot (no global state, headless-safe, freed
when unreferenced); a :class:`~mlops.core.figures.NotebookFigure`, so Jupyter shows it as an
image. Only notebooks import this module, so serving and the registry never load matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlops.core.figures import NotebookFigure
from mlops.core.schema import is_number
from mlops.stages.drift import DriftResult

__all__ = ["plot_drift"]

_MAX_CATEGORIES = 15  # most frequent categories shown; the rest are summed as "other"


def _numeric(ax, ref: pd.Series, cur: pd.Series) -> None:
    values = pd.concat([ref, cur]).to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    if not values.size:
        return
    lo, hi = np.quantile(values, [0.005, 0.995])  # clip far tails so the shape is visible
    bins = np.linspace(lo, hi, 41) if hi > lo else 10
    for series, label in ((ref, "reference"), (cur, "current")):
        data = series.to_numpy(dtype=np.float64, na_value=np.nan)
        ax.hist(data[np.isfinite(data)], bins=bins, density=True, histtype="step",
                linewidth=1.5, label=label)


def _categorical(ax, ref: pd.Series, cur: pd.Series) -> None:
    shares = pd.concat([ref.astype(str).value_counts(normalize=True),
                        cur.astype(str).value_counts(normalize=True)], axis=1,
                       keys=["reference", "current"]).fillna(0.0)
    shares = shares.sort_values("reference", ascending=False)
    if len(shares) > _MAX_CATEGORIES:
        head = shares.iloc[: _MAX_CATEGORIES - 1]
        rest = shares.iloc[_MAX_CATEGORIES - 1:].sum().to_frame("other").T
        shares = pd.concat([head, rest])
    x = np.arange(len(shares))
    ax.bar(x - 0.2, shares["reference"], width=0.4, label="reference")
    ax.bar(x + 0.2, shares["current"], width=0.4, label="current")
    ax.set_xticks(x, [str(i) for i in shares.index], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share")


def plot_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    *,
    drift: DriftResult | None = None,
    ncols: int = 3,
) -> Figure:
    """One panel per column: step histograms (numeric) or share bars (categorical).

    Pass ``drift`` to put each column's effect size and adjusted p-value in its title.
    Typical use: ``plot_drift(train, test, report.drift.drifted_columns, drift=report.drift)``.
    """
    columns = list(columns)
    stats = {c.column: c for c in drift.columns} if drift is not None else {}
    ncols = max(1, min(ncols, len(columns)))
    nrows = max(1, math.ceil(len(columns) / ncols))
    fig = NotebookFigure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, column in zip(axes, columns, strict=False):
        ref, cur = reference[column], current[column]
        numeric = is_number(ref)
        (_numeric if numeric else _categorical)(ax, ref, cur)
        title = column
        if column in stats:
            s = stats[column]
            title += f"\n{s.effect_name}={s.effect:.3f}, p_adj={s.p_adjusted:.1g}"
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:  # an empty legend only warns
            ax.legend(fontsize=8)
    for ax in axes[len(columns):]:
        ax.set_axis_off()
    if not columns:
        axes[0].text(0.5, 0.5, "no drifted columns", ha="center", va="center")
    return fig
