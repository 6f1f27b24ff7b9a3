"""A production model of another target, other classes or other columns is no champion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from mlops.core.config import load_params
from mlops.core.data import split
from mlops.core.exceptions import ModelMismatchError
from mlops.core.modelio import save_model
from mlops.core.project import init_project
from mlops.pipeline.registration import champion_mismatch, load_champion
from mlops.registry import open_registry
from mlops.stages.training import train


def project(tmp_path, frame: pd.DataFrame, stem: str, name: str):
    """Params (with a registry of the test's own) and data for ``frame``, as `mlops init`
    writes them."""
    data = tmp_path / f"{stem}.csv"
    frame.to_csv(data, index=False)
    _, out, _ = init_project(data, "target", out=tmp_path / f"params-{stem}.yaml", name=name)
    return load_params(out, [f"registry.path={tmp_path / 'registry'}"]), frame


@pytest.fixture
def wine_in_production(tmp_path):
    params, frame = project(tmp_path, load_wine(as_frame=True).frame, "wine", "shared")
    train_frame, _ = split(frame, "target", test_size=0.25, seed=params.seed)
    model = train(params, train_frame)
    save_model(model, tmp_path / "model.skops")
    registry = open_registry(params.registry, params.root)
    lineage = {"params": {"data": {"target": params.data.target}}}
    registry.register("shared", tmp_path / "model.skops",
                      metadata={"gates_passed": True, "lineage": lineage})
    registry.promote("shared", 1, "production", expected=None, reason="test")
    return params, model


def test_the_same_model_is_a_champion(wine_in_production):
    params, model = wine_in_production
    champion, version = load_champion(params)
    assert version.version == 1
    np.testing.assert_array_equal(champion.classes_, model.classes_)


def test_a_model_of_other_data_under_the_same_name_is_refused(wine_in_production, tmp_path):
    params, _ = project(tmp_path, load_breast_cancer(as_frame=True).frame, "cancer", "shared")
    with pytest.raises(ModelMismatchError) as info:
        load_champion(params)
    error = info.value
    assert error.exit_code == 9 and error.exit_code not in (2, 5)  # not "unusable input"
    assert "shared v1" in error.message and "set model.name" in error.message.lower()
    assert "its classes are ['0', '1', '2'], this run's are ['0', '1']" in error.message
    assert "reads columns this data does not have: alcohol" in error.message
    assert error.fields == {"model": "shared", "version": 1, "rule": "champion_mismatch"}


class Fitted:
    classes_ = np.array(["no", "yes"])
    feature_names_in_ = np.array(["a", "b"])


@pytest.mark.parametrize(("target", "labels", "columns", "expected"), [
    ("y", ["no", "yes"], ["a", "b"], []),
    ("y", ["no", "yes"], ["a", "b", "c"], []),  # a new column is a new version, not a model
    ("z", ["no", "yes"], ["a", "b"], ["it predicts 'y', this run predicts 'z'"]),
    ("y", ["no", "yes", "maybe"], ["a", "b"], ["its classes are ['no', 'yes'], this run's are "
                                               "['maybe', 'no', 'yes']"]),
    ("y", ["no", "yes"], ["a"], ["it reads columns this data does not have: b"]),
])
def test_champion_mismatch_names_each_difference(target, labels, columns, expected):
    metadata = {"lineage": {"params": {"data": {"target": "y"}}}}
    assert champion_mismatch(Fitted(), metadata, target=target, labels=labels,
                             columns=columns) == expected
    # a version registered without lineage is judged on its classes and columns alone
    if expected and "predicts" in expected[0]:
        assert champion_mismatch(Fitted(), {}, target=target, labels=labels,
                                 columns=columns) == []
