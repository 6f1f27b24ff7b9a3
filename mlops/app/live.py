"""Live figures for the operator screen, from the prediction log.

The per-version statistics are :func:`mlops.serving.rules.version_stats`, the same numbers
the canary analysis and the rollback monitor judge; this module only lays them out as a
table and adds predictions per minute. Next to what the rules use (routed requests,
trusted labels) the table shows what they leave out: ``pinned`` predictions (the version
selector) and ``untrusted_labels`` (public feedback).

:func:`show_timeline` draws how each version does over time
(:mod:`mlops.monitoring.timeline`): requests, latency p50/p99, error rate, live quality
(accuracy, or MAE for regression) next to the estimate made before labels (CBPE), drift
per column (on demand, against the summary of the training data that the production
version carries) and the canary's steps from the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import pandas as pd

from mlops.app.labels import words
from mlops.core.exceptions import DataError

if TYPE_CHECKING:
    from mlops.app.context import AppContext
    from mlops.monitoring.timeline import Timeline
    from mlops.registry import LedgerEntry
    from mlops.serving.predlog import LogRead
    from mlops.serving.rules import Evidence, VersionStats

__all__ = ["LiveSummary", "Window", "drift_table", "feedback_table", "live_summary",
           "live_timeline", "readable_window", "show_timeline", "version_table"]

# Window widths the charts use, each with its words and the unit its time axis reads in:
# the first that cuts the log's span into at most ``windows`` points.
_WINDOWS = ((60, "minute", "minute"), (300, "5 minutes", "minute"),
            (900, "15 minutes", "minute"), (3600, "hour", "hour"),
            (3 * 3600, "3 hours", "hour"), (6 * 3600, "6 hours", "hour"),
            (86400, "day", "day"), (7 * 86400, "week", "day"))
MAX_TICKS = 8  # time labels on a chart's axis, at most
DASHES = ([1, 0], [6, 4], [2, 2])  # solid, dashed, dotted: the line of each kind in a chart


@dataclass(frozen=True)
class Window:
    """One window width of the time charts: ``seconds``, in words (``5 minutes``), and the
    unit its time axis reads in (``interval``, see ``time_format``)."""

    seconds: int
    words: str
    interval: str

    @property
    def time_format(self) -> str:
        """``13:05`` within a day, ``Dec 05`` for daily windows."""
        return "%b %d" if self.interval == "day" else "%H:%M"


def readable_window(span_s: float, windows: int = 24) -> Window:
    """The window that cuts ``span_s`` seconds into at most ``windows`` points: a minute for
    a short log, hours or days for longer ones (never a second: one request per point)."""
    for seconds, name, interval in _WINDOWS:
        if span_s / seconds <= windows:
            return Window(seconds, name, interval)
    return Window(*_WINDOWS[-1])


@dataclass(frozen=True)
class LiveSummary:
    """Per-version live figures for the operator's charts."""

    stats: tuple[VersionStats, ...]  # one per version in the log, in version order
    evidence: tuple[Evidence, ...] = ()  # per version, as ``stats``

    @property
    def per_version(self) -> pd.DataFrame:
        """One row per version (``vN``), one column per :class:`VersionStats` field.

        Figures that cannot be computed yet (no timed or labelled request) are NaN.
        """
        from mlops.serving.rules import VersionStats

        columns = [f.name for f in fields(VersionStats)]
        table = pd.DataFrame([s.to_dict() for s in self.stats], columns=columns)
        table["version"] = [f"v{s.version}" for s in self.stats]
        if len(self.evidence) == len(self.stats):
            table["untrusted_labels"] = [e.untrusted_labels for e in self.evidence]
            table["pinned"] = [e.pinned_requests for e in self.evidence]
        for name in ("p50_ms", "p95_ms", "p99_ms", "accuracy", "mae"):
            table[name] = table[name].astype(float)  # None -> NaN, so charts get numbers
        return table


def _is_regression(log: pd.DataFrame) -> bool:
    """A regression model logs values and no probability; a classifier always logs one."""
    ok = log[log["error"].isna() & log["prediction"].notna()]
    return bool(len(ok)) and bool(ok["proba"].isna().all())


def live_summary(log: pd.DataFrame, *, regression: bool | None = None) -> LiveSummary:
    """Summarise one model's prediction log (:func:`~mlops.serving.predlog.read_predictions`)
    per version (routed predictions; pinned ones are counted apart). Live quality is the MAE
    for ``regression`` (None: told from the log)."""
    from mlops.serving.rules import evidence, version_stats

    log = log[log["role"].isin(("primary", "pinned"))]
    regression = _is_regression(log) if regression is None else regression
    versions = sorted(int(v) for v in log["version"].dropna().unique())
    stats = tuple(version_stats(log, v, regression=regression) for v in versions)
    return LiveSummary(stats, tuple(evidence(log, v) for v in versions))


def live_timeline(ctx: AppContext, logged: LogRead | None = None, *,
                  ledger: Sequence[LedgerEntry] | None = None, drift: bool = False,
                  windows: int = 24) -> Timeline:
    """The monitoring timeline of the app's log and registry (drift only with ``drift``: it
    reads the reference summary). ``logged`` and ``ledger`` are what the caller has read
    already; each is read here when None."""
    from mlops.monitoring.timeline import timeline
    from mlops.serving.predlog import read_log
    from mlops.stages.drift import DriftThresholds

    params = ctx.params
    if logged is None:
        logged = read_log(ctx.log_path, model=ctx.name)
    log = logged.predictions
    regression = params.data.regression
    models = None
    ok = log[log["error"].isna() & log["proba"].notna()]
    if not regression and ok["prediction"].nunique() > 2:  # CBPE scores the inputs again
        models = {int(v): ctx.model(int(v)) for v in ok["version"].dropna().unique()}
    kwargs: dict = {}
    if drift:
        reference = ctx.reference()  # the version's summary: profiles, never rows
        if reference is None:
            raise DataError("no reference summary in the registry and no data next to the "
                            f"app ({params.data.path}): drift needs one", rule="reference")
        cols = list(reference.columns)
        kwargs = {"reference": reference,
                  "numeric": [c for c in cols if ctx.schema.by_name[c].numeric],
                  "categorical": [c for c in cols if ctx.schema.by_name[c].categorical],
                  "thresholds": DriftThresholds.from_config(params.validation),
                  "summaries": logged.summaries}
    routed = log[(log["role"] == "primary") & log["version"].notna()]
    span = float(routed["ts"].max() - routed["ts"].min()) if len(routed) else 0.0
    calibrations = None if regression else {
        int(v): ctx.calibration(int(v)) for v in routed["version"].unique()}
    return timeline(log, regression=regression, window_s=readable_window(span, windows).seconds,
                    models=models,
                    ledger=ctx.registry.history(ctx.name) if ledger is None else ledger,
                    calibrations=calibrations, **kwargs)


def _percent(value: float | None) -> str:
    """``0 %``, ``12.5 %``, ``100 %``; a dash when there is no figure yet."""
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{100 * value:.3g} %"


def _ms(value: float | None) -> str:
    """``5.8 ms``, ``212 ms``; a dash when no request was timed."""
    if value is None or value != value:
        return "–"
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def version_table(summary: LiveSummary, *, regression: bool, unit: str = "") -> pd.DataFrame:
    """The operator's per-version figures as people read them: named columns with their
    units, and a dash where a figure cannot be computed yet (no labelled request)."""
    from mlops.app.labels import fmt_number

    rows = []
    for i, s in enumerate(summary.stats):
        row = {"version": f"v{s.version}", "requests": f"{s.requests:,}",
               "errors": f"{s.errors:,}", "error rate": _percent(s.error_rate),
               "latency p50": _ms(s.p50_ms), "latency p95": _ms(s.p95_ms),
               "latency p99": _ms(s.p99_ms), "with a known outcome": f"{s.labelled:,}"}
        if regression:
            row["mean absolute error"] = fmt_number(s.mae, unit)
        else:
            row["right"] = f"{s.correct:,}"
            row["accuracy"] = _percent(s.accuracy)
        row["refused before routing"] = f"{s.refused:,}"
        if len(summary.evidence) == len(summary.stats):
            e = summary.evidence[i]
            row["public outcomes (not used)"] = f"{e.untrusted_labels:,}"
            row["pinned (version selector)"] = f"{e.pinned_requests:,}"
        rows.append(row)
    return pd.DataFrame(rows)


def drift_table(columns: list[dict], labels: dict[str, str]) -> pd.DataFrame:
    """Drift per input (:meth:`~mlops.stages.drift.ColumnDrift.to_dict` rows) in words:
    the input as the form labels it, the measure, the effect, the adjusted p-value and the
    verdict, with no field names of the drift test."""
    from mlops.app.labels import fmt_number

    measure = {"psi": "PSI", "js": "Jensen-Shannon"}
    return pd.DataFrame([{
        "input": labels.get(c["column"], c["column"]),
        "measure": measure.get(c["effect_name"], c["effect_name"]),
        "effect": fmt_number(c["effect"]),
        "smallest effect that counts": fmt_number(c.get("effect_floor")),
        "p-value (adjusted)": fmt_number(c.get("p_adjusted"), digits=3),
        "drifted": "yes" if c["drifted"] else "no",
    } for c in columns], columns=["input", "measure", "effect", "smallest effect that counts",
                                  "p-value (adjusted)", "drifted"])


def feedback_table(feedback: pd.DataFrame, class_name: Callable[[object], str]) -> pd.DataFrame:
    """Recorded outcomes (:func:`~mlops.serving.predlog.read_feedback`) in words."""
    when = pd.to_datetime(feedback["ts"].astype(float), unit="s").dt.strftime("%Y-%m-%d %H:%M")
    return pd.DataFrame({
        "request id": feedback["request_id"].astype(str),
        "outcome": [class_name(v) for v in feedback["label"]],
        "recorded (UTC)": when,
        "from": [{"app:public": "public visitor", "app:operator": "operator"}.get(str(v), str(v))
                 for v in feedback["source"]],
        "used by the rules": ["yes" if t else "no" for t in feedback["trusted"]],
    })


def _chart(wide: pd.DataFrame, window: Window, y_title: str, y_format: str = "",
           dash: dict[str, str] | None = None):
    """A line chart of ``wide`` (one column per series, time index) with a legend always,
    readable time ticks, and ``dash`` (series -> kind) drawing kinds as solid or dashed."""
    import altair as alt

    long = wide.reset_index(names="time").melt("time", var_name="series",
                                               value_name="value").dropna()
    # Times as text in UTC: Vega reads them as they are, whatever the browser's zone.
    long["time"] = pd.to_datetime(long["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    # Ticks at the windows' own times (every k-th): a tick count lets Vega tick every 30 s
    # under minute labels (05:27, 05:27, 05:28), and the Vega in Streamlit's front end
    # fails on a {interval, step} count (the chart is drawn empty).
    times = sorted(long["time"].unique())
    ticks = times[::-(-len(times) // MAX_TICKS)] if times else []
    encode: dict = {
        "x": alt.X("time:T", title=f"time (UTC), one point per {window.words}",
                   axis=alt.Axis(format=window.time_format, labelAngle=0, values=ticks)),
        "y": alt.Y("value:Q", title=y_title,
                   axis=alt.Axis(format=y_format) if y_format else alt.Axis()),
        "color": alt.Color("series:N", title=None,
                           legend=alt.Legend(orient="bottom", labelLimit=400)),
        "tooltip": [alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "series:N",
                    alt.Tooltip("value:Q", format=y_format or ",.3~f")],
    }
    if dash:
        long["kind"] = long["series"].map(dash)
        # The first kind named is solid, the next dashed, as the captions say; the colour
        # legend already names each series with its kind ("v2 p99").
        kinds = list(dict.fromkeys(dash.values()))
        encode["strokeDash"] = alt.StrokeDash(
            "kind:N", legend=None, scale=alt.Scale(domain=kinds, range=DASHES[:len(kinds)]))
    return alt.Chart(long).mark_line(point=True).encode(**encode).properties(height=260)


def _window_of(seconds: float) -> Window:
    return next((Window(*w) for w in _WINDOWS if w[0] == int(seconds)),
                Window(int(seconds), f"{seconds:,.0f} s", "minute"))


def show_timeline(ctx: AppContext, logged: LogRead | None = None,
                  ledger: Sequence[LedgerEntry] | None = None) -> None:
    """Charts over time per version (the operator's monitoring screen); ``logged`` and
    ``ledger`` as :func:`live_timeline` takes them."""
    import streamlit as st

    from mlops.monitoring.timeline import MIN_DRIFT_ROWS

    if not ctx.log_path.is_file():
        st.info("No predictions logged yet.")
        return
    drift = st.toggle("Drift per input over time (against the training data's profile)",
                      key="mon_timeline_drift")
    tl = live_timeline(ctx, logged, ledger=ledger, drift=drift)
    if tl.per_version.empty:
        st.info("No routed predictions yet.")
        return
    window = _window_of(tl.window_s)
    st.caption(f"One point per {window.words}; one line per version (routed traffic and "
               "trusted outcomes only, as the rules count them).")
    c1, c2 = st.columns(2)
    c1.altair_chart(_chart(tl.series("requests"), window, f"requests per {window.words}",
                           "d"), width="stretch")
    c2.altair_chart(_chart(tl.series("error_rate"), window, "error rate", ".0%"),
                    width="stretch")
    latency = pd.concat({"p50": tl.series("p50_ms"), "p99": tl.series("p99_ms")}, axis=1)
    latency.columns = [f"{v} {p}" for p, v in latency.columns]
    st.caption("Latency: half of the requests are answered within p50, 99 in 100 within "
               "p99; a model load is never counted")
    st.altair_chart(_chart(latency, window, "latency (ms)",
                           dash={c: c.rsplit(" ", 1)[1] for c in latency.columns}),
                    width="stretch")
    regression = ctx.params.data.regression
    unit = f" ({ctx.params.data.unit})" if regression and ctx.params.data.unit else ""
    measured = tl.series("quality").add_suffix(" measured")
    estimated = tl.series("estimated")
    quality_name = "mean absolute error" if regression else "accuracy"
    for version, why in sorted(tl.estimate_withheld.items()):
        st.warning(f"No estimate of v{version}'s accuracy before outcomes are known: {why}.")
    if not estimated.empty and estimated.notna().any().any():
        quality = pd.concat([measured, estimated.add_suffix(" estimated")], axis=1)
        st.caption(f"Live {quality_name}: measured on predictions whose outcome is known "
                   "(solid), and estimated before outcomes are known from the model's "
                   "probabilities, calibrated on the held-out rows (dashed; CBPE: an "
                   "early warning, never a rollback)")
    else:
        quality = measured
        st.caption(f"Live {quality_name}{unit}, measured on predictions whose outcome is known"
                   + (" (no estimate before outcomes for regression: see docs/serving.md)"
                      if regression else ""))
    if quality.notna().any().any():
        # The axis is shorter than "mean absolute error (minutes)": its title says it
        # briefly, under the caption that says it in full, with the unit.
        axis_title = "average error" if regression else quality_name
        st.altair_chart(_chart(quality, window, axis_title,
                               "" if regression else ".0%",
                               dash={c: c.rsplit(" ", 1)[1] for c in quality.columns}),
                        width="stretch")
    else:
        st.info(f"No {quality_name} yet: no outcome has been recorded for a routed "
                "prediction.")
    if drift:
        if tl.drift.empty:
            most = int(tl.per_version.groupby("ts")["requests"].sum().max())
            st.info(f"Not enough requests to judge drift in any {window.words} "
                    f"({most} of the {MIN_DRIFT_ROWS} needed).")
        else:
            labels = {c: words(c) for c in tl.drift["column"].unique()}
            wide = tl.drift.assign(column=tl.drift["column"].map(labels)).pivot_table(
                index="ts", columns="column", values="effect")
            wide.index = pd.to_datetime(wide.index, unit="s")
            st.caption("Drift effect per input (PSI for numbers, Jensen-Shannon for "
                       "categories) against the training data; windows with fewer than "
                       f"{MIN_DRIFT_ROWS} requests are not tested")
            st.altair_chart(_chart(wide, window, "drift effect"), width="stretch")
    canary = tl.canary[tl.canary["strategy"] == "canary"]
    if not canary.empty:
        st.caption("Canary: traffic to the candidate (%) at each ledger decision")
        steps = canary.assign(when=pd.to_datetime(canary["ts"], unit="s"))
        wide = steps.set_index("when")[["weight"]].rename(
            columns={"weight": "traffic to the candidate (%)"})
        st.altair_chart(_chart(wide, window, "traffic to the candidate (%)"),
                        width="stretch")
        shown = pd.DataFrame({
            "when (UTC)": steps["when"].dt.strftime("%Y-%m-%d %H:%M"),
            "candidate": [f"v{int(v)}" if pd.notna(v) else "–" for v in steps["candidate"]],
            "step": [f"{int(v) + 1}" if pd.notna(v) else "–" for v in steps["step"]],
            "traffic": [f"{v:g} %" if pd.notna(v) else "–" for v in steps["weight"]],
            "decision": steps["action"].fillna("–").astype(str),
            "status": steps["status"].fillna("–").astype(str),
            "reason": steps["reason"].fillna("").astype(str).replace("", "–")})
        st.dataframe(shown, hide_index=True, key="mon_canary_steps")
