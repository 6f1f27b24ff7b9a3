"""Scoring one loaded version: its verified ONNX twin when it may serve, else scikit-learn.

:func:`load_version` loads a version from the registry (verified by hash and trusted
types), checks that it fits the task, finds the column of its positive class and asks
:func:`~mlops.serving.compiled.load_scorer` whether its ONNX twin may serve.
:class:`LoadedModel` then scores a request (one row, no DataFrame) or a batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import ServingError
from mlops.core.schema import Schema
from mlops.registry.base import Registry
from mlops.serving.compiled import CompiledScorer, load_scorer
from mlops.stages.metrics import positive_column

__all__ = ["LoadedModel", "load_version", "plain"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One loaded version, ready to score."""

    version: int
    pipeline: Any
    positive: int  # column of the positive class in predict_proba
    classes: tuple[Any, ...]  # empty for a regression model
    compiled: CompiledScorer | None = None  # the verified ONNX twin, if it may serve

    def score_row(self, row: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray]:
        """One validated request: through onnxruntime when compiled, with no DataFrame."""
        if self.compiled is not None:
            try:
                return self.compiled.score_row(row)
            except Exception as exc:  # the skops model is the source of truth: ask it
                log.warning("v%s: the ONNX twin failed (%s); scoring with scikit-learn",
                            self.version, exc)
        return self.score(pd.DataFrame([row]), compiled=False)

    def score(self, frame: pd.DataFrame, *, compiled: bool = True, all_classes: bool = False
              ) -> tuple[np.ndarray | None, np.ndarray]:
        """(probability of the positive class, class) per row; (None, value) for regression.

        ``all_classes``: every class's probability (rows x classes) in place of the
        positive class's.
        """
        if compiled and self.compiled is not None:
            try:
                return self.compiled.score(frame, all_classes=all_classes)
            except Exception as exc:
                log.warning("v%s: the ONNX twin failed on a batch (%s); scoring with "
                            "scikit-learn", self.version, exc)
        if not self.classes:
            return None, np.asarray(self.pipeline.predict(frame), dtype=float)
        proba = self.pipeline.predict_proba(frame)
        labels = np.asarray(self.classes)[proba.argmax(axis=1)]
        return (proba if all_classes else proba[:, self.positive]), labels


def load_version(registry: Registry, name: str, version: int, *, regression: bool,
                 positive_class: Any, schema: Schema) -> tuple[LoadedModel, dict[str, Any]]:
    """``name`` v``version`` loaded and ready to score, with how it scores
    (:func:`~mlops.serving.compiled.load_scorer`'s status).

    Raises whatever the registry raises for a missing, tampered or untrusted file, and a
    ServingError for a classifier served as a regression model or the other way round.
    """
    record = registry.get(name, version)  # read once: the model and its twin both use it
    pipeline = registry.load_model(name, record)
    if regression == hasattr(pipeline, "classes_"):  # classifiers have classes
        kind = "classifier" if regression else "regressor"
        raise ServingError(f"v{version} is a {kind}, but data.task is "
                           f"{'regression' if regression else 'classification'}")
    classes = () if regression else tuple(plain(c) for c in pipeline.classes_)
    positive = positive_column(classes, positive_class) if classes else 0
    compiled, status = load_scorer(registry, name, record, pipeline, schema=schema,
                                   positive=positive)
    return LoadedModel(version, pipeline, positive, classes, compiled), status


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (other values as they are)."""
    return value.item() if hasattr(value, "item") else value
