"""Streamlit app: try the serving model, compare versions, operate releases.

Layout and session state only; each screen is drawn by ``mlops.app.public`` or
``mlops.app.operator`` and every decision comes from ``mlops``. Run it with ``make app``.
The page is public: each part runs under ``mlops.app.guard.guarded``, so an unexpected
error shows a reference, never a traceback (``.streamlit/config.toml`` says the same).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import streamlit as st

from mlops.app.auth import operator_configured
from mlops.app.context import AppContext, context_key
from mlops.app.guard import guarded
from mlops.app.public import render_batch, render_model_card, render_predict, version_select

APP_DIR = Path(__file__).resolve().parent
SERVING = "serving"  # version-selector value meaning "whatever production serves now"
SCREENS = ("Predict", "Batch", "Model card", "Compare", "Operator")
# Session state that outlives a change of model: who the visitor is and where they are.
KEEP_ACROSS_MODELS = frozenset({"model_choice", "session_id", "screen", "admin_token",
                                "operator_name"})


@st.cache_resource(show_spinner=False)
def get_context(key: str, params_file: str) -> AppContext:
    """One context per process, settings (``key``) and model; models stay loaded across
    reruns. ``params_file`` empty: ``MLOPS_PARAMS`` or ``params.yaml``."""
    env = {**os.environ, "MLOPS_PARAMS": params_file} if params_file else None
    return AppContext.create(APP_DIR, env)


def model_choices() -> dict[str, str]:
    """Model name -> params file for every model of the repository (``params.yaml`` and
    ``models/*/params.yaml``); empty when ``MLOPS_PARAMS`` pins the app to one model."""
    return {} if os.environ.get("MLOPS_PARAMS") else _repository_models()


@st.cache_data(ttl=60, show_spinner=False)
def _repository_models() -> dict[str, str]:
    """The repository's models, read once a minute rather than on every rerun."""
    from mlops.core.models import model_files

    return {name: str(path) for name, path in model_files(APP_DIR).items()}


def model_title(name: str) -> str:
    """A heading from the model name in params: ``churn-model`` -> ``Churn model``."""
    return name.replace("-", " ").replace("_", " ").capitalize()


def page() -> None:
    """The sidebar, the header and the chosen screen."""
    models = model_choices()
    chosen = ""
    with st.sidebar:
        st.header("Model")
    if len(models) > 1:  # one model: no picker, nothing to choose
        with st.sidebar:
            chosen = models[st.selectbox("Which model", list(models), key="model_choice")]
        if st.session_state.get("model_shown", chosen) != chosen:
            # Another model: its form, prediction and choices start afresh (two models may
            # share a column name, whose widget would otherwise keep the other's value).
            for key in list(st.session_state):
                if key not in KEEP_ACROSS_MODELS:
                    del st.session_state[key]
        st.session_state["model_shown"] = chosen
    ctx = get_context(context_key(), chosen)
    # A stable id per browser session: routing strategies (canary) keep a visitor on one
    # version.
    st.session_state.setdefault("session_id", uuid.uuid4().hex)
    # One read of the aliases per run: the header, the sidebar and every screen use it, so
    # they always agree (an action reruns the page, which reads them again).
    # The operator screen acts on the newest aliases, not a cached view.
    status = ctx.status(fresh=st.session_state.get("screen") == "Operator")

    def entry(v: int | str) -> str:
        # Short enough for the sidebar's width: the number and its aliases (the Compare
        # screen's selectors name the estimator and the date too).
        if v == SERVING:
            return (f"serving now (v{status.production})" if status.production
                    else "serving now (none yet)")
        held = [a for a, n in sorted(status.aliases.items()) if n == int(v)]
        return f"v{v} ({', '.join(held)})" if held else f"v{v}"

    with st.sidebar:
        choice = version_select(st, "Version (read-only: try or compare)",
                                [SERVING, *reversed(status.versions)], "version_choice",
                                status.aliases, entry)
        st.caption(f"Registry: {status.backend} · aliases: "
                   + (", ".join(f"{a}=v{v}" for a, v in sorted(status.aliases.items()))
                      or "none"))
        token = None
        if operator_configured():
            token = st.text_input("Operator token", type="password", key="admin_token")
            st.text_input("Operator name (recorded with each action)", key="operator_name",
                          max_chars=40)

    version = None if choice == SERVING else int(choice)
    st.title(model_title(ctx.params.model.name))
    st.markdown(f"**Serving:** `{status.label}`", help="production alias, re-read every few s")

    # One screen at a time (not st.tabs, which renders every tab on every run): the first
    # page is what counts for cold start, and a rerun only redraws what is visible.
    screen = st.radio("Screen", SCREENS, horizontal=True, key="screen",
                      label_visibility="collapsed")
    session = st.session_state["session_id"]
    if screen == "Predict":
        guarded(screen, render_predict, ctx, version, session, token)
    elif screen == "Batch":
        guarded(screen, render_batch, ctx, version, session)
    elif screen == "Model card":
        guarded(screen, render_model_card, ctx, version)
    elif screen == "Compare":
        from mlops.app.versions import render_compare

        guarded(screen, render_compare, ctx, status)
    else:
        from mlops.app.operator import render_operator

        guarded(screen, render_operator, ctx, token, status)


# No page_icon: any icon string is first checked against Streamlit's emoji table, a 0.1 s
# import on the first page; the browser tab keeps Streamlit's own icon.
st.set_page_config(page_title="Model demo", layout="wide")
# Also set here: a Space built without .streamlit/config.toml must not show tracebacks
# (server.maxUploadSize cannot be set from a script; validate_batch enforces the limit).
st.set_option("client.showErrorDetails", "none")
st.set_option("client.toolbarMode", "minimal")
guarded("page", page)
