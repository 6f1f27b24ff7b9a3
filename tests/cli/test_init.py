"""`mlops init` on your own data: what it decides, what it only suggests, and the run after.

The end-to-end tests go from `mlops init` to a registered model on scikit-learn's bundled
wine (multiclass) and breast cancer (binary, no sensitive features) data, on a generated
frame with an identifier column and a long-tail text category, on a small five-class text
target, and on data with a leak. Nothing is downloaded.
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
from mlops.core.data import INDEX_COLUMN
from mlops.core.exceptions import ConfigError, DataError, ModelMismatchError
from mlops.core.project import (
    detect_task,
    model_name,
    plan_project,
    positive_class,
    relax_training_checks,
    suggest_date_columns,
    suggest_high_cardinality,
    suggest_id_columns,
    suggest_sensitive,
)
from mlops.core.schema import infer_schema, load_schema

ROOT = Path(__file__).resolve().parents[2]


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


def five_classes(rows_per_class=(64, 48, 40, 32, 16), seed: int = 0) -> pd.DataFrame:
    """A small multiclass set: five text classes, the rarest with 16 rows (200 rows), three
    measurements that overlap between neighbouring classes and a text column of noise."""
    rng = np.random.default_rng(seed)
    names = ["alpha", "beta", "gamma", "delta", "epsilon"]
    parts = [pd.DataFrame({
        "length": rng.normal(30 + 2.5 * k, 2.5, n).round(1),
        "width": rng.normal(15 + 1.5 * (k % 3), 2.0, n).round(1),
        "weight": rng.normal(300 + 20 * k, 40, n).round(),
        "site": rng.choice(["north", "south", "east"], n),
        "kind": names[k]}) for k, n in enumerate(rows_per_class)]
    return pd.concat(parts).sample(frac=1, random_state=seed).reset_index(drop=True)


def flights(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Late arrivals: a departure delay known only after the fact (a leak), a plane number
    with hundreds of values, a scheduled date stored as text, and honest features."""
    rng = np.random.default_rng(seed)
    distance = rng.integers(100, 2500, rows)
    hour = rng.integers(5, 23, rows)
    late = (rng.random(rows) < 0.15 + 0.02 * (hour - 5) / 2).astype(int)
    dep_delay = np.where(late == 1, rng.gamma(4, 12, rows), rng.normal(0, 5, rows)).round()
    return pd.DataFrame({
        "distance": distance, "hour": hour, "dep_delay": dep_delay,
        "tailnum": [f"N{n:03d}" for n in rng.integers(0, 300, rows)],
        "day": pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), "D"),
        "late": late,
    }).assign(day=lambda f: f["day"].dt.strftime("%Y-%m-%d"))


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
    frame.insert(0, "row_index", range(len(frame)))
    frame.insert(0, INDEX_COLUMN, range(len(frame)))  # the pandas index: taken, not suggested
    frame["account_id"] = frame["customer_id"] % 50  # repeated, but named like an id
    frame["measure"] = np.linspace(0, 1, len(frame))  # unique per row, but a measurement
    found = dict(suggest_id_columns(frame, "churned"))
    assert set(found) == {"row_index", "customer_id", "account_id"}
    assert found["customer_id"] == "named like an identifier and a different value in every row"
    assert found["account_id"] == "named like an identifier"
    assert found["row_index"] == found["customer_id"]


def test_many_valued_text_and_dates_are_flagged_but_ids_and_long_tails_are_not():
    frame = flights()
    # 365 days, each on some 8 rows: a date is many-valued text too
    assert [h.column for h in suggest_high_cardinality(frame, "late")] == ["tailnum", "day"]
    assert [h.column for h in suggest_date_columns(frame, "late")] == ["day"]
    # a long tail of rare towns folds into one column: no hint; nor for numbers
    assert suggest_high_cardinality(generated(), "churned") == []
    assert suggest_date_columns(generated(), "churned") == []
    slashes = pd.DataFrame({"when": ["1/5/2024", "12/31/2023", None], "y": [0, 1, 0]})
    assert [h.column for h in suggest_date_columns(slashes, "y")] == ["when"]


def test_training_checks_are_relaxed_to_what_small_data_has():
    relaxed = relax_training_checks([64, 48, 40, 32, 16], 200)
    assert relaxed == (("min_class_rows", 20, 16, "the rarest class has 16 rows"),)
    assert relax_training_checks([500, 500], 1000) == ()
    assert [k for k, *_ in relax_training_checks([60, 2], 62)] == ["min_rows",
                                                                   "min_class_rows"]
    rare = relax_training_checks([2000, 5], 2005)
    assert [(k, v) for k, _, v, _ in rare] == [("min_class_rows", 5),
                                               ("min_class_share", 0.0024)]
    assert relax_training_checks([], 50, {"min_rows": 40}) == ()  # regression, own limits


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
        ours = {k: v for k, v in written[section].items() if k != "first_alias"}
        assert ours == template[section], section
    assert written["registry"]["first_alias"] == "production"  # nothing to review
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


def test_init_asks_about_a_leak_and_flags_many_values_and_dates_then_keeps_a_candidate(tmp_path):
    data = tmp_path / "flights.csv"
    flights().to_csv(data, index=False)
    out = tmp_path / "p.yaml"
    code, printed, _ = run_init("--data", str(data), "--target", "late", "--out", str(out))
    assert code == 0
    assert "'dep_delay' alone predicts 'late'" in printed
    assert "is 'dep_delay' known at prediction time?" in printed
    assert ("'tailnum' has 300 distinct text values: the model keeps the 49 most frequent "
            "apart and groups the other 251 as one") in printed
    assert "'day' holds dates as text" in printed
    assert "first_alias is candidate" in printed
    text = out.read_text()
    assert "first_alias: candidate" in text and "#   - leak: 'dep_delay' alone" in text
    assert "#   - high_cardinality: 'tailnum'" in text and "#   - date: 'day'" in text
    assert "distance" not in text.split("registry:")[1]  # honest columns are not flagged
    assert load_params(out).registry.first_alias == "candidate"


def test_without_a_warning_the_first_version_may_serve_at_once(tmp_path):
    data = tmp_path / "customers.csv"
    generated().to_csv(data, index=False)
    out = tmp_path / "p.yaml"
    code, printed, _ = run_init("--data", str(data), "--target", "churned", "--out", str(out))
    assert code == 0 and "WARNING" not in printed
    assert load_params(out).registry.first_alias == "production"


def test_a_pandas_index_column_is_taken_as_an_identifier(tmp_path):
    data = tmp_path / "indexed.csv"
    generated().drop(columns=["customer_id"]).to_csv(data)  # to_csv() writes the index
    out = tmp_path / "p.yaml"
    code, printed, _ = run_init("--data", str(data), "--target", "churned", "--out", str(out))
    assert code == 0 and f"identifier column {INDEX_COLUMN!r}" in printed
    params = load_params(out)
    assert params.data.id_columns == (INDEX_COLUMN,)
    assert "the index that pandas' to_csv() writes" in out.read_text()
    assert not [line for line in printed.splitlines() if "SUGGESTED" in line
                and INDEX_COLUMN in line]


def test_small_data_gets_relaxed_thresholds_with_a_note(tmp_path):
    data = tmp_path / "five.csv"
    five_classes().to_csv(data, index=False)
    out = tmp_path / "p.yaml"
    code, printed, _ = run_init("--data", str(data), "--target", "kind", "--out", str(out))
    assert code == 0
    assert "relaxed validation.training.min_class_rows from 20 to 16" in printed
    assert "BLOCKS" not in printed
    assert "min_class_rows: 16" in out.read_text()
    assert "relaxed by mlops init from 20: the rarest class has 16 rows" in out.read_text()
    assert load_params(out).validation.training.min_class_rows == 16


def test_init_names_a_validation_check_that_would_block_the_first_run(tmp_path):
    frame = generated()
    frame.loc[frame.index[:60], "income"] = np.nan  # 10 % missing: the missing check blocks
    data = tmp_path / "holes.csv"
    frame.to_csv(data, index=False)
    code, printed, _ = run_init("--data", str(data), "--target", "churned", "--out",
                                str(tmp_path / "p.yaml"))
    assert code == 0
    assert "BLOCKS the first run, validation check 'missing'" in printed and "income" in printed
    assert "change validation.thresholds in" in printed


def test_init_names_a_split_that_would_fail_the_first_run(tmp_path):
    data = tmp_path / "tiny.csv"
    pd.DataFrame({"x": np.arange(10) % 3, "y": list("aabbccddee")}).to_csv(data, index=False)
    code, printed, _ = run_init("--data", str(data), "--target", "y", "--out",
                                str(tmp_path / "p.yaml"))
    assert code == 0  # the files are written; what would fail is said
    assert "BLOCKS the first run, splitting off data.test_size 0.25" in printed
    assert "relaxed validation.training.min_rows from 100 to 10" in printed


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
    # identifiers and dropped columns are not request inputs
    not_inputs = [params.data.target, *params.data.id_columns, *params.data.drop_columns]
    row = load_split(params).test.drop(columns=not_inputs).iloc[0].to_dict()
    with Router.from_params(params, log_path=str(tmp_path / "log.sqlite")) as router:
        return router.predict(row)


# The warnings of init (a strong single feature: is it a leak?) were reviewed.
REVIEWED = ("registry.first_alias=production",)


@pytest.mark.slow
def test_end_to_end_multiclass_then_a_binary_model_under_the_same_name(tmp_path):
    wine = init_and_run(tmp_path, load_wine(as_frame=True).frame, "wine", "target", REVIEWED)
    assert wine.manifest["registry"] == {"model": "wine", "version": 1,
                                         "alias": "production", "backend": "local"}
    evaluation = json.loads((wine.run_dir / "evaluation.json").read_text())
    assert evaluation["task"] == "multiclass" and evaluation["positive_class"] is None
    assert {g["gate"] for g in evaluation["gates"]} == {"min_roc_auc", "max_brier",
                                                        "baseline_roc_auc",
                                                        "baseline_balanced_accuracy"}
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
                          "breast_cancer", "target", REVIEWED)
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


@pytest.mark.slow
def test_end_to_end_small_five_class_text_data_runs_on_the_thresholds_init_wrote(tmp_path):
    result = init_and_run(tmp_path, five_classes(), "five", "kind")
    assert result.status == "succeeded" and result.manifest["registry"]["version"] == 1
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    floor = {g["gate"]: g for g in evaluation["gates"]}["baseline_balanced_accuracy"]
    assert floor["passed"] and floor["threshold"] == pytest.approx(0.2 + 0.02)


@pytest.mark.slow
def test_end_to_end_a_warned_first_version_stays_a_candidate(tmp_path):
    from mlops.registry import open_registry

    result = init_and_run(tmp_path, flights(), "flights", "late")
    assert result.manifest["registry"]["alias"] == "candidate"
    params = load_params(tmp_path / "params-flights.yaml",
                         [f"registry.path={tmp_path / 'registry'}"])
    registry = open_registry(params.registry, params.root)
    assert "production" not in registry.aliases("flights")
    (move,) = [e for e in registry.history("flights") if e.alias == "candidate"]
    assert "registry.first_alias is candidate" in move.reason


@pytest.mark.slow
def test_end_to_end_id_and_dropped_columns_leave_the_request_contract(tmp_path):
    from mlops.core.data import load_split
    from mlops.serving.router import Router

    frame = generated().assign(refund=lambda f: np.where(f["churned"] == "yes", 1.0, 0.0))
    overrides = ("data.id_columns=[customer_id]", "data.drop_columns=[refund]")
    result = init_and_run(tmp_path, frame, "customers", "churned", (*overrides, *REVIEWED))
    assert result.manifest["registry"]["alias"] == "production"
    params = load_params(tmp_path / "params-customers.yaml",
                         [f"registry.path={tmp_path / 'registry'}", *overrides])
    row = load_split(params).test.iloc[0].drop(["churned", "customer_id", "refund"]).to_dict()
    with Router.from_params(params, log_path=str(tmp_path / "log.sqlite")) as router:
        assert "refund" not in router.validator.columns
        assert "customer_id" not in router.validator.columns
        assert router.predict(row).version == 1
