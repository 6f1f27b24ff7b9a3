"""The model pipeline trains for each estimator, is seeded, and round-trips through skops."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import FunctionTransformer

from mlops.core.config import load_params
from mlops.core.data import read_csv, split
from mlops.core.exceptions import ConfigError, IntegrityError
from mlops.core.modelio import load_model, save_model
from mlops.stages.training import ESTIMATORS, describe, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def frames():
    params = load_params(ROOT / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    return split(frame, params.data.target, test_size=params.data.test_size, seed=params.seed)


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
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
