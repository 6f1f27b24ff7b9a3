"""Building and fitting the model pipeline chosen in ``params.yaml``.

``model.estimator`` is one of three short names or the import path of any
scikit-learn-compatible classifier; one without ``predict_proba`` is calibrated. The
features are the schema's serving columns minus ``data.id_columns`` and
``data.drop_columns``: a column the schema does not know never reaches training, whatever
the validation severities say. A fitted
pipeline must hold only types in the reviewed list (``mlops/core/trusted_types.txt``), and
its bytes must not depend on the machine's core count.
"""

from __future__ import annotations

import importlib
from typing import Any

import pandas as pd
from sklearn.base import is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlops.core.config import Params
from mlops.core.exceptions import ConfigError, DataError
from mlops.core.schema import Schema, load_schema
from mlops.core.threads import limited_threads
from mlops.stages.features import build_preprocessor
from mlops.stages.metrics import positive_index

__all__ = [
    "ESTIMATORS",
    "build_estimator",
    "build_pipeline",
    "check_trusted",
    "describe",
    "estimator_class",
    "feature_columns",
    "train",
]

ESTIMATORS: dict[str, type] = {
    "logistic_regression": LogisticRegression,
    "hist_gradient_boosting": HistGradientBoostingClassifier,
    "random_forest": RandomForestClassifier,
}
# Where an estimator's package comes from, for the "cannot import" hint.
_INSTALL_HINTS = {"lightgbm": "pip install -e '.[boosting]' (the optional extra)"}


def estimator_class(name: str) -> type:
    """The class named by ``model.estimator``: a short name or an import path."""
    if name in ESTIMATORS:
        return ESTIMATORS[name]
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = module_name.partition(".")[0]
        hint = _INSTALL_HINTS.get(package, f"install the package that provides {package!r}")
        raise ConfigError(f"model.estimator {name!r}: cannot import {module_name!r} ({exc}); "
                          f"{hint}", key="model.estimator") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise ConfigError(f"model.estimator {name!r}: {module_name!r} has no class {attr!r}",
                          key="model.estimator")
    return cls


def build_estimator(params: Params) -> Any:
    """The unfitted, seeded estimator of ``model.estimator`` with its hyperparameters.

    ``random_state`` is set to ``params.seed`` only when the estimator accepts it and the
    hyperparameters do not set it. Evaluation needs class probabilities (ROC-AUC, Brier,
    calibration): a classifier with only ``decision_function`` (``sklearn.svm.SVC``,
    ``RidgeClassifier``) is wrapped in ``CalibratedClassifierCV(method="sigmoid",
    ensemble=False)``, as scikit-learn advises, and :func:`describe` records it; one with
    neither is refused.
    """
    name = params.model.estimator
    key = f"model.hyperparameters.{name}"
    cls = estimator_class(name)
    hyperparameters = params.hyperparameters
    try:
        estimator = cls(**hyperparameters)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}", key=key) from None
    if not all(hasattr(estimator, a) for a in ("fit", "get_params", "set_params")):
        raise ConfigError(f"model.estimator {name!r} is not a scikit-learn-compatible "
                          "estimator (fit, get_params, set_params)", key="model.estimator")
    if not _is_classifier(estimator):
        raise ConfigError(f"model.estimator {name!r} is not a classifier; the template trains "
                          "classifiers only (regression is not supported yet)",
                          key="model.estimator")
    if "random_state" in estimator.get_params(deep=False) and "random_state" not in \
            hyperparameters:
        estimator.set_params(random_state=params.seed)
    if not hasattr(estimator, "predict_proba"):
        if not hasattr(estimator, "decision_function"):
            raise ConfigError(
                f"model.estimator {name!r} has neither predict_proba nor decision_function; "
                "evaluation needs class probabilities (ROC-AUC, Brier, calibration). Choose a "
                "classifier that scores its classes", key="model.estimator")
        # scikit-learn's own advice (SVC's probability switch is deprecated since 1.9).
        estimator = CalibratedClassifierCV(estimator, method="sigmoid", ensemble=False)
    return estimator


def build_pipeline(params: Params, features: pd.DataFrame) -> Pipeline:
    """Unfitted ``Pipeline`` of the feature transformer and the seeded estimator."""
    return Pipeline([("features", build_preprocessor(features)),
                     ("model", build_estimator(params))])


def feature_columns(params: Params, frame: pd.DataFrame, schema: Schema) -> list[str]:
    """The columns of ``frame`` the model learns from, in the frame's order.

    A feature is a serving column of the schema that is not the target and not in
    ``data.id_columns`` or ``data.drop_columns``. Columns the schema does not know are
    never features, even when the schema check is only a warning.
    """
    data = params.data
    for key, names in (("data.id_columns", data.id_columns),
                       ("data.drop_columns", data.drop_columns)):
        unknown = [c for c in names if c not in frame.columns and c not in schema.by_name]
        if unknown:
            raise ConfigError(f"{key} names {unknown}, which are not columns of the data; "
                              f"columns are {list(frame.columns)}", key=key)
    excluded = {data.target, *data.id_columns, *data.drop_columns}
    serving = set(schema.serving_columns)
    columns = [c for c in frame.columns if c in serving and c not in excluded]
    if not columns:
        raise DataError(
            f"no feature columns left: the data's columns {list(frame.columns)} minus the "
            f"target, data.id_columns and data.drop_columns have none in the schema's "
            f"serving_columns {list(schema.serving_columns)} (is data.schema the schema of "
            "this data? re-run `mlops schema infer`)", rule="features")
    return columns


def train(params: Params, train_frame: pd.DataFrame, *, schema: Schema | None = None
          ) -> Pipeline:
    """Fit the pipeline on ``train_frame`` (features plus the target column).

    ``schema`` defaults to ``data.schema``; only its serving columns can be features.
    """
    schema = schema if schema is not None else load_schema(params.resolve(params.data.schema))
    target = params.data.target
    if target not in train_frame.columns:
        raise DataError(f"target column {target!r} is missing from the training data",
                        column=target, rule="target")
    labels = tuple(sorted(pd.unique(train_frame[target].dropna()), key=str))
    if len(labels) < 2:
        raise DataError(f"target {target!r} has only the label(s) {list(labels)} in the "
                        "training data; a classifier needs at least two", column=target,
                        rule="labels")
    positive_index(labels, params.data.positive_class)  # a binary target needs one
    features = train_frame[feature_columns(params, train_frame, schema)]
    pipeline = build_pipeline(params, features)
    if isinstance(pipeline[-1], CalibratedClassifierCV) and not _asked_for(pipeline[-1], params):
        # Stratified folds need every class in each: at most 5, at least 2.
        fewest = int(train_frame[target].value_counts().min())
        pipeline[-1].set_params(cv=max(2, min(5, fewest)))
    with limited_threads():
        pipeline.fit(features, train_frame[target])
    _independent_of_machine(pipeline)
    check_trusted(pipeline, params.model.estimator)
    return pipeline


def check_trusted(model: Any, estimator: str = "") -> None:
    """Refuse a fitted model that holds types nobody reviewed.

    ``skops`` lists the types of ``model`` that it does not trust by default; each must be
    in the committed list read by :mod:`mlops.core.modelio`, or no one could load the model
    file. The error names the exact types and the file to add them to, after review.
    """
    import skops.io as sio

    from mlops.core.modelio import TRUSTED_TYPES, TRUSTED_TYPES_FILE

    what = f"model.estimator {estimator!r}" if estimator else type(model).__name__
    try:
        needed = set(sio.get_untrusted_types(data=sio.dumps(model)))
    except Exception as exc:  # skops cannot represent some object of the model
        raise ConfigError(f"{what}: the fitted model cannot be saved with skops "
                          f"({type(exc).__name__}: {exc})", key="model.estimator") from None
    missing = sorted(needed - TRUSTED_TYPES)
    if missing:
        raise ConfigError(
            f"{what}: the fitted model holds types that are not in the reviewed list, so "
            f"its file could not be loaded: {', '.join(missing)}. Review each one (loading "
            "it must only rebuild data, never run code chosen by the file) and add it, one "
            f"name a line, to {TRUSTED_TYPES_FILE}; then run again",
            key="model.estimator", types=missing, file=str(TRUSTED_TYPES_FILE),
        )


def describe(pipeline: Pipeline, params: Params, *, rows: dict[str, int], model_sha256: str
             ) -> dict[str, Any]:
    """JSON-ready summary of a fitted pipeline for ``training.json`` and the registry."""
    inputs = [str(c) for c in getattr(pipeline, "feature_names_in_", [])]
    model = pipeline[-1]
    calibrated = None
    if isinstance(model, CalibratedClassifierCV) and not _asked_for(model, params):
        calibrated = (f"CalibratedClassifierCV(method='sigmoid', ensemble=False, "
                      f"cv={model.cv}): {params.model.estimator} has no predict_proba")
    return {
        "estimator": params.model.estimator,
        "calibrated": calibrated,
        "hyperparameters": params.hyperparameters,
        "seed": params.seed,
        "rows": rows,
        "classes": [c.item() if hasattr(c, "item") else c for c in pipeline.classes_],
        "inputs": inputs,
        "not_features": {"id_columns": list(params.data.id_columns),
                         "drop_columns": list(params.data.drop_columns)},
        "feature_names": [str(n) for n in pipeline[:-1].get_feature_names_out()],
        "model_sha256": model_sha256,
    }


def _asked_for(model: Any, params: Params) -> bool:
    """True when ``model`` is the estimator params named, not our calibration wrapper."""
    return estimator_class(params.model.estimator) is type(model)


def _is_classifier(estimator: Any) -> bool:
    try:
        return bool(is_classifier(estimator))
    except Exception:  # an estimator without scikit-learn's tags
        return getattr(estimator, "_estimator_type", None) == "classifier"


def _independent_of_machine(model: Any) -> None:
    """Drop what a fit records about the machine, so equal fits save to equal bytes.

    ``HistGradientBoosting*`` keeps the OpenMP thread count of the fit in
    ``_bin_mapper.n_threads``; ``None`` (the constructor default) makes ``transform`` and
    ``predict`` use the cores of wherever the model runs.
    """
    for _, estimator in getattr(model, "steps", None) or [("", model)]:
        mapper = getattr(estimator, "_bin_mapper", None)
        if mapper is not None and hasattr(mapper, "n_threads"):
            mapper.n_threads = None
