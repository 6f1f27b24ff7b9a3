"""The last line of defence of a public page: a failure shows a reference, never a traceback.

Streamlit would print an uncaught exception with its traceback, which names server paths
and code. :func:`guarded` runs one screen; an unexpected exception is logged server-side
with its traceback and a short reference, and the visitor sees only a generic message with
that reference. Streamlit's own control flow (``st.rerun``, ``st.stop``) raises
``BaseException`` subclasses and passes through untouched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

__all__ = ["GENERIC_ERROR", "guarded"]

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
