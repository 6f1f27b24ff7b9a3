"""Feature validation on a real fitted pipeline and on deliberately broken ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from mlops.core.config import Thresholds, load_params
from mlops.core.data import read_csv, split
from mlops.stages.feature_checks import check_features
from mlops.stages.training import train
from mlops.stages.validation_report import ValidationReport

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def params():
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def parts(params):
    frame = read_csv(ROOT / "data" / "german.csv")
    return split(frame, "risk", test_size=0.25, seed=42)


@pytest.fixture(scope="module")
def model(params, parts):
    return train(params, parts[0])


def by_rule(results):
    return {(r.rule, r.column): r for r in results}


def test_trained_pipeline_passes_every_feature_check(model, parts, params):
    results = check_features(model, parts[1], params.validation, target="risk")
    report = ValidationReport(tuple(results))
    assert report.passed and not report.warnings, report.to_frame(failed_only=True)
    rules = {r.rule for r in results}
    assert rules == {"finite", "feature_names", "save_load_parity", "handles_unseen",
                     "handles_missing"}
    assert {r.column for r in results if r.rule == "handles_unseen"} == {
        "sex", "housing", "saving_accounts", "checking_account", "purpose"}


def test_feature_names_must_match_the_recorded_list(model, parts):
    names = list(model[:-1].get_feature_names_out())
    same = by_rule(check_features(model, parts[1], target="risk", expected_names=names))
    assert same[("stable_feature_names", None)].passed
    changed = names[:-1] + ["num__income"]
    result = by_rule(check_features(model, parts[1], target="risk",
                                    expected_names=changed))[("stable_feature_names", None)]
    assert not result.passed and "num__income" in result.message
    reordered = by_rule(check_features(model, parts[1], target="risk",
                                       expected_names=names[::-1]))
    assert "different order" in reordered[("stable_feature_names", None)].message


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_non_finite_features_are_caught(parts):
    # log(duration - 4) is -inf for the shortest loans
    features = parts[0][["duration"]] - 4
    pipe = FunctionTransformer(np.log, feature_names_out="one-to-one").fit(features)
    result = by_rule(check_features(pipe, features))[("finite", None)]
    assert not result.passed
    assert result.observed == int((features["duration"] == 0).sum()) > 0


def test_unseen_category_that_raises_is_caught(parts):
    frame = parts[0]
    features = frame[["housing", "purpose"]]
    pipe = Pipeline([("features", OneHotEncoder(handle_unknown="error")),
                     ("model", LogisticRegression())]).fit(features, frame["risk"])
    results = by_rule(check_features(pipe, features))
    assert not results[("handles_unseen", "housing")].passed
    assert "raises ValueError" in results[("handles_unseen", "housing")].message
    assert not ValidationReport(tuple(results.values())).passed


def _untrusted(x):
    return x


def test_round_trip_failure_is_reported_not_raised(parts):
    features = parts[0][["credit_amount", "duration"]]
    pipe = Pipeline([("features", FunctionTransformer(_untrusted,
                                                      feature_names_out="one-to-one")),
                     ("model", LogisticRegression(max_iter=500))]
                    ).fit(features, parts[0]["risk"])
    parity = by_rule(check_features(pipe, features))[("save_load_parity", None)]
    assert not parity.passed and "not trusted" in parity.message


def test_grade_comes_from_params(model, parts, params):
    def with_features(limits):
        return dataclasses.replace(params.validation,
                                   thresholds={**params.validation.thresholds,
                                               "features": limits})

    names = ["wrong"]  # a changed feature list fails the stable_feature_names check
    blocking = check_features(model, parts[1], params.validation, target="risk",
                              expected_names=names)
    assert {r.grade for r in blocking if not r.passed} == {"block"}
    warn_only = check_features(model, parts[1], with_features(Thresholds(warn=0)),
                               target="risk", expected_names=names)
    assert {r.grade for r in warn_only if not r.passed} == {"warn"}
    off = with_features(Thresholds(off=True))
    assert check_features(model, parts[1], off, target="risk") == []
