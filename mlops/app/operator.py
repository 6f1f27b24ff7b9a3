"""The operator screen: promote, roll back, release strategies, ledger, monitoring.

Drawn only after the token check passes, and every action of ``mlops.app.actions`` checks
the token again itself (``mlops.app.auth.require_operator``), so nothing here trusts a flag
in the session state. All writes go through the registry with actor ``app`` and land in the
ledger.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from mlops.app import actions
from mlops.app.auth import ADMIN_TOKEN_ENV, check_admin_token, operator_configured
from mlops.app.context import AppContext
from mlops.app.live import live_summary
from mlops.app.status import ServingStatus
from mlops.core.exceptions import MLOpsError

__all__ = ["render_operator"]


def render_operator(ctx: AppContext, token: str | None) -> None:
    """The operator tab; ``token`` is the text the user typed, checked per action."""
    if not operator_configured():
        st.info(f"Operator actions are disabled on this server ({ADMIN_TOKEN_ENV} "
                "is not set).")
        return
    if not check_admin_token(token):
        st.warning("Enter the operator token in the sidebar to manage releases.")
        return
    status = ctx.status(fresh=True)  # act on the newest aliases, not a cached view
    st.subheader("Releases")
    st.markdown(" · ".join(f"**{alias}** v{v}" for alias, v in sorted(status.aliases.items()))
                or "No aliases set yet.")
    _promote(ctx, status, token)
    _rollback(ctx, status, token)
    _strategies(ctx, status, token)
    st.subheader("Promotion ledger")
    st.dataframe(actions.ledger_frame(ctx.registry.history(ctx.name)), hide_index=True,
                 key="op_ledger")
    st.subheader("Monitoring")
    _monitoring(ctx)


def _act(ctx: AppContext, what: str, action: Callable[[], object]) -> None:
    """Run one registry action, report it, and refresh the aliases everyone sees."""
    try:
        entry = action()
    except MLOpsError as exc:
        st.error(f"{what} failed: {exc.message}")
        return
    finally:
        ctx.invalidate()
    done = f"ledger entry #{entry.seq} by {entry.actor}" if hasattr(entry, "seq") else "done"
    st.session_state["op_message"] = f"{what}: {done}"
    st.rerun()  # redraw every panel from the new aliases


def _promote(ctx: AppContext, status: ServingStatus, token: str | None) -> None:
    if message := st.session_state.pop("op_message", None):
        st.success(message)
    c1, c2, c3 = st.columns([1, 1, 2])
    version = c1.selectbox("Version", list(reversed(status.versions)), key="op_version",
                           format_func=lambda v: f"v{v}")
    alias = c2.selectbox("Alias", list(ctx.registry.allowed_aliases), key="op_alias")
    reason = c3.text_input("Reason (recorded in the ledger)", key="op_reason")
    # Compare-and-swap against the aliases the operator *saw* (the previous run drew them),
    # so a move made by someone else in between fails instead of being overwritten.
    seen = dict(st.session_state.get("op_seen_aliases", status.aliases))
    st.session_state["op_seen_aliases"] = dict(status.aliases)
    if st.button("Promote", key="op_promote") and version is not None:
        _act(ctx, f"promote v{version} to {alias}", lambda: actions.promote_version(
            ctx.registry, ctx.name, int(version), alias, token=token,
            expected=seen.get(alias), reason=reason))


def _rollback(ctx: AppContext, status: ServingStatus, token: str | None) -> None:
    label = (f"Roll back production (now v{status.production})" if status.production
             else "Roll back production")
    if st.button(label, key="op_rollback", type="primary"):
        _act(ctx, "rollback", lambda: actions.rollback_alias(
            ctx.registry, ctx.name, token=token, expected=status.production,
            reason=st.session_state.get("op_reason") or ""))


def _strategies(ctx: AppContext, status: ServingStatus, token: str | None) -> None:
    from mlops.serving.deployment import read_deployment

    st.subheader("Canary and shadow")
    dep, _ = read_deployment(ctx.registry, ctx.name)
    if dep is not None and dep.running:
        share = (f"{dep.weight:g} % of traffic" if dep.strategy == "canary"
                 else f"scores {dep.shadow_share:.0%} of requests on the side")
        st.info(f"Running {dep.strategy} of v{dep.candidate} against v{dep.baseline}: {share}")
        reason = st.session_state.get("op_reason") or ""
        c1, c2 = st.columns(2)
        if dep.strategy == "canary" and c1.button("Advance canary", key="op_canary_advance"):
            _act(ctx, "advance canary", lambda: actions.advance_canary(
                ctx.registry, ctx.name, token=token, reason=reason))
        if dep.strategy == "shadow" and c1.button("Stop shadow", key="op_shadow_stop"):
            _act(ctx, "stop shadow", lambda: actions.stop_shadow(
                ctx.registry, ctx.name, token=token, reason=reason))
        if c2.button(f"Abort {dep.strategy}", key="op_release_abort"):
            _act(ctx, f"abort {dep.strategy}", lambda: actions.abort_release(
                ctx.registry, ctx.name, token=token, reason=reason))
        return
    if dep is not None:
        st.caption(f"Last release: {dep.strategy} of v{dep.candidate}, {dep.status}")
    others = [v for v in reversed(status.versions) if v != status.production]
    if not others:
        st.caption("No other version to release.")
        return
    c1, c2 = st.columns(2)
    candidate = c1.selectbox("Candidate", others, key="op_candidate",
                             format_func=lambda v: f"v{v}")
    if c1.button("Start canary", key="op_canary_start"):
        _act(ctx, f"start canary of v{candidate}", lambda: actions.start_release(
            ctx.registry, ctx.name, ctx.params.deployment, candidate=int(candidate),
            strategy="canary", token=token))
    if c2.button("Start shadow", key="op_shadow_start"):
        _act(ctx, f"start shadow of v{candidate}", lambda: actions.start_release(
            ctx.registry, ctx.name, ctx.params.deployment, candidate=int(candidate),
            strategy="shadow", token=token))


def _monitoring(ctx: AppContext) -> None:
    if not ctx.log_path.is_file():
        st.info("No predictions logged yet.")
        return
    summary = live_summary(ctx.log_path, ctx.name)
    if not summary.stats:
        st.info("No predictions logged yet.")
        return
    table = summary.per_version
    st.dataframe(table, hide_index=True, key="mon_table")
    by_version = table.set_index("version")
    c1, c2 = st.columns(2)
    c1.caption("Latency p50 / p99 (ms) per version")
    c1.bar_chart(by_version[["p50_ms", "p99_ms"]], stack=False)
    c2.caption("Live accuracy per version (labelled predictions)")
    c2.bar_chart(by_version[["accuracy"]])
    if not summary.over_time.empty:
        st.caption("Predictions per minute, by version")
        st.line_chart(summary.over_time)
    _feedback(ctx)
    _drift(ctx)


def _feedback(ctx: AppContext) -> None:
    """Every recorded outcome with its source; only trusted ones feed the automatic rules."""
    from mlops.serving.predlog import read_feedback

    feedback = read_feedback(ctx.log_path)
    if feedback.empty:
        return
    trusted = int(feedback["trusted"].sum())
    st.caption(f"Recorded outcomes: {trusted} trusted (used by the rollback and canary "
               f"rules), {len(feedback) - trusted} untrusted (public: shown, never used)")
    st.dataframe(feedback.head(200), hide_index=True, key="mon_feedback")


def _drift(ctx: AppContext) -> None:
    """Input and prediction drift of the live log against the training data (on demand:
    it loads the training data and scores it, about a second)."""
    if not st.toggle("Drift against the training data", key="mon_drift"):
        return
    from mlops.monitoring.monitor import monitor_report

    report, _, _ = monitor_report(ctx.params, log_path=ctx.log_path, registry=ctx.registry)
    drift = report.get("input_drift")
    if not drift:
        st.info("Not enough live inputs to test for drift yet.")
        return
    verdict = "drifted" if drift["dataset_drift"] else "stable"
    st.markdown(f"Live inputs: **{verdict}** ({len(drift['drifted_columns'])} of "
                f"{len(drift['columns'])} columns drifted: "
                f"{', '.join(drift['drifted_columns']) or 'none'})")
    table = pd.DataFrame(drift["columns"])
    st.dataframe(table, hide_index=True, key="mon_drift_table")
    st.caption("Effect size per column (PSI for numbers, Jensen-Shannon for categories)")
    st.bar_chart(table.set_index("column")[["effect"]])
