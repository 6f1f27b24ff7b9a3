"""The model pipeline trains for each estimator (short names and import paths), is seeded,
learns only from its feature columns, holds only reviewed types, and round-trips through
skops to the same bytes whatever the machine's thread count."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import FunctionTransformer

from mlops.core.config import load_params
from mlops.core.data import read_csv, split
from mlops.core.exceptions import ConfigError, IntegrityError
from mlops.core.modelio import (
    TRUSTED_TYPES,
    TRUSTED_TYPES_FILE,
    load_model,
    read_trusted_types,
    save_model,
)
from mlops.stages.training import ESTIMATORS, describe, train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frames():
    params = load_params(ROOT / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    return split(frame, params.data.target, test_size=params.data.test_size, seed=params.seed)


@pytest.mark.parametrize("estimator", sorted(n for n, (c, _) in ESTIMATORS.items() if c))
def test_each_estimator_trains_saves_and_loads_identically(estimator, frames, tmp_path):
    train_frame, test_frame = frames
    params = load_params(ROOT / "params.yaml", [f"model.estimator={estimator}"])
    pipeline = train(params, train_frame)
    features = test_frame.drop(columns="risk")
    sha = save_model(pipeline, tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops", sha256=sha)
    np.testing.assert_array_equal(loaded.predict_proba(features), pipeline.predict_proba(features))
    info = describe(pipeline, params, rows={"train": len(train_frame)}, model_sha256=sha)
    assert info["classes"] == [0, 1]
    assert len(info["feature_names"]) == len(set(info["feature_names"])) > 9


def test_same_seed_same_model_other_seed_other_model(frames):
    train_frame, test_frame = frames
    features = test_frame.drop(columns="risk")
    params = load_params(ROOT / "params.yaml", ["model.estimator=random_forest",
                                                 "model.hyperparameters.random_forest.n_estimators=20"])
    a = train(params, train_frame).predict_proba(features)
    b = train(params, train_frame).predict_proba(features)
    np.testing.assert_array_equal(a, b)
    other = load_params(ROOT / "params.yaml", ["model.estimator=random_forest", "seed=1",
                                                "model.hyperparameters.random_forest.n_estimators=20"])
    assert not np.array_equal(a, train(other, train_frame).predict_proba(features))


def test_unknown_hyperparameter_names_the_block(frames):
    params = load_params(ROOT / "params.yaml",
                         ["model.hyperparameters.logistic_regression.depth=3"])
    with pytest.raises(ConfigError, match="model.hyperparameters.logistic_regression"):
        train(params, frames[0])


def test_unseen_category_still_predicts(frames):
    train_frame, test_frame = frames
    pipeline = train(load_params(ROOT / "params.yaml"), train_frame)
    row = test_frame.drop(columns="risk").head(1).copy()
    row["purpose"] = "spaceship"
    assert np.isfinite(pipeline.predict_proba(row)).all()


def test_tampered_file_is_refused(frames, tmp_path):
    pipeline = train(load_params(ROOT / "params.yaml"), frames[0])
    path = tmp_path / "m.skops"
    sha = save_model(pipeline, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match the recorded"):
        load_model(path, sha256=sha, what="credit-risk v1")


class Boom:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_and_untrusted_types_are_refused(tmp_path):
    evil = tmp_path / "evil.skops"
    evil.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(IntegrityError, match="not a valid skops model file"):
        load_model(evil)
    # A genuine skops file that would call a function nobody reviewed.
    odd = tmp_path / "odd.skops"
    save_model(FunctionTransformer(func=os.system), odd)
    with pytest.raises(IntegrityError, match="not trusted.*system"):
        load_model(odd)


# --- estimators by import path ---------------------------------------------------------------

def import_path_params(tmp_path: Path, estimator: str, hyper: dict, *overrides: str):
    """The bundled params with ``estimator`` and its own hyperparameters block."""
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["model"]["estimator"] = estimator
    raw["model"]["hyperparameters"][estimator] = hyper
    raw["data"]["path"] = str(ROOT / raw["data"]["path"])
    raw["data"]["schema"] = str(ROOT / raw["data"]["schema"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_params(path, list(overrides))


def test_any_classifier_by_import_path_with_its_own_hyperparameters(frames, tmp_path):
    train_frame, test_frame = frames
    params = import_path_params(tmp_path, "sklearn.tree.DecisionTreeClassifier",
                                {"max_depth": 8, "min_samples_leaf": 5},
                                "model.hyperparameters.sklearn.tree.DecisionTreeClassifier"
                                ".max_depth=3")
    assert params.hyperparameters == {"max_depth": 3, "min_samples_leaf": 5}  # dotted block
    pipeline = train(params, train_frame)
    model = pipeline[-1]
    assert type(model).__name__ == "DecisionTreeClassifier" and model.max_depth == 3
    assert model.random_state == params.seed  # it takes a random_state: it gets the seed
    info = describe(pipeline, params, rows={}, model_sha256="")
    assert info["estimator"] == "sklearn.tree.DecisionTreeClassifier"
    assert info["calibrated"] is None
    sha = save_model(pipeline, tmp_path / "m.skops")
    features = test_frame.drop(columns="risk")
    np.testing.assert_array_equal(load_model(tmp_path / "m.skops", sha256=sha)
                                  .predict_proba(features), pipeline.predict_proba(features))


def test_random_state_is_passed_only_when_the_estimator_takes_it(frames, tmp_path):
    params = import_path_params(tmp_path, "sklearn.naive_bayes.GaussianNB", {})
    assert "random_state" not in train(params, frames[0])[-1].get_params()
    tree = import_path_params(tmp_path, "sklearn.tree.DecisionTreeClassifier",
                              {"max_depth": 3, "random_state": 7})
    assert train(tree, frames[0])[-1].random_state == 7  # the hyperparameters win


@pytest.mark.parametrize("estimator", ["sklearn.svm.SVC",
                                       "sklearn.linear_model.RidgeClassifier"])
def test_a_classifier_without_predict_proba_is_calibrated_and_says_so(frames, tmp_path,
                                                                      estimator):
    train_frame, test_frame = frames
    params = import_path_params(tmp_path, estimator, {})
    pipeline = train(params, train_frame)
    wrapper = pipeline[-1]
    assert type(wrapper).__name__ == "CalibratedClassifierCV" and not wrapper.ensemble
    assert type(wrapper.estimator).__name__ == estimator.rsplit(".", 1)[1]
    if "random_state" in wrapper.estimator.get_params():
        assert wrapper.estimator.random_state == params.seed
    proba = pipeline.predict_proba(test_frame.drop(columns="risk"))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    info = describe(pipeline, params, rows={}, model_sha256="")
    assert info["calibrated"].startswith("CalibratedClassifierCV(method='sigmoid'")
    sha = save_model(pipeline, tmp_path / "m.skops")  # the calibrators are reviewed types
    load_model(tmp_path / "m.skops", sha256=sha)


class LabelsOnly(ClassifierMixin, BaseEstimator):
    """A classifier that gives labels and nothing to rank them by."""

    def fit(self, features, labels):
        self.classes_ = np.unique(labels)
        return self

    def predict(self, features):
        return np.full(len(features), self.classes_[0])


@pytest.mark.parametrize(("estimator", "hyper", "message"), [
    ("tests.stages.test_training.LabelsOnly", {}, "neither predict_proba nor decision_function"),
    ("sklearn.linear_model.LinearRegression", {}, "not a classifier, and data.task is "
                                                  "classification"),
    ("sklearn.nosuchmodule.Model", {}, "cannot import 'sklearn.nosuchmodule'"),
    ("sklearn.svm.NoSuchModel", {}, "'sklearn.svm' has no 'NoSuchModel'"),
    ("sklearn.svm.SVC", {"depth": 3}, r"model.hyperparameters.sklearn.svm.SVC"),
])
def test_unusable_estimators_are_refused_with_the_reason(frames, tmp_path, monkeypatch,
                                                         estimator, hyper, message):
    # This module stands in for a reviewed package (mlops/core/trusted_imports.txt).
    monkeypatch.setattr("mlops.core.imports.TRUSTED_IMPORTS", ("sklearn.", "tests."))
    params = import_path_params(tmp_path, estimator, hyper)
    with pytest.raises(ConfigError, match=message):
        train(params, frames[0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_model_holding_unreviewed_types_stops_and_names_them_and_the_file(frames, tmp_path):
    # MLPClassifier keeps its Adam optimizer, a type nobody has reviewed for loading.
    params = import_path_params(tmp_path, "sklearn.neural_network.MLPClassifier",
                                {"hidden_layer_sizes": [4], "max_iter": 5})
    with pytest.raises(ConfigError) as info:
        train(params, frames[0])
    message = str(info.value)
    assert "sklearn.neural_network._stochastic_optimizers.AdamOptimizer" in message
    assert str(TRUSTED_TYPES_FILE) in message
    assert info.value.fields["types"] == [
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer"]


def test_the_reviewed_types_are_read_from_the_committed_file(tmp_path):
    assert TRUSTED_TYPES_FILE.name == "trusted_types.txt"
    assert read_trusted_types(TRUSTED_TYPES_FILE) == TRUSTED_TYPES
    assert {"sklearn.tree._tree.Tree", "numpy.dtype"} <= TRUSTED_TYPES
    listed = tmp_path / "types.txt"
    listed.write_text("# header\n\na.B  # why\n  c.D\n#e.F\n")
    assert read_trusted_types(listed) == {"a.B", "c.D"}
    # never next to a model: the registry and run folders hold no list of their own
    assert TRUSTED_TYPES_FILE.parent == ROOT / "mlops" / "core"


def test_lightgbm_works_through_the_same_path(frames, tmp_path):
    pytest.importorskip("lightgbm")
    train_frame, test_frame = frames
    params = import_path_params(tmp_path, "lightgbm.LGBMClassifier",
                                {"n_estimators": 30, "num_leaves": 7, "verbose": -1})
    pipeline = train(params, train_frame)
    assert pipeline[-1].random_state == params.seed
    sha = save_model(pipeline, tmp_path / "m.skops")
    features = test_frame.drop(columns="risk")
    loaded = load_model(tmp_path / "m.skops", sha256=sha)
    np.testing.assert_array_equal(loaded.predict_proba(features),
                                  pipeline.predict_proba(features))


# --- feature roles -------------------------------------------------------------------------

def test_id_and_drop_columns_are_never_features(frames):
    train_frame, _ = frames
    params = load_params(ROOT / "params.yaml", ["data.id_columns=[job]",
                                                 "data.drop_columns=[sex]"])
    inputs = list(train(params, train_frame).feature_names_in_)
    assert "job" not in inputs and "sex" not in inputs and "risk" not in inputs
    assert len(inputs) == train_frame.shape[1] - 3
    with pytest.raises(ConfigError, match="data.id_columns names \\['jobb'\\]"):
        train(load_params(ROOT / "params.yaml", ["data.id_columns=[jobb]"]), train_frame)
    with pytest.raises(ConfigError, match="data.drop_columns lists the target"):
        load_params(ROOT / "params.yaml", ["data.drop_columns=[risk]"])


def test_a_column_outside_the_schema_never_reaches_training(frames):
    # Validation with the schema check at `warning` lets such a file through; training must
    # still ignore the column, or every request would need it and the model would learn it.
    train_frame, _ = frames
    extra = train_frame.assign(application_id=np.arange(len(train_frame)))
    with pytest.warns(UserWarning, match=r"\['application_id'\] of the training rows are not"):
        pipeline = train(load_params(ROOT / "params.yaml"), extra)
    assert "application_id" not in pipeline.feature_names_in_
    assert list(pipeline.feature_names_in_) == [c for c in train_frame.columns if c != "risk"]


def test_describe_records_the_inputs_and_what_was_left_out(frames):
    params = load_params(ROOT / "params.yaml", ["data.id_columns=[job]"])
    pipeline = train(params, frames[0])
    info = describe(pipeline, params, rows={"train": len(frames[0])}, model_sha256="x")
    assert "job" not in info["inputs"] and info["not_features"]["id_columns"] == ["job"]


def test_a_binary_target_needs_a_positive_class(frames):
    params = load_params(ROOT / "params.yaml", ["data.positive_class=null"])
    with pytest.raises(ConfigError, match="data.positive_class is null but the target is "
                                          "binary.*minority class"):
        train(params, frames[0])


# --- threads -------------------------------------------------------------------------------

def test_kernel_thread_budget_shares_the_cores(monkeypatch):
    from mlops.core import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    assert threads.kernel_thread_env(3, environ={}) == dict.fromkeys(threads.THREAD_ENV, "2")
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    assert set(threads.kernel_thread_env(3, environ={}).values()) == {"1"}
    # a value the user set is theirs
    assert threads.kernel_thread_env(3, environ={"OMP_NUM_THREADS": "4"})["OMP_NUM_THREADS"] \
        == "4"
    assert threads.thread_budget({"OMP_NUM_THREADS": "3"}) == 3
    assert threads.thread_budget({"OMP_NUM_THREADS": "x"}) == 2


def test_limited_threads_caps_the_native_pools():
    from threadpoolctl import threadpool_info

    from mlops.core.threads import limited_threads

    with limited_threads(1) as limit:
        assert limit == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())


MODEL_BYTES = """
import hashlib, sys
from pathlib import Path
from mlops.core.config import load_params
from mlops.core.data import read_csv, split
from mlops.core.modelio import save_model
from mlops.stages.training import train
params = load_params(sys.argv[1], ["model.estimator=hist_gradient_boosting",
                                   "model.hyperparameters.hist_gradient_boosting.max_iter=40"])
frame = read_csv(params.resolve(params.data.path))
train_frame, _ = split(frame, params.data.target, test_size=params.data.test_size,
                       seed=params.seed)
print(save_model(train(params, train_frame), Path(sys.argv[2])))
"""


@pytest.mark.slow
def test_model_bytes_do_not_depend_on_the_thread_count(tmp_path):
    import subprocess
    import sys

    digests = []
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", MODEL_BYTES, str(ROOT / "params.yaml"),
                               str(tmp_path / f"m{threads}.skops")], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.strip())
    assert digests[0] == digests[1]
    assert (tmp_path / "m1.skops").read_bytes() == (tmp_path / "m2.skops").read_bytes()
