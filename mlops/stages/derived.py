"""The pipeline step that runs a model's feature code: raw request columns in, features out.

:class:`DerivedFeatures` is the first step of a pipeline whose training notebook defines
``add_features`` (see :mod:`mlops.core.feature_code`). It holds only the hash name of the
code and the column lists it saw in training, so its skops record is plain data; the code
itself comes from the ``features.py`` stored with the model. :func:`date_parts` is a helper
that feature code may use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mlops.core.exceptions import DataError
from mlops.core.feature_code import FEATURE_FUNCTION, feature_function

__all__ = ["DerivedFeatures", "date_parts", "feature_table", "unusable_columns"]


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Apply the registered feature code ``module`` to raw rows, the same in fit and serve.

    ``fit`` records the raw input columns and the columns the code returns; ``transform``
    refuses output whose columns differ from those, so a change in the code's behaviour
    can never feed the next step columns it was not fitted on.
    """

    def __init__(self, module: str = "") -> None:
        self.module = module

    def fit(self, X: pd.DataFrame, y: Any = None) -> DerivedFeatures:
        """Record the input and output columns of the feature code on the training rows."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """:meth:`fit` and the output for ``X``, running the feature code once."""
        out = self._apply(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.columns_ = [str(c) for c in out.columns]
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The feature code's output for the raw columns of ``X`` seen in ``fit`` (others,
        such as an identifier or the target, are left out as the column encoder leaves them
        out), with the columns seen in ``fit``."""
        if isinstance(X, pd.DataFrame):
            inputs = list(self.feature_names_in_)
            missing = [c for c in inputs if c not in X.columns]
            if missing:
                raise DataError(f"{FEATURE_FUNCTION} needs the raw column(s) {missing}, which "
                                f"the model was trained with", column=missing[0],
                                rule="features")
            X = X[inputs]
        out = self._apply(X)
        got = [str(c) for c in out.columns]
        if got != self.columns_:
            missing = [c for c in self.columns_ if c not in got]
            extra = [c for c in got if c not in self.columns_]
            raise DataError(f"{FEATURE_FUNCTION} returned other columns than in training "
                            f"(missing {missing}, unexpected {extra})", rule="features")
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The columns the feature code returns."""
        return np.asarray(self.columns_, dtype=object)

    def _apply(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"{FEATURE_FUNCTION} takes a table of the raw columns",
                            rule="features")
        out = feature_function(self.module)(X.copy())
        if not isinstance(out, pd.DataFrame) or len(out) != len(X):
            raise DataError(f"{FEATURE_FUNCTION} must return a DataFrame with one row per "
                            f"input row (got {type(out).__name__}"
                            f"{f' of {len(out)} rows' if hasattr(out, '__len__') else ''} "
                            f"for {len(X)} rows)", rule="features")
        return out


def date_parts(frame: pd.DataFrame, column: str, *, drop: bool = True) -> pd.DataFrame:
    """``frame`` with ``<column>_year``, ``_month``, ``_day_of_year`` and ``_weekday``
    (Monday is 0) taken from a date or datetime column, which is dropped unless ``drop``
    is false. Unparseable dates become missing values (imputed like any other)."""
    when = pd.to_datetime(frame[column], errors="coerce")
    out = frame.assign(**{f"{column}_year": when.dt.year, f"{column}_month": when.dt.month,
                          f"{column}_day_of_year": when.dt.day_of_year,
                          f"{column}_weekday": when.dt.day_of_week})
    return out.drop(columns=[column]) if drop else out


def unusable_columns(frame: pd.DataFrame) -> list[str]:
    """Columns the feature pipeline cannot encode: dates and times (use :func:`date_parts`),
    and cells that are not numbers, booleans or text."""
    def unusable(col: pd.Series) -> bool:
        if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
            return True
        return col.dtype == object and not col.dropna().map(
            lambda v: isinstance(v, str | bool | int | float)).all()

    bad = [str(name) for name in frame.columns if unusable(frame[name])]
    return bad


def feature_table(code: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """What ``code`` (``add_features``) makes of ``frame``, column by column: whether it is
    new, its type, how many values are missing and distinct. Statistics, never rows: an
    executed notebook is published with its version."""
    out = code(frame.copy())
    unusable = set(unusable_columns(out))
    return pd.DataFrame({
        "column": [str(c) for c in out.columns],
        "made by add_features": [c not in frame.columns for c in out.columns],
        "type": [str(out[c].dtype) for c in out.columns],
        "missing": [int(out[c].isna().sum()) for c in out.columns],
        "distinct": [int(out[c].nunique()) for c in out.columns],
        "usable": [c not in unusable for c in out.columns],
    }).set_index("column")
