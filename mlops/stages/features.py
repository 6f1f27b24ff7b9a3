"""The feature pipeline: one ``ColumnTransformer`` built from the columns' dtypes."""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops.core.schema import is_number

__all__ = ["MIN_CATEGORY_ROWS", "split_columns", "build_preprocessor"]

# Categories seen in fewer training rows than this share one "infrequent" column, so a
# long-tail text column does not become thousands of one-row features.
MIN_CATEGORY_ROWS = 5


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Names of the numeric and of the categorical (everything else) columns, in order."""
    numeric = [c for c in frame.columns if is_number(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    return numeric, categorical


def build_preprocessor(features: pd.DataFrame) -> ColumnTransformer:
    """Scale numeric columns and one-hot encode categorical ones.

    Missing values are imputed. Categories rarer than :data:`MIN_CATEGORY_ROWS` rows are
    grouped as infrequent, and an unseen category encodes like an infrequent one (all zeros
    when there is none), so a serving request with a new category still gets a prediction.
    """
    numeric, categorical = split_columns(features)
    return ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                              ("scale", StandardScaler())]), numeric),
            ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                              ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                                       min_frequency=MIN_CATEGORY_ROWS,
                                                       sparse_output=False))]), categorical),
        ],
        verbose_feature_names_out=True,
    )
