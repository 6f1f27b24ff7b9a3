"""A numeric target, end to end: `mlops init` detects it, the short names train regressors,
metrics, baseline, gates, fairness, behaviour, drift, plots and the model card speak
regression, and `mlops run` registers a model that predicts numbers.

Data: scikit-learn's bundled diabetes set (442 rows, a disease-progression score from 25 to
346), written to a CSV in a temporary folder. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_regressor
from sklearn.datasets import load_diabetes
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
    root_mean_squared_error,
)

from mlops.cli.main import main
from mlops.core.config import BaselineConfig, load_params
from mlops.core.data import load_split
from mlops.core.exceptions import ConfigError, GateFailedError, StageOrderError
from mlops.core.schema import load_schema
from mlops.stages.baseline import compare_with_baseline
from mlops.stages.evaluation import evaluate
from mlops.stages.fairness import group_error
from mlops.stages.gates import check_config, metrics_table, raise_on_failed_gates
from mlops.stages.metrics import (
    Predictions,
    bootstrap_intervals,
    regression_metrics,
    undefined_metrics,
    weighted_metrics,
)
from mlops.stages.training import build_estimator, load_trained, train
from mlops.stages.validation import check_drift

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The diabetes CSV and the params file `mlops init --task auto` wrote for it."""
    folder = tmp_path_factory.mktemp("diabetes")
    load_diabetes(as_frame=True, scaled=False).frame.to_csv(folder / "diabetes.csv",
                                                            index=False)
    code, stdout, err = run_cli("init", "--data", str(folder / "diabetes.csv"), "--target",
                                "target", "--task", "auto", "--out", str(folder / "p.yaml"))
    assert code == 0, err
    assert "regression target 'target' (numbers from 25 to 346)" in stdout
    return folder / "p.yaml"


def params_of(project: Path, *overrides: str):
    return load_params(project, [f"registry.path={project.parent / 'registry'}", *overrides])


@pytest.fixture(scope="module")
def fitted(project):
    params = params_of(project, "data.sensitive_features=[sex]")
    data = load_split(params)
    return params, data, train(params, data.train)


def predictions(y_true, y_pred) -> Predictions:
    return Predictions(np.asarray(y_true, float), np.asarray(y_pred, float), None, (), None)


# --- metrics -------------------------------------------------------------------------------

def test_regression_metrics_equal_scikit_learns():
    rng = np.random.default_rng(0)
    y = rng.uniform(10, 100, 200)
    p = y + rng.normal(0, 8, 200)
    got = regression_metrics(predictions(y, p))
    assert got["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert got["rmse"] == pytest.approx(root_mean_squared_error(y, p))
    assert got["r2"] == pytest.approx(r2_score(y, p))
    assert got["mape"] == pytest.approx(mean_absolute_percentage_error(y, p))
    # the bootstrap's weighted metrics, with every row once, are the same numbers
    once = weighted_metrics(predictions(y, p), np.ones((1, len(y))))
    for name, value in got.items():
        assert once[name][0] == pytest.approx(value), name
    intervals = bootstrap_intervals(predictions(y, p), samples=200, seed=1)
    assert set(intervals) == {"mae", "rmse", "r2", "mape"}
    for name, ci in intervals.items():
        assert ci["low"] < got[name] < ci["high"], name


def test_mape_is_undefined_with_a_zero_target_and_says_why():
    pred = predictions([0.0, 2.0, 4.0, 8.0], [1.0, 2.0, 3.0, 9.0])
    metrics = regression_metrics(pred)
    assert metrics["mape"] is None and metrics["mae"] == pytest.approx(0.75)
    assert "1 true value(s) are 0" in undefined_metrics(pred)["mape"]
    assert "mape" not in bootstrap_intervals(pred, samples=20, seed=0)


# --- estimators and params -----------------------------------------------------------------

@pytest.mark.parametrize(("estimator", "regression", "message"), [
    ("logistic_regression", True, "'logistic_regression' has no regression version"),
    ("sklearn.svm.SVC", True, "'sklearn.svm.SVC' is not a regressor, and data.task is "
                              "regression"),
    ("ridge", False, "'ridge' has no classification version"),
    ("sklearn.linear_model.LinearRegression", False, "is not a classifier, and data.task is "
                                                     "classification"),
])
def test_an_estimator_of_the_other_task_is_refused_naming_the_key(project, estimator,
                                                                  regression, message):
    params = params_of(project, f"model.estimator={estimator}") if regression else \
        load_params(ROOT / "params.yaml", [f"model.estimator={estimator}"])
    with pytest.raises(ConfigError, match=message) as info:
        build_estimator(params)
    assert info.value.fields["key"] == "model.estimator"


@pytest.mark.parametrize("estimator", ["ridge", "hist_gradient_boosting", "random_forest"])
def test_short_names_train_regressors_that_save_to_the_same_bytes(project, estimator,
                                                                  tmp_path):
    from mlops.core.modelio import load_model, save_model

    params = params_of(project, f"model.estimator={estimator}",
                       "model.hyperparameters.random_forest.n_estimators=20",
                       "model.hyperparameters.hist_gradient_boosting.max_iter=20")
    data = load_split(params)
    first = train(params, data.train)
    assert is_regressor(first[-1])
    a = save_model(first, tmp_path / "a.skops")
    b = save_model(train(params, data.train), tmp_path / "b.skops")
    assert a == b  # reviewed types only (no new ones) and bytes that do not vary
    values = load_model(tmp_path / "a.skops", sha256=a).predict(data.test.drop(columns="target"))
    assert values.dtype.kind == "f" and np.unique(values).size > 50  # numbers, not classes


@pytest.mark.parametrize(("gate", "regression", "message"), [
    ("min_roc_auc", True, "'roc_auc' is a classification metric, but data.task is regression"),
    ("max_mae", False, "'mae' is a regression metric, but data.task is classification"),
    ("min_demographic_parity_ratio", True, "is a classification metric"),
])
def test_a_gate_of_the_other_task_is_refused_naming_the_key(project, gate, regression,
                                                            message):
    setting = f"evaluation.gates.{gate}=0.5"
    params = params_of(project, setting, "data.sensitive_features=[sex]") if regression \
        else load_params(ROOT / "params.yaml", [setting])
    with pytest.raises(ConfigError, match=message) as info:
        check_config(params)
    assert info.value.fields["key"] == f"evaluation.gates.{gate}"


def test_the_baseline_metric_defaults_per_task_and_must_fit_it(project):
    assert BaselineConfig().metric_for(True) == "r2"
    assert BaselineConfig().metric_for(False) == "roc_auc"
    with pytest.raises(ConfigError, match="'roc_auc', a metric the regression target"):
        check_config(params_of(project, "evaluation.baseline.metric=roc_auc"))
    with pytest.raises(ConfigError, match="evaluation.baseline.metric"):
        check_config(load_params(ROOT / "params.yaml", ["evaluation.baseline.metric=mae"]))


# --- baseline, fairness, behaviour -----------------------------------------------------------

def test_the_baseline_is_a_dummy_regressor_fitted_on_the_training_labels():
    train_labels = np.array([10.0, 20.0, 30.0, 100.0])
    pred = predictions([12.0, 25.0, 40.0], [11.0, 24.0, 38.0])
    r2 = compare_with_baseline(pred, train_labels, BaselineConfig(metric="r2"), samples=50,
                               seed=0, fitted_on="training split")
    assert r2["estimator"] == "DummyRegressor(strategy='mean')"
    assert r2["value"] == pytest.approx(r2_score(pred.y_true, np.full(3, 40.0)))
    assert r2["improvement"] == pytest.approx(r2["model"] - r2["value"])
    mae = compare_with_baseline(pred, train_labels, BaselineConfig(metric="mae"), samples=50,
                                seed=0, fitted_on="training split")
    assert mae["strategy"] == "median" and mae["direction"] == "max"  # lower is better
    assert mae["value"] == pytest.approx(mean_absolute_error(pred.y_true, np.full(3, 25.0)))
    assert mae["improvement"] == pytest.approx(mae["value"] - mae["model"])
    assert mae["improvement"] > 0
    assert mae["interval"]["low"] <= mae["improvement"] <= mae["interval"]["high"]


def test_error_by_group_with_small_groups_reported_but_not_gated():
    y = np.array([10.0, 20, 30, 40, 50, 60, 70])
    p = np.array([12.0, 18, 30, 40, 45, 60, 90])
    groups = pd.Series(["a", "a", "b", "b", "b", "b", "c"])
    table = group_error(y, p, groups, min_group_size=2)
    assert table["groups"]["a"] == {"count": 2, "mae": 2.0, "rmse": 2.0, "mean_error": 0.0}
    assert table["groups"]["b"]["mae"] == pytest.approx(1.25)
    assert table["groups"]["b"]["mean_error"] == pytest.approx(-1.25)
    assert table["groups"]["c"]["mae"] == 20.0 and table["skipped_groups"] == ["c"]
    assert table["gated"]
    assert table["mae_difference"] == pytest.approx(0.75)  # c (n=1) decides nothing
    assert table["mae_ratio"] == pytest.approx(2.0 / 1.25)
    alone = group_error(y, p, groups, min_group_size=3)
    assert not alone["gated"] and alone["mae_ratio"] is None


def test_evaluation_of_a_regressor(fitted):
    params, data, model = fitted
    params = load_params(Path(params.root) / "p.yaml", [
        f"registry.path={Path(params.root) / 'registry'}", "data.sensitive_features=[sex]",
        "evaluation.gates.max_mae_ratio=1.5", "evaluation.invariance=[s4]",
        "evaluation.directional={bmi: {increase_by: 5, expect: increase}}",
        "evaluation.bootstrap_samples=50"])
    result = evaluate(model, data.test, params, train_frame=data.train)
    assert result["task"] == "regression" and result["confusion_matrix"] is None
    assert set(result["metrics"]) == {"mae", "rmse", "r2", "mape"}
    assert result["metrics"]["r2"] > 0.3 and result["metric_labels"]["mae"] == \
        "mean absolute error"
    assert result["baseline"]["metric"] == "r2" and result["importance"]["scoring"] == "r2"
    gates = {g["gate"]: g for g in result["gates"]}
    assert set(gates) == {"min_r2", "max_mae_ratio[sex]", "baseline_r2", "invariance[s4]",
                          "directional[bmi]"}
    assert gates["max_mae_ratio[sex]"]["value"] == result["fairness"]["sex"]["mae_ratio"]
    # a linear model: body mass only ever raises the prediction; s4 moves it
    behaviour = {t["kind"]: t for t in result["behaviour"]}
    assert behaviour["directional"]["passed"] and behaviour["directional"]["max_value_change"] > 0
    assert not behaviour["invariance"]["passed"]
    table = metrics_table(result)
    assert list(table.index) == ["mean absolute error", "root mean squared error",
                                 "R² (coefficient of determination)",
                                 "mean absolute percentage error (a share: 0.1 is 10 %)"]


def test_gates_fail_honestly(fitted):
    params, data, model = fitted
    strict = load_params(Path(params.root) / "p.yaml", [
        f"registry.path={Path(params.root) / 'registry'}", "evaluation.gates.min_r2=0.95",
        "evaluation.bootstrap_samples=0"])
    result = evaluate(model, data.test, strict, train_frame=data.train)
    assert not result["passed"]
    with pytest.raises(GateFailedError, match="min_r2: R² .* must be >= 0.95"):
        raise_on_failed_gates(result)


def test_the_champion_is_compared_on_the_primary_metric(fitted):
    params, data, model = fitted
    weak = train(load_params(Path(params.root) / "p.yaml",
                             ["model.hyperparameters.ridge.alpha=1000"]), data.train)
    result = evaluate(model, data.test, params, champion=weak, train_frame=data.train)
    champion = [g for g in result["gates"] if g["gate"].startswith("champion_")]
    assert [g["gate"] for g in champion] == ["champion_r2"] and champion[0]["passed"]
    assert result["champion"]["difference"]["r2"] > 0
    reverse = evaluate(weak, data.test, params, champion=model, train_frame=data.train)
    assert not next(g for g in reverse["gates"] if g["gate"] == "champion_r2")["passed"]


# --- validation, plots, report and card ---------------------------------------------------------

def test_target_drift_takes_the_numeric_path(fitted):
    params, data, _ = fitted
    schema = load_schema(params.resolve(params.data.schema))
    shifted = data.test.assign(target=data.test["target"] + 80)
    report = check_drift(data.train, shifted, schema, params.validation)
    label = next(c for c in report.results if c.check == "label_drift")
    assert label.rule == "label_drift" and "psi=" in label.message and "ks p=" in label.message
    assert label.grade == "block"
    same = check_drift(data.train, data.test, schema, params.validation)
    assert next(c for c in same.results if c.check == "label_drift").grade == "pass"


def test_plots_report_and_card_speak_regression(fitted, tmp_path):
    from mlops.stages.outputs import write_outputs

    params, data, model = fitted
    result = evaluate(model, data.test, params, train_frame=data.train)
    paths = write_outputs(result, model, data.test, params, tmp_path)
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == ["fairness.png", "importance.png", "predicted_vs_actual.png",
                     "residuals.png"]
    report = paths["report"].read_text()
    assert "regression target `target`" in report and "| Group | n | MAE | RMSE |" in report
    assert "DummyRegressor(strategy='mean')" in report
    card = paths["model_card"].read_text()
    front = card.split("---")[1]
    assert "pipeline_tag: tabular-regression" in front
    for kind in ("type: mae", "type: r_squared", "type: mape", "type: mse"):
        assert kind in front, kind
    assert "squared: false" in front  # RMSE is the mse metric, not squared


def test_the_evaluate_notebook_says_to_run_training_first(tmp_path):
    with pytest.raises(StageOrderError, match="run notebooks/02_train.ipynb first") as info:
        load_trained(tmp_path)
    assert info.value._render_traceback_() == [f"StageOrderError: {info.value.message}"]


# --- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_init_then_run_registers_a_regressor_that_predicts_numbers(project, tmp_path):
    from mlops.pipeline.runner import run_pipeline
    from mlops.registry import open_registry

    overrides = [f"registry.path={tmp_path / 'registry'}", "data.sensitive_features=[sex]",
                 "evaluation.gates.max_mae_ratio=1.5"]
    params = load_params(project, overrides)
    run = run_pipeline(params, params_file=project, overrides=overrides,
                       runs_dir=tmp_path / "runs", progress=lambda _: None)
    assert run.manifest["registry"] == {"model": "diabetes", "version": 1,
                                        "alias": "production", "backend": "local"}
    registry = open_registry(params.registry, params.root)
    version = registry.get("diabetes", 1)
    assert set(version.metadata["metrics"]) == {"mae", "rmse", "r2", "mape"}
    assert version.metadata["gates_passed"]
    assert {g["gate"] for g in version.metadata["gates"]} == {
        "min_r2", "max_mae_ratio[sex]", "baseline_r2"}
    model = registry.load_model("diabetes", 1)
    rows = load_split(params).test.drop(columns="target").head(5)
    values = model.predict(rows)
    assert values.dtype.kind == "f" and 25 < values.mean() < 346
    training = json.loads((run.run_dir / "training.json").read_text())
    assert training["task"] == "regression" and training["classes"] == []
    # Served as the app serves it: a number, no probability.
    from mlops.serving.router import Router

    with Router.from_params(params, log_path=str(tmp_path / "log.sqlite")) as router:
        served = router.predict(rows.iloc[0].to_dict())
    assert served.proba is None and served.label == pytest.approx(values[0])


def test_a_classifier_in_production_is_not_the_champion_of_a_regression_run():
    from mlops.pipeline.registration import champion_mismatch

    class Fitted:
        feature_names_in_ = np.array(["a"])

    old = {"lineage": {"params": {"data": {"target": "y"}}}}  # before data.task existed
    assert champion_mismatch(Fitted(), old, target="y", labels=[], columns=["a"],
                             task="regression") == [
        "it is a classification model, this run is regression"]
    same = {"lineage": {"params": {"data": {"target": "y", "task": "regression"}}}}
    assert champion_mismatch(Fitted(), same, target="y", labels=[], columns=["a"],
                             task="regression") == []


def test_lightgbm_regresses_through_the_same_path(project, tmp_path):
    pytest.importorskip("lightgbm")
    from mlops.core.modelio import load_model, save_model

    text = project.read_text().replace("    ridge: {alpha: 1.0}", "    ridge: {alpha: 1.0}\n"
                                       "    lightgbm.LGBMRegressor: {n_estimators: 30, "
                                       "num_leaves: 7, verbose: -1}")
    (project.parent / "lgbm.yaml").write_text(text)
    params = load_params(project.parent / "lgbm.yaml",
                         ["model.estimator=lightgbm.LGBMRegressor"])
    data = load_split(params)
    pipeline = train(params, data.train)
    sha = save_model(pipeline, tmp_path / "m.skops")
    features = data.test.drop(columns="target")
    np.testing.assert_array_equal(load_model(tmp_path / "m.skops", sha256=sha).predict(features),
                                  pipeline.predict(features))
