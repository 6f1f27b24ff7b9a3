"""Plots as ``matplotlib.figure.Figure`` objects, and one helper that saves them as PNG.

Figures are built without ``pyplot``: no global state, no GUI backend, safe in threads and
headless CI. Each is a :class:`~mlops.core.figures.NotebookFigure`, so Jupyter shows one
returned here as an image (the evaluate notebook shows the saved PNGs instead: each plot
is rendered once). Only the plot modules (this one, ``drift_plots``, ``monitoring_plots``)
import matplotlib, so serving and the registry never do.
Functions take plain data (arrays, or sections of ``evaluation.json``) and return a Figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mlops.core.figures import NotebookFigure

__all__ = [
    "save_figures",
    "plot_target_balance",
    "plot_confusion_matrix",
    "plot_roc",
    "plot_precision_recall",
    "plot_calibration",
    "plot_fairness",
    "plot_importance",
    "plot_prediction_error",
    "plot_group_error",
    "evaluation_figures",
]


def save_figures(figs: Mapping[str, Figure], folder: str | Path) -> dict[str, str]:
    """Save each figure as ``folder/<name>.png`` and return ``{name: path}``.

    PNG metadata is left out so the same figure gives the same bytes on every run.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for name, fig in figs.items():
        path = folder / f"{name}.png"
        fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
        paths[name] = str(path)
    return paths


def plot_target_balance(balance: Any, target: str) -> Figure:
    """Bars of each class's share (or a regression target's statistics) in each split:
    :func:`mlops.core.data.target_summary`'s table."""
    fig = NotebookFigure(figsize=(6, 3.5))
    balance.plot.bar(ax=fig.subplots(), title=f"{target} in each split", rot=0)
    return fig


def plot_confusion_matrix(matrix: Any, labels: list[Any]) -> Figure:
    """Heat map of a confusion matrix (rows: true label, columns: predicted label)."""
    matrix = np.asarray(matrix)
    fig = NotebookFigure(figsize=(4.5, 4))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = range(len(labels))
    ax.set_xticks(ticks, [str(x) for x in labels])
    ax.set_yticks(ticks, [str(x) for x in labels])
    half = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > half else "black")
    ax.set(xlabel="Predicted label", ylabel="True label", title="Confusion matrix")
    fig.tight_layout()
    return fig


def plot_roc(y_true: Any, proba: Any, classes: list[Any], positive_class: Any) -> Figure:
    """ROC curve of the positive class (binary) or one curve per class (one-vs-rest)."""
    from sklearn.metrics import auc, roc_curve

    fig = NotebookFigure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    for label, truth, score in _one_vs_rest(y_true, proba, classes, positive_class):
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_precision_recall(y_true: Any, proba: Any, classes: list[Any],
                          positive_class: Any) -> Figure:
    """Precision-recall curve per scored class, with its average precision."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = NotebookFigure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    for label, truth, score in _one_vs_rest(y_true, proba, classes, positive_class):
        precision, recall, _ = precision_recall_curve(truth, score)
        ap = average_precision_score(truth, score)
        ax.plot(recall, precision, label=f"{label} (AP {ap:.3f})")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve",
           ylim=(0, 1.02))
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def plot_calibration(y_true: Any, proba: Any, classes: list[Any], positive_class: Any,
                     *, bins: int = 10) -> Figure:
    """Reliability diagram: observed frequency against mean predicted probability."""
    from sklearn.calibration import calibration_curve

    fig = NotebookFigure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for label, truth, score in _one_vs_rest(y_true, proba, classes, positive_class):
        observed, predicted = calibration_curve(truth, score, n_bins=bins, strategy="uniform")
        ax.plot(predicted, observed, marker="o", label=str(label))
    ax.set(xlabel="Mean predicted probability", ylabel="Observed frequency",
           title="Calibration", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def plot_fairness(fairness: Mapping[str, Any],
                  metrics: tuple[str, ...] = ("selection_rate", "true_positive_rate",
                                              "false_positive_rate")) -> Figure:
    """Grouped bars of per-group rates, one panel per sensitive feature.

    ``fairness`` is ``result["fairness"]`` from :func:`mlops.stages.evaluation.evaluate`.
    """
    features = list(fairness)
    fig = NotebookFigure(figsize=(5 * max(len(features), 1), 4))
    if not features:
        fig.add_subplot().set_title("No sensitive features configured")
        return fig
    axes = fig.subplots(1, len(features), squeeze=False)[0]
    shown = tuple(m for m in metrics if all(m in g for f in features
                                            for g in fairness[f]["groups"].values()))
    metrics = shown or ("accuracy",)  # no positive class: per-group accuracy only
    for ax, feature in zip(axes, features, strict=True):
        groups = fairness[feature]["groups"]
        names = list(groups)
        x = np.arange(len(names))
        width = 0.8 / len(metrics)
        for k, metric in enumerate(metrics):
            values = [np.nan if groups[g][metric] is None else groups[g][metric] for g in names]
            ax.bar(x + (k - (len(metrics) - 1) / 2) * width, values, width, label=metric)
        ax.set_xticks(x, [f"{g}\n(n={groups[g]['count']})" for g in names])
        # Headroom above 1 keeps the legend off the bars.
        ax.set(ylim=(0, 1.3), title=f"By {feature}: parity ratio "
               f"{_fmt(fairness[feature]['demographic_parity_ratio'])}")
    axes[0].legend(loc="upper left", ncol=len(metrics), fontsize="small")
    fig.tight_layout()
    return fig


def plot_importance(importance: Mapping[str, Any]) -> Figure:
    """Horizontal bars of permutation importance with one standard deviation.

    ``importance`` is ``result["importance"]`` from :func:`mlops.stages.evaluation.evaluate`.
    """
    rows = list(importance["features"])[::-1]  # most important at the top
    fig = NotebookFigure(figsize=(6, 0.35 * max(len(rows), 1) + 1.2))
    ax = fig.add_subplot()
    ax.barh([r["feature"] for r in rows], [r["importance_mean"] for r in rows],
            xerr=[r["importance_std"] for r in rows], color="tab:blue")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set(xlabel=f"Drop in {importance['scoring']} when shuffled",
           title="Permutation importance (held-out data)")
    fig.tight_layout()
    return fig


def plot_prediction_error(y_true: Any, y_pred: Any, *, kind: str, unit: str = "") -> Figure:
    """scikit-learn's ``PredictionErrorDisplay``: ``kind`` is ``actual_vs_predicted`` or
    ``residual_vs_predicted`` (residuals: true minus predicted)."""
    from sklearn.metrics import PredictionErrorDisplay

    fig = NotebookFigure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    PredictionErrorDisplay.from_predictions(
        np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float), kind=kind, ax=ax,
        subsample=None, scatter_kwargs={"alpha": 0.5, "s": 12})
    of = f" ({unit})" if unit else ""
    if kind == "actual_vs_predicted":
        ax.set(title="Predicted against actual", xlabel=f"Predicted{of}",
               ylabel=f"Actual{of}")
    else:
        ax.set(title="Residuals", xlabel=f"Predicted{of}",
               ylabel=f"Residual: actual - predicted{of}")
    fig.tight_layout()
    return fig


def plot_group_error(fairness: Mapping[str, Any], unit: str = "") -> Figure:
    """Mean absolute error per group, one panel per sensitive feature (regression).

    ``fairness`` is ``result["fairness"]`` of a regression evaluation.
    """
    features = list(fairness)
    fig = NotebookFigure(figsize=(5 * max(len(features), 1), 4))
    if not features:
        fig.add_subplot().set_title("No sensitive features configured")
        return fig
    axes = fig.subplots(1, len(features), squeeze=False)[0]
    for ax, feature in zip(axes, features, strict=True):
        section = fairness[feature]
        groups = section["groups"]
        names = list(groups)
        skipped = set(section.get("skipped_groups") or [])
        ax.bar(range(len(names)), [groups[g]["mae"] for g in names],
               color=["lightgrey" if g in skipped else "tab:blue" for g in names])
        ax.set_xticks(range(len(names)), [f"{g}\n(n={groups[g]['count']})" for g in names])
        ratio = section.get("mae_ratio")
        ax.set(ylabel=f"MAE{f' ({unit})' if unit else ''}",
               title=f"By {feature}: MAE ratio {_fmt(ratio)}" if ratio is not None else
               f"By {feature}: under two groups of {section.get('min_group_size')}+ rows")
        if skipped:
            ax.set_xlabel(f"grey: fewer than {section.get('min_group_size')} rows, not gated")
    fig.tight_layout()
    return fig


def evaluation_figures(model: Any, frame: Any, params: Any,
                       result: Mapping[str, Any]) -> dict[str, Figure]:
    """All evaluation plots of ``model`` on ``frame``, keyed by file name stem.

    ``result`` is what :func:`mlops.stages.evaluation.evaluate` returned for the same inputs.
    A regression model gets predicted-against-actual and residual plots instead of the
    classification curves.
    """
    from mlops.stages.metrics import predict

    pred = predict(model, frame, params)
    if pred.regression:
        unit = params.data.unit
        return {
            "predicted_vs_actual": plot_prediction_error(
                pred.y_true, pred.y_pred, kind="actual_vs_predicted", unit=unit),
            "residuals": plot_prediction_error(
                pred.y_true, pred.y_pred, kind="residual_vs_predicted", unit=unit),
            "fairness": plot_group_error(result["fairness"], unit),
            "importance": plot_importance(result["importance"]),
        }
    curves = (pred.y_true, pred.proba, list(pred.classes), pred.positive_class)
    matrix = result["confusion_matrix"]
    return {
        "confusion_matrix": plot_confusion_matrix(matrix["matrix"], matrix["labels"]),
        "roc": plot_roc(*curves),
        "precision_recall": plot_precision_recall(*curves),
        "calibration": plot_calibration(*curves),
        "fairness": plot_fairness(result["fairness"]),
        "importance": plot_importance(result["importance"]),
    }


def _one_vs_rest(y_true: Any, proba: Any, classes: list[Any], positive_class: Any
                 ) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    """``(label, 0/1 truth, score)``: just the positive class for two classes, else all."""
    y_true, proba = np.asarray(y_true), np.asarray(proba)
    chosen = [positive_class] if len(classes) == 2 else list(classes)
    return [(label, (y_true == label).astype(int), proba[:, classes.index(label)])
            for label in chosen]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
