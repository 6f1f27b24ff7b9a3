"""The feature pipeline scales with long-tail text columns: rare categories are grouped by a
threshold that grows with the rows, each text column keeps a bounded number of columns,
and the features stay sparse for an estimator that accepts them (mlops.stages.features)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.special import logit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlops.core.config import load_params
from mlops.core.data import read_csv
from mlops.core.modelio import load_model, save_model
from mlops.stages.explain import Explainer
from mlops.stages.features import (
    MAX_CATEGORIES,
    MIN_CATEGORY_ROWS,
    accepts_sparse,
    build_preprocessor,
    min_category_rows,
)
from mlops.stages.training import build_pipeline

ROOT = Path(__file__).resolve().parents[2]
ROWS = 10_000
TAILS = 2_000  # distinct values of the long-tail column


def _long_tail(rows: int = ROWS, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Two numbers, a 4-value text column and a 2,000-value one whose commonest values
    have hundreds of rows and whose tail has a few each; a binary target."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, TAILS + 1)
    tail = np.concatenate([np.arange(TAILS),  # every value at least once
                           rng.choice(TAILS, rows - TAILS, p=weights / weights.sum())])
    rng.shuffle(tail)
    frame = pd.DataFrame({
        "amount": rng.gamma(2.0, 100.0, rows),
        "hour": rng.integers(5, 24, rows),
        "channel": rng.choice(["web", "app", "shop", "phone"], rows),
        "tailnum": [f"N{i:04d}" for i in tail],
    })
    score = 0.1 * (frame["hour"] - 14) + np.where(tail < 20, 1.0, 0.0)
    target = pd.Series((rng.random(rows) < 1 / (1 + np.exp(-score))).astype(int),
                       name="target")
    return frame, target


@pytest.fixture(scope="module")
def long_tail() -> tuple[pd.DataFrame, pd.Series]:
    return _long_tail()


def _encoder(preprocessor):
    return preprocessor.named_transformers_["cat"][-1]


def _width_of(preprocessor, column: str) -> int:
    return sum(name.startswith(f"cat__{column}_")
               for name in preprocessor.get_feature_names_out())


def test_the_grouping_threshold_grows_with_the_rows() -> None:
    assert min_category_rows(750) == MIN_CATEGORY_ROWS  # the bundled data: unchanged
    assert min_category_rows(45_000) == 45
    assert min_category_rows(10_000_000) == 10_000


def test_a_long_tail_column_keeps_a_bounded_number_of_columns(long_tail) -> None:
    frame, target = long_tail
    preprocessor = build_preprocessor(frame).fit(frame, target)
    assert _width_of(preprocessor, "tailnum") <= MAX_CATEGORIES
    assert _width_of(preprocessor, "channel") == 4  # a short column is left alone
    assert preprocessor.transform(frame).shape[1] <= 2 + 4 + MAX_CATEGORIES


def test_rare_categories_share_the_infrequent_column(long_tail) -> None:
    frame, target = long_tail
    preprocessor = build_preprocessor(frame).fit(frame, target)
    counts = frame["tailnum"].value_counts()
    threshold = min_category_rows(len(frame))
    assert threshold == 10 > MIN_CATEGORY_ROWS
    infrequent = set(_encoder(preprocessor).infrequent_categories_[1])  # channel, tailnum
    # Rarer than the threshold: grouped, including those a fixed 5 rows would have kept.
    rare = set(counts.index[counts < threshold])
    assert rare <= infrequent
    assert any(MIN_CATEGORY_ROWS <= counts[c] < threshold for c in rare)
    assert "cat__tailnum_infrequent_sklearn" in preprocessor.get_feature_names_out()
    # The commonest values keep a column of their own.
    for value in counts.index[:10]:
        assert f"cat__tailnum_{value}" in preprocessor.get_feature_names_out()
    # Every row of a grouped value has a one in the infrequent column and nowhere else there.
    rows = frame[frame["tailnum"].isin(rare)].head(50)
    names = list(preprocessor.get_feature_names_out())
    encoded = np.asarray(preprocessor.transform(rows))
    tail_columns = [i for i, n in enumerate(names) if n.startswith("cat__tailnum_")]
    grouped = names.index("cat__tailnum_infrequent_sklearn")
    assert (encoded[:, grouped] == 1).all()
    assert (encoded[:, tail_columns].sum(axis=1) == 1).all()


def test_features_are_sparse_only_when_asked_and_thin(long_tail) -> None:
    frame, target = long_tail
    thin = build_preprocessor(frame, sparse=True).fit(frame, target)
    assert sparse.issparse(thin.transform(frame))
    assert not sparse.issparse(build_preprocessor(frame).fit(frame, target).transform(frame))
    # Dense enough (few categories): a plain array even when sparse is allowed.
    numbers = frame[["amount", "hour", "channel"]]
    assert not sparse.issparse(build_preprocessor(numbers, sparse=True)
                               .fit(numbers, target).transform(numbers))


@pytest.mark.slow
def test_the_estimator_decides_sparse_or_dense(long_tail) -> None:
    assert accepts_sparse(LogisticRegression())
    assert not accepts_sparse(HistGradientBoostingClassifier())
    assert not accepts_sparse(object())  # no scikit-learn tags: dense, the safe side
    frame, target = long_tail
    for estimator, is_sparse in (("logistic_regression", True),
                                 ("hist_gradient_boosting", False)):
        params = load_params(ROOT / "params.yaml", [f"model.estimator={estimator}",
                                                    "model.hyperparameters."
                                                    "hist_gradient_boosting.max_iter=5"])
        pipeline = build_pipeline(params, frame).fit(frame, target)
        assert sparse.issparse(pipeline[:-1].transform(frame)) is is_sparse
        assert pipeline.predict_proba(frame.head(3)).shape == (3, 2)


def test_an_unseen_category_predicts_like_a_grouped_one_after_a_round_trip(long_tail,
                                                                           tmp_path) -> None:
    frame, target = long_tail
    model = Pipeline([("features", build_preprocessor(frame, sparse=True)),
                      ("model", LogisticRegression(max_iter=1000))]).fit(frame, target)
    digest = save_model(model, tmp_path / "m.skops")  # only the reviewed types load
    loaded = load_model(tmp_path / "m.skops", sha256=digest)
    counts = frame["tailnum"].value_counts()
    row = frame.head(1).assign(tailnum=counts.index[-1])  # a grouped value
    unseen = row.assign(tailnum="never-seen-before")
    np.testing.assert_array_equal(loaded.predict_proba(unseen), model.predict_proba(row))
    assert np.isfinite(loaded.predict_proba(unseen)).all()


def test_a_linear_model_on_sparse_features_is_explained_exactly(long_tail) -> None:
    frame, target = long_tail
    model = Pipeline([("features", build_preprocessor(frame, sparse=True)),
                      ("model", LogisticRegression(max_iter=1000))]).fit(frame, target)
    explainer = Explainer(model, frame, positive_class=1)
    assert explainer.method == "linear"
    for i in (0, 7):
        row = frame.iloc[[i]]
        explanation = explainer.explain(row)
        p = model.predict_proba(row)[0, 1]
        assert explanation.base + sum(explanation.values) == pytest.approx(logit(p), abs=1e-9)


def test_the_bundled_data_keeps_every_category_and_dense_features() -> None:
    params = load_params(ROOT / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    features = frame.drop(columns=params.data.target)
    pipeline = build_pipeline(params, features).fit(features, frame[params.data.target])
    names = list(pipeline[:-1].get_feature_names_out())
    assert not any("infrequent" in n for n in names)
    assert len(names) == 26
    assert not sparse.issparse(pipeline[:-1].transform(features))


def test_init_warns_at_the_width_the_feature_stage_keeps():
    from mlops.core.project import HIGH_CARDINALITY

    assert HIGH_CARDINALITY == MAX_CATEGORIES

