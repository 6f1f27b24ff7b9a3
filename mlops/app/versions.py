"""The Compare screen: any two versions side by side, and the release timeline.

Metrics with intervals and the change, gates, fairness by group, plots next to each other,
the params diff, each version's lineage, and the ledger as a timeline of who moved what,
when, why and on what evidence. Layout only; the tables come from ``mlops.app.describe``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlops.app import describe
from mlops.app.context import AppContext
from mlops.app.labels import OutcomeWords
from mlops.app.public import render_lineage
from mlops.app.status import ServingStatus

__all__ = ["COMPARE_VIEWS", "render_compare"]

COMPARE_VIEWS = ("Metrics", "Gates", "Fairness", "Plots", "Params", "Lineage", "Timeline")


def render_compare(ctx: AppContext, status: ServingStatus) -> None:
    """Pick two versions (A defaults to production, B to the newest other one)."""
    versions = list(reversed(status.versions))
    if not versions:
        st.info("No version to compare yet: run `make pipeline`.")
        return
    entries = {v: describe.version_entry(ctx.version_info(v), status.aliases)
               for v in versions}
    a_default = status.production if status.production in versions else versions[0]
    others = [v for v in versions if v != a_default]
    c1, c2 = st.columns(2)
    a = c1.selectbox("Version A", versions, index=versions.index(a_default),
                     key="cmp_a", format_func=entries.get)
    b = c2.selectbox("Version B", versions, index=versions.index(others[0]) if others else 0,
                     key="cmp_b", format_func=entries.get)
    la, lb = f"v{a}", f"v{b}" if b != a else f"v{b} (B)"
    if a == b:
        st.caption("Both sides show the same version; pick another one to compare.")
    ea, eb = ctx.evaluation(a), ctx.evaluation(b)
    ma, mb = ctx.version_info(a), ctx.version_info(b)
    unit = ctx.params.data.unit
    outcome = OutcomeWords.of(ctx.params.data)
    table = describe.compare_metrics({**ma.metadata, **ea}, {**mb.metadata, **eb}, la, lb,
                                     unit, outcome)
    # The verdict comes first, whatever part is open: it is what a reader came for.
    st.markdown(f"**{describe.compare_verdict(table, la, lb)}** (95 % intervals)")
    view = st.radio("Compare", COMPARE_VIEWS, horizontal=True, key="cmp_view",
                    label_visibility="collapsed")
    if view == "Metrics":
        st.caption("Value (95 % interval) on each version's held-out data; the change is "
                   f"{lb} minus {la}. 'Within noise' means each value lies inside the "
                   "other's interval.")
        st.dataframe(table, hide_index=True, key="cmp_metrics")
    elif view == "Gates":
        for col, mv, ev in zip(st.columns(2), (ma, mb), (ea, eb), strict=True):
            col.markdown(f"**v{mv.version}**: gates {'passed' if mv.gates_passed else 'FAILED'}")
            gates = mv.metadata.get("gates") or ev.get("gates") or []
            col.dataframe(describe.gates_frame(gates, unit, outcome), hide_index=True)
    elif view == "Fairness":
        fa, fb = describe.fairness_frame(ea), describe.fairness_frame(eb)
        if fa.empty and fb.empty:
            st.info("No fairness figures for these versions.")
        else:
            st.dataframe(_side_by_side(fa, fb, la, lb), hide_index=True, key="cmp_fairness")
    elif view == "Plots":
        _plots(ctx, a, b)
    elif view == "Params":
        pa = (ma.metadata.get("lineage") or {}).get("params") or {}
        pb = (mb.metadata.get("lineage") or {}).get("params") or {}
        diff = describe.params_frame(pa, pb, la, lb)
        if diff.empty:
            st.info("Both versions were trained with the same params.")
        else:
            st.dataframe(diff, hide_index=True, key="cmp_params")
    elif view == "Lineage":
        for v in dict.fromkeys((a, b)):  # one under the other: hashes and paths are long
            st.markdown(f"**v{v}**")
            render_lineage(ctx, v, st.container())
    else:
        st.caption("Every alias move and release step, newest first (the registry's ledger).")
        st.dataframe(describe.timeline_frame(ctx.registry.history(ctx.name)), hide_index=True,
                     key="cmp_timeline")


def _side_by_side(fa: pd.DataFrame, fb: pd.DataFrame, la: str, lb: str) -> pd.DataFrame:
    keys = ["feature", "group"]
    shown = [c for c in ("count", "accuracy", "selection rate", "true positive rate")
             if c in fa.columns or c in fb.columns]
    left = fa[keys + [c for c in shown if c in fa]] if not fa.empty else pd.DataFrame(
        columns=keys)
    right = fb[keys + [c for c in shown if c in fb]] if not fb.empty else pd.DataFrame(
        columns=keys)
    # A group one version lacks reads as a dash, never "None".
    return left.merge(right, on=keys, how="outer", suffixes=(f" {la}", f" {lb}")).fillna("–")


def _plots(ctx: AppContext, a: int, b: int) -> None:
    from mlops.app.public import _plot_title

    fa = {f for f in ctx.version_info(a).files if f.startswith("plots/")}
    fb = {f for f in ctx.version_info(b).files if f.startswith("plots/")}
    names = sorted(fa | fb)
    if not names:
        st.info("These versions have no plots.")
        return
    # One plot pair at a time: two images side by side stay readable; ten would not.
    chosen = st.selectbox("Plot", names, key="cmp_plot", format_func=_plot_title)
    cols = st.columns(2)
    for col, v, have in ((cols[0], a, fa), (cols[1], b, fb)):
        col.markdown(f"**v{v}**")
        if chosen in have:
            col.image(str(ctx.registry.file_path(ctx.name, v, chosen)), width="stretch")
        else:
            col.caption("No such plot for this version.")
