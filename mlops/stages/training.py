"""Building and fitting the model pipeline chosen in ``params.yaml``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlops.core.config import Params
from mlops.core.exceptions import ConfigError
from mlops.stages.features import build_preprocessor

__all__ = ["ESTIMATORS", "build_pipeline", "train", "describe"]

ESTIMATORS: dict[str, type] = {
    "logistic_regression": LogisticRegression,
    "hist_gradient_boosting": HistGradientBoostingClassifier,
    "random_forest": RandomForestClassifier,
}


def build_pipeline(params: Params, features: pd.DataFrame) -> Pipeline:
    """Unfitted ``Pipeline`` of the feature transformer and the seeded estimator."""
    cls = ESTIMATORS[params.model.estimator]
    kwargs: dict[str, Any] = {"random_state": params.seed, **params.hyperparameters}
    try:
        estimator = cls(**kwargs)
    except TypeError as exc:
        key = f"model.hyperparameters.{params.model.estimator}"
        raise ConfigError(f"{key}: {exc}", key=key) from None
    return Pipeline([("features", build_preprocessor(features)), ("model", estimator)])


def train(params: Params, train_frame: pd.DataFrame) -> Pipeline:
    """Fit the pipeline on ``train_frame`` (features plus the target column)."""
    target = params.data.target
    features = train_frame.drop(columns=[target])
    pipeline = build_pipeline(params, features)
    pipeline.fit(features, train_frame[target])
    return pipeline


def describe(pipeline: Pipeline, params: Params, *, rows: dict[str, int], model_sha256: str
             ) -> dict[str, Any]:
    """JSON-ready summary of a fitted pipeline for ``training.json`` and the registry."""
    return {
        "estimator": params.model.estimator,
        "hyperparameters": params.hyperparameters,
        "seed": params.seed,
        "rows": rows,
        "classes": [c.item() if hasattr(c, "item") else c for c in pipeline.classes_],
        "feature_names": [str(n) for n in pipeline[:-1].get_feature_names_out()],
        "model_sha256": model_sha256,
    }
