"""The public screens of the app: predict, batch scoring, model card. Layout only.

Each ``render_*`` function draws one tab from an :class:`~mlops.app.context.AppContext`;
the decisions come from ``mlops.app.form`` (the form), ``mlops.app.batch`` (validation,
scoring) and the context (prediction, logging). Widget keys are stable because the tests
drive the app by key.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from mlops.app.batch import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_ROWS,
    out_of_range_note,
    to_csv_bytes,
    validate_batch,
)
from mlops.app.context import AppContext
from mlops.app.form import FieldSpec, form_spec, row_from_form
from mlops.core.exceptions import MLOpsError

__all__ = ["render_batch", "render_model_card", "render_predict"]


def render_predict(ctx: AppContext, version: int | None, session_key: str,
                   token: str | None = None) -> None:
    """Single prediction from a form built from the schema, then optional feedback.

    ``token`` is what the visitor typed as operator token: with the right one, the recorded
    outcome is trusted evidence; without it, it is stored and shown but never used by the
    automatic rules.
    """
    st.subheader("Try the model")
    values: dict[str, Any] = {}
    cols = st.columns(3)
    for i, spec in enumerate(form_spec(ctx.schema)):
        with cols[i % 3]:
            values[spec.name] = _widget(spec)
    if st.button("Predict", key="predict", type="primary"):
        try:
            row = row_from_form(values, ctx.schema)
            result = ctx.predict(row, version=version, session_key=session_key)
        except MLOpsError as exc:
            st.error(exc.message)
            return
        record = result.frame.iloc[0]
        st.session_state["last_prediction"] = {
            "request_id": str(record["request_id"]), "version": int(result.version),
            "predicted_class": _plain(record["predicted_class"]),
            "probability": float(record["probability"]), "routed": result.routed,
        }
    last = st.session_state.get("last_prediction")
    if last:
        _show_prediction(ctx, last, token)


def _widget(spec: FieldSpec) -> Any:
    key = f"field_{spec.name}"
    if spec.widget == "number":
        return st.number_input(spec.label, min_value=spec.min, max_value=spec.max,
                               value=spec.default, step=spec.step, key=key, help=spec.help)
    if spec.widget == "select":
        return st.selectbox(spec.label, spec.options, key=key)
    if spec.widget == "checkbox":
        return st.checkbox(spec.label, value=spec.default, key=key)
    return st.text_input(spec.label, value=spec.default, key=key)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _show_prediction(ctx: AppContext, last: dict[str, Any], token: str | None) -> None:
    positive = ctx.params.data.positive_class
    predicted = last["predicted_class"]
    meaning = ctx.params.data.class_labels.get(str(predicted))  # data.class_labels in params
    c1, c2, c3 = st.columns(3)
    c1.metric("Predicted class", f"{predicted} ({meaning})" if meaning else str(predicted))
    c2.metric(f"Probability of class {positive}", f"{last['probability']:.1%}")
    c3.metric("Answered by", f"v{last['version']} ({last['routed']})")
    st.caption(f"request id `{last['request_id']}`: logged for monitoring")
    if last["routed"] == "pinned":
        st.caption(f"v{last['version']} was chosen in the version selector: this prediction "
                   "is logged apart and never counts as production or canary traffic.")
    with st.expander("Record the true outcome (feedback)"):
        labels = list(ctx.schema.labels) or [0, 1]
        truth = st.radio("What actually happened?", labels, horizontal=True,
                         key="feedback_label")
        if st.button("Record outcome", key="feedback_submit"):
            try:
                trusted = ctx.record_feedback(last["request_id"], int(truth), token=token)
            except MLOpsError as exc:
                st.error(exc.message)
                return
            st.success(f"Recorded outcome {truth} for request {last['request_id'][:8]}")
            if trusted:
                st.caption("Recorded as operator feedback: trusted evidence for the "
                           "automatic rules.")
            else:
                st.caption("Recorded as public feedback: shown to operators, not used for "
                           "automatic decisions (rollback, canary).")


def render_batch(ctx: AppContext, version: int | None, session_key: str) -> None:
    """Score an uploaded (or pasted) CSV after validating it; offer the results."""
    st.subheader("Score a CSV file")
    st.caption(f"Columns: {', '.join(ctx.schema.serving_columns)}. At most "
               f"{MAX_UPLOAD_ROWS:,} rows and {MAX_UPLOAD_BYTES // 1000:,} kB.")
    upload = st.file_uploader("CSV file", type=["csv"], key="batch_file")
    pasted = st.text_area("…or paste CSV text", key="batch_text", height=120)
    if not st.button("Score", key="batch_score"):
        return
    data = upload.getvalue() if upload is not None else pasted.encode("utf-8")
    result = validate_batch(data, ctx.schema)
    if not result.ok:
        st.error(f"The file cannot be scored: {result.total_issues} problem(s).")
        st.dataframe(pd.DataFrame([{"row": i.row, "column": i.column, "problem": i.message}
                                   for i in result.issues]), hide_index=True)
        if result.total_issues > len(result.issues):
            st.caption(f"Showing the first {len(result.issues)} problems.")
        return
    if result.ignored_columns:
        shown = [c if len(c) <= 64 else c[:64] + "…" for c in result.ignored_columns]
        st.info(f"Ignored columns: {', '.join(shown)}")
    note = out_of_range_note(result.frame, ctx.schema)
    if note:
        st.warning(note)
    try:
        scored = ctx.predict(result.frame, version=version, session_key=session_key)
    except MLOpsError as exc:
        st.error(exc.message)
        return
    st.success(f"Scored {len(scored.frame)} rows with v{scored.version}.")
    st.dataframe(scored.frame, hide_index=True, key="batch_results")
    st.download_button("Download results", to_csv_bytes(scored.frame),
                       file_name="predictions.csv", mime="text/csv", key="batch_download")


def render_model_card(ctx: AppContext, version: int | None) -> None:
    """Model card, metrics, gates and plots of the chosen (or production) version."""
    number = version if version is not None else ctx.status().production
    if number is None:
        st.info("No version to show yet: run `make pipeline`.")
        return
    mv = ctx.version_info(number)
    st.subheader(f"{mv.label}")
    st.caption(f"registered {mv.created} · gates "
               f"{'passed' if mv.gates_passed else 'FAILED'} · sha256 {mv.sha256[:12]}…")
    metrics = mv.metadata.get("metrics") or {}
    if metrics:
        st.dataframe(pd.DataFrame({"metric": list(metrics), "value": list(metrics.values())}),
                     hide_index=True, key="card_metrics")
    gates = mv.metadata.get("gates") or []
    if gates:
        st.dataframe(pd.DataFrame(gates), hide_index=True)
    plots = sorted(f for f in mv.files if f.startswith("plots/") and f.endswith(".png"))
    if plots:
        cols = st.columns(2)
        for i, fname in enumerate(plots):
            cols[i % 2].image(str(ctx.registry.file_path(ctx.name, number, fname)),
                              caption=fname.removeprefix("plots/"))
    if "README.md" in mv.files:
        with st.expander("Model card", expanded=not plots):
            text = ctx.registry.file_path(ctx.name, number, "README.md").read_text("utf-8")
            st.markdown(_without_images(text))
    if "evaluation.json" in mv.files:
        with st.expander("evaluation.json"):
            path = ctx.registry.file_path(ctx.name, number, "evaluation.json")
            st.json(json.loads(path.read_text("utf-8")), expanded=False)


def _without_images(markdown: str) -> str:
    # Relative image links in the card point into the run folder; the plots are shown above.
    return "\n".join(line for line in markdown.splitlines() if not line.lstrip().startswith("!["))
