"""Who may act as operator: the token check every operator action repeats itself.

No Streamlit here. The token lives in ``MLOPS_ADMIN_TOKEN`` on the server; the app passes
the text the user typed, and nothing trusts a flag in the session state.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from mlops.core.exceptions import AccessDeniedError

__all__ = ["ADMIN_TOKEN_ENV", "check_admin_token", "operator_configured", "require_operator",
           "token_problem"]

ADMIN_TOKEN_ENV = "MLOPS_ADMIN_TOKEN"


def operator_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when ``MLOPS_ADMIN_TOKEN`` is set to a non-blank value."""
    env = os.environ if env is None else env
    return bool((env.get(ADMIN_TOKEN_ENV) or "").strip())


def check_admin_token(entered: str | None, env: Mapping[str, str] | None = None) -> bool:
    """True only if the operator token is configured and ``entered`` equals it.

    The comparison is constant-time (``hmac.compare_digest``) so response time leaks
    nothing about how much of the token was right. Blank tokens never match.
    """
    env = os.environ if env is None else env
    expected = (env.get(ADMIN_TOKEN_ENV) or "").strip()
    if not expected or not isinstance(entered, str) or not entered:
        return False
    return hmac.compare_digest(entered.strip().encode(), expected.encode())


def require_operator(entered: str | None, env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`AccessDeniedError` unless ``entered`` is the operator token.

    Every operator action calls this itself, with the token text, rather than trusting a
    flag in the session state: a forged ``is_operator=True`` therefore unlocks nothing.
    """
    problem = token_problem(entered, env)
    if problem is not None:
        message, rule = _REFUSALS[problem]
        raise AccessDeniedError(message, rule=rule)


# Says only whether a token was given and whether it matched: nothing about length, prefix
# or the real token.
_REFUSALS = {
    "disabled": (f"operator actions are disabled: set {ADMIN_TOKEN_ENV} on the server to "
                 "enable them", "not_configured"),
    "missing": (f"no operator token entered; enter the token set in {ADMIN_TOKEN_ENV}",
                "no_token"),
    "wrong": ("wrong operator token; check it and enter it again", "bad_token"),
}


def token_problem(entered: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """``None`` when ``entered`` is the operator token, else ``"missing"`` or ``"wrong"``.

    (``"disabled"`` when no token is configured.) The check is :func:`check_admin_token`'s
    constant-time comparison; the answer tells a typo from an empty field, nothing more.
    """
    if not operator_configured(env):
        return "disabled"
    if not isinstance(entered, str) or not entered.strip():
        return "missing"
    return None if check_admin_token(entered, env) else "wrong"
