"""Building and fitting the model pipeline chosen in ``params.yaml``.

``model.estimator`` is one of the short names or the import path of a scikit-learn
classifier or regressor, as ``data.task`` says, under a prefix of the reviewed list
``mlops/core/trusted_imports.txt``; a short name maps to a classifier or a regressor by the
task (:data:`ESTIMATORS`); the class is checked before it is called, and a classifier
without ``predict_proba`` is calibrated. The features are the schema's serving columns
minus ``data.id_columns`` and ``data.drop_columns``: a column the schema does not know
never reaches training, whatever the validation severities say. A fitted pipeline must
hold only types in the reviewed list (``mlops/core/trusted_types.txt``), and its bytes
must not depend on the machine's core count.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from mlops.core.config import Params
from mlops.core.exceptions import ConfigError, DataError, StageOrderError
from mlops.core.feature_code import FEATURE_FUNCTION, beside, cell_source, register_source
from mlops.core.imports import import_allowed
from mlops.core.schema import Schema, load_schema
from mlops.core.threads import limited_threads
from mlops.stages.derived import DerivedFeatures, unusable_columns
from mlops.stages.features import accepts_sparse, build_preprocessor
from mlops.stages.metrics import positive_index

__all__ = [
    "ESTIMATORS",
    "build_estimator",
    "build_pipeline",
    "check_trusted",
    "describe",
    "estimator_class",
    "feature_columns",
    "load_trained",
    "train",
]

# Short name -> (classifier, regressor); None where the name does not fit the task.
ESTIMATORS: dict[str, tuple[type | None, type | None]] = {
    "logistic_regression": (LogisticRegression, None),
    "hist_gradient_boosting": (HistGradientBoostingClassifier, HistGradientBoostingRegressor),
    "random_forest": (RandomForestClassifier, RandomForestRegressor),
    "ridge": (None, Ridge),
}
# What an error suggests instead: (classifier, regressor).
_EXAMPLES = ("sklearn.svm.SVC", "sklearn.svm.SVR")
def estimator_class(name: str, *, regression: bool = False) -> type:
    """The class named by ``model.estimator`` for the task, checked but never called.

    A short name maps by the task (:data:`ESTIMATORS`). An import path is resolved only
    inside the reviewed allow-list (:func:`mlops.core.imports.import_allowed`), and what it
    names must be a scikit-learn estimator class of the task's kind (a subclass of
    ``BaseEstimator`` and of ``ClassifierMixin`` or ``RegressorMixin``), so nothing that
    ``params.yaml`` names runs before it is known to be one.
    """
    task, wanted, mixin = ("regression", "regressor", RegressorMixin) if regression else \
        ("classification", "classifier", ClassifierMixin)
    if name in ESTIMATORS:
        cls = ESTIMATORS[name][regression]
        if cls is None:
            fits = [n for n, pair in ESTIMATORS.items() if pair[regression] is not None]
            raise ConfigError(
                f"model.estimator {name!r} has no {task} version, and data.task is {task}; "
                f"use one of {fits} or the import path of a scikit-learn {wanted}",
                key="model.estimator")
        return cls
    found = import_allowed(name, key="model.estimator")
    if not isinstance(found, type):
        raise ConfigError(f"model.estimator {name!r} is a {type(found).__name__}, not a "
                          f"class; name a scikit-learn {wanted} class such as "
                          f"{_EXAMPLES[regression]}", key="model.estimator", rule="estimator")
    if not issubclass(found, BaseEstimator) or not hasattr(found, "fit"):
        raise ConfigError(f"model.estimator {name!r} is not a scikit-learn estimator (a "
                          "subclass of sklearn.base.BaseEstimator with fit); name a "
                          f"scikit-learn {wanted} such as {_EXAMPLES[regression]}",
                          key="model.estimator", rule="estimator")
    if not issubclass(found, mixin):
        raise ConfigError(f"model.estimator {name!r} is not a {wanted}, and data.task is "
                          f"{task}; choose a scikit-learn {wanted} (a subclass of "
                          f"sklearn.base.{mixin.__name__}) such as {_EXAMPLES[regression]}, "
                          "or set data.task to the task of your target",
                          key="model.estimator", rule="estimator")
    return found


def build_estimator(params: Params) -> Any:
    """The unfitted, seeded estimator of ``model.estimator`` with its hyperparameters.

    The class is checked before it is called (:func:`estimator_class`); the
    hyperparameters are plain data, checked when params load. ``random_state`` is set to
    ``params.seed`` only when the estimator accepts it and the hyperparameters do not set
    it. Evaluation needs class probabilities (ROC-AUC, Brier, calibration): a classifier
    with only ``decision_function`` (``sklearn.svm.SVC``, ``RidgeClassifier``) is wrapped
    in ``CalibratedClassifierCV(method="sigmoid", ensemble=False)``, as scikit-learn
    advises, and :func:`describe` records it; one with neither is refused.
    """
    name = params.model.estimator
    key = f"model.hyperparameters.{name}"
    regression = params.data.regression
    cls = estimator_class(name, regression=regression)
    hyperparameters = params.hyperparameters
    try:
        estimator = cls(**hyperparameters)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}", key=key) from None
    if "random_state" in estimator.get_params(deep=False) and "random_state" not in \
            hyperparameters:
        estimator.set_params(random_state=params.seed)
    if regression:
        return estimator
    if not hasattr(estimator, "predict_proba"):
        if not hasattr(estimator, "decision_function"):
            raise ConfigError(
                f"model.estimator {name!r} has neither predict_proba nor decision_function; "
                "evaluation needs class probabilities (ROC-AUC, Brier, calibration). Choose a "
                "classifier that scores its classes", key="model.estimator")
        # scikit-learn's own advice (SVC's probability switch is deprecated since 1.9).
        estimator = CalibratedClassifierCV(estimator, method="sigmoid", ensemble=False)
    return estimator


def build_pipeline(params: Params, features: pd.DataFrame,
                   code: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> Pipeline:
    """Unfitted ``Pipeline`` of the feature transformer and the seeded estimator.

    ``code`` is the training notebook's ``add_features``: unless it leaves the training
    rows unchanged, it becomes the first step (:class:`DerivedFeatures`), and the
    transformer is built on its output. Columns it makes that cannot be encoded are left
    out with a warning that names them. The features stay sparse when the estimator
    accepts a sparse matrix.
    """
    steps: list[tuple[str, Any]] = []
    if code is not None:
        derive = DerivedFeatures(register_source(cell_source(code)))
        derived = derive.fit_transform(features)
        if not derived.equals(features):
            steps.append(("derive", derive))
            unusable = unusable_columns(derived)
            if unusable:
                warnings.warn(f"{FEATURE_FUNCTION} made column(s) {unusable} that the model "
                              "cannot use (dates, times or values that are not numbers, "
                              "booleans or text), so they are left out: turn a date into "
                              "numbers with date_parts (docs/features.md)", UserWarning,
                              stacklevel=3)
            features = derived.drop(columns=unusable)
    estimator = build_estimator(params)
    preprocessor = build_preprocessor(features, sparse=accepts_sparse(estimator))
    return Pipeline([*steps, ("features", preprocessor), ("model", estimator)])


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


def train(params: Params, train_frame: pd.DataFrame, *, schema: Schema | None = None,
          features: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> Pipeline:
    """Fit the pipeline on ``train_frame`` (features plus the target column).

    ``schema`` defaults to ``data.schema``; only its serving columns are the model's
    inputs, and a column that is not in the schema is a warning naming it, never used.
    ``features``: the notebook's ``add_features``, run inside the model on those raw
    columns (see :mod:`mlops.core.feature_code`).
    """
    schema = schema if schema is not None else load_schema(params.resolve(params.data.schema))
    target = params.data.target
    if target not in train_frame.columns:
        raise DataError(f"target column {target!r} is missing from the training data",
                        column=target, rule="target")
    if params.data.regression:
        values = pd.to_numeric(train_frame[target], errors="coerce")
        if values.isna().any() or values.nunique() < 2:
            raise DataError(f"target {target!r} must be a number in every training row, with "
                            "at least two distinct values, for a regression target (found "
                            f"{int(values.isna().sum())} missing or non-numeric, "
                            f"{values.nunique()} distinct)", column=target, rule="labels")
    else:
        labels = tuple(sorted(pd.unique(train_frame[target].dropna()), key=str))
        if len(labels) < 2:
            raise DataError(f"target {target!r} has only the label(s) {list(labels)} in the "
                            "training data; a classifier needs at least two", column=target,
                            rule="labels")
        positive_index(labels, params.data.positive_class)  # a binary target needs one
    unknown = [str(c) for c in train_frame.columns if c not in schema.by_name
               and c not in (target, *params.data.id_columns, *params.data.drop_columns)]
    if unknown:
        warnings.warn(f"column(s) {unknown} of the training rows are not in the schema "
                      f"({params.data.schema}), so the model cannot use them and a request "
                      f"would never carry them: compute them in the training notebook's "
                      f"{FEATURE_FUNCTION} cell instead (docs/features.md)", UserWarning,
                      stacklevel=2)
    raw = train_frame[feature_columns(params, train_frame, schema)]
    pipeline = build_pipeline(params, raw, features)
    encoded = pipeline["derive"].columns_ if "derive" in pipeline.named_steps else raw.columns
    dates = [c for c in encoded if c in schema.by_name and schema.by_name[c].kind == "date"]
    if dates:
        warnings.warn(f"date column(s) {dates} reach the model as text categories, which "
                      f"say nothing about the season or the trend: turn each into numbers "
                      f"in the training notebook's {FEATURE_FUNCTION} with "
                      f"date_parts(frame, column) (docs/features.md)", UserWarning,
                      stacklevel=2)
    if isinstance(pipeline[-1], CalibratedClassifierCV) and not _asked_for(pipeline[-1], params):
        # Stratified folds need every class in each: at most 5, at least 2.
        fewest = int(train_frame[target].value_counts().min())
        pipeline[-1].set_params(cv=max(2, min(5, fewest)))
    with limited_threads():
        pipeline.fit(raw, train_frame[target])
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
        "task": params.data.task,
        "classes": [c.item() if hasattr(c, "item") else c
                    for c in getattr(pipeline, "classes_", [])],
        "inputs": inputs,
        "not_features": {"id_columns": list(params.data.id_columns),
                         "drop_columns": list(params.data.drop_columns)},
        "feature_names": [str(n) for n in pipeline[:-1].get_feature_names_out()],
        "model_sha256": model_sha256,
    }


def load_trained(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The model and ``training.json`` that the train stage (``02_train.ipynb``) wrote into
    ``run_dir``; :class:`StageOrderError` saying to run that notebook first if it has not."""
    import json

    from mlops.core.modelio import load_model

    run_dir = Path(run_dir)
    path = run_dir / "training.json"
    if not path.is_file() or not (run_dir / "model.skops").is_file():
        raise StageOrderError(
            f"no trained model in {run_dir} (training.json and model.skops are written by "
            "the train stage): run notebooks/02_train.ipynb first with the same run_dir, or "
            "the whole pipeline with `mlops run`", file=str(path), stage="train")
    training = json.loads(path.read_text(encoding="utf-8"))
    model = run_dir / "model.skops"
    return load_model(model, sha256=training["model_sha256"],
                      feature_code=beside(model)), training


def _asked_for(model: Any, params: Params) -> bool:
    """True when ``model`` is the estimator params named, not our calibration wrapper."""
    return estimator_class(params.model.estimator,
                           regression=params.data.regression) is type(model)


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
