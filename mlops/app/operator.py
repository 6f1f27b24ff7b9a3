"""The operator screen: promote, roll back, release strategies, ledger, monitoring.

Drawn only after the token check passes (slowed down per session and client, see
``mlops.app.guard.operator_verdict``), and every action of ``mlops.app.actions`` checks
the token again itself (``mlops.app.auth.require_operator``), so nothing here trusts a flag
in the session state. All writes go through the registry with actor ``app`` and land in the
ledger.

Every action is two steps: its button (disabled, with the reason shown, when it cannot
apply) opens a confirmation dialog that says exactly what will change and asks for a
reason; only "Confirm" acts. The reason field is new for each action, so a reason typed
for one action is never recorded for the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from mlops.app import actions
from mlops.app.auth import (
    ADMIN_TOKEN_ENV,
    GENERATE_TOKEN,
    MIN_TOKEN_CHARS,
    configured_weakness,
)
from mlops.app.context import AppContext
from mlops.app.guard import operator_verdict
from mlops.app.live import (
    drift_table,
    feedback_table,
    live_summary,
    show_timeline,
    version_table,
)
from mlops.app.public import version_select
from mlops.app.status import ServingStatus
from mlops.core.exceptions import MLOpsError

if TYPE_CHECKING:
    from mlops.serving.deployment import Releases
    from mlops.serving.predlog import LogRead

__all__ = ["Pending", "drift_verdict", "render_operator"]

PENDING = "op_pending"  # session key of the action waiting for confirmation


@dataclass(frozen=True)
class Pending:
    """An action waiting for its confirmation: what it changes, and how to do it."""

    key: str
    title: str
    change: str  # exactly what will change, in words (markdown)
    run: Callable[[str], object]  # called with the reason


def render_operator(ctx: AppContext, token: str | None,
                    status: ServingStatus | None = None) -> None:
    """The operator tab; ``token`` is the text the user typed, checked per action.

    ``status`` is the page's one reading of the aliases (read fresh when omitted).
    """
    problem, wait = operator_verdict(token)
    if problem == "disabled":
        st.info(f"Operator actions are disabled on this server ({ADMIN_TOKEN_ENV} "
                "is not set).")
        return
    if problem == "weak":
        weakness = configured_weakness()
        st.warning(f"Operator actions are disabled on this server: its {ADMIN_TOKEN_ENV} is "
                   f"refused because {weakness}. A strong token is at least "
                   f"{MIN_TOKEN_CHARS} random characters; generate one with "
                   f"`{GENERATE_TOKEN}`, set it as {ADMIN_TOKEN_ENV} (on a Space: a secret "
                   "in the Space's settings) and restart the app.")
        return
    if problem == "missing":
        st.warning("Enter the operator token in the sidebar to manage releases.")
        return
    if problem == "throttled":
        st.error(f"Too many wrong operator tokens from this session or network address: "
                 f"the next token is checked in {math.ceil(wait)} s. Enter it again then; "
                 "nothing can be changed until then.")
        return
    if problem == "wrong":
        later = f" The next one is checked in {math.ceil(wait)} s." if wait > 0 else ""
        st.error("That operator token is not right. Check it and enter it again in the "
                 f"sidebar; nothing can be changed until then.{later}")
        return
    status = status or ctx.status(fresh=True)
    if message := st.session_state.pop("op_message", None):
        kind, text = message if isinstance(message, tuple) else ("success", str(message))
        (st.error if kind == "error" else st.success)(text)
    st.subheader("Releases")
    st.markdown(" · ".join(f"**{alias}** v{v}" for alias, v in sorted(status.aliases.items()))
                or "No aliases set yet.")
    from mlops.serving.deployment import Releases, read_deployment

    # One read of the ledger and the deployment per run, for every panel below (an action
    # reruns the page, which reads them again).
    releases = Releases(status.aliases, ctx.registry.history(ctx.name),
                        read_deployment(ctx.registry, ctx.name)[0])
    dep = releases.deployment
    st.caption(REPLACE_WRONG_PRODUCTION)
    _promote(ctx, status, token, dep)
    _rollback(ctx, status, token, releases)
    _strategies(ctx, status, token, dep)
    pending = st.session_state.get(PENDING)
    if isinstance(pending, Pending):
        _confirm(ctx, pending)
    st.subheader("Promotion ledger")
    st.dataframe(actions.ledger_frame(releases.ledger), hide_index=True, key="op_ledger")
    st.subheader("Monitoring")
    _monitoring(ctx, releases)


def _offer(key: str, label: str, pending: Pending, blocked: str | None, where=st,
           **kwargs) -> None:
    """A button that asks for confirmation; disabled with ``blocked`` shown when set."""
    if where.button(label, key=key, disabled=blocked is not None, **kwargs):
        st.session_state[PENDING] = pending
    if blocked:
        where.caption(f"{label}: not possible now, {blocked}.")


def _dismiss() -> None:
    """Closed without acting: forget the action and the reason typed for it."""
    st.session_state.pop(PENDING, None)
    st.session_state["op_reason_n"] = st.session_state.get("op_reason_n", 0) + 1


@st.dialog("Confirm operator action", on_dismiss=_dismiss)
def _confirm(ctx: AppContext, pending: Pending) -> None:
    st.markdown(f"**{pending.title}**")
    st.markdown(pending.change)
    n = st.session_state.get("op_reason_n", 0)
    reason = st.text_input("Reason (required, recorded in the ledger)", key=f"op_reason_{n}",
                           placeholder="e.g. v3 fixes the calibration issue #42")
    c1, c2 = st.columns(2)
    if c1.button("Confirm", key="op_confirm", type="primary", disabled=not reason.strip()):
        # A fresh reason field for the next action, whatever happens to this one.
        st.session_state["op_reason_n"] = n + 1
        st.session_state.pop(PENDING, None)
        _act(ctx, pending.title, lambda: pending.run(reason.strip()))
    if not reason.strip():
        c1.caption("Type a reason to confirm.")
    if c2.button("Cancel", key="op_cancel"):
        _dismiss()
        st.rerun()


def _act(ctx: AppContext, what: str, action: Callable[[], object]) -> None:
    """Run one registry action, report it, and refresh the aliases everyone sees."""
    try:
        entry = action()
    except MLOpsError as exc:
        st.session_state["op_message"] = ("error", f"{what} failed: {exc.message}")
    else:
        done = (f"ledger entry #{entry.seq} by {entry.actor}" if hasattr(entry, "seq")
                else "done, recorded in the ledger")
        st.session_state["op_message"] = ("success", f"{what}: {done}")
    finally:
        ctx.invalidate()
    st.rerun()  # redraw every panel (and the header, and the sidebar) from the new aliases


def _label(ctx: AppContext, status: ServingStatus, version: int) -> str:
    from mlops.app.describe import version_entry

    return version_entry(ctx.version_info(version), status.aliases)


# A production model that was wrong (it learned from a leak) fails every honest successor
# on the champion gate: the operator is told the replacement, which the ledger keeps.
REPLACE_WRONG_PRODUCTION = (
    "Production was wrong (for example it learned from a column known only after the "
    "outcome) and honest runs fail the champion gate against it? Replace it: register the "
    "honest run with `mlops run --set evaluation.champion_tolerance=1`, then promote it "
    "here with a reason, or `mlops promote VERSION --to production --force --reason "
    "\"...\"`. The reason is kept in the ledger below (docs/registry.md).")


def _promote(ctx: AppContext, status: ServingStatus, token: str | None, dep) -> None:
    c1, c2 = st.columns([2, 1])
    version = version_select(c1, "Version", list(reversed(status.versions)), "op_version",
                             status.aliases, lambda v: _label(ctx, status, v))
    alias = c2.selectbox("Alias", list(ctx.registry.allowed_aliases), key="op_alias")
    # Compare-and-swap against the aliases the operator *saw* (the previous run drew them),
    # so a move made by someone else in between fails instead of being overwritten.
    seen = dict(st.session_state.get("op_seen_aliases", status.aliases))
    st.session_state["op_seen_aliases"] = dict(status.aliases)
    if version is None:
        return
    version = int(version)
    current = status.aliases.get(alias)
    blocked = None
    if current == version:
        blocked = f"v{version} is already {alias}"
    elif alias == "production" and not ctx.version_info(version).gates_passed:
        blocked = f"v{version} did not pass its quality gates"
    elif alias == "production" and dep is not None and dep.running:
        blocked = (f"a {dep.strategy.replace('_', '-')} release of v{dep.candidate} is "
                   "running; finish or abort it first")
    change = (f"The **{alias}** alias moves from v{current} to **v{version}**."
              if current else f"The **{alias}** alias is set to **v{version}**.")
    if alias == "production":
        change += " All production traffic is answered by it at once."
    expected = seen.get(alias)
    _offer("op_promote", f"Promote v{version} to {alias}", Pending(
        "promote", f"Promote v{version} to {alias}", change,
        lambda reason: actions.promote_version(ctx.registry, ctx.name, version, alias,
                                               **_who(token), expected=expected,
                                               reason=reason)), blocked)


def _rollback(ctx: AppContext, status: ServingStatus, token: str | None,
              releases: Releases) -> None:
    previous = releases.previous_production
    now = status.production
    blocked = None
    if now is None:
        blocked = "no version is in production"
    elif previous is None:
        blocked = f"v{now} is the first production version; there is none to go back to"
    label = f"Roll back production (now v{now})" if now else "Roll back production"
    _offer("op_rollback", label, Pending(
        "rollback", f"Roll back production from v{now} to v{previous}",
        f"The **production** alias goes back from v{now} to **v{previous}**, the version "
        "it held before. All production traffic is answered by it at once.",
        lambda reason: actions.rollback_alias(ctx.registry, ctx.name, **_who(token),
                                              expected=now, reason=reason)), blocked,
           type="primary")


def _strategies(ctx: AppContext, status: ServingStatus, token: str | None, dep) -> None:
    st.subheader("Canary, shadow and blue-green")
    if dep is not None and dep.running:
        _running(ctx, token, dep)
        return
    if dep is not None:
        st.caption(f"Last release: {dep.strategy.replace('_', '-')} of v{dep.candidate}, "
                   f"{dep.status}")
    others = [v for v in reversed(status.versions) if v != status.production]
    if not others:
        st.caption("No other version to release.")
        return
    candidate = int(version_select(st, "Candidate", others, "op_candidate", status.aliases,
                                   lambda v: _label(ctx, status, v)))
    blocked = None
    if status.production is None:
        blocked = "no version is in production yet; promote one first"
    elif not ctx.version_info(candidate).gates_passed:
        blocked = f"v{candidate} did not pass its quality gates"
    cfg = ctx.params.deployment
    prod = status.production
    steps = ", ".join(f"{s:g} %" for s in cfg.canary_steps)
    offers = [
        ("op_canary_start", "Start canary", "canary",
         f"**v{candidate}** starts answering **{cfg.canary_steps[0]:g} %** of production "
         f"traffic (steps {steps}); v{prod} answers the rest. Production stays v{prod} "
         "until the last step."),
        ("op_shadow_start", "Start shadow", "shadow",
         f"**v{candidate}** also scores {cfg.shadow_sample_share:.0%} of requests on the "
         f"side; its answers are logged, never returned. v{prod} answers everyone."),
        ("op_bluegreen_start", "Start blue-green", "blue_green",
         f"**v{candidate}** is loaded next to v{prod} in the idle slot. Nothing is answered "
         "by it until you switch."),
    ]
    cols = st.columns(3)
    for col, (key, label, strategy, change) in zip(cols, offers, strict=True):
        _offer(key, label, Pending(
            key, f"{label} of v{candidate}", change,
            lambda reason, s=strategy: actions.start_release(
                ctx.registry, ctx.name, cfg, candidate=candidate, strategy=s, **_who(token),
                reason=reason)), blocked, where=col)


def _running(ctx: AppContext, token: str | None, dep) -> None:
    name = dep.strategy.replace("_", "-")
    if dep.strategy == "canary":
        st.info(f"Running canary of v{dep.candidate} against v{dep.baseline}: "
                f"{dep.weight:g} % of traffic (step {dep.step + 1} of {len(dep.steps)})")
        last = dep.step + 1 >= len(dep.steps)
        change = (f"This is the last step: **v{dep.candidate} becomes production** and "
                  f"answers all traffic." if last else
                  f"**v{dep.candidate}** goes from {dep.weight:g} % to "
                  f"**{dep.steps[dep.step + 1]:g} %** of traffic, overruling the automatic "
                  "analysis (recorded as a manual decision).")
        offers = [("op_canary_advance", "Advance canary", change,
                   lambda reason: actions.advance_canary(ctx.registry, ctx.name, **_who(token),
                                                         reason=reason))]
    elif dep.strategy == "shadow":
        st.info(f"Running shadow of v{dep.candidate} against v{dep.baseline}: it scores "
                f"{dep.shadow_share:.0%} of requests on the side")
        offers = [("op_shadow_stop", "Stop shadow",
                   f"v{dep.candidate} stops scoring on the side. Production stays "
                   f"v{dep.baseline}.",
                   lambda reason: actions.stop_shadow(ctx.registry, ctx.name, **_who(token),
                                                      reason=reason))]
    else:
        live = dep.slots.get(dep.live) if dep.live else None
        idle = next((s for s in dep.slots if s != dep.live), None)
        st.info(f"Blue-green: slot {dep.live} (v{live}) is production, slot {idle} "
                f"(v{dep.slots.get(idle)}) is loaded and idle")
        offers = [("op_bluegreen_switch", f"Switch to slot {idle}",
                   f"**Production moves from v{live} to v{dep.slots.get(idle)}** in one "
                   "alias move; both stay loaded, so switching back is instant.",
                   lambda reason: actions.switch_blue_green(ctx.registry, ctx.name,
                                                            **_who(token), reason=reason))]
    offers.append(("op_release_abort", f"Abort {name}",
                   f"The {name} release of v{dep.candidate} ends: all traffic goes to "
                   "production only. No alias moves.",
                   lambda reason: actions.abort_release(ctx.registry, ctx.name, **_who(token),
                                                        reason=reason)))
    cols = st.columns(len(offers))
    for col, (key, label, change, run) in zip(cols, offers, strict=True):
        _offer(key, label, Pending(key, label, change, run), None, where=col)


def _monitoring(ctx: AppContext, releases: Releases) -> None:
    if not ctx.log_path.is_file():
        st.info("No predictions logged yet.")
        return
    from mlops.serving.predlog import read_log

    logged = read_log(ctx.log_path, model=ctx.name)  # once: the table, charts and drift
    summary = live_summary(logged.predictions)
    if not summary.stats:
        st.info("No predictions logged yet.")
        return
    st.dataframe(version_table(summary, regression=ctx.regression, unit=ctx.params.data.unit),
                 hide_index=True, key="mon_table")
    show_timeline(ctx, logged, releases.ledger)
    _feedback(ctx)
    _drift(ctx, logged, releases)


def _feedback(ctx: AppContext) -> None:
    """Every recorded outcome with its source; only trusted ones feed the automatic rules."""
    from mlops.app.public import class_name
    from mlops.serving.predlog import read_feedback

    feedback = read_feedback(ctx.log_path)
    if feedback.empty:
        return
    trusted = int(feedback["trusted"].sum())
    st.caption(f"Recorded outcomes: {trusted} trusted (used by the rollback and canary "
               f"rules), {len(feedback) - trusted} from public visitors (shown, never used)")
    st.dataframe(feedback_table(feedback.head(200), lambda v: class_name(ctx, v)),
                 hide_index=True, key="mon_feedback")


def drift_verdict(drift: dict | None, rows: int) -> str:
    """The operator's drift verdict in words; below the one minimum sample
    (:data:`mlops.monitoring.timeline.MIN_DRIFT_ROWS`) it judges nothing."""
    from mlops.monitoring.timeline import MIN_DRIFT_ROWS

    if rows < MIN_DRIFT_ROWS or not drift:
        return (f"Not enough requests to judge drift ({rows} of the {MIN_DRIFT_ROWS} "
                "needed).")
    drifted = drift["drifted_columns"]
    verdict = "drifted" if drift["dataset_drift"] else "stable"
    listed = f": {', '.join(c.replace('_', ' ') for c in drifted)}" if drifted else ""
    return (f"Live inputs: **{verdict}** ({len(drifted)} of {len(drift['columns'])} inputs "
            f"drifted{listed}).")


def _drift(ctx: AppContext, logged: LogRead, releases: Releases) -> None:
    """Input and prediction drift of the live log against the training data (on demand:
    it loads the training data and scores it, about a second)."""
    if not st.toggle("Drift against the training data", key="mon_drift"):
        return
    import altair as alt

    from mlops.app.form import form_spec
    from mlops.monitoring.monitor import monitor_report
    from mlops.monitoring.timeline import MIN_DRIFT_ROWS

    report, frame, _ = monitor_report(ctx.params, logged=logged, registry=ctx.registry,
                                      releases=releases)
    # The rows the drift test saw: routed answers with their inputs, and the rows of the
    # batches logged as a summary.
    rows = int(((frame["role"] == "primary") & frame["error"].isna()).sum()) + int(
        (report.get("input_summaries") or {}).get("rows", 0))
    drift = report.get("input_drift")
    st.markdown(drift_verdict(drift, rows))
    if rows < MIN_DRIFT_ROWS or not drift:
        return  # no bars either: a tall bar on a handful of rows says nothing
    labels = {spec.name: spec.label for spec in form_spec(ctx.schema, {})}
    table = drift_table(drift["columns"], labels)
    st.dataframe(table, hide_index=True, key="mon_drift_table")
    bars = pd.DataFrame({"input": table["input"],
                         "effect": [float(c["effect"]) for c in drift["columns"]],
                         "drifted": table["drifted"]})
    st.caption("Effect size per input (PSI for numbers, Jensen-Shannon for categories); "
               "an input counts as drifted when its change is both significant and at "
               "least the smallest effect that counts")
    st.altair_chart(alt.Chart(bars).mark_bar().encode(
        x=alt.X("input:N", sort=None, title=None, axis=alt.Axis(labelAngle=-30,
                                                                labelLimit=200)),
        y=alt.Y("effect:Q", title="drift effect"),
        color=alt.Color("drifted:N", title="drifted",
                        scale=alt.Scale(domain=["yes", "no"], range=["#c62828", "#90a4ae"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["input", alt.Tooltip("effect:Q", format=".3f"), "drifted"],
    ).properties(height=260), width="stretch")


def _who(token: str | None) -> dict[str, str | None]:
    """The operator token, and the ledger's actor for this session: ``app:<the name typed in
    the sidebar>``."""
    return {"token": token, "actor": actions.actor_of(st.session_state.get("operator_name"))}
