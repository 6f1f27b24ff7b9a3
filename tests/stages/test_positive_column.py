"""One answer to "which probability is the positive class's", for serving, monitoring and
explanations alike (issue 28)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlops.monitoring.monitor import reference_scores
from mlops.stages.explain import Explainer
from mlops.stages.metrics import positive_column


@pytest.mark.parametrize(("classes", "positive", "column"), [
    ((False, True), True, 1),
    ((False, True), 1, 1),  # True == 1, as YAML may spell it
    ((False, True), False, 0),
    ((False, True), "True", 1),  # the same text
    ((0, 1), 1, 1),
    ((0, 1), 0, 0),
    ((0, 1), "1", 1),
    ((0, 1, 2), 1, 1),
    (("bad", "good"), "good", 1),
    (("bad", "good"), "bad", 0),
    (("a", "b", "c"), "a", 0),
    # Absent: the last class, never an error (serving must answer).
    ((0, 1, 2), None, 2),
    (("bad", "good"), "excellent", 1),
    ((0, 1), 7, 1),
    # A model fitted on one class has one column: that class's.
    ((1,), 1, 0),
    (("only",), "other", 0),
])
def test_positive_column_edge_cases(classes, positive, column) -> None:
    assert positive_column(classes, positive) == column


def test_no_classes_is_not_a_classifier() -> None:
    with pytest.raises(ValueError, match="without classes"):
        positive_column((), 1)


def _fitted(labels: list) -> tuple[LogisticRegression, pd.DataFrame]:
    frame = pd.DataFrame({"x": np.linspace(-3, 3, len(labels))})
    return LogisticRegression().fit(frame, labels), frame


def test_monitoring_and_explanations_use_the_same_column_when_positive_is_absent() -> None:
    """A binary model whose positive class is not one of its classes: the log's ``proba``,
    the monitor's reference scores and the explanation all speak of the last class (the
    explainer used to explain whatever class each row was predicted as)."""
    model, frame = _fitted(["no"] * 10 + ["yes"] * 10)
    params = SimpleNamespace(data=SimpleNamespace(regression=False, positive_class="maybe"))
    scores = reference_scores(model, frame, params)
    np.testing.assert_allclose(scores, model.predict_proba(frame)[:, 1])
    explainer = Explainer(model, frame, positive_class="maybe")
    low = frame.iloc[[0]]  # predicted "no"
    assert model.predict(low)[0] == "no"
    explanation = explainer.explain(low)
    assert explanation.explained_class == "yes"
    assert explanation.output == pytest.approx(
        float(model.decision_function(low)[0]))  # log-odds of "yes"


def test_boolean_classes_with_an_integer_positive_class() -> None:
    model, frame = _fitted([False] * 10 + [True] * 10)
    params = SimpleNamespace(data=SimpleNamespace(regression=False, positive_class=1))
    np.testing.assert_allclose(reference_scores(model, frame, params),
                               model.predict_proba(frame)[:, 1])
    assert Explainer(model, frame, positive_class=1).explain(
        frame.iloc[[0]]).explained_class is True
