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

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import pandas as pd

from mlops.core.exceptions import DataError

if TYPE_CHECKING:
    from mlops.app.context import AppContext
    from mlops.monitoring.timeline import Timeline
    from mlops.serving.rules import Evidence, VersionStats

__all__ = ["LiveSummary", "live_summary", "live_timeline", "show_timeline"]


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


def live_timeline(ctx: AppContext, log: pd.DataFrame | None = None, *, drift: bool = False,
                  windows: int = 24) -> Timeline:
    """The monitoring timeline of the app's log (``log``: already read) and registry (drift
    only with ``drift``: it reads the reference summary)."""
    from mlops.monitoring.timeline import timeline
    from mlops.serving.predlog import read_input_summaries, read_predictions
    from mlops.stages.drift import DriftThresholds

    params = ctx.params
    if log is None:
        log = read_predictions(ctx.log_path, model=ctx.name)
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
                  "summaries": read_input_summaries(ctx.log_path, model=ctx.name)}
    return timeline(log, regression=regression, windows=windows, models=models,
                    ledger=ctx.registry.history(ctx.name), **kwargs)


def show_timeline(ctx: AppContext, log: pd.DataFrame | None = None) -> None:
    """Charts over time per version (the operator's monitoring screen); ``log`` is the
    model's log when the caller has read it already."""
    import streamlit as st

    if not ctx.log_path.is_file():
        st.info("No predictions logged yet.")
        return
    drift = st.toggle("Drift per column over time (against the training data's profile)",
                      key="mon_timeline_drift")
    tl = live_timeline(ctx, log, drift=drift)
    if tl.per_version.empty:
        st.info("No routed predictions yet.")
        return
    st.caption(f"Each point is a window of {tl.window_s:,.0f} s; one line per version "
               "(routed traffic and trusted labels only, as the rules count them).")
    c1, c2 = st.columns(2)
    c1.caption("Requests")
    c1.line_chart(tl.series("requests"))
    c2.caption("Error rate")
    c2.line_chart(tl.series("error_rate"))
    latency = pd.concat({"p50": tl.series("p50_ms"), "p99": tl.series("p99_ms")}, axis=1)
    latency.columns = [f"{v} {p}" for p, v in latency.columns]
    st.caption("Latency p50 / p99 (ms); a model load is never counted")
    st.line_chart(latency)
    unit = f" ({ctx.params.data.unit})" if ctx.params.data.regression and \
        ctx.params.data.unit else ""
    quality = tl.series("quality").add_suffix(" realised")
    estimated = tl.series("estimated")
    if not estimated.empty and estimated.notna().any().any():
        quality = pd.concat([quality, estimated.add_suffix(" estimated (CBPE)")], axis=1)
        st.caption(f"Live {tl.quality} on labelled predictions, and the {tl.quality} "
                   "estimated before labels from the model's probabilities (CBPE: assumes "
                   "they are calibrated; an early warning, never a rollback)")
    else:
        st.caption(f"Live {tl.quality}{unit} on labelled predictions"
                   + (" (no estimate before labels for regression: see docs/serving.md)"
                      if ctx.params.data.regression else ""))
    st.line_chart(quality)
    if drift:
        if tl.drift.empty:
            st.info("Too few inputs per window to test for drift yet.")
        else:
            wide = tl.drift.pivot_table(index="ts", columns="column", values="effect")
            wide.index = pd.to_datetime(wide.index, unit="s")
            st.caption("Drift effect per column (PSI for numbers, Jensen-Shannon for "
                       "categories) against the training data")
            st.line_chart(wide)
    canary = tl.canary[tl.canary["strategy"] == "canary"]
    if not canary.empty:
        st.caption("Canary: traffic to the candidate (%) at each ledger decision")
        steps = canary.assign(when=pd.to_datetime(canary["ts"], unit="s"))
        st.line_chart(steps.set_index("when")[["weight"]])
        st.dataframe(steps[["when", "candidate", "step", "weight", "action", "status",
                            "reason"]], hide_index=True, key="mon_canary_steps")
