"""Why the model said what it said about one row: a contribution per original column.

Two methods, chosen by the fitted pipeline:

- **exact linear**: the last step has ``coef_`` and ``intercept_`` (logistic or linear
  regression). Each transformed feature contributes ``coefficient x transformed value``;
  one-hot and scaled features are summed back to the column they came from. The
  contributions plus the intercept are exactly the model's raw output: the log-odds of the
  explained class (classification) or the predicted value (regression).
- **permutation Shapley values** (method name ``shap``) for every other estimator, on the
  original columns, against a small background sample of the reference data: one seeded
  permutation walked forward and back (antithetic sampling, Štrumbelj & Kononenko 2014; what
  ``shap.PermutationExplainer`` computes with ``max_evals = 2M+1`` and an Independent
  masker). The contributions plus the base value are exactly the model's output for that
  row: the probability of the explained class, or the predicted value.

Binary models are explained for the positive class (a positive contribution pushes towards
it); multiclass models for the predicted class. No shap: its numba functions compile on the
first call of every process (~6.5 s CPU), too much for one anonymous request; the numpy
version below costs one batched ``predict`` of ``2M x BACKGROUND_ROWS`` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.stages.metrics import positive_column

__all__ = ["Explanation", "Explainer", "column_map", "shapley_values"]

BACKGROUND_ROWS = 50  # reference rows absent columns come from: enough for a stable base


@dataclass(frozen=True)
class Explanation:
    """Contributions of each original column to one prediction, in the model's output units.

    ``base + sum(values) == output`` (up to float rounding, for both methods).
    ``scale`` says what the numbers are: ``log-odds``, ``probability`` or ``value``.
    """

    columns: tuple[str, ...]
    values: tuple[float, ...]
    base: float
    output: float
    scale: str
    method: str  # "linear" (exact) or "shapley" (permutation Shapley values)
    explained_class: Any = None  # the class the output is about; None for regression

    def top(self, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` columns with the largest absolute contribution, largest first."""
        pairs = sorted(zip(self.columns, self.values, strict=True), key=lambda p: -abs(p[1]))
        return [(c, v) for c, v in pairs[:n] if v != 0.0]

    def frame(self, n: int = 5) -> pd.DataFrame:
        """The top ``n`` as a table: column, contribution, direction (``up``/``down``)."""
        top = self.top(n)
        return pd.DataFrame({"column": [c for c, _ in top],
                             "contribution": [v for _, v in top],
                             "direction": ["up" if v > 0 else "down" for _, v in top]})

    def sentence(self, towards: str, labels: dict[str, str] | None = None, n: int = 3) -> str:
        """Plain words: which columns pushed the result towards ``towards`` (a class) and
        which away, the side of the largest contribution first. For a number (no
        ``explained_class``) the columns pushed the estimate up or down.

        ``labels`` maps column names to display names (the schema's descriptions).
        """
        labels = labels or {}
        top = self.top(n)
        if not top:
            return f"No single input moved this result away from the average for {towards}."
        number = self.explained_class is None
        sides = {True: "pushed the estimate up" if number else f"pushed it towards {towards}",
                 False: "pulled the estimate down" if number else f"pushed it away from {towards}"}
        first = top[0][1] > 0
        parts = [f"{_join(names)} {sides[side]}" for side in (first, not first)
                 if (names := [labels.get(c, c) for c, v in top if (v > 0) == side])]
        return "Mostly, " + "; ".join(parts) + "."


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def column_map(preprocessor: Any, columns: Sequence[str]) -> list[str] | None:
    """The original column of each transformed feature, or None when it cannot be told.

    Works for a ``ColumnTransformer`` (one-hot columns are named ``col_value`` inside their
    transformer) and for transformers that keep the column count (scalers).
    """
    from sklearn.compose import ColumnTransformer

    steps = getattr(preprocessor, "steps", None)
    if steps is not None and len(steps) == 1:
        preprocessor = steps[0][1]
    if isinstance(preprocessor, ColumnTransformer):
        width = sum(s.stop - s.start for s in preprocessor.output_indices_.values())
        owner: list[str | None] = [None] * width
        for name, trans, cols in preprocessor.transformers_:
            part = preprocessor.output_indices_.get(name)
            if part is None or part.stop == part.start or trans == "drop":
                continue
            cols = [columns[c] if isinstance(c, int | np.integer) else c for c in cols]
            if len(cols) == part.stop - part.start:
                names = list(cols)  # one output per input column (scaler, passthrough)
            else:
                try:
                    names = list(trans.get_feature_names_out(cols))
                except (AttributeError, ValueError, TypeError):
                    return None
            for i, out in zip(range(part.start, part.stop), names, strict=True):
                owner[i] = _owner(str(out), cols)
        return None if any(o is None for o in owner) else [str(o) for o in owner]
    return None


def _owner(feature: str, cols: Sequence[str]) -> str | None:
    # The longest column name the feature is, or starts with (``purpose_radio/TV``).
    fits = [c for c in cols if feature == c or feature.startswith(f"{c}_")]
    return max(fits, key=len) if fits else None


class Explainer:
    """Explains single rows of one fitted pipeline; build once per model version.

    ``background`` is reference data (the training rows); a sample of it is kept.
    ``positive_class`` is the class a binary model is explained for.
    """

    def __init__(self, model: Any, background: pd.DataFrame, *, positive_class: Any = None,
                 seed: int = 0) -> None:
        self.model = model
        self.seed = seed
        names = getattr(model, "feature_names_in_", None)
        self.columns = [str(c) for c in (names if names is not None else background.columns)]
        self.classes = (list(np.asarray(model.classes_).tolist())
                        if hasattr(model, "classes_") else None)
        self.positive_class = positive_class
        steps = getattr(model, "steps", None)
        final = steps[-1][1] if steps else model
        self._linear = None
        if hasattr(final, "coef_") and hasattr(final, "intercept_"):
            from sklearn.pipeline import Pipeline

            pre = Pipeline(steps[:-1]) if steps and len(steps) > 1 else None
            owners = column_map(pre, self.columns) if pre is not None else self.columns
            if owners is not None:
                self._linear = (pre, final, owners)
        sample = background[self.columns]
        if len(sample) > BACKGROUND_ROWS:
            sample = sample.sample(BACKGROUND_ROWS, random_state=seed)
        self.background = sample.reset_index(drop=True)

    @property
    def method(self) -> str:
        """``linear`` (exact) or ``shap`` (permutation Shapley values)."""
        return "linear" if self._linear is not None else "shapley"

    def _target(self, row: pd.DataFrame) -> tuple[int | None, Any]:
        """Index into ``classes`` of the explained class, and the class (None, None: value)."""
        if self.classes is None:
            return None, None
        if len(self.classes) == 2:  # the probability the router logs and the app shows
            k = positive_column(self.classes, self.positive_class)
        else:
            predicted = np.asarray(self.model.predict(row))[0]
            k = self.classes.index(predicted.item() if hasattr(predicted, "item")
                                   else predicted)
        return k, self.classes[k]

    def explain(self, row: pd.DataFrame) -> Explanation:
        """The explanation of the first row of ``row`` (original columns, as served)."""
        row = row[self.columns].iloc[:1]
        k, cls = self._target(row)
        if self._linear is not None:
            return self._explain_linear(row, k, cls)
        return self._explain_shap(row, k, cls)

    def _explain_linear(self, row: pd.DataFrame, k: int | None, cls: Any) -> Explanation:
        pre, final, owners = self._linear
        x = pre.transform(row) if pre is not None else row
        if hasattr(x, "toarray"):  # sparse features (mlops.stages.features, sparse=True)
            x = x.toarray()
        x = np.asarray(x, dtype=float)[0]
        coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
        intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=float))
        # Binary logistic models keep one row of coefficients: the log-odds of classes_[1].
        j, sign = 0, 1.0
        if coef.shape[0] > 1:
            j = k or 0
        elif k == 0 and self.classes is not None:
            sign = -1.0
        per_feature = sign * coef[j] * x
        base = sign * float(intercept[j if intercept.size > 1 else 0])
        sums: dict[str, float] = dict.fromkeys(self.columns, 0.0)
        for owner, value in zip(owners, per_feature, strict=True):
            sums[owner] += float(value)
        values = tuple(sums[c] for c in self.columns)
        scale = "log-odds" if self.classes is not None else "value"
        return Explanation(tuple(self.columns), values, base, base + sum(values), scale,
                           "linear", cls)

    def _explain_shap(self, row: pd.DataFrame, k: int | None, cls: Any) -> Explanation:
        def f(frame: pd.DataFrame) -> np.ndarray:
            if k is None:
                return np.asarray(self.model.predict(frame), dtype=float)
            return np.asarray(self.model.predict_proba(frame), dtype=float)[:, k]

        values, base, output = shapley_values(f, row, self.background, seed=self.seed)
        scale = "probability" if k is not None else "value"
        return Explanation(tuple(self.columns), tuple(float(v) for v in values), base, output,
                           scale, "shapley", cls)


def shapley_values(f: Callable[[pd.DataFrame], np.ndarray], row: pd.DataFrame,
                   background: pd.DataFrame, *, seed: int = 0
                   ) -> tuple[np.ndarray, float, float]:
    """Permutation Shapley values of ``f`` at the first row of ``row``, one per column.

    The value of a coalition of columns is the mean of ``f`` over the ``background`` rows with
    the coalition's columns taken from ``row``. One seeded permutation of the columns is
    walked forward (adding one column at a time) and backward (removing them in the same
    order); a column's value is the mean of its two marginal changes. All ``2M`` distinct
    coalitions are scored in one call of ``f`` on a frame with the background's dtypes, so
    text and categorical columns need no encoding. Returns ``(values, base, output)`` with
    ``base`` the mean of ``f`` on the background, ``output`` ``f`` on the row, and
    ``base + values.sum() == output`` up to float rounding.
    """
    columns = list(background.columns)
    m, n = len(columns), len(background)
    if m == 0 or n == 0:
        raise ValueError("shapley_values needs at least one column and one background row")
    order = np.random.default_rng(seed).permutation(m)
    # Coalition i < m+1: the first i columns of the order (i = 0: none, i = m: all).
    # Coalition m+i for 1 <= i < m: all but the first i (the walk back; it ends at none).
    on = np.zeros((2 * m, m), dtype=bool)
    for i in range(1, m + 1):
        on[i, order[:i]] = True
    for i in range(1, m):
        on[m + i] = True
        on[m + i, order[:i]] = False
    take = np.repeat(on, n, axis=0)
    x = row[columns].iloc[0]
    data = {}
    for j, c in enumerate(columns):
        back = np.tile(background[c].to_numpy(), 2 * m)
        data[c] = np.where(take[:, j], x[c], back)
    frame = pd.DataFrame(data).astype(background.dtypes.to_dict())
    out = np.asarray(f(frame), dtype=float).reshape(2 * m, n)
    output = float(out[m, 0])  # every row of the full coalition is the explained row
    value = out.mean(axis=1)
    value[m] = output
    forward = value[:m + 1]  # the first i columns, i = 0..m
    # backward[i]: all but the first i columns, i = 0..m (0: all, m: none).
    backward = np.concatenate([[output], value[m + 1:], [value[0]]])
    values = np.empty(m)
    values[order] = ((forward[1:] - forward[:-1]) + (backward[:-1] - backward[1:])) / 2
    return values, float(value[0]), output
