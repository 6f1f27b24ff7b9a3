"""How each version does over time: the prediction log and the ledger as time series.

:func:`timeline` cuts the log into equal time windows and gives, per window and version
(routed predictions, trusted labels, as the rules count them): requests, latency p50 and
p99, error rate, live quality on labelled rows (accuracy, or MAE for regression) and, for
classifiers, the quality estimated before labels (CBPE, :mod:`mlops.monitoring.cbpe`) with
its interval, next to the realised one. Input drift per column per window is the
validation drift test (:mod:`mlops.stages.drift`) against the training data; the canary's
progress (each step and each analysis verdict that moved it) comes from the ledger.

The ``plot_*`` functions draw them as :class:`~mlops.core.figures.NotebookFigure`: a
notebook shows the returned figure once, a script or the app can save or embed it, and
nothing is kept by pyplot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlops.monitoring import cbpe
from mlops.serving.rules import correct
from mlops.serving.summary import input_counts, summary_rows
from mlops.stages.calibration import Calibrator
from mlops.stages.drift import DriftThresholds, compare_counts, profile_reference
from mlops.stages.reference import ReferenceSummary

__all__ = ["Timeline", "canary_progress", "timeline", "plot_canary", "plot_drift",
           "plot_latency", "plot_quality", "plot_requests"]

MIN_DRIFT_ROWS = 30  # fewer inputs in a window: no drift test (too few to judge)


@dataclass(frozen=True)
class Timeline:
    """Time series of a prediction log; ``ts`` columns are window starts (unix seconds)."""

    per_version: pd.DataFrame  # ts, version, requests, errors, error_rate, p50_ms, p99_ms,
    # labelled, quality, estimated, estimated_lower, estimated_upper
    drift: pd.DataFrame  # ts, column, effect, effect_name, p_adjusted, drifted
    canary: pd.DataFrame  # ts, candidate, step, weight, status, action, reason
    quality: str  # what ``quality`` is: "accuracy" or "MAE"
    window_s: float
    # version -> why it has no estimate before labels (its calibration check failed)
    estimate_withheld: Mapping[int, str] = field(default_factory=dict)

    def plot(self, name: str) -> Any:
        """The ``requests``, ``latency``, ``quality``, ``drift`` or ``canary`` figure."""
        plots = {"requests": plot_requests, "latency": plot_latency, "quality": plot_quality,
                 "drift": plot_drift, "canary": plot_canary}
        if name not in plots:
            raise ValueError(f"unknown plot {name!r}; one of {sorted(plots)}")
        return plots[name](self)

    def series(self, column: str) -> pd.DataFrame:
        """``column`` of :attr:`per_version` as one column per version (``vN``), by time."""
        if self.per_version.empty:
            return pd.DataFrame()
        table = self.per_version.assign(v="v" + self.per_version["version"].astype(str))
        wide = table.pivot_table(index="ts", columns="v", values=column, aggfunc="first")
        wide.index = pd.to_datetime(wide.index, unit="s")
        return wide


def canary_progress(entries: Iterable[Any]) -> pd.DataFrame:
    """The canary (and other releases) step by step from ledger entries.

    One row per change of the ``deployment`` state: its time (the deciding clock's, which
    the state records), the step and weight, the status and, for automatic decisions, the
    action and reasons of the analysis that made it.
    """
    rows = []
    for e in entries:
        data = e.to_dict() if hasattr(e, "to_dict") else dict(e)
        if data.get("action") != "set-state" or data.get("key") != "deployment":
            continue
        value, evidence = data.get("value") or {}, data.get("evidence") or {}
        ts = value.get("step_started_ts") or evidence.get("ts") or value.get("started_ts")
        if not ts:
            ts = datetime.fromisoformat(data["time"]).timestamp()
        rows.append({"ts": float(ts), "strategy": value.get("strategy"),
                     "candidate": value.get("candidate"), "step": value.get("step"),
                     "weight": value.get("weight"), "status": value.get("status"),
                     "action": evidence.get("kind") or ("start" if value.get("status") ==
                                                        "running" else value.get("status")),
                     "auto": bool(evidence.get("auto")), "reason": data.get("reason", "")})
    columns = ["ts", "strategy", "candidate", "step", "weight", "status", "action", "auto",
               "reason"]
    return pd.DataFrame(rows, columns=columns)


def _window(frame: pd.DataFrame, windows: int, window_s: float | None) -> float:
    if window_s:
        return float(window_s)
    span = float(frame["ts"].max() - frame["ts"].min()) if len(frame) else 0.0
    return max(span / windows, 1.0)


def _quality(rows: pd.DataFrame, regression: bool) -> float | None:
    labelled = rows[rows["label"].notna() & rows["prediction"].notna()]
    if labelled.empty:
        return None
    if regression:
        return float((labelled["label"].astype(float) - labelled["prediction"].astype(float))
                     .abs().mean())
    return float(correct(labelled).mean())


def timeline(frame: pd.DataFrame, *, regression: bool = False, windows: int = 20,
             window_s: float | None = None,
             reference: pd.DataFrame | ReferenceSummary | None = None,
             numeric: Sequence[str] = (), categorical: Sequence[str] = (),
             ledger: Iterable[Any] = (), models: Mapping[int, Any] | None = None,
             thresholds: DriftThresholds | None = None, seed: int = 0,
             summaries: pd.DataFrame | None = None,
             calibrations: Mapping[int, Mapping[str, Any] | None] | None = None) -> Timeline:
    """The log ``frame`` (:func:`~mlops.serving.predlog.read_predictions`) as time series.

    ``windows`` equal windows over the log's span, or windows of ``window_s`` seconds.
    ``reference`` (training features, or a version's :class:`ReferenceSummary` of them;
    ``numeric``/``categorical`` name its columns) turns on drift per column, graded by
    ``thresholds`` (:class:`~mlops.stages.drift.DriftThresholds` defaults when None); ``ledger``
    (registry history) the canary's progress; ``models`` (version -> pipeline) lets CBPE
    score the inputs again when there are more than two classes (two classes need only
    the log); ``summaries`` (the input summaries of routed
    batches logged as one record, :func:`~mlops.serving.predlog.read_input_summaries`)
    count in the drift of the window they were logged in. ``calibrations`` (version -> its
    ``calibration.json``, :func:`mlops.stages.calibration.calibration_result`) calibrates
    the estimate; a version whose calibration check failed gets no estimate, and
    :attr:`Timeline.estimate_withheld` says why. A version without one (registered before
    calibrators existed) is estimated from its raw probabilities, as before.
    """
    rows = frame[(frame["role"] == "primary") & frame["version"].notna()]
    width = _window(rows, windows, window_s)
    start = float(rows["ts"].min()) if len(rows) else 0.0
    rows = rows.assign(window=start + ((rows["ts"] - start) // width) * width)
    out = []
    calibrators: dict[int, Calibrator | None] = {}
    withheld: dict[int, str] = {}
    for version, cal in (calibrations or {}).items():
        if cal is None:
            continue
        if not cal.get("trusted") or cal.get("calibrator") is None:
            withheld[int(version)] = str(cal.get("reason") or "its calibration check failed")
        else:
            calibrators[int(version)] = Calibrator.from_dict(cal["calibrator"])
    for (ts, version), part in rows.groupby(["window", "version"], sort=True):
        ok = part[part["error"].isna()]
        lat = ok["latency_ms"].to_numpy(dtype=float)
        record: dict[str, Any] = {
            "ts": float(ts), "version": int(version), "requests": len(part),
            "errors": int(part["error"].notna().sum()),
            "error_rate": float(part["error"].notna().mean()),
            "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
            "labelled": int(ok["label"].notna().sum()),
            "quality": _quality(ok, regression),
            "estimated": None, "estimated_lower": None, "estimated_upper": None}
        if not regression and ok["proba"].notna().any() and int(version) not in withheld:
            proba = cbpe.log_probabilities(ok, (models or {}).get(int(version)))
            if proba is not None and len(proba):
                est = cbpe.estimate(proba, seed=seed, calibrator=calibrators.get(int(version)))
                record.update(estimated=est.accuracy, estimated_lower=est.accuracy_interval[0],
                              estimated_upper=est.accuracy_interval[1])
        out.append(record)
    per_version = pd.DataFrame(out, columns=[
        "ts", "version", "requests", "errors", "error_rate", "p50_ms", "p99_ms", "labelled",
        "quality", "estimated", "estimated_lower", "estimated_upper"])
    for col in ("p50_ms", "p99_ms", "quality", "estimated", "estimated_lower",
                "estimated_upper"):
        per_version[col] = per_version[col].astype(float)
    if summaries is not None and len(summaries):
        summaries = summaries.assign(
            window=start + ((summaries["ts"].astype(float) - start) // width) * width)
    drift = _drift(rows, summaries, reference, numeric, categorical,
                   thresholds or DriftThresholds())
    seen = set(per_version["version"].astype(int))
    return Timeline(per_version, drift, canary_progress(ledger),
                    "MAE" if regression else "accuracy", width,
                    {v: why for v, why in withheld.items() if v in seen and not regression})


def _drift(rows: pd.DataFrame, summaries: pd.DataFrame | None,
           reference: pd.DataFrame | ReferenceSummary | None, numeric: Sequence[str],
           categorical: Sequence[str], thresholds: DriftThresholds) -> pd.DataFrame:
    columns = ["ts", "column", "effect", "effect_name", "p_adjusted", "drifted"]
    if reference is None or not (numeric or categorical) or rows.empty:
        return pd.DataFrame(columns=columns)
    from mlops.serving.predlog import inputs_frame

    if isinstance(reference, ReferenceSummary):  # a version's stored profiles: no rows
        profiles = {c: reference.profiles[c] for c in [*numeric, *categorical]
                    if c in reference.profiles}
    else:
        profiles = profile_reference(reference, numeric=list(numeric),
                                     categorical=list(categorical))
    batches: dict[float, list[Any]] = {}
    if summaries is not None and len(summaries):
        for ts, part in summaries.groupby("window", sort=True):
            batches[float(ts)] = list(part["summary"])
    out = []
    for ts, part in rows.groupby("window", sort=True):
        live = inputs_frame(part)
        summary = batches.get(float(ts), [])
        if len(live) + summary_rows(summary) < MIN_DRIFT_ROWS:
            continue
        result = compare_counts(profiles, input_counts(profiles, live, summary), thresholds)
        out += [{"ts": float(ts), "column": c.column, "effect": c.effect,
                 "effect_name": c.effect_name, "p_adjusted": c.p_adjusted,
                 "drifted": c.drifted} for c in result.columns]
    return pd.DataFrame(out, columns=columns)


# ---------------------------------------------------------------------- plots
def _figure(draw: Callable[[Any], None], title: str) -> Any:
    from mlops.core.figures import NotebookFigure

    fig = NotebookFigure(figsize=(7, 3.2))
    ax = fig.subplots()
    draw(ax)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _lines(ax: Any, wide: pd.DataFrame, style: str = "-") -> None:
    for name in wide.columns:
        ax.plot(wide.index, wide[name], style, marker=".", label=name)


def plot_requests(tl: Timeline) -> Any:
    """Requests per window and version."""
    return _figure(lambda ax: (_lines(ax, tl.series("requests")),
                               ax.set(ylabel=f"requests per {tl.window_s:.0f} s")),
                   "Requests")


def plot_latency(tl: Timeline) -> Any:
    """Latency p50 (solid) and p99 (dashed) per version, in ms."""
    def draw(ax: Any) -> None:
        for col, style in (("p50_ms", "-"), ("p99_ms", "--")):
            wide = tl.series(col)
            for name in wide.columns:
                ax.plot(wide.index, wide[name], style, marker=".",
                        label=f"{name} {col.split('_')[0]}")
        ax.set(ylabel="latency (ms)")
    return _figure(draw, "Latency p50 / p99")


def plot_quality(tl: Timeline) -> Any:
    """Realised quality on labelled rows per version and, for classifiers, the CBPE
    estimate with its interval (dotted, shaded)."""
    def draw(ax: Any) -> None:
        realised = tl.series("quality")
        colour = {}
        for name in realised.columns:  # each version keeps its colour for its estimate
            colour[name] = ax.plot(realised.index, realised[name], marker=".",
                                   label=name)[0].get_color()
        estimated = tl.series("estimated")
        if not estimated.empty and estimated.notna().any().any():
            lower, upper = tl.series("estimated_lower"), tl.series("estimated_upper")
            for name in estimated.columns:
                ax.plot(estimated.index, estimated[name], ":", color=colour.get(name),
                        label=f"{name} estimated")
                ax.fill_between(estimated.index, lower[name].astype(float),
                                upper[name].astype(float), color=colour.get(name), alpha=0.12)
        ax.set(ylabel=tl.quality)
    return _figure(draw, f"Live {tl.quality} (labelled) and estimate before labels")


def plot_drift(tl: Timeline) -> Any:
    """Drift effect size per column over time (PSI for numbers, JS for categories)."""
    def draw(ax: Any) -> None:
        if tl.drift.empty:
            ax.text(0.5, 0.5, "no drift test yet", ha="center", transform=ax.transAxes)
            return
        wide = tl.drift.pivot_table(index="ts", columns="column", values="effect")
        wide.index = pd.to_datetime(wide.index, unit="s")
        _lines(ax, wide)
        ax.set(ylabel="effect (PSI / JS)")
    return _figure(draw, "Input drift per column")


def plot_canary(tl: Timeline) -> Any:
    """The candidate's traffic share over time, each ledger decision marked."""
    def draw(ax: Any) -> None:
        canary = tl.canary[tl.canary["strategy"] == "canary"]
        if canary.empty:
            ax.text(0.5, 0.5, "no canary release", ha="center", transform=ax.transAxes)
            return
        when = pd.to_datetime(canary["ts"], unit="s")
        ax.step(when, canary["weight"].astype(float), where="post", label="canary weight")
        for action, marker in (("promote", "^"), ("abort", "x"), ("start", "o")):
            hit = canary["action"] == action
            if hit.any():
                ax.scatter(when[hit], canary["weight"][hit].astype(float), marker=marker,
                           s=60, label=action, zorder=3)
        ax.set(ylabel="traffic to candidate (%)", ylim=(-5, 105))
    return _figure(draw, "Canary progress")
