"""Who may act as operator: the token check every operator action repeats itself.

No Streamlit here. The token lives in ``MLOPS_ADMIN_TOKEN`` on the server; the app passes
the text the user typed, and nothing trusts a flag in the session state.

Two defences against guessing:

- **A weak configured token is refused** (:func:`token_weakness`): the operator screen stays
  disabled and says why, and the server log says it once, with a command that generates a
  good token (:data:`GENERATE_TOKEN`).
- **Wrong tokens slow down exponentially** per browser session and per client address
  (:class:`AttemptLimiter`, :func:`check_attempt`), and each one is logged without the text
  that was typed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple

from mlops.core.exceptions import AccessDeniedError

__all__ = ["ADMIN_TOKEN_ENV", "GENERATE_TOKEN", "LIMITER", "MIN_TOKEN_CHARS", "AttemptLimiter",
           "Verdict", "check_admin_token", "check_attempt", "client_address", "configured_weakness",
           "operator_configured", "require_operator", "token_problem", "token_weakness"]

ADMIN_TOKEN_ENV = "MLOPS_ADMIN_TOKEN"
GENERATE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
MIN_TOKEN_CHARS = 16
MIN_DISTINCT_CHARS = 8
MIN_TOKEN_BITS = 64  # length x log2(alphabet): 16 hex digits, 20 decimal digits

log = logging.getLogger(__name__)

# Leet spellings folded back to letters before looking for common words ("s3cret").
_LEET = str.maketrans("013457@$", "oieastas")
# Words people put in a token they make up; a token built from them (plus digits and
# separators) is guessed from a word list long before its length suggests.
_COMMON_WORDS = sorted({
    "access", "admin", "administrator", "app", "changeme", "default", "demo", "dragon",
    "guest", "hello", "huggingface", "iloveyou", "key", "letmein", "login", "master",
    "mlops", "model", "monkey", "operator", "pass", "passwd", "password", "please", "qwerty",
    "azerty", "root", "secret", "space", "streamlit", "super", "test", "token", "user",
    "welcome",
}, key=len, reverse=True)
_COMMON = re.compile("|".join(_COMMON_WORDS))


def token_weakness(token: str) -> str | None:
    """Why ``token`` is too weak to guard the operator screen, or None when it is fine.

    The rule (docs/app.md): at least :data:`MIN_TOKEN_CHARS` characters, at least
    :data:`MIN_DISTINCT_CHARS` different ones, at least :data:`MIN_TOKEN_BITS` bits as
    length x log2(alphabet) (digits only need 20), no run of neighbouring characters such
    as ``abcdef`` or ``4321`` for most of it, and not built from common words. A token from
    :data:`GENERATE_TOKEN` always passes. The reasons name the rule, never the token's own
    length or characters: they are shown on a public page.
    """
    token = token.strip()
    if len(token) < MIN_TOKEN_CHARS:
        return f"it is shorter than {MIN_TOKEN_CHARS} characters"
    if len(set(token)) < MIN_DISTINCT_CHARS:
        return (f"it uses fewer than {MIN_DISTINCT_CHARS} different characters (repeated "
                "characters or a short pattern)")
    if len(token) * math.log2(_alphabet(token)) < MIN_TOKEN_BITS:
        return (f"it is too predictable for its length (under {MIN_TOKEN_BITS} bits: digits "
                "only need at least 20)")
    if _mostly_a_run(token):
        return "it is mostly a run of neighbouring characters (such as abcd or 4321)"
    # What is left once separators and common words (as spelt, and in leet) are taken out.
    letters = re.sub(r"[^0-9a-z]", "", token.lower())
    rests = [_COMMON.sub("", text) for text in (letters, letters.translate(_LEET))]
    if any(len(set(rest)) < MIN_DISTINCT_CHARS or _mostly_a_run(rest) for rest in rests):
        return ("it is built from common words and patterns (such as secret, token, admin "
                "or 1234)")
    return None


def _mostly_a_run(text: str) -> bool:
    """True when at least half the neighbouring pairs are consecutive characters."""
    steps = sum(abs(ord(b) - ord(a)) == 1 for a, b in zip(text, text[1:], strict=False))
    return steps * 2 >= len(text) - 1


def _alphabet(token: str) -> int:
    """The size of the alphabet ``token`` is drawn from, by the character classes it uses."""
    classes = [(str.isdigit, 10), (str.islower, 26), (str.isupper, 26)]
    size = sum(n for test, n in classes if any(test(c) for c in token))
    if any(not (c.isdigit() or c.islower() or c.isupper()) for c in token):
        size += 33  # punctuation and the rest of printable ASCII
    return max(size, 2)


def _configured(env: Mapping[str, str] | None) -> str:
    env = os.environ if env is None else env
    return (env.get(ADMIN_TOKEN_ENV) or "").strip()


@functools.lru_cache(maxsize=8)
def _configured_weakness(token: str) -> str | None:
    """:func:`token_weakness` of the configured token, said in the server log once per
    process (at the app's first page): why it is refused and how to make a good one."""
    weakness = token_weakness(token)
    if weakness is not None:
        log.warning("%s is refused and operator actions are disabled: %s. Generate a strong "
                    "token with: %s ; set it as %s (on a Hugging Face Space: a secret in the "
                    "Space's settings) and restart the app", ADMIN_TOKEN_ENV, weakness,
                    GENERATE_TOKEN, ADMIN_TOKEN_ENV)
    return weakness


def configured_weakness(env: Mapping[str, str] | None = None) -> str | None:
    """Why the configured ``MLOPS_ADMIN_TOKEN`` is refused (None: unset, or accepted)."""
    token = _configured(env)
    return _configured_weakness(token) if token else None


def operator_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when ``MLOPS_ADMIN_TOKEN`` is set to a token strong enough to be accepted."""
    token = _configured(env)
    return bool(token) and _configured_weakness(token) is None


def check_admin_token(entered: str | None, env: Mapping[str, str] | None = None) -> bool:
    """True only if a strong operator token is configured and ``entered`` equals it.

    The comparison is constant-time (``hmac.compare_digest``) so response time leaks
    nothing about how much of the token was right. Blank and weak tokens never match.
    """
    expected = _configured(env)
    if not expected or _configured_weakness(expected) is not None:
        return False
    if not isinstance(entered, str) or not entered:
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
    "weak": (f"operator actions are disabled: the {ADMIN_TOKEN_ENV} set on the server is too "
             f"weak; generate one with {GENERATE_TOKEN}", "weak_token"),
    "missing": (f"no operator token entered; enter the token set in {ADMIN_TOKEN_ENV}",
                "no_token"),
    "wrong": ("wrong operator token; check it and enter it again", "bad_token"),
}


def token_problem(entered: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """``None`` when ``entered`` is the operator token, else ``"missing"`` or ``"wrong"``.

    (``"disabled"`` when no token is configured, ``"weak"`` when the configured one is
    refused by :func:`token_weakness`.) The check is :func:`check_admin_token`'s
    constant-time comparison; the answer tells a typo from an empty field, nothing more.
    """
    problem = _unchecked_problem(entered, env)
    if problem is not None:
        return problem
    return None if check_admin_token(entered, env) else "wrong"


def _unchecked_problem(entered: str | None, env: Mapping[str, str] | None) -> str | None:
    """What is wrong before any comparison: nothing configured, a weak token, no text."""
    expected = _configured(env)
    if not expected:
        return "disabled"
    if _configured_weakness(expected) is not None:
        return "weak"
    if not isinstance(entered, str) or not entered.strip():
        return "missing"
    return None


# ------------------------------------------------------------------ wrong-token slow-down
class AttemptLimiter:
    """Wrong operator tokens per key (a browser session, a client address), in memory.

    After the n-th wrong token in a row from a key, no token from that key is checked for
    ``base_seconds * 2**(n-2)`` seconds, at most ``cap_seconds``: the first mistake is free
    (a typo costs nothing), the tenth waits 256 s. A right token clears its keys; a key is
    forgotten ``forget_seconds`` after its last wrong token, and at most ``max_keys`` keys
    are kept (the one whose last wrong token is oldest goes first), so the memory stays
    bounded whatever visitors send. Thread-safe: Streamlit runs each session in a thread.
    """

    def __init__(self, *, base_seconds: float = 1.0, cap_seconds: float = 900.0,
                 forget_seconds: float = 3600.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_seconds, self.cap_seconds = base_seconds, cap_seconds
        self.forget_seconds, self.max_keys, self.clock = forget_seconds, max_keys, clock
        # key -> (wrong tokens in a row, time of the last one)
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def delay(self, failures: int) -> float:
        """Seconds without a check after ``failures`` wrong tokens in a row."""
        if failures < 2:
            return 0.0
        return min(self.base_seconds * 2.0 ** (failures - 2), self.cap_seconds)

    def wait(self, keys: Sequence[str]) -> float:
        """Seconds before a token from all of ``keys`` may be checked (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                entry = self._live(key, now)
                if entry is not None:
                    failures, last = entry
                    wait = max(wait, last + self.delay(failures) - now)
        return wait

    def fail(self, keys: Sequence[str]) -> tuple[int, float]:
        """Count a wrong token for each key: ``(most wrong tokens in a row, seconds to
        wait)`` over ``keys``."""
        now = self.clock()
        most = 0
        with self._lock:
            for key in keys:
                n, _ = self._live(key, now) or (0, now)
                self._failures[key] = (n + 1, now)
                self._failures.move_to_end(key)
                most = max(most, n + 1)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        return most, self.delay(most)

    def forgive(self, keys: Sequence[str]) -> None:
        """A right token: these keys start afresh."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry[1] > self.forget_seconds:
            del self._failures[key]
            return None
        return entry


LIMITER = AttemptLimiter()  # the app's, one per server process


class Verdict(NamedTuple):
    """The answer to one token attempt: ``problem`` (None: it is the operator token,
    else as :func:`token_problem`, or ``"throttled"``: not checked) and the seconds
    before the next token is checked."""

    problem: str | None
    wait: float = 0.0


SEEN_KEY = "op_token_seen"  # in the session's memo: the last token checked, as an HMAC
_SEEN_SALT = secrets.token_bytes(32)  # per process: the memo never holds the text


def check_attempt(entered: str | None, *, memo: MutableMapping[str, Any],
                  keys: Sequence[str], env: Mapping[str, str] | None = None,
                  limiter: AttemptLimiter | None = None) -> Verdict:
    """Check ``entered`` as :func:`token_problem` does, slowed down per key.

    ``memo`` is the session's server-side state (Streamlit's session state); it keeps the
    last token checked, as an HMAC, so the page redrawing with the same text counts once,
    and a session that gave the right token keeps working while its address waits.
    ``keys`` name the session and the client (:class:`AttemptLimiter`). A wrong token is
    logged with its keys and count, never with the text typed.
    """
    limiter = LIMITER if limiter is None else limiter
    problem = _unchecked_problem(entered, env)
    if problem is not None:
        return Verdict(problem)
    digest = hmac.new(_SEEN_SALT, str(entered).strip().encode(), hashlib.sha256).hexdigest()
    seen = memo.get(SEEN_KEY)
    if seen == ("wrong", digest):
        return Verdict("wrong", limiter.wait(keys))  # counted when it was first checked
    if seen != ("right", digest) and (wait := limiter.wait(keys)) > 0:
        return Verdict("throttled", wait)
    if check_admin_token(entered, env):
        limiter.forgive(keys)
        memo[SEEN_KEY] = ("right", digest)
        return Verdict(None)
    failures, wait = limiter.fail(keys)
    memo[SEEN_KEY] = ("wrong", digest)
    log.warning("wrong operator token from %s: %d in a row; the next one is checked after "
                "%.0f s", ", ".join(keys), failures, wait)
    return Verdict("wrong", wait)


def client_address(peer: str | None, forwarded_for: str | None = None) -> str | None:
    """The visitor's address, for the wrong-token slow-down.

    ``peer`` is the connection's address (Streamlit reports None on loopback). When it is
    a proxy on this machine or a private network (a Space's proxy, a local reverse proxy),
    the visitor is the rightmost ``X-Forwarded-For`` entry that is not itself a private
    address (the proxies' own hops): each proxy appends the address it saw, so entries
    further left are whatever the client sent, and are never used.
    """
    if forwarded_for and (peer is None or _private(peer)):
        hops = [hop.strip()[:64] for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _private(hop):
                return hop
        if hops:
            return hops[0]
    return peer


def _private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback
