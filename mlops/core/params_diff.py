"""The parameters two runs differ in, as the PR report and the app's Compare screen list them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["IGNORED_PARAMS", "flatten", "params_diff"]

# Where a run keeps its state is not what the model is: CD registers on the Hub and CI
# locally, so these differ on every pull request and are left out of the parameter diff.
IGNORED_PARAMS = ("registry.", "monitoring.log_path")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``; lists stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = list(value) if isinstance(value, tuple) else value
    return flat


def params_diff(production: Mapping[str, Any], candidate: Mapping[str, Any]
                ) -> list[dict[str, Any]]:
    """The parameters that differ, as ``{key, production, candidate}`` rows (sorted by key);
    a key missing on one side is ``None`` there. :data:`IGNORED_PARAMS` are left out."""
    ours, theirs = flatten(candidate), flatten(production)
    rows = []
    for key in sorted(set(ours) | set(theirs)):
        if key.startswith(IGNORED_PARAMS):
            continue
        if _plain(ours.get(key)) != _plain(theirs.get(key)):
            rows.append({"key": key, "production": theirs.get(key),
                         "candidate": ours.get(key)})
    return rows


def _plain(value: Any) -> Any:
    """Compare 1 and 1.0 as equal, lists and tuples alike."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
