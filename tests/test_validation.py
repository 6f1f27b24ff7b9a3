"""The validation gate: schema, per-column checks, drift records, report and CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.cli.main import main
from mlops.core.config import ValidationConfig
from mlops.core.data import read_csv, split
from mlops.core.exceptions import ConfigError, DataError, DataValidationError
from mlops.core.schema import infer_schema, load_schema, save_schema, schema_to_yaml
from mlops.stages.validation import CHECKS, ValidationReport, check_drift, validate

ROOT = Path(__file__).resolve().parents[1]
SEVERITY = {"schema": "blocking", "missing": "blocking", "constant": "warning",
            "range": "warning", "unseen_category": "warning", "infinite": "blocking",
            "duplicates": "warning", "labels": "blocking", "drift": "warning"}
CFG = ValidationConfig(severity=SEVERITY, max_missing_share=0.05,
                       max_unseen_category_share=0.01, max_duplicate_share=0.01,
                       drift_alpha=0.01, drift_min_psi=0.005, drift_min_js=0.01,
                       max_drifted_share=0.3)


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    return read_csv(ROOT / "data" / "german.csv")


@pytest.fixture(scope="module")
def schema(german):
    return infer_schema(german, target="risk", source="data/german.csv")


def failed(report: ValidationReport) -> set[tuple[str, str | None, str]]:
    return {(r.check, r.column, r.rule) for r in report.results if not r.passed}


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


@pytest.mark.parametrize("text, rule", [
    ("version: 99\ncolumns: {a: {kind: int}}\n", "schema_version"),
    ("version: 1\ncolumns: {a: {kind: decimal}}\n", "schema_format"),
    ("version: 1\ncolumns: {a: {kind: int, colour: red}}\n", "schema_format"),
    ("version: 1\ntarget: b\ncolumns: {a: {kind: int}}\n", "schema_format"),
    ("- just a list\n", "schema_format"),
    ("version: 1\ncolumns: {a: [unclosed\n", "schema_format"),
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
    report = validate(german, schema, CFG, source="german.csv")
    assert report.passed and not report.warnings, report.summary()
    checks = {r.check for r in report.results}
    assert {"schema", "missing", "constant", "range", "unseen_category", "infinite",
            "duplicates", "labels"} <= checks


def test_test_split_against_train_split_passes(german, schema):
    train, test = split(german, "risk", test_size=0.25, seed=42)
    report = validate(test, schema, CFG, reference=train)
    assert report.passed and not report.warnings, report.summary()
    assert report.drift is not None and report.drift.drifted_columns == ()


def test_pipeline_gate_full_data_then_split_drift(german, schema):
    """What the validation stage does: the full data set, then test vs train drift."""
    train, test = split(german, "risk", test_size=0.25, seed=42)
    full = validate(german, schema, CFG, source="data/german.csv")
    drift = check_drift(train, test, schema, CFG, source="test split")
    assert {r.check for r in drift.results} == {"drift"}
    report = full.merge(drift)
    assert len(report.results) == len(full.results) + len(drift.results)
    assert report.drift is drift.drift and report.source == "data/german.csv"
    assert report.passed and not report.warnings
    shifted = test.assign(duration=test["duration"] * 2)
    flagged = check_drift(train, shifted, schema, CFG)
    assert flagged.drift.drifted_columns == ("duration",)
    assert flagged.passed, "drift is a warning by default"


@pytest.mark.parametrize("seed", range(5))
def test_clean_bootstrap_resample_passes(german, schema, seed):
    sample = german.sample(n=len(german), replace=True, random_state=seed)
    report = validate(sample, schema, dataclasses.replace(
        CFG, severity={**SEVERITY, "duplicates": "off"}), reference=german)
    assert report.drift.drifted_columns == (), report.drift.to_frame()
    assert report.passed


def test_planted_shift_in_two_columns_is_flagged_on_exactly_those(german, schema):
    rng = np.random.default_rng(0)
    batch = german.sample(n=1000, replace=True, random_state=3).reset_index(drop=True)
    batch["credit_amount"] = (batch["credit_amount"] * 1.6).round().astype("int64")
    rent = rng.random(len(batch)) < 0.35
    batch.loc[rent, "housing"] = "rent"
    report = validate(batch, schema, dataclasses.replace(
        CFG, severity={**SEVERITY, "duplicates": "off", "range": "off"}), reference=german)
    assert set(report.drift.drifted_columns) == {"credit_amount", "housing"}
    drift_fails = {r.column for r in report.warnings if r.check == "drift"}
    assert drift_fails == {"credit_amount", "housing"}
    assert report.passed, "drift is a warning in this config"


def test_label_drift_is_reported(german, schema):
    bad = german[german["risk"] == 0]
    batch = pd.concat([bad, bad, german.sample(400, random_state=0)])
    report = validate(batch, schema, dataclasses.replace(
        CFG, severity={**SEVERITY, "duplicates": "off"}), reference=german)
    assert ("drift", "risk", "label_drift") in failed(report)


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
    frame.loc[:39, "job"] = np.nan  # 4 %: under the 5 % limit
    assert validate(frame, schema, CFG).passed
    frame.loc[:99, "job"] = np.nan  # 10 %
    report = validate(frame, schema, CFG)
    assert ("missing", "job", "max_missing_share") in failed(report)
    assert not report.passed


def test_all_null_and_constant_columns(german, schema):
    frame = german.copy()
    frame["purpose"] = np.nan
    frame["sex"] = "male"
    report = validate(frame, schema, dataclasses.replace(
        CFG, severity={**SEVERITY, "missing": "warning"}))
    assert {("constant", "purpose", "all_null"), ("constant", "sex", "not_constant")} <= \
        failed(report)


def test_range_unseen_infinite(german, schema):
    frame = german.astype({"credit_amount": "float64"})
    frame.loc[0, "credit_amount"] = np.inf
    frame.loc[1, "age"] = 130
    frame.loc[:19, "housing"] = "castle"  # 2 % > 1 % limit
    report = validate(frame, schema, CFG)
    assert {("infinite", "credit_amount", "finite"), ("range", "age",
            "within_reference_range"), ("unseen_category", "housing",
            "max_unseen_category_share")} <= failed(report)
    unseen = next(r for r in report.results if r.check == "unseen_category"
                  and r.column == "housing")
    assert unseen.observed == pytest.approx(0.02) and "'castle'" in unseen.message
    assert [r.column for r in report.failures] == ["credit_amount"], "only inf blocks"


def test_duplicates_and_labels(german, schema):
    frame = pd.concat([german, german.head(30)], ignore_index=True)
    frame.loc[0, "risk"] = 2
    frame.loc[1, "risk"] = np.nan
    report = validate(frame, schema, CFG)
    assert {("duplicates", None, "max_duplicate_share"), ("labels", "risk", "known_labels"),
            ("labels", "risk", "no_missing_labels")} <= failed(report)
    assert not report.passed


def test_serving_batch_without_target(german, schema):
    batch = german.drop(columns=["risk"])
    assert not validate(batch, schema, CFG).passed
    assert validate(batch, schema, CFG, require_target=False, reference=german).passed


# -- severities and the report ---------------------------------------------------------

def test_severity_off_skips_and_warning_does_not_block(german, schema):
    frame = german.copy()
    frame.loc[:99, "job"] = np.nan
    off = validate(frame, schema, dataclasses.replace(
        CFG, severity={**SEVERITY, "missing": "off"}))
    assert off.passed and not any(r.check == "missing" for r in off.results)
    warn = validate(frame, schema, dataclasses.replace(
        CFG, severity={**SEVERITY, "missing": "warning"}))
    assert warn.passed and [r.column for r in warn.warnings] == ["job"]


def test_unknown_severity_key_is_a_config_error(german, schema):
    cfg = dataclasses.replace(CFG, severity={**SEVERITY, "drfit": "warning"})
    with pytest.raises(ConfigError, match="drfit"):
        validate(german, schema, cfg)
    assert "features" in CHECKS


def test_empty_frame_is_unusable(german, schema):
    with pytest.raises(DataError, match="no rows"):
        validate(german.head(0), schema, CFG)


def test_report_shapes(german, schema):
    frame = german.copy()
    frame.loc[:99, "job"] = np.nan
    report = validate(frame, schema, CFG, reference=german, source="b.csv")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False and data["drift"]["columns"]
    assert set(data["checks"][0]) == {"check", "column", "rule", "observed", "threshold",
                                      "severity", "passed", "message"}
    line = report.summary()
    assert "\n" not in line and line.startswith("validation FAILED for b.csv")
    assert "missing(job)" in line
    table = report.to_frame()
    assert len(table) == len(report.results)
    assert list(report.to_frame(failed_only=True)["column"]) == ["job"]
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
