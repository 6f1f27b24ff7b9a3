"""Explanations of one prediction (mlops.stages.explain) and the app's plain-words story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline

from mlops.app.describe import compare_metrics, gates_frame, headline
from mlops.registry.records import ModelVersion
from mlops.stages.explain import Explainer, column_map, shapley_values
from mlops.stages.features import build_preprocessor


def _with_category(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The frame plus a text column, so one-hot features must be summed back."""
    rng = np.random.default_rng(seed)
    return frame.assign(colour=rng.choice(["red", "green", "blue"], size=len(frame)))


def _fit(estimator, x: pd.DataFrame, y) -> Pipeline:
    return Pipeline([("features", build_preprocessor(x)), ("model", estimator)]).fit(x, y)


@pytest.fixture(scope="module")
def wine():
    data = load_wine(as_frame=True)
    return _with_category(data.data.iloc[:, :6]), data.target


def test_linear_contributions_plus_intercept_are_the_logit_binary() -> None:
    x, y = load_wine(as_frame=True, return_X_y=True)
    x = _with_category(x.iloc[:, :5])
    y = (y == 1).astype(int)
    model = _fit(LogisticRegression(max_iter=2000), x, y)
    for positive in (1, 0):
        explainer = Explainer(model, x, positive_class=positive)
        assert explainer.method == "linear"
        for i in (0, 50, 120):
            row = x.iloc[[i]]
            e = explainer.explain(row)
            p = model.predict_proba(row)[0, list(model.classes_).index(positive)]
            assert e.base + sum(e.values) == pytest.approx(logit(p), abs=1e-9)
            assert e.explained_class == positive and e.scale == "log-odds"
            # One value per original column: the three one-hot colours are one column.
            assert e.columns == tuple(x.columns)


def test_linear_contributions_multiclass_and_regression(wine) -> None:
    x, y = wine
    model = _fit(LogisticRegression(max_iter=2000), x, y)
    e = Explainer(model, x).explain(x.iloc[[3]])
    k = list(model.classes_).index(model.predict(x.iloc[[3]])[0])
    raw = model.decision_function(x.iloc[[3]])[0, k]
    assert e.explained_class == model.classes_[k]
    assert e.base + sum(e.values) == pytest.approx(raw, abs=1e-9)
    xd, yd = load_diabetes(as_frame=True, return_X_y=True)
    xd = _with_category(xd)
    reg = _fit(LinearRegression(), xd, yd)
    e = Explainer(reg, xd).explain(xd.iloc[[7]])
    assert e.explained_class is None and e.scale == "value"
    assert e.output == pytest.approx(reg.predict(xd.iloc[[7]])[0], abs=1e-6)


def test_other_models_get_shap_values_that_add_up(wine) -> None:
    x, y = wine
    y = (y == 0).astype(int)
    model = _fit(RandomForestClassifier(n_estimators=20, random_state=0), x, y)
    explainer = Explainer(model, x, positive_class=1)
    assert explainer.method == "shapley"
    e = explainer.explain(x.iloc[[5]])
    assert e.output == model.predict_proba(x.iloc[[5]])[0, 1]
    assert e.base + sum(e.values) == pytest.approx(e.output, abs=1e-12)
    assert e.base == pytest.approx(model.predict_proba(explainer.background)[:, 1].mean())
    assert e.scale == "probability" and e.columns == tuple(x.columns)
    # The strongest push is a real feature of wine class 0, not noise from the fake colour.
    assert e.top(1)[0][0] != "colour"


@pytest.mark.parametrize("estimator", [
    RandomForestClassifier(n_estimators=20, random_state=0),
    HistGradientBoostingClassifier(max_iter=30, random_state=0),
])
def test_permutation_values_add_up_exactly_for_classes(wine, estimator) -> None:
    x, y = wine  # three classes: each row is explained for its predicted class
    model = _fit(estimator, x, y)
    explainer = Explainer(model, x)
    for i in (0, 70, 150):
        row = x.iloc[[i]]
        e = explainer.explain(row)
        k = list(model.classes_).index(model.predict(row)[0])
        assert e.explained_class == model.classes_[k] and e.method == "shapley"
        assert e.output == model.predict_proba(row)[0, k]
        assert e.base + sum(e.values) == pytest.approx(e.output, abs=1e-12)


@pytest.mark.parametrize("estimator", [
    RandomForestRegressor(n_estimators=20, random_state=0),
    HistGradientBoostingRegressor(max_iter=30, random_state=0),
])
def test_permutation_values_add_up_exactly_for_a_value(estimator) -> None:
    x, y = load_diabetes(as_frame=True, return_X_y=True)
    x = _with_category(x)
    model = _fit(estimator, x, y)
    explainer = Explainer(model, x)
    for i in (3, 200):
        row = x.iloc[[i]]
        e = explainer.explain(row)
        assert e.explained_class is None and e.scale == "value"
        assert e.output == model.predict(row)[0]
        assert e.base + sum(e.values) == pytest.approx(e.output, abs=1e-9)
        assert e.columns == tuple(x.columns)


def test_without_interactions_the_values_are_exact_whatever_the_permutation() -> None:
    """A model that is a sum of per-column terms: each value is coef x (x - background mean)."""
    x, y = load_diabetes(as_frame=True, return_X_y=True)
    model = LinearRegression().fit(x, y)
    background = x.sample(50, random_state=1)
    row = x.iloc[[11]]
    exact = model.coef_ * (row.to_numpy()[0] - background.to_numpy().mean(axis=0))
    for seed in range(4):
        values, base, output = shapley_values(model.predict, row, background, seed=seed)
        assert values == pytest.approx(exact, abs=1e-9)
        assert base == pytest.approx(model.predict(background).mean())
        assert output == model.predict(row)[0]


def test_text_and_categorical_columns_keep_their_dtype_and_the_same_seed_repeats() -> None:
    rng = np.random.default_rng(3)
    background = pd.DataFrame({
        "size": rng.normal(size=40),
        "colour": pd.Categorical(rng.choice(["red", "green", "blue"], size=40)),
        "shape": rng.choice(["round", "square"], size=40).astype(object),
        "count": rng.integers(0, 5, size=40),
    })
    effect = {"red": 3.0, "green": -1.0, "blue": 0.5}
    seen = []

    def f(frame: pd.DataFrame) -> np.ndarray:
        seen.append(frame.dtypes.to_dict())
        # One interaction (size x shape), so the permutation matters.
        return (frame["colour"].map(effect).astype(float)
                + frame["size"] * (frame["shape"] == "round")
                + 0.5 * frame["count"]).to_numpy()

    row = pd.DataFrame({"size": [2.0], "colour": pd.Categorical(["red"]),
                        "shape": ["round"], "count": [4]})
    values, base, output = shapley_values(f, row, background, seed=7)
    assert seen[0] == background.dtypes.to_dict()
    assert output == pytest.approx(3.0 + 2.0 + 2.0)
    assert base + values.sum() == pytest.approx(output, abs=1e-12)
    colour = background["colour"].astype(str).map(effect).mean()
    assert values[1] == pytest.approx(3.0 - colour)  # no interaction: exact
    assert values[3] == pytest.approx(0.5 * (4 - background["count"].mean()))
    again, _, _ = shapley_values(f, row, background, seed=7)
    assert again.tolist() == values.tolist()


@pytest.mark.slow
def test_the_first_explanation_of_a_process_needs_neither_shap_nor_numba() -> None:
    code = """
import sys
from sklearn.datasets import load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from mlops.stages.explain import Explainer
from mlops.stages.features import build_preprocessor
x, y = load_wine(as_frame=True, return_X_y=True)
model = Pipeline([("features", build_preprocessor(x)),
                  ("model", HistGradientBoostingClassifier(max_iter=10))]).fit(x, y)
e = Explainer(model, x).explain(x.iloc[[0]])
assert e.method == "shapley", e.method
assert "shap" not in sys.modules and "numba" not in sys.modules, "shap or numba imported"
print("ok")
"""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_top_and_sentence() -> None:
    from mlops.stages.explain import Explanation

    e = Explanation(("a", "b", "c"), (0.5, -1.0, 0.0), 0.1, -0.4, "log-odds", "linear", 1)
    assert e.top(5) == [("b", -1.0), ("a", 0.5)]
    # The larger push first (it was listed after a smaller one on the other side).
    assert e.sentence("yes", {"a": "Age"}) == ("Mostly, b pushed it away from yes; Age pushed "
                                              "it towards yes.")
    number = Explanation(("a", "b"), (2.0, -0.5), 10.0, 11.5, "value", "linear")
    assert number.sentence("a higher y") == ("Mostly, a pushed the estimate up; b pulled the "
                                             "estimate down.")
    assert list(e.frame()["direction"]) == ["down", "up"]


def test_column_map_follows_one_hot_columns(wine) -> None:
    x, y = wine
    model = _fit(LogisticRegression(max_iter=2000), x, y)
    owners = column_map(model[:-1], list(x.columns))
    assert owners.count("colour") == 3 and owners.count("alcohol") == 1


def _version(metrics: dict, passed: bool = True) -> ModelVersion:
    return ModelVersion("m", 3, "2026-11-29T00:00:00+00:00", "0" * 64, passed,
                        metadata={"metrics": metrics})


def test_headline_in_plain_words_for_classes_and_numbers() -> None:
    evaluation = {"metrics": {"accuracy": 0.81, "roc_auc": 0.9}, "classes": [0, 1],
                  "positive_class": 1, "n_samples": 200,
                  "confidence_intervals": {"accuracy": {"low": 0.75, "high": 0.86}}}
    text = headline(_version({}), evaluation, target="outcome", task="classification",
                    class_labels={"0": "no", "1": "yes"}, n_inputs=4)
    assert text.startswith("This model predicts **outcome**: no or yes from 4 facts")
    assert "right **81 times in 100** (95 % interval 75% to 86%)" in text
    assert "one yes case and one no case" in text and "90 times in 100" in text
    evaluation = {"metrics": {"mae": 3.25}, "n_samples": 50,
                  "confidence_intervals": {"mae": {"low": 2.5, "high": 4.0}}}
    text = headline(_version({}, passed=False), evaluation, target="price", task="regression",
                    class_labels={}, unit="EUR")
    assert "estimates **price** (in EUR)" in text
    assert "off by **3.250 EUR** on average (95 % interval 2.500 EUR to 4.000 EUR)" in text
    assert "did **not** pass" in text


def test_gates_and_comparison_tables_speak_plainly() -> None:
    gates = gates_frame([{"direction": "max", "metric": "brier", "label": "Brier score",
                          "threshold": 0.22, "value": 0.17, "passed": True},
                         {"direction": "min", "metric": "mae", "threshold": 5,
                          "value": 7.5, "passed": False}], unit="days")
    assert list(gates["rule"]) == ["≤ 0.220", "≥ 5 days"]
    assert list(gates["check"]) == ["Brier score", "Mean absolute error"]
    assert list(gates["result"]) == ["✅ passed", "❌ failed"]
    a = {"metrics": {"brier": 0.20, "accuracy": 0.70},
         "confidence_intervals": {"accuracy": {"low": 0.6, "high": 0.8}}}
    b = {"metrics": {"brier": 0.10, "accuracy": 0.72},
         "confidence_intervals": {"accuracy": {"low": 0.62, "high": 0.82}}}
    table = compare_metrics(a, b, "v1", "v2").set_index("metric")
    assert table.loc["Brier score", "verdict"] == "v2 better"  # lower is better
    assert table.loc["Brier score", "change"] == "-0.100"
    assert table.loc["Accuracy", "verdict"] == "within noise"


def test_a_regression_prediction_is_shown_as_a_value_with_its_unit_and_why() -> None:
    """The Predict screen's display with a small regressor trained here (proba is None)."""
    from streamlit.testing.v1 import AppTest

    def screen() -> None:
        from types import SimpleNamespace

        from sklearn.datasets import load_diabetes
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import Pipeline

        from mlops.app.public import _show_prediction
        from mlops.core.schema import infer_schema
        from mlops.stages.explain import Explainer
        from mlops.stages.features import build_preprocessor

        x, y = load_diabetes(as_frame=True, return_X_y=True)
        model = Pipeline([("features", build_preprocessor(x)),
                          ("model", LinearRegression())]).fit(x, y)
        explainer = Explainer(model, x)
        ctx = SimpleNamespace(
            params=SimpleNamespace(data=SimpleNamespace(
                target="progression", unit="points", class_labels={}, positive_class=None,
                sensitive_features=("sex",))),
            regression=True, schema=infer_schema(x, target=None),
            explain=lambda version, row: explainer.explain(row))
        row = x.iloc[0].to_dict()
        value = float(model.predict(x.iloc[[0]])[0])
        _show_prediction(ctx, {"request_id": "abc", "version": 1, "value": value,
                               "probability": None, "routed": "production", "row": row},
                         None)

    at = AppTest.from_function(screen, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Predicted progression"].endswith(" points")
    assert "Chance" not in " ".join(metrics)  # no probability for a number
    why = next(m.value for m in at.markdown if m.value.startswith("**Why?**"))
    assert "pushed the estimate up" in why or "pulled the estimate down" in why
    assert not at.expander  # no class to record as an outcome


def test_lineage_links_to_the_hub_and_timeline_reads_releases() -> None:
    from mlops.app.describe import lineage_rows, timeline_frame, version_entry
    from mlops.registry.records import LedgerEntry

    mv = ModelVersion("m", 3, "2026-11-29T10:00:00+00:00", "a" * 64, True,
                      files={"evaluation.json": "b" * 64},
                      metadata={"lineage": {
                          "data_sha256": "c" * 64, "git_commit": "d" * 40, "git_dirty": True,
                          "git_dirty_files": ["params.yaml"],
                          "data_snapshot": {"stored": False, "reason": "personal data"},
                          "params": {"model": {"estimator": "sklearn.svm.SVC"}}}})
    rows = lineage_rows(mv, backend="hub", hub_url="https://hub.example/org/reg").set_index("what")
    assert rows.loc["evaluation.json", "where"] == (
        "https://hub.example/org/reg/blob/m--v3/m/versions/3/evaluation.json")
    assert rows.loc["git commit", "where"] == "dirty: params.yaml"
    assert rows.loc["training data (sha256)", "where"] == "not kept: personal data"
    local = lineage_rows(mv, backend="local").set_index("what")
    assert local.loc["model file (sha256)", "where"] == "registry: m/versions/3/model.skops"
    assert version_entry(mv, {"production": 3, "candidate": 2}) == (
        "v3 · production · SVC · 2026-11-29")
    entries = [
        LedgerEntry(1, "2026-11-29T10:00:00+00:00", "m", "ci", "promote", "production", None, 3,
                    "first release"),
        LedgerEntry(2, "2026-11-29T11:00:00+00:00", "m", "app", "set-state", None, None, None,
                    "start canary", evidence={"p_value": 0.5, "gates": [
                        {"gate": "a", "passed": True}, {"gate": "b", "passed": False}]},
                    key="deployment",
                    value={"strategy": "canary", "status": "running", "candidate": 4,
                           "weight": 5.0}),
        LedgerEntry(3, "2026-11-29T12:00:00+00:00", "m", "app", "rollback", "production", 4, 3,
                    "errors"),
    ]
    timeline = timeline_frame(entries)
    assert list(timeline["what"]) == ["production: rolled back v4 → v3",
                                      "canary of v4: running at 5 %",
                                      "production: promoted → v3"]
    assert list(timeline["who"]) == ["app", "app", "ci"]
    assert timeline["evidence"].iloc[1] == "p_value: 0.500; gates: 1 of 2 passed"
    assert timeline["when"].iloc[2] == "2026-11-29 10:00:00"
