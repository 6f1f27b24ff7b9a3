"""The defences of a public page: no traceback, and no fast guessing of the operator token.

Streamlit would print an uncaught exception with its traceback, which names server paths
and code. :func:`guarded` runs one screen; an unexpected exception is logged server-side
with its traceback and a short reference, and the visitor sees only a generic message with
that reference. Streamlit's own control flow (``st.rerun``, ``st.stop``) raises
``BaseException`` subclasses and passes through untouched.

:func:`operator_verdict` checks the operator token typed in this browser session through
:func:`mlops.app.auth.check_attempt`, keyed by the session and the client's address, so
wrong tokens slow down exponentially however many tabs a guesser opens.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

from mlops.app import auth

__all__ = ["GENERIC_ERROR", "guarded", "operator_verdict"]

log = logging.getLogger("mlops.app")
GENERIC_ERROR = ("Something went wrong on our side (reference {ref}). It has been logged; "
                 "try again, or give the operator this reference.")


def guarded(screen: str, render: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``render(*args, **kwargs)``; on an unexpected exception log it, show a reference."""
    try:
        render(*args, **kwargs)
    except Exception:
        ref = uuid.uuid4().hex[:10]
        log.exception("app screen %r failed (reference %s)", screen, ref)
        st.error(GENERIC_ERROR.format(ref=ref))


def operator_verdict(token: str | None) -> auth.Verdict:
    """The verdict on ``token`` for this session and this client (see
    :func:`mlops.app.auth.check_attempt`): call it before trusting the token on a screen."""
    session = st.session_state.get("session_id") or "unknown"
    keys = [f"session:{session}"]
    client = _client()
    if client:
        keys.append(f"client:{client}")
    return auth.check_attempt(token, memo=st.session_state, keys=keys)


def _client() -> str | None:
    """The visitor's address (None when Streamlit knows none, as on loopback or in tests)."""
    try:
        forwarded = ",".join(st.context.headers.get_all("X-Forwarded-For")) or None
        return auth.client_address(st.context.ip_address, forwarded)
    except Exception:  # no client context (a bare script run): the session key remains
        log.debug("no client address", exc_info=True)
        return None
