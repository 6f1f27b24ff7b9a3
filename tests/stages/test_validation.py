"""The validation gate: schema, graded per-column checks, drift records, report and CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.cli.main import main
from mlops.core.config import DEFAULT_THRESHOLDS, Thresholds, load_params
from mlops.core.data import read_csv, split
from mlops.core.exceptions import ConfigError, DataError, DataValidationError
from mlops.core.schema import Schema, infer_schema, load_schema, save_schema, schema_to_yaml
from mlops.stages.validation import CHECKS, check_drift, validate
from mlops.stages.validation_report import ValidationReport

ROOT = Path(__file__).resolve().parents[2]
CFG = load_params(ROOT / "params.yaml").validation  # the defaults, as shipped


def tuned(**changes: Thresholds) -> object:
    """``CFG`` with some checks' thresholds replaced."""
    return dataclasses.replace(CFG, thresholds={**CFG.thresholds, **changes})


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    return read_csv(ROOT / "data" / "german.csv")


@pytest.fixture(scope="module")
def schema(german):
    return infer_schema(german, target="risk", source="data/german.csv")


def failed(report: ValidationReport) -> set[tuple[str, str | None, str]]:
    return {(r.check, r.column, r.rule) for r in report.results if not r.passed}


def blocked(report: ValidationReport) -> set[tuple[str, str | None, str]]:
    return {(r.check, r.column, r.rule) for r in report.failures}


def warned(report: ValidationReport) -> set[tuple[str, str | None, str]]:
    return {(r.check, r.column, r.rule) for r in report.warnings}


def test_shipped_params_are_the_defaults():
    assert CFG.thresholds == DEFAULT_THRESHOLDS


# -- schema ----------------------------------------------------------------------------

def test_committed_schema_matches_the_data(german, schema):
    """data/schema.yaml changes only via `mlops schema infer`; it must match the data."""
    assert load_schema(ROOT / "data" / "schema.yaml") == schema


def test_schema_contents(schema):
    assert schema.target == "risk"
    assert schema.labels == (0, 1)
    assert "risk" not in schema.serving_columns and len(schema.serving_columns) == 9
    assert schema.by_name["age"].kind == "int"
    assert (schema.by_name["age"].min, schema.by_name["age"].max) == (19, 75)
    assert schema.by_name["age"].hard_min == 0, "never negative: proposed as a hard bound"
    assert schema.by_name["age"].hard_max is None, "no upper bound is guessed"
    assert schema.by_name["housing"].categories == ("free", "own", "rent")


def test_schema_round_trip_and_determinism(tmp_path, schema, german):
    path = tmp_path / "schema.yaml"
    save_schema(schema, path)
    assert load_schema(path) == schema
    again = infer_schema(german.sample(frac=1, random_state=1), target="risk",
                         source="data/german.csv")
    assert schema_to_yaml(again) == schema_to_yaml(schema), "row order must not matter"


def test_schema_float_nullable_and_high_cardinality():
    frame = pd.DataFrame({"x": [1.5, np.nan, 3.0], "n": [1.0, np.nan, 2.0],
                          "id": [f"u{i}" for i in range(3)], "y": [0, 1, 0]})
    s = infer_schema(frame, target="y")
    assert s.by_name["x"].kind == "float" and s.by_name["x"].nullable
    assert s.by_name["n"].kind == "int", "whole floats with NaN are ints read with NaN"


def test_schema_records_a_typical_value_per_column(tmp_path):
    frame = pd.DataFrame({
        "n": [1, 2, 2, 9, np.nan], "x": [0.5, 1.5, 2.5, 10.0, 4.0],
        "c": ["b", "a", "b", "a", None],  # a tie: the first in sorted order, so stable
        "flag": [True, False, True, True, False], "empty": [np.nan] * 5, "y": [0, 1, 0, 1, 0],
    })
    s = infer_schema(frame, target="y")
    typical = {c.name: c.typical for c in s.columns}
    assert typical == {"n": 2, "x": 2.5, "c": "a", "flag": True, "empty": None, "y": 0}
    assert isinstance(typical["n"], int) and isinstance(typical["flag"], bool)
    save_schema(s, tmp_path / "schema.yaml")
    reread = load_schema(tmp_path / "schema.yaml")
    assert {c.name: c.typical for c in reread.columns} == typical


def test_reinferring_keeps_what_people_wrote(tmp_path, german):
    from mlops.cli.main import main

    schema_file = tmp_path / "schema.yaml"
    text = schema_to_yaml(infer_schema(german, target="risk", source="data/german.csv"))
    text = (text.replace("age: {kind: int,", "age: {description: years lived, unit: years, "
                         "hard_max: 120, kind: int,")
            .replace("credit_amount: {kind: int, nullable: false, min: 250, max: 18424, "
                     "hard_min: 0", "credit_amount: {kind: int, nullable: false, min: 250, "
                     "max: 18424, min_exclusive: 0"))
    schema_file.write_text(text, encoding="utf-8")
    # Newer data: the ranges move, the hand-written parts stay.
    newer = german.assign(age=german["age"] + 1)
    data_file = tmp_path / "newer.csv"
    newer.to_csv(data_file, index=False)
    assert main(["schema", "infer", "--data", str(data_file), "--out", str(schema_file)]) == 0
    after = load_schema(schema_file)
    age = after.by_name["age"]
    assert (age.min, age.max) == (20, 76), "the data's range is refreshed"
    assert (age.description, age.unit, age.hard_max) == ("years lived", "years", 120)
    amount = after.by_name["credit_amount"]
    assert (amount.min_exclusive, amount.hard_min) == (0, None), "a hand edit is not undone"
    assert after.by_name["duration"].hard_min == 0, "untouched columns keep infer's proposal"


def test_reinferring_drops_pins_of_the_other_kind_and_never_overwrites_a_broken_file(
        tmp_path, capsys):
    from mlops.cli.main import main

    data = tmp_path / "data.csv"
    pd.DataFrame({"code": [1, 2, 3, 4], "x": [0.5, 1.5, 2.5, 3.5],
                  "risk": [0, 1, 0, 1]}).to_csv(data, index=False)
    out = tmp_path / "schema.yaml"
    out.write_text("version: 1\ntarget: risk\ncolumns:\n"
                   "  code: {kind: category, nullable: false, categories: [a, b], "
                   "allowed: [a, b, c], description: a code}\n"
                   "  x: {kind: float, nullable: false, min: 0, max: 9, hard_max: 10}\n"
                   "  risk: {kind: int, nullable: false, min: 0, max: 1}\n", encoding="utf-8")
    assert main(["schema", "infer", "--data", str(data), "--out", str(out)]) == 0
    after = load_schema(out)  # loads: no category pin left on what is now a number
    assert after.by_name["code"].kind == "int" and after.by_name["code"].allowed is None
    assert after.by_name["code"].description == "a code"
    assert after.by_name["x"].hard_max == 10
    broken = "version: 1\ncolumns: {code: {kind: int, description: precious, colour: red}}\n"
    out.write_text(broken, encoding="utf-8")
    assert main(["schema", "infer", "--data", str(data), "--out", str(out)]) == 2
    assert "colour" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == broken, "a file that does not load is kept"




@pytest.mark.parametrize("text, rule", [
    ("version: 1\ncolumns: {a: {kind: int, typical: .nan}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: int, typical: many}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: bool, typical: 1}}\n", "schema_format"),
    ("version: 99\ncolumns: {a: {kind: int}}\n", "schema_version"),
    ("version: 1\ncolumns: {a: {kind: decimal}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: int, colour: red}}\n", "schema_format"),
    ("version: 1\ntarget: b\ncolumns: {a: {kind: int}}\n", "schema_format"),
    ("- just a list\n", "schema_format"),
    ("version: 1\ncolumns: {a: [unclosed\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: category, hard_min: 0}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: int, hard_min: x}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: int, hard_min: 5, hard_max: 1}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: int, allowed: [1]}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: int, optional: maybe}}\n", "schema_format"),
])
def test_bad_schema_files(tmp_path, text, rule):
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_schema(path)
    assert info.value.fields["rule"] == rule and str(path) in info.value.message


def test_missing_schema_says_how_to_create_it(tmp_path):
    with pytest.raises(DataError, match="mlops schema infer"):
        load_schema(tmp_path / "schema.yaml")


def test_infer_without_target_column_fails(german):
    with pytest.raises(DataError, match="'label' is missing"):
        infer_schema(german, target="label")


# -- clean data passes -----------------------------------------------------------------

def test_full_data_passes(german, schema):
    report = validate(german, schema, CFG, source="german.csv", purpose="training")
    assert report.passed and not report.warnings, report.summary()
    assert report.grade == "pass"
    checks = {r.check for r in report.results}
    assert {"schema", "missing", "constant", "range", "far_range", "sign", "hard_bounds",
            "unseen_category", "infinite", "duplicates", "labels", "rows", "training",
            "leakage_auc"} <= checks


def test_test_split_against_train_split_passes(german, schema):
    train, test = split(german, "risk", test_size=0.25, seed=42)
    report = validate(test, schema, CFG, reference=train, purpose="batch")
    assert report.passed and not report.warnings, report.summary()
    assert report.drift is not None and report.drift.drifted_columns == ()


def test_pipeline_gate_full_data_then_split_drift(german, schema):
    """What the validation stage does: the full data set, then test vs train drift."""
    train, test = split(german, "risk", test_size=0.25, seed=42)
    full = validate(german, schema, CFG, source="data/german.csv")
    drift = check_drift(train, test, schema, CFG, source="test split")
    assert {r.check for r in drift.results} == {"drift_psi", "drift_js", "drifted_share",
                                                "label_drift"}
    report = full.merge(drift)
    assert len(report.results) == len(full.results) + len(drift.results)
    assert report.drift is drift.drift and report.source == "data/german.csv"
    assert report.passed and not report.warnings
    shifted = test.assign(duration=test["duration"] * 2)
    flagged = check_drift(train, shifted, schema, CFG)
    assert flagged.drift.drifted_columns == ("duration",)
    assert blocked(flagged) == {("drift_psi", "duration", "ks+psi")}, "a large drift blocks"
    more = test.assign(credit_amount=(test["credit_amount"] * 1.2).round().astype("int64"))
    mild = check_drift(train, more, schema, CFG)
    assert mild.drift.drifted_columns == ("credit_amount",)
    assert mild.passed and warned(mild) == {("drift_psi", "credit_amount", "ks+psi")}


@pytest.mark.parametrize("seed", range(5))
def test_clean_bootstrap_resample_passes(german, schema, seed):
    sample = german.sample(n=len(german), replace=True, random_state=seed)
    report = validate(sample, schema, CFG, reference=german, purpose="batch")
    assert report.drift.drifted_columns == (), report.drift.to_frame()
    assert report.grade == "pass", report.summary()


def test_planted_shift_in_two_columns_is_flagged_on_exactly_those(german, schema):
    rng = np.random.default_rng(0)
    batch = german.sample(n=1000, replace=True, random_state=3).reset_index(drop=True)
    batch["credit_amount"] = (batch["credit_amount"] * 1.6).round().astype("int64")
    rent = rng.random(len(batch)) < 0.35
    batch.loc[rent, "housing"] = "rent"
    report = validate(batch, schema, tuned(range=Thresholds(off=True)), reference=german,
                      purpose="batch")
    assert set(report.drift.drifted_columns) == {"credit_amount", "housing"}
    drift_fails = {r.column for r in report.failures if r.check.startswith("drift")}
    assert drift_fails == {"credit_amount", "housing"}, "both shifts are large"
    warn_only = tuned(range=Thresholds(off=True), drift_psi=Thresholds(warn=0.005),
                      drift_js=Thresholds(warn=0.01))
    report = validate(batch, schema, warn_only, reference=german, purpose="batch")
    assert {r.column for r in report.warnings} == {"credit_amount", "housing"}
    assert report.passed, "with no block thresholds drift only warns"


def test_label_drift_is_reported(german, schema):
    bad = german[german["risk"] == 0]
    batch = pd.concat([bad, bad, german.sample(400, random_state=0)])
    report = validate(batch, schema, CFG, reference=german, purpose="batch")
    assert ("label_drift", "risk", "label_drift") in failed(report)


# -- each check catches its problem ----------------------------------------------------

def test_missing_and_renamed_columns(german, schema):
    frame = german.rename(columns={"duration": "durations"}).drop(columns=["age"])
    report = validate(frame, schema, CFG)
    assert {("schema", "duration", "column_present"), ("schema", "age", "column_present"),
            ("schema", "durations", "no_extra_columns")} <= failed(report)
    message = next(r.message for r in report.failures if r.column == "duration")
    assert "renamed to 'durations'" in message
    assert not report.passed


def test_text_where_numbers_expected(german, schema):
    frame = german.copy()
    frame["age"] = frame["age"].astype(str)
    frame.loc[5, "age"] = "forty"
    report = validate(frame, schema, CFG, source="batch.csv")
    rec = next(r for r in report.failures if r.column == "age")
    assert rec.rule == "dtype" and "'forty'" in rec.message and "batch.csv" in rec.message


def test_fractions_in_an_int_column(german, schema):
    frame = german.astype({"duration": "float64"})
    frame.loc[0, "duration"] = 6.5
    assert ("schema", "duration", "dtype") in failed(validate(frame, schema, CFG))
    ok = german.astype({"duration": "float64"})
    assert validate(ok, schema, CFG).passed, "whole floats (ints read with NaN) are fine"


def test_missing_values_threshold(german, schema):
    frame = german.copy()
    frame.loc[:39, "job"] = np.nan  # 4 %: above warn (1 %), under block (5 %)
    report = validate(frame, schema, CFG)
    assert report.passed and warned(report) == {("missing", "job", "missing_share")}
    frame.loc[:99, "job"] = np.nan  # 10 %
    report = validate(frame, schema, CFG)
    assert ("missing", "job", "missing_share") in blocked(report)
    assert not report.passed


def test_all_null_and_constant_columns(german, schema):
    frame = german.copy()
    frame["purpose"] = np.nan
    frame["sex"] = "male"
    report = validate(frame, schema, tuned(missing=Thresholds(warn=0.05)))
    assert {("constant", "purpose", "all_null"), ("constant", "sex", "not_constant")} <= \
        warned(report)


def test_range_unseen_infinite(german, schema):
    frame = german.astype({"credit_amount": "float64"})
    frame.loc[0, "credit_amount"] = np.inf
    frame.loc[1:10, "age"] = 80  # 1 %: above warn (0.5 %), under block (2 %)
    frame.loc[:19, "housing"] = "castle"  # 2 %: above warn (1 %), under block (10 %)
    report = validate(frame, schema, CFG)
    assert {("range", "age", "reference_range"), ("unseen_category", "housing",
            "unseen_share")} <= warned(report)
    unseen = next(r for r in report.results if r.check == "unseen_category"
                  and r.column == "housing")
    assert unseen.observed == pytest.approx(0.02) and "'castle'" in unseen.message
    assert (unseen.warn, unseen.block) == (0.01, 0.10)
    assert blocked(report) == {("infinite", "credit_amount", "finite")}, "only inf blocks"


def test_one_setting_warns_on_a_little_and_blocks_on_a_lot(german, schema):
    """The same range check: 1 % outside warns, 5 % outside blocks."""
    little, lot = german.copy(), german.copy()
    little.loc[:9, "duration"] = 80
    lot.loc[:49, "duration"] = 80
    assert warned(validate(little, schema, CFG)) == {("range", "duration",
                                                       "reference_range")}
    assert ("range", "duration", "reference_range") in blocked(validate(lot, schema, CFG))


def test_far_out_of_range_and_a_new_sign_block_at_a_small_share(german, schema):
    far = german.copy()
    far.loc[:1, "age"] = 999  # 0.2 %: beyond 75 + (75 - 19)
    report = validate(far, schema, CFG)
    assert blocked(report) == {("far_range", "age", "reference_spread")}
    assert "999" in report.failures[0].message
    one = german.copy()
    one.loc[0, "age"] = 999  # 0.1 %: warns
    assert warned(validate(one, schema, CFG)) == {("far_range", "age", "reference_spread")}
    flipped = german.copy()
    flipped.loc[:4, "duration"] *= -1  # 0.5 % negative where the reference never was
    no_hard = Schema(tuple(dataclasses.replace(c, hard_min=None) for c in schema.columns),
                     schema.target, schema.labels, schema.serving_columns)
    assert ("sign", "duration", "new_sign") in blocked(validate(flipped, no_hard, CFG))


def test_hard_bounds_allowed_categories_and_optional_columns(german, schema):
    columns = {c.name: c for c in schema.columns}
    columns["age"] = dataclasses.replace(columns["age"], hard_min=18, hard_max=100)
    columns["credit_amount"] = dataclasses.replace(columns["credit_amount"], hard_min=None,
                                                   min_exclusive=0)
    columns["housing"] = dataclasses.replace(columns["housing"], optional=True,
                                             allowed=("free", "own", "rent", "castle"))
    pinned = Schema(tuple(columns.values()), schema.target, schema.labels,
                    schema.serving_columns)
    frame = german.copy()
    frame.loc[0, "age"] = 101  # inside the reference spread, outside the hard bound
    frame.loc[1, "credit_amount"] = 0
    report = validate(frame, pinned, CFG)
    assert blocked(report) == {("hard_bounds", "age", "hard_bound"),
                               ("hard_bounds", "credit_amount", "hard_bound")}
    messages = {r.column: r.message for r in report.failures}
    assert "at least 18 and at most 100" in messages["age"]
    assert "above 0" in messages["credit_amount"]
    castle = german.copy()
    castle.loc[:4, "housing"] = "castle"  # allowed, and 0.5 % unseen: passes
    castle.loc[5, "housing"] = "palace"  # not allowed: blocks at any share
    assert blocked(validate(castle, pinned, CFG)) == {("hard_bounds", "housing",
                                                       "hard_bound")}
    without = german.drop(columns=["housing"])
    assert validate(without, pinned, CFG).passed, "an optional column may be missing"
    assert not validate(without, schema, CFG).passed


def test_duplicates_and_labels(german, schema):
    frame = pd.concat([german, german.head(30)], ignore_index=True)
    frame.loc[0, "risk"] = 2
    frame.loc[1, "risk"] = np.nan
    report = validate(frame, schema, CFG)
    assert ("duplicates", None, "duplicate_share") in warned(report)
    assert {("labels", "risk", "known_labels"),
            ("labels", "risk", "no_missing_labels")} <= blocked(report)
    assert not report.passed
    batch = validate(frame, schema, CFG, purpose="batch")
    assert not any(r.check == "duplicates" for r in batch.results), "training data only"


def test_serving_batch_without_target(german, schema):
    batch = german.drop(columns=["risk"])
    assert not validate(batch, schema, CFG, purpose="training").passed
    report = validate(batch, schema, CFG, reference=german, purpose="batch")
    assert report.passed and not any(r.column == "risk" for r in report.results)


# -- training data ---------------------------------------------------------------------

def test_training_data_needs_rows_and_classes(german, schema):
    def rules(frame):
        return blocked(validate(frame, schema, CFG, purpose="training"))

    assert ("rows", None, "min_rows") in rules(german.head(50))
    assert ("training", "risk", "min_classes") in rules(german[german["risk"] == 1])
    rare = pd.concat([german[german["risk"] == 1], german[german["risk"] == 0].head(5)])
    assert {("training", "risk", "min_class_rows"),
            ("training", "risk", "min_class_share")} <= rules(rare)
    assert ("training", "risk", "min_classes") in rules(german.assign(risk=np.nan))
    # The same small file as a batch to score: too few rows is its only problem.
    assert validate(german.head(50), schema, CFG, purpose="batch").passed
    assert blocked(validate(german.head(20), schema, CFG, purpose="batch")) == {
        ("rows", None, "min_rows")}


def test_numeric_target_is_checked_for_constant_values(german):
    frame = german.assign(amount=german["credit_amount"].astype(float) * 1.5)
    schema = infer_schema(frame.drop(columns=["risk"]), target="amount")
    assert not schema.classification
    assert validate(frame.drop(columns=["risk"]), schema, CFG).passed
    flat = frame.drop(columns=["risk"]).assign(amount=100.0)
    assert ("training", "amount", "min_distinct_targets") in blocked(
        validate(flat, schema, CFG))


def test_a_leaked_column_warns_naming_it(german, schema):
    leaked = german.copy()
    # The 300 largest amounts go to the 300 bad risks: same values, perfect predictor.
    order = leaked["risk"].sort_values(kind="stable").index
    leaked.loc[order, "credit_amount"] = np.sort(leaked["credit_amount"].to_numpy())[::-1]
    report = validate(leaked, schema, CFG, purpose="training")
    assert report.passed
    assert warned(report) == {("leakage_auc", "credit_amount", "single_feature_roc_auc")}
    assert "leak" in report.warnings[0].message
    assert validate(leaked, schema, CFG, purpose="batch").grade == "pass", "training only"


# -- thresholds and the report ---------------------------------------------------------

def test_off_skips_and_no_block_threshold_only_warns(german, schema):
    frame = german.copy()
    frame.loc[:99, "job"] = np.nan
    off = validate(frame, schema, tuned(missing=Thresholds(off=True)))
    assert off.passed and not any(r.check == "missing" for r in off.results)
    warn = validate(frame, schema, tuned(missing=Thresholds(warn=0.05)))
    assert warn.passed and [r.column for r in warn.warnings] == ["job"]


def test_unknown_threshold_key_is_a_config_error():
    with pytest.raises(ConfigError, match="validation.thresholds.drfit") as info:
        tuned(drfit=Thresholds(warn=0.1))
    assert info.value.fields["key"] == "validation.thresholds.drfit"
    assert "features" in CHECKS and "rows" in CHECKS


def test_empty_frame_is_unusable(german, schema):
    with pytest.raises(DataError, match="no rows"):
        validate(german.head(0), schema, CFG)


def test_report_shapes(german, schema):
    frame = german.copy()
    frame.loc[:99, "job"] = np.nan
    report = validate(frame, schema, CFG, reference=german, source="b.csv")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False and data["grade"] == "block" and data["drift"]["columns"]
    assert set(data["checks"][0]) == {"check", "column", "rule", "observed", "warn", "block",
                                      "grade", "passed", "message"}
    line = report.summary()
    assert "\n" not in line and line.startswith("validation FAILED for b.csv")
    assert "missing(job) 10.0% > block 5.00%" in line, "observed value and threshold"
    table = report.to_frame()
    assert len(table) == len(report.results)
    assert list(table.columns[:7]) == ["check", "column", "rule", "observed", "warn",
                                       "block", "grade"]
    assert list(report.to_frame(failed_only=True)["column"]) == ["job"]
    row = report.to_frame(failed_only=True, readable=True).iloc[0]
    assert (row["observed"], row["warn"], row["block"]) == ("10.0%", "> 1.00%", "> 5.00%")
    with pytest.raises(DataValidationError, match="'job' has 10.0% missing") as info:
        report.raise_for_failures()
    assert info.value.exit_code == 1


# -- command line ----------------------------------------------------------------------

@pytest.fixture()
def project(tmp_path, german):
    """A params file pointing at a copy of the data and the committed schema."""
    text = (ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text)
    (tmp_path / "data").mkdir()
    german.to_csv(tmp_path / "data" / "german.csv", index=False)
    (tmp_path / "data" / "schema.yaml").write_text((ROOT / "data/schema.yaml").read_text())
    return tmp_path


def test_cli_exit_codes(project, german, capsys):
    params = str(project / "params.yaml")
    good = project / "good.csv"
    german.sample(300, random_state=0).to_csv(good, index=False)
    assert main(["validate", "--data", str(good), "--params", params]) == 0
    assert "validation PASSED" in capsys.readouterr().out
    bad = project / "bad.csv"
    frame = german.copy()
    frame.loc[0, "risk"] = 5
    frame.to_csv(bad, index=False)
    out_json = project / "report.json"
    assert main(["validate", "--data", str(bad), "--params", params,
                 "--json", str(out_json)]) == 1
    assert json.loads(out_json.read_text())["passed"] is False
    captured = capsys.readouterr()
    assert "known_labels" in captured.out and "bad.csv" in captured.err
    assert "block" in captured.out and "> 0.00%" in captured.out, "grade and threshold"
    empty = project / "empty.csv"
    empty.write_text("")
    assert main(["validate", "--data", str(empty), "--params", params]) == 2
    assert "empty.csv: is empty" in capsys.readouterr().err


def test_cli_schema_infer(project, capsys):
    out = project / "new_schema.yaml"
    assert main(["schema", "infer", "--params", str(project / "params.yaml"),
                 "--out", str(out)]) == 0
    assert load_schema(out) == load_schema(project / "data" / "schema.yaml")
    (project / "data" / "schema.yaml").unlink()
    assert main(["schema", "infer", "--params", str(project / "params.yaml")]) == 0
    assert (project / "data" / "schema.yaml").read_text() == out.read_text()
