"""`mlops init` on your own data: what it decides, what it only suggests, and the run after.

The end-to-end tests go from `mlops init` to a registered model on scikit-learn's bundled
wine (multiclass) and breast cancer (binary, no sensitive features) data, and on a
generated frame with an identifier column and a long-tail text category. Nothing is
downloaded.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_wine

from mlops.cli.main import main
from mlops.core.config import load_params
from mlops.core.exceptions import ConfigError, DataError, ModelMismatchError
from mlops.core.project import (
    detect_task,
    model_name,
    plan_project,
    positive_class,
    suggest_id_columns,
    suggest_sensitive,
)
from mlops.core.schema import infer_schema, load_schema

ROOT = Path(__file__).resolve().parents[1]


def run_init(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["init", *argv])
    return code, out.getvalue(), err.getvalue()


def generated(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Customers: an id, a long-tail city (a few big ones, many seen once or twice), a
    demographic column, and a churn label that depends on tenure, plan and income."""
    rng = np.random.default_rng(seed)
    big = ["Lyon", "Paris", "Nantes", "Lille"]
    tail = [f"town-{i:03d}" for i in range(250)]
    city = np.where(rng.random(rows) < 0.6, rng.choice(big, rows), rng.choice(tail, rows))
    tenure = rng.integers(1, 72, rows)
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    income = rng.normal(3000, 800, rows).round(2)
    score = -0.05 * tenure + (plan == "basic") * 1.2 - (income - 3000) / 800 + rng.normal(
        0, 0.8, rows)
    return pd.DataFrame({
        "customer_id": rng.permutation(np.arange(10_000, 10_000 + rows)),
        "city": city, "gender": rng.choice(["f", "m"], rows), "tenure": tenure,
        "plan": plan, "income": income,
        "churned": np.where(score > np.quantile(score, 0.7), "yes", "no"),
    })


# --- task, classes and suggestions ---------------------------------------------------------

@pytest.mark.parametrize(("values", "requested", "task"), [
    ([0, 1, 1, 0], "auto", "binary"),
    (["yes", "no", "no"], "auto", "binary"),
    ([True, False, True], "auto", "binary"),
    ([0, 1, 2, 2], "auto", "multiclass"),
    (["a", "b", "c"], "auto", "multiclass"),
    ([1.0, 2.0, 3.0, 1.0], "auto", "multiclass"),  # integral floats are class codes
    (list(range(30)), "multiclass", "multiclass"),  # many codes, on purpose
    ([0, 1, 0], "binary", "binary"),
    ([0.5, 1.25, 3.0], "auto", "regression"),  # fractions: a quantity
    (list(range(30)), "auto", "regression"),  # more whole numbers than classes
    ([0, 1, 1, 0], "regression", "regression"),  # a number on purpose
])
def test_task_detection(values, requested, task):
    assert detect_task(pd.Series(values, name="y"), requested) == task


@pytest.mark.parametrize(("values", "requested", "error", "message"), [
    (["a", "b", "c"], "regression", DataError, "is not numeric"),
    ([2.5, 2.5], "regression", DataError, "nothing to predict"),
    ([1, 1, 1], "auto", DataError, "1 distinct value"),
    ([0, 1, 2], "binary", DataError, "has 3 classes, not 2"),
    ([0, 1, 0], "multiclass", DataError, "that is --task binary"),
    ([f"id{i}" for i in range(200)], "auto", DataError, "is it the right column"),
])
def test_task_detection_refuses_with_the_reason(values, requested, error, message):
    with pytest.raises(error, match=message):
        detect_task(pd.Series(values, name="y"), requested)


def test_positive_class_is_the_minority_or_the_larger_label_on_a_tie():
    assert positive_class(pd.Series([0, 0, 0, 1])) == (1, "the minority class: 1 of 4 rows")
    assert positive_class(pd.Series(["good", "bad", "good"]))[0] == "bad"
    value, why = positive_class(pd.Series(["no", "yes", "yes", "no"]))
    assert value == "yes" and why.startswith("the larger label")
    assert positive_class(pd.Series([3, 7, 3, 7]))[0] == 7  # numbers compare as numbers


def test_sensitive_features_are_suggested_by_word_not_by_substring():
    frame = pd.DataFrame(columns=["Age", "marital_status", "applicantGender", "race",
                                  "page_count", "average", "usage", "y"])
    assert suggest_sensitive(frame, "y") == ["Age", "marital_status", "applicantGender",
                                             "race"]


def test_identifier_columns_are_suggested():
    frame = generated(200)
    frame.insert(0, "Unnamed: 0", range(len(frame)))
    frame["account_id"] = frame["customer_id"] % 50  # repeated, but named like an id
    frame["measure"] = np.linspace(0, 1, len(frame))  # unique per row, but a measurement
    found = dict(suggest_id_columns(frame, "churned"))
    assert set(found) == {"Unnamed: 0", "customer_id", "account_id"}
    assert found["customer_id"] == "named like an identifier and a different value in every row"
    assert found["account_id"] == "named like an identifier"
    assert found["Unnamed: 0"] == found["customer_id"]


def test_model_name_comes_from_the_file_unless_given():
    assert model_name("data/Customer Churn (2024).csv") == "customer-churn-2024"
    assert model_name("x.csv", "churn.v2") == "churn.v2"
    with pytest.raises(ConfigError, match="--name"):
        model_name("x.csv", "../evil")


def test_gate_defaults_fit_the_task():
    wine = load_wine(as_frame=True).frame
    plan = plan_project(wine, data_path="w.csv", schema_path="w.yaml", target="target")
    shares = wine["target"].value_counts(normalize=True)
    assert plan.prior_brier == pytest.approx((1 - (shares**2).sum()) / 2)  # halved, 0..1
    assert plan.max_brier >= plan.prior_brier and plan.max_brier - plan.prior_brier < 1e-3
    assert plan.positive_class is None and plan.task == "multiclass"
    cancer = load_breast_cancer(as_frame=True).frame
    plan = plan_project(cancer, data_path="c.csv", schema_path="c.yaml", target="target")
    p = (cancer["target"] == 0).mean()
    assert plan.prior_brier == pytest.approx(p * (1 - p))  # the binary Brier of the prior
    assert (plan.positive_class, plan.sensitive) == (0, ())


def test_a_class_with_one_row_cannot_be_split():
    frame = pd.DataFrame({"x": range(9), "y": ["a"] * 4 + ["b"] * 4 + ["c"]})
    with pytest.raises(DataError, match=r"classes \['c'\] have a single row"):
        plan_project(frame, data_path="d.csv", schema_path="s.yaml", target="y")


# --- the files it writes -------------------------------------------------------------------

def test_init_writes_a_params_file_that_loads_and_a_schema(tmp_path):
    (tmp_path / "data").mkdir()
    data = tmp_path / "data" / "customers.csv"
    frame = generated()
    frame.to_csv(data, index=False)
    out = tmp_path / "params-customers.yaml"
    code, stdout, _ = run_init("--data", str(data), "--target", "churned", "--out", str(out))
    assert code == 0
    assert stdout.rstrip().endswith(f"make pipeline PARAMS={out}")
    params = load_params(out)
    assert params.data.path == "data/customers.csv"  # relative to the params file
    assert params.resolve(params.data.path) == data.resolve()
    assert params.data.positive_class == "yes" and params.model.name == "customers"
    # suggestions are comments: nothing is chosen for the user
    assert params.data.sensitive_features == () and params.data.id_columns == ()
    text = out.read_text()
    assert "SUGGESTED: [gender]" in text and "SUGGESTED: [customer_id]" in text
    assert "the minority class: 180 of 600 rows" in text
    schema = load_schema(params.resolve(params.data.schema))
    assert params.data.schema == "data/customers.schema.yaml"
    assert schema.to_dict() == infer_schema(frame, target="churned",
                                            source="data/customers.csv").to_dict()
    # every other section is the template's, as written
    template = yaml.safe_load((ROOT / "params.yaml").read_text())
    written = yaml.safe_load(text)
    for section in ("validation", "registry", "deployment", "monitoring"):
        assert written[section] == template[section], section
    assert set(written) == set(template)


def test_init_keeps_existing_files_unless_forced(tmp_path):
    data = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(data, index=False)
    out = tmp_path / "p.yaml"
    assert run_init("--data", str(data), "--target", "target", "--out", str(out))[0] == 0
    code, _, err = run_init("--data", str(data), "--target", "target", "--out", str(out))
    assert code == 2 and "exists; pass --force" in err
    assert run_init("--data", str(data), "--target", "target", "--out", str(out),
                    "--force")[0] == 0


def test_a_regression_target_gets_regressor_params_and_no_labels(tmp_path):
    data = tmp_path / "prices.csv"
    frame = pd.DataFrame({"x": range(50), "price": np.linspace(1, 9, 50)})
    frame.to_csv(data, index=False)
    out = tmp_path / "p.yaml"
    code, stdout, _ = run_init("--data", str(data), "--target", "price", "--out", str(out))
    assert code == 0 and "regression target 'price' (numbers from 1 to 9)" in stdout
    assert stdout.rstrip().endswith(f"make pipeline PARAMS={out}")
    params = load_params(out)
    assert params.data.regression and params.data.positive_class is None
    assert params.data.class_labels == {} and params.model.estimator == "ridge"
    assert "logistic_regression" not in params.model.hyperparameters
    assert set(params.evaluation.gates) == {"min_r2"}
    assert params.evaluation.baseline.metric == "r2"
    # a number has no label set, so no value of it is "unknown" to validation
    schema = load_schema(params.resolve(params.data.schema))
    assert schema.labels == () and not schema.classification


def test_a_missing_target_names_the_columns(tmp_path):
    data = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(data, index=False)
    code, _, err = run_init("--data", str(data), "--target", "quality", "--out",
                            str(tmp_path / "p.yaml"))
    assert code == 2 and "'quality' is not in the data" in err and "alcohol" in err


# --- end to end: init, then the pipeline, to a registered model ----------------------------

def init_and_run(tmp_path: Path, frame: pd.DataFrame, stem: str, target: str,
                 overrides: tuple[str, ...] = (), name: str | None = None):
    from mlops.pipeline.runner import run_pipeline

    data = tmp_path / f"{stem}.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / f"params-{stem}.yaml"
    args = ["--data", str(data), "--target", target, "--out", str(out)]
    assert run_init(*args, *(["--name", name] if name else []))[0] == 0
    overrides = [f"registry.path={tmp_path / 'registry'}", *overrides]
    params = load_params(out, overrides)
    return run_pipeline(params, params_file=out, overrides=overrides,
                        runs_dir=tmp_path / "runs", progress=lambda _: None)


def serve_a_held_out_row(tmp_path: Path, stem: str, overrides: tuple[str, ...] = ()):
    """The registered production model of ``params-<stem>.yaml`` answers one held-out row
    through the router, as the app serves it."""
    from mlops.core.data import load_split
    from mlops.serving.router import Router

    params = load_params(tmp_path / f"params-{stem}.yaml",
                         [f"registry.path={tmp_path / 'registry'}", *overrides])
    row = load_split(params).test.drop(columns=[params.data.target]).iloc[0].to_dict()
    with Router.from_params(params, log_path=str(tmp_path / "log.sqlite")) as router:
        return router.predict(row)


@pytest.mark.slow
def test_end_to_end_multiclass_then_a_binary_model_under_the_same_name(tmp_path):
    wine = init_and_run(tmp_path, load_wine(as_frame=True).frame, "wine", "target")
    assert wine.manifest["registry"] == {"model": "wine", "version": 1,
                                         "alias": "production", "backend": "local"}
    evaluation = json.loads((wine.run_dir / "evaluation.json").read_text())
    assert evaluation["task"] == "multiclass" and evaluation["positive_class"] is None
    assert {g["gate"] for g in evaluation["gates"]} == {"min_roc_auc", "max_brier",
                                                        "baseline_roc_auc"}
    report = (wine.run_dir / "report.md").read_text()
    assert "macro F1" in report and "macro one-vs-rest ROC-AUC" in report
    served = serve_a_held_out_row(tmp_path, "wine")
    assert served.version == 1 and served.label in {0, 1, 2}
    # Another data set under the same model name: refused, with its own exit code.
    with pytest.raises(ModelMismatchError, match="production model wine v1"):
        init_and_run(tmp_path, load_breast_cancer(as_frame=True).frame, "cancer", "target",
                     name="wine")


@pytest.mark.slow
def test_end_to_end_binary_without_sensitive_features(tmp_path):
    cancer = init_and_run(tmp_path, load_breast_cancer(as_frame=True).frame,
                          "breast_cancer", "target")
    assert cancer.manifest["registry"]["model"] == "breast_cancer"
    assert cancer.manifest["registry"]["alias"] == "production"
    evaluation = json.loads((cancer.run_dir / "evaluation.json").read_text())
    assert evaluation["positive_class"] == 0 and evaluation["fairness"] == {}
    assert evaluation["baseline"]["fitted_on"] == "training split"
    card = (cancer.run_dir / "README.md").read_text()
    assert "## Baseline" in card and "No sensitive features configured" in card
    served = serve_a_held_out_row(tmp_path, "breast_cancer")
    assert served.label in {0, 1} and 0 <= served.proba <= 1


@pytest.mark.slow
def test_end_to_end_with_an_id_column_and_a_long_tail_category(tmp_path):
    # The user confirms the suggestions: the id is not a feature, gender is measured.
    result = init_and_run(tmp_path, generated(), "customers", "churned",
                          ("data.id_columns=[customer_id]",
                           "data.sensitive_features=[gender]"))
    assert result.manifest["registry"]["version"] == 1
    training = json.loads((result.run_dir / "training.json").read_text())
    assert "customer_id" not in training["inputs"] and "city" in training["inputs"]
    # the long tail shares one column instead of one per town
    city = [f for f in training["feature_names"] if f.startswith("cat__city_")]
    assert "cat__city_infrequent_sklearn" in city and len(city) < 10
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    assert set(evaluation["fairness"]["gender"]["groups"]) == {"f", "m"}
    served = serve_a_held_out_row(tmp_path, "customers", ("data.id_columns=[customer_id]",
                                                         "data.sensitive_features=[gender]"))
    assert served.version == 1 and 0 <= served.proba <= 1


@pytest.mark.parametrize("labels", [[True, False, False, True, False],
                                    [1.0, 0.0, 0.0, 1.0, 0.0]])
def test_a_boolean_or_float_coded_target_gives_a_loadable_positive_class(tmp_path, labels):
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": range(10), "y": labels * 2}).to_csv(data, index=False)
    assert run_init("--data", str(data), "--target", "y", "--out", str(tmp_path / "p.yaml"))[0] \
        == 0
    positive = load_params(tmp_path / "p.yaml").data.positive_class
    assert str(positive) in ("True", "1")
