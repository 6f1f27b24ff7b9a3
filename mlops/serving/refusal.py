"""What the log keeps of a refused request, and of any text it logs: bounded and storable.

A refused request may be anything a client sends (100,000 fields, nested values, lone
surrogates), so the log keeps a bounded JSON summary of it (:func:`refusal_summary`) and
cuts every text it stores (:func:`loggable_text`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sized
from typing import Any

import numpy as np

__all__ = ["MAX_KEY_CHARS", "MAX_REFUSAL_CHARS", "loggable_text", "refusal_summary"]

MAX_REFUSAL_CHARS = 4096  # the most a refused request adds to the log (inputs, error)
MAX_KEY_CHARS = 200  # a routing key is an id; longer ones are cut (routing and log)
_FIELDS_SHOWN = 16
_VALUE_CHARS = 120


def _bounded(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


def loggable_text(value: Any, limit: int) -> str | None:
    """``value`` as loggable text: cut to ``limit``, lone surrogates escaped (SQLite and
    UTF-8 refuse them)."""
    if value is None:
        return None
    text = _bounded(str(value), limit) or ""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _preview(value: Any) -> Any:
    """A JSON-safe, bounded stand-in for one field of a refused request."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and -2**63 <= value < 2**63:
        return value
    if isinstance(value, float) and np.isfinite(value):
        return value
    if isinstance(value, str):
        return _bounded(value, _VALUE_CHARS)
    size = len(value) if isinstance(value, Sized) and not isinstance(value, bytes | str) \
        else None
    described: dict[str, Any] = {"type": type(value).__name__}
    if size is not None:
        described["size"] = size
    elif isinstance(value, float | int):  # nan, inf, a huge int: their kind, not their digits
        described["value"] = "non-finite" if isinstance(value, float) else "huge"
    return described


def refusal_summary(row: Any) -> str:
    """What the log keeps of a refused request: at most ``MAX_REFUSAL_CHARS`` of JSON.

    The field count, the first field names and their values (long values cut, nested ones
    replaced by their type and size), never the whole payload: a request with 100,000
    fields costs the log a few hundred bytes.
    """
    if not isinstance(row, Mapping):
        summary: dict[str, Any] = {"refused": type(row).__name__}
        if isinstance(row, Sized):
            summary["size"] = len(row)
        return json.dumps(summary)
    fields: list[tuple[str, Any]] = []
    for i, (name, value) in enumerate(row.items()):
        if i == _FIELDS_SHOWN:
            break
        fields.append((_bounded(str(name), 64) or "", _preview(value)))
    while True:  # drop fields until the JSON fits (escaped text can be 6x longer)
        summary = {"fields": len(row), "shown": dict(fields)}
        if len(row) > len(fields):
            summary["more_fields"] = len(row) - len(fields)
        text = json.dumps(summary, default=str)
        if len(text) <= MAX_REFUSAL_CHARS or not fields:
            return text
        fields.pop()
