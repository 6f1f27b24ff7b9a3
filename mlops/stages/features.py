"""The feature pipeline: one ``ColumnTransformer`` built from the columns' dtypes."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops.core.schema import is_number

__all__ = ["MAX_CATEGORIES", "MIN_CATEGORY_ROWS", "MIN_CATEGORY_SHARE", "SPARSE_THRESHOLD",
           "accepts_sparse", "build_preprocessor", "min_category_rows", "split_columns"]

# A category keeps a column of its own only when it is seen in at least MIN_CATEGORY_ROWS
# training rows and in at least MIN_CATEGORY_SHARE of them; rarer ones share one
# "infrequent" column. A fixed row count alone kept 7,500 columns for two long-tail text
# columns on 45,000 rows (docs/scale.md); the share makes the threshold grow with the data.
MIN_CATEGORY_ROWS = 5
MIN_CATEGORY_SHARE = 0.001
# At most this many columns per text column (the infrequent one included): the most frequent
# categories keep theirs. It bounds the width whatever the data, which matters most for the
# estimators that need a dense matrix (HistGradientBoosting).
MAX_CATEGORIES = 50
# Output density below which the features stay a sparse matrix, when the estimator takes one
# (scikit-learn's ColumnTransformer default).
SPARSE_THRESHOLD = 0.3


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Names of the numeric and of the categorical (everything else) columns, in order."""
    numeric = [c for c in frame.columns if is_number(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    return numeric, categorical


def min_category_rows(rows: int) -> int:
    """Training rows a category needs for a column of its own, for ``rows`` training rows."""
    return max(MIN_CATEGORY_ROWS, math.ceil(MIN_CATEGORY_SHARE * rows))


def accepts_sparse(estimator: Any) -> bool:
    """True when ``estimator`` fits on a scipy sparse matrix, by scikit-learn's input tags.

    An estimator without scikit-learn's tags is taken to need a dense array.
    """
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(estimator).input_tags.sparse)
    except Exception:  # not a scikit-learn estimator, or tags that cannot be read
        return False


def build_preprocessor(features: pd.DataFrame, *, sparse: bool = False) -> ColumnTransformer:
    """Scale numeric columns and one-hot encode categorical ones.

    ``features`` is the frame the preprocessor will be fitted on: its row count sets the
    grouping threshold (:func:`min_category_rows`). Missing values are imputed. Categories
    below that threshold, and beyond the :data:`MAX_CATEGORIES` most frequent of a column,
    are grouped as infrequent; an unseen category encodes like an infrequent one (all zeros
    when there is none), so a serving request with a new category still gets a prediction.
    With ``sparse`` (the estimator accepts a sparse matrix: :func:`accepts_sparse`), the
    output is a sparse matrix when less than :data:`SPARSE_THRESHOLD` of it is non-zero,
    so many one-hot columns cost memory only for their ones; otherwise it is dense.
    """
    numeric, categorical = split_columns(features)
    return ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                              ("scale", StandardScaler())]), numeric),
            ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                              ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                                       min_frequency=min_category_rows(
                                                           len(features)),
                                                       max_categories=MAX_CATEGORIES,
                                                       sparse_output=sparse))]), categorical),
        ],
        sparse_threshold=SPARSE_THRESHOLD if sparse else 0.0,
        verbose_feature_names_out=True,
    )
