"""Behavioural tests run on real rows: invariance and directional expectations.

Configured in ``evaluation.invariance`` (columns whose change must not change the
predicted label) and ``evaluation.directional`` (``{column: {increase_by: 24, expect:
decrease}}``: the probability of ``data.positive_class`` must not move the other way).
For a regression model both act on the predicted value: invariance fails a row whose
prediction changes (beyond rounding noise), directional one whose prediction moves the
other way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import ConfigError
from mlops.core.schema import is_number

__all__ = ["invariance_check", "directional_check", "check_directional_spec", "run_behaviour"]

# Probability moves smaller than this are numerical noise, not a violation.
_EPS = 1e-9
_DIRECTIONS = ("increase", "decrease")
_SHIFTS = ("increase_by", "decrease_by")


def invariance_check(model: Any, features: pd.DataFrame, column: str, *, seed: int,
                     regression: bool = False) -> dict[str, Any]:
    """Change ``column`` on every row and count rows whose predicted label (regression: the
    predicted value) changes.

    A categorical column is set to every other category seen in ``features``; a numeric
    column is replaced by a seeded permutation of its own values (so values stay realistic).
    """
    _require_column(features, column, "evaluation.invariance")
    base_label = model.predict(features)
    base_score = _scores(model, features, regression)
    changed = np.zeros(len(features), dtype=bool)
    max_delta = 0.0
    for variant in _variants(features[column], seed=seed):
        altered = features.copy()
        altered[column] = variant
        if regression:
            moved = _scores(model, altered, True) - base_score
            changed |= np.abs(moved) > _EPS * (1.0 + np.abs(base_score))
        else:
            changed |= model.predict(altered) != base_label
            moved = _scores(model, altered, False) - base_score
        max_delta = max(max_delta, float(np.abs(moved).max(initial=0.0)))
    return _outcome("invariance", column, changed, max_delta, regression)


def directional_check(model: Any, features: pd.DataFrame, column: str,
                      spec: Mapping[str, Any], *, positive_index: int | None) -> dict[str, Any]:
    """Shift numeric ``column`` by ``spec`` and count rows where the probability of the
    positive class (``positive_index`` None: the predicted value of a regression model)
    moves against ``spec["expect"]``; not moving at all is allowed."""
    shift, expect = check_directional_spec(column, spec)
    _require_column(features, column, "evaluation.directional")
    if not pd.api.types.is_numeric_dtype(features[column]):
        raise ConfigError(
            f"evaluation.directional.{column}: column {column!r} is not numeric; directional "
            "tests shift numeric columns only", key=f"evaluation.directional.{column}",
        )
    regression = positive_index is None
    altered = features.copy()
    altered[column] = features[column] + shift
    if regression:
        before, after = _scores(model, features, True), _scores(model, altered, True)
        noise = _EPS * (1.0 + np.abs(before))
    else:
        before = model.predict_proba(features)[:, positive_index]
        after = model.predict_proba(altered)[:, positive_index]
        noise = _EPS
    move = after - before
    wrong = move < -noise if expect == "increase" else move > noise
    result = _outcome("directional", column, wrong, float(np.abs(move).max(initial=0.0)),
                      regression)
    result["expect"] = expect
    result["shift"] = float(shift)
    return result


def check_directional_spec(column: str, spec: Mapping[str, Any]) -> tuple[float, str]:
    """``(signed shift, expected direction)`` of one directional spec, or ConfigError."""
    key = f"evaluation.directional.{column}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{key}: expected a mapping like {{increase_by: 24, expect: "
                          "decrease}}", key=key)
    unknown = sorted(set(spec) - {"expect", *_SHIFTS})
    shifts = [k for k in _SHIFTS if k in spec]
    if unknown or len(shifts) != 1 or spec.get("expect") not in _DIRECTIONS:
        raise ConfigError(
            f"{key}: {dict(spec)!r} is not valid; give exactly one of {list(_SHIFTS)} (a "
            f"number) and expect: one of {list(_DIRECTIONS)}", key=key,
        )
    amount = spec[shifts[0]]
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ConfigError(f"{key}.{shifts[0]}: {amount!r} is not a number", key=key)
    return (amount if shifts[0] == "increase_by" else -amount), spec["expect"]


def _variants(values: pd.Series, *, seed: int) -> list[np.ndarray]:
    if is_number(values):
        return [np.random.default_rng(seed).permutation(values.to_numpy())]
    categories = sorted(values.dropna().unique(), key=str)
    return [np.full(len(values), category, dtype=object) for category in categories]


def _scores(model: Any, features: pd.DataFrame, regression: bool) -> np.ndarray:
    """Predicted values (regression) or class probabilities."""
    if regression:
        return np.asarray(model.predict(features), dtype=float).ravel()
    return np.asarray(model.predict_proba(features), dtype=float)


def _outcome(kind: str, column: str, failed: np.ndarray, max_delta: float,
             regression: bool = False) -> dict[str, Any]:
    n_failed = int(failed.sum())
    return {
        "kind": kind,
        "column": column,
        "n_rows": len(failed),
        "n_failed": n_failed,
        "failed_share": n_failed / len(failed) if len(failed) else 0.0,
        "max_value_change" if regression else "max_probability_change": max_delta,
        "passed": n_failed == 0,
    }


def _require_column(features: pd.DataFrame, column: str, key: str) -> None:
    if column not in features.columns:
        raise ConfigError(
            f"{key}: column {column!r} is not a model input; inputs are "
            f"{list(features.columns)}", key=key, column=column,
        )


def run_behaviour(model: Any, features: pd.DataFrame, invariance: Sequence[str],
                  directional: Mapping[str, Mapping[str, Any]], *, seed: int,
                  positive_index: int | None, regression: bool = False
                  ) -> list[dict[str, Any]]:
    """All configured behavioural tests, invariance first, in configuration order."""
    results = [invariance_check(model, features, c, seed=seed, regression=regression)
               for c in invariance]
    results += [directional_check(model, features, c, s, positive_index=positive_index)
                for c, s in directional.items()]
    return results
