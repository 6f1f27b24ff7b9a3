"""Plots of the monitoring report (notebook and ``mlops monitor``); matplotlib without pyplot.

Each is a :class:`~mlops.core.figures.NotebookFigure`: Jupyter shows it as an image, and a
long-running ``mlops monitor`` frees it once it is saved (no pyplot figure manager).

Only the notebook and the monitor command import this module; serving never does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlops.core.figures import NotebookFigure
from mlops.serving.rules import correct

__all__ = ["plot_latency", "plot_scores", "plot_accuracy", "save_plots"]


def plot_latency(frame: pd.DataFrame) -> Figure:
    """Latency distribution (ms, log scale) per version, primary predictions."""
    fig = NotebookFigure(figsize=(6, 3.5))
    ax = fig.subplots()
    ok = frame[(frame["role"] == "primary") & frame["error"].isna()]
    for version, rows in ok.groupby("version"):
        lat = rows["latency_ms"].to_numpy(dtype=float)
        ax.hist(lat, bins=np.geomspace(max(lat.min(), 0.01), lat.max() + 0.01, 40),
                histtype="step", linewidth=1.5, label=f"v{version}")
    ax.set_xscale("log")
    ax.set(xlabel="latency (ms)", ylabel="requests", title="Latency per version")
    _legend(ax)
    fig.tight_layout()
    return fig


def plot_scores(frame: pd.DataFrame, reference_proba: np.ndarray | None = None) -> Figure:
    """Score distribution per version (and role), against the reference scores."""
    fig = NotebookFigure(figsize=(6, 3.5))
    ax = fig.subplots()
    score = _score_column(frame)  # regression: the predicted values
    values = frame[score].dropna().to_numpy(dtype=float)
    bins = np.linspace(0, 1, 26) if score == "proba" else np.histogram_bin_edges(
        np.r_[values, reference_proba if reference_proba is not None else []], bins=25)
    if reference_proba is not None:
        ax.hist(reference_proba, bins=bins, density=True, histtype="stepfilled", alpha=0.3,
                label="reference")
    ok = frame[frame["error"].isna() & frame[score].notna()]
    for (version, role), rows in ok.groupby(["version", "role"]):
        ax.hist(rows[score].astype(float), bins=bins, density=True, histtype="step",
                linewidth=1.5, label=f"v{version} {role}")
    ax.set(xlabel="probability of the positive class" if score == "proba" else
           "predicted value", ylabel="density",
           title="Prediction drift")
    _legend(ax)
    fig.tight_layout()
    return fig


def plot_accuracy(frame: pd.DataFrame, window: int = 50) -> Figure:
    """Rolling live accuracy (regression: mean absolute error) per version over labelled
    primary predictions."""
    fig = NotebookFigure(figsize=(6, 3.5))
    ax = fig.subplots()
    ok = frame[(frame["role"] == "primary") & frame["error"].isna() & frame["label"].notna()]
    regression = _score_column(frame) == "prediction"
    for version, rows in ok.groupby("version"):
        hit = (rows["label"].astype(float) - rows["prediction"].astype(float)).abs() \
            if regression else \
            pd.Series(correct(rows), index=rows.index, dtype=float)
        ax.plot(rows["ts"], hit.rolling(window, min_periods=1).mean(), label=f"v{version}")
    quality = "MAE" if regression else "accuracy"
    ax.set(xlabel="time (s)", ylabel=f"{quality} (rolling {window})", title=f"Live {quality}",
           ylim=None if regression else (0, 1))
    _legend(ax)
    fig.tight_layout()
    return fig


def _legend(ax) -> None:
    """A legend when something is drawn; with no data (no labels yet) a note instead of
    matplotlib's warning about an empty legend."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)


def _score_column(frame: pd.DataFrame) -> str:
    """``proba`` for a classifier's log; ``prediction`` for a regressor's (no probability)."""
    ok = frame[frame["error"].isna() & frame["prediction"].notna()]
    return "prediction" if len(ok) and ok["proba"].isna().all() else "proba"


def save_plots(frame: pd.DataFrame, out_dir: str | Path,
               reference_proba: np.ndarray | None = None) -> list[Path]:
    """Write the three plots as PNG files into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, fig in (("latency.png", plot_latency(frame)),
                       ("scores.png", plot_scores(frame, reference_proba)),
                       ("accuracy.png", plot_accuracy(frame))):
        fig.savefig(out / fname, dpi=100)
        paths.append(out / fname)
    return paths
