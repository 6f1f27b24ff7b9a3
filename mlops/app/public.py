"""The public screens of the app: predict, batch scoring, model card. Layout only.

Each ``render_*`` function draws one tab from an :class:`~mlops.app.context.AppContext`;
the decisions come from ``mlops.app.form`` (the form), ``mlops.app.batch`` (validation,
scoring) and the context (prediction, logging). Widget keys are stable because the tests
drive the app by key.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from mlops.app.context import AppContext
from mlops.app.form import FieldSpec, form_spec, needs_reference, option_words, row_from_form
from mlops.app.guard import operator_verdict
from mlops.app.labels import OutcomeWords, fmt_number, words
from mlops.core.exceptions import MLOpsError

__all__ = ["render_batch", "render_headline", "render_lineage", "render_model_card",
           "render_plots", "render_predict", "version_select"]


def render_predict(ctx: AppContext, version: int | None, session_key: str,
                   token: str | None = None) -> None:
    """What the model does, a form with typical values, the prediction and why.

    ``token`` is what the visitor typed as operator token: with the right one, the recorded
    outcome is trusted evidence; without it, it is stored and shown but never used by the
    automatic rules.
    """
    shown = version if version is not None else ctx.status().production
    if shown is not None:
        render_headline(ctx, shown)
    st.subheader("Try the model")
    st.caption("The form starts from a typical case (the training data's median or most "
               "common value); change any field and press Predict.")
    values: dict[str, Any] = {}
    # The schema's typical values make the form without reading the data (or pandas).
    specs = form_spec(ctx.schema, ctx.typical() if needs_reference(ctx.schema) else None)
    # Row by row (not column by column), so a phone, which stacks columns, keeps the
    # schema's order.
    for start in range(0, len(specs), 3):
        for col, spec in zip(st.columns(3), specs[start:start + 3], strict=False):
            with col:
                values[spec.name] = _widget(spec, ctx.name)
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
            "value": _plain(record.get("predicted_value", record.get("predicted_class"))),
            "probability": (None if "probability" not in record
                            else float(record["probability"])),
            "routed": result.routed, "row": row.frame.to_dict(orient="records")[0],
        }
    last = st.session_state.get("last_prediction")
    if last:
        _show_prediction(ctx, last, token)


def render_headline(ctx: AppContext, version: int) -> None:
    """The plain-words header: what the model does and how good it is."""
    from mlops.app.describe import headline

    mv = ctx.version_info(version)
    data = ctx.params.data
    st.info(headline(mv, ctx.evaluation(version), target=words(data.target),
                     task="regression" if ctx.regression else "classification",
                     class_labels={str(k): v for k, v in data.class_labels.items()},
                     unit=data.unit, n_inputs=len(ctx.schema.serving_columns)),
            icon="ℹ️")


def version_select(where: Any, label: str, options: list[Any], key: str,
                   aliases: dict[str, int], format_func: Any) -> Any:
    """A selectbox whose entries name aliases, redrawn whenever an alias moves.

    A keyed selectbox keeps showing the label its choice had when it was made, so after a
    promote it would still call the old version "production". The widget's key therefore
    carries the aliases (``key@production=2``); the choice itself is kept under ``key`` and
    survives the new widget.
    """
    sig = ",".join(f"{a}={v}" for a, v in sorted(aliases.items()))
    kept = st.session_state.get(key)
    index = options.index(kept) if kept in options else 0
    choice = where.selectbox(label, options, index=index, key=f"{key}@{sig}",
                             format_func=format_func)
    st.session_state[key] = choice
    return choice


def _widget(spec: FieldSpec, model: str) -> Any:
    # Keyed by model too: two models may share a column name, and a browser keeps a
    # widget's value by its key.
    key = f"field_{model}_{spec.name}"
    if spec.widget == "number":
        return st.number_input(spec.label, min_value=spec.min, max_value=spec.max,
                               value=spec.default, step=spec.step, key=key,
                               help=spec.help or None)
    if spec.widget == "select":
        return st.selectbox(spec.label, spec.options, key=key, format_func=option_words,
                            index=spec.options.index(spec.default), help=spec.help or None)
    if spec.widget == "checkbox":
        return st.checkbox(spec.label, value=spec.default, key=key, help=spec.help or None)
    if spec.widget == "date":  # the request carries the date as the training data wrote it
        from datetime import date

        return st.date_input(spec.label, value=date.fromisoformat(spec.default), key=key,
                             help=spec.help or None).isoformat()
    return st.text_input(spec.label, value=spec.default, key=key, help=spec.help or None)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def class_name(ctx: AppContext, value: Any) -> str:
    """A class as people call it (``data.class_labels``), else the class itself."""
    return OutcomeWords.of(ctx.params.data).class_name(value)


def _show_prediction(ctx: AppContext, last: dict[str, Any], token: str | None) -> None:
    value, proba = last["value"], last["probability"]
    c1, c2, c3 = st.columns(3)
    if proba is None:  # a number (regression)
        c1.metric(f"Predicted {words(ctx.params.data.target)}",
                  fmt_number(float(value), ctx.params.data.unit))
    else:
        c1.metric("Prediction", class_name(ctx, value))
        positive = ctx.params.data.positive_class
        about = positive if positive is not None else value
        c2.metric(f"Chance of {class_name(ctx, about)}", f"{proba:.0%}")
    c3.metric("Answered by", f"v{last['version']} ({last['routed']})")
    _show_explanation(ctx, last)
    st.caption(f"request id `{last['request_id']}`: logged for monitoring")
    if last["routed"] == "pinned":
        st.caption(f"v{last['version']} was chosen in the version selector: this prediction "
                   "is logged apart and never counts as production or canary traffic.")
    if ctx.regression:
        return  # outcomes of a number are recorded from the CLI (mlops feedback)
    with st.expander("Record the true outcome (feedback)"):
        labels = list(ctx.schema.labels)
        truth = st.radio("What actually happened?", labels, horizontal=True,
                         key="feedback_label", format_func=lambda v: class_name(ctx, v))
        if st.button("Record outcome", key="feedback_submit"):
            # The token counts only through the slowed-down check: the "trusted" answer
            # below would otherwise test tokens at full speed.
            operator = token if token and operator_verdict(token).problem is None else None
            try:
                trusted = ctx.record_feedback(last["request_id"], truth, token=operator)
            except MLOpsError as exc:
                st.error(exc.message)
                return
            st.success(f"Recorded outcome {class_name(ctx, truth)} for request "
                       f"{last['request_id'][:8]}")
            if trusted:
                st.caption("Recorded as operator feedback: trusted evidence for the "
                           "automatic rules.")
            else:
                st.caption("Recorded as public feedback: shown to operators, not used for "
                           "automatic decisions (rollback, canary).")


def _show_explanation(ctx: AppContext, last: dict[str, Any]) -> None:
    """Why: the inputs that pushed this prediction up or down, as a chart and a sentence."""
    import pandas as pd

    row = pd.DataFrame([last["row"]])
    try:
        # The prediction above is already on screen while this runs.
        with st.spinner("Working out why…"):
            explanation = ctx.explain(last["version"], row)
    except MLOpsError as exc:
        st.caption(f"No explanation: {exc.message}")
        return
    if explanation.explained_class is None:
        towards = f"a higher {words(ctx.params.data.target)}"
    else:
        towards = class_name(ctx, explanation.explained_class)
    names = {c: words(c) for c in explanation.columns}
    st.markdown("**Why?** " + explanation.sentence(towards, names))
    top = explanation.frame(6)
    if top.empty:
        return
    import altair as alt

    up, down = ("up", "down") if explanation.explained_class is None else (
        f"towards {towards}", f"away from {towards}")
    labels = {spec.name: spec for spec in form_spec(ctx.schema, {})}
    data = pd.DataFrame({
        "input": [_input_as_shown(labels.get(c), c, last["row"][c]) for c in top["column"]],
        "effect": top["contribution"].round(4),
        "direction": [f"pushes {up}" if v > 0 else f"pushes {down}"
                      for v in top["contribution"]],
    })
    # The numbers are log-odds or Shapley values: a stakeholder reads the direction and the
    # length, so a classifier's axis says which way, without numbers; a regression's
    # numbers are in the target's unit and stay.
    if explanation.explained_class is None:
        unit = f" ({ctx.params.data.unit})" if ctx.params.data.unit else ""
        axis = alt.Axis(title=f"← lowers · raises the predicted {words(ctx.params.data.target)}"
                              f"{unit} →")
    else:
        axis = alt.Axis(title=f"← pushes {down} · pushes {up} →", labels=False, ticks=False)
    # Largest push first; labels may be long ("checking account = little"), so the axis
    # gets room for them instead of Vega's default cut.
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X("effect:Q", axis=axis),
        y=alt.Y("input:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)),
        color=alt.Color("direction:N", title=None,
                        scale=alt.Scale(domain=[f"pushes {up}", f"pushes {down}"],
                                        range=["#2e7d32", "#c62828"]),
                        legend=alt.Legend(orient="bottom", direction="vertical",
                                          labelLimit=400)),
        tooltip=["input", "direction"],
    ).properties(height=alt.Step(30))
    st.altair_chart(chart, width="stretch")
    method = ("exact contributions of this linear model" if explanation.method == "linear"
              else "Shapley values against typical cases drawn from the training data's summary")
    st.caption(f"Computed as {method}; longer bars moved the result more.")
    sensitive = [c for c in top["column"] if c in ctx.params.data.sensitive_features]
    if sensitive:
        st.info(fairness_note(sensitive), icon="⚖️")


def fairness_note(columns: list[str]) -> str:
    """One plain sentence when a sensitive feature moved a prediction: where to read how
    the model treats each group."""
    named = " and ".join(words(c) for c in columns)
    verb = "is" if len(columns) == 1 else "are"
    return (f"{named[0].upper() + named[1:]} {verb} among the inputs that moved this "
            f"prediction most. How the model does for each group of {named} is in the "
            "model card, under Fairness.")


def _input_as_shown(spec: FieldSpec | None, column: str, value: Any) -> str:
    """An input as the form shows it: its label without the unit, the value with it
    (``Credit amount = 1,000 DM``, ``Checking account = not known``)."""
    if spec is None:
        return f"{words(column)} = {value}"
    unit = spec.label[spec.label.rfind(" (") + 2:-1] if spec.label.endswith(")") else ""
    label = spec.label[:spec.label.rfind(" (")] if unit else spec.label
    if spec.widget == "number":
        shown = fmt_number(value, unit)
    elif spec.widget == "checkbox":
        shown = "yes" if value else "no"
    else:
        shown = f"{option_words(value)} {unit}".strip()
    return f"{label} = {shown}"


def render_batch(ctx: AppContext, version: int | None, session_key: str) -> None:
    """Score an uploaded (or pasted) CSV after validating it; offer the results."""

    from mlops.app.batch import (
        MAX_UPLOAD_BYTES,
        MAX_UPLOAD_ROWS,
        out_of_range_note,
        to_csv_bytes,
        validate_batch,
    )
    from mlops.app.refusals import file_type_problem, refusal

    st.subheader("Score a CSV file")
    st.caption(f"Columns: {', '.join(ctx.schema.serving_columns)}. At most "
               f"{MAX_UPLOAD_ROWS:,} rows and {MAX_UPLOAD_BYTES // 1000:,} kB, for a file "
               "or pasted text.")
    # Any file type is taken and checked here: the uploader's own filter only marks a
    # wrong file red, without a word, and leaves the last result on screen.
    upload = st.file_uploader("CSV file", key="batch_file")
    if upload is not None and (wrong := file_type_problem(upload.name)):
        st.error(wrong)
        return
    # One character over the cap: a longer paste, cut there by the browser or by Streamlit,
    # is still over it and refused below, never scored with its last rows missing.
    pasted = st.text_area("…or paste CSV text", key="batch_text", height=120,
                          max_chars=MAX_UPLOAD_BYTES + 1)
    if not st.button("Score", key="batch_score"):
        return
    data = upload.getvalue() if upload is not None else pasted.encode("utf-8")
    if upload is None and len(data) > MAX_UPLOAD_BYTES:
        st.error(f"The pasted text is longer than the limit of {MAX_UPLOAD_BYTES:,} bytes, "
                 "the same as for a file. Paste fewer rows at a time, or split them into "
                 "files and upload them one by one.")
        return
    result = validate_batch(data, ctx.schema)
    if not result.ok:
        refused = refusal(data, result, ctx.schema, target=ctx.params.data.target)
        st.error(refused.message)
        if refused.cells:
            st.dataframe(refused.cells_frame(), hide_index=True, key="batch_problems")
        return
    unknown = [c for c in result.ignored_columns if c != ctx.params.data.target]
    if unknown:
        shown = [c if len(c) <= 64 else c[:64] + "…" for c in unknown]
        st.info(f"Not used by the model, left out: {', '.join(shown)}")
    note = out_of_range_note(result.checked)
    if note:
        st.warning(note)
    try:
        scored = ctx.predict(result.checked, version=version, session_key=session_key)
    except MLOpsError as exc:
        st.error(exc.message)
        return
    outcome = OutcomeWords.of(ctx.params.data)
    binary = not ctx.regression and len(ctx.schema.labels) == 2
    table = outcome.batch_table(scored.frame, binary=binary)
    st.success(f"Scored {len(table)} rows with v{scored.version}.")
    # The inputs keep their names in the download (they are the user's own columns); on
    # screen they read as the form labels them.
    config: dict[str, Any] = {spec.name: st.column_config.Column(spec.label)
                              for spec in form_spec(ctx.schema, {})}
    chance = outcome.chance_column(binary)
    if chance in table.columns:
        config[chance] = st.column_config.NumberColumn(chance, format="percent")
    st.dataframe(table, hide_index=True, key="batch_results", column_config=config)
    st.download_button("Download results", to_csv_bytes(table),
                       file_name="predictions.csv", mime="text/csv", key="batch_download")


CARD_VIEWS = ("Summary", "Plots", "Fairness", "Lineage", "Model card text")


def render_model_card(ctx: AppContext, version: int | None) -> None:
    """One version: plain-words summary, metrics, gates; plots and the rest on demand.

    Only the chosen part is drawn (a radio, not tabs), so the plots are read only when
    someone opens them.
    """
    from mlops.app import describe

    number = version if version is not None else ctx.status().production
    if number is None:
        st.info("No version to show yet: run `make pipeline`.")
        return
    mv = ctx.version_info(number)
    evaluation = ctx.evaluation(number)
    st.subheader(f"{mv.label}")
    st.caption(f"registered {mv.created.replace('T', ' ')} · gates "
               f"{'passed' if mv.gates_passed else 'FAILED'} · sha256 {mv.sha256[:12]}…")
    render_headline(ctx, number)
    view = st.radio("Part", CARD_VIEWS, horizontal=True, key="card_view",
                    label_visibility="collapsed")
    unit = ctx.params.data.unit
    outcome = OutcomeWords.of(ctx.params.data)
    if view == "Summary":
        metrics = describe.metrics_frame(evaluation, mv.metadata, unit, outcome)
        if not metrics.empty:
            st.markdown("**How good it is** (on held-out data, with 95 % bootstrap intervals)")
            st.dataframe(metrics.drop(columns="key"), hide_index=True, key="card_metrics")
        gates = mv.metadata.get("gates") or evaluation.get("gates") or []
        if gates:
            st.markdown("**Quality gates** (every one must pass before release)")
            st.dataframe(describe.gates_frame(gates, unit, outcome), hide_index=True,
                         key="card_gates")
    elif view == "Plots":
        render_plots(ctx, number, st.container())
    elif view == "Fairness":
        fairness = describe.fairness_frame(evaluation)
        if fairness.empty:
            st.info("No fairness figures for this version (data.sensitive_features).")
        else:
            st.dataframe(fairness, hide_index=True, key="card_fairness")
    elif view == "Lineage":
        render_lineage(ctx, number, st.container())
    elif "README.md" in mv.files:
        text = ctx.registry.file_path(ctx.name, number, "README.md").read_text("utf-8")
        st.markdown(_without_front_matter(_without_images(text)))
    else:
        st.info("This version has no model card text.")


def _plot_title(fname: str) -> str:
    words = fname.removeprefix("plots/").removesuffix(".png").split("_")
    text = " ".join(w.upper() if w in ("roc", "pr", "auc") else w for w in words)
    return text[0].upper() + text[1:]


def render_plots(ctx: AppContext, version: int, where: Any) -> None:
    """The version's plots, two per row at half the page: large enough to read their text,
    small enough to see two at once (a phone stacks them)."""
    mv = ctx.version_info(version)
    plots = sorted(f for f in mv.files if f.startswith("plots/") and f.endswith(".png"))
    if not plots:
        where.info("This version has no plots.")
        return
    paths = {f: ctx.registry.file_path(ctx.name, version, f) for f in plots}
    # Wide figures (several panels side by side) get a row of their own; the others go two
    # to a row.
    wide = [f for f in plots if _aspect(paths[f]) > 1.6]
    rows = [[f] for f in wide]
    narrow = [f for f in plots if f not in wide]
    rows += [narrow[i:i + 2] for i in range(0, len(narrow), 2)]
    for row in rows:
        for col, fname in zip(where.columns(2 if len(row) > 1 or row[0] not in wide else 1),
                              row, strict=False):
            col.markdown(f"**{_plot_title(fname)}**")
            col.image(str(paths[fname]), width="stretch")


def _aspect(path: Any) -> float:
    """Width over height of a PNG, read from its header (1.0 when it is not a PNG)."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return 1.0
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return width / height if height else 1.0


def render_lineage(ctx: AppContext, version: int, where: Any) -> None:
    """Where the version's data, code and evidence live (links on the Hub)."""
    from mlops.app import describe

    registry = ctx.registry
    hub_url = None
    if registry.backend == "hub":
        hub_url = f"{getattr(registry, 'endpoint', '')}/{getattr(registry, 'repo_id', '')}"
    table = describe.lineage_rows(ctx.version_info(version), backend=registry.backend,
                               hub_url=hub_url)
    config = {"where": st.column_config.LinkColumn("where")} if hub_url else None
    where.dataframe(table, hide_index=True, column_config=config,
                    height=35 * (len(table) + 1) + 3)  # every row, no inner scrolling


def _without_front_matter(markdown: str) -> str:
    # The card's YAML header is for the Hub; people read the prose below it.
    if markdown.startswith("---"):
        end = markdown.find("\n---", 3)
        if end != -1:
            return markdown[end + 4:].lstrip()
    return markdown


def _without_images(markdown: str) -> str:
    # Relative image links in the card point into the run folder; the plots are shown above.
    return "\n".join(line for line in markdown.splitlines() if not line.lstrip().startswith("!["))
