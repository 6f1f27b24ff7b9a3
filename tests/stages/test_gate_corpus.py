"""The data gate on a generated corpus of anomalous files, with the shipped params.yaml.

Every file is made from the bundled data and checked as ``mlops validate --data FILE``
does (against the committed schema, drift against ``data.path``; ``--training`` for the
training-data cases). Each has one expected verdict: ``block`` naming the column and rule,
``warn`` naming them, or ``pass``. Nothing is tuned per file: the thresholds are the
defaults in params.yaml, so a change of default that turns a verdict shows up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.cli.main import main
from mlops.cli.validate import run_validate
from mlops.core.config import load_params
from mlops.core.data import read_csv

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"
GERMAN = read_csv(ROOT / "data" / "german.csv")
TARGET = "risk"

Where = frozenset[tuple[str | None, str]]  # (column, rule) pairs the verdict must name


@dataclass(frozen=True)
class Case:
    """A corpus file: how to make it, and the verdict a careful data scientist gives."""

    make: Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame | bytes]
    grade: str  # block, warn or pass
    where: Where = frozenset()
    purpose: str = "batch"
    table: bool = False  # one of the seven batches of the issue's table


def _rows(frame: pd.DataFrame, rng: np.random.Generator, share: float) -> pd.Index:
    """Exactly ``round(share * len)`` row labels, drawn without replacement."""
    return frame.index[rng.choice(len(frame), size=round(share * len(frame)), replace=False)]


def _set(column: str, value: object, share: float) -> Callable:
    def make(g: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        g = g.astype({column: object})  # any value fits; the CSV round trip types it
        g.loc[_rows(g, rng, share), column] = value
        return g
    return make


def _scale(column: str, factor: float, share: float = 1.0) -> Callable:
    def make(g: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        g = g.astype({column: "float64"})
        rows = _rows(g, rng, share)
        g.loc[rows, column] = (g.loc[rows, column] * factor).round()
        return g.astype({column: "int64"})
    return make


def _shift(column: str, by: int) -> Callable:
    return lambda g, rng: g.assign(**{column: g[column] + by})


def _uniform(column: str, low: int, high: int, share: float) -> Callable:
    def make(g: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        g = g.copy()
        rows = _rows(g, rng, share)
        g.loc[rows, column] = rng.integers(low, high + 1, size=len(rows))
        return g
    return make


def _strong_drift(g: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    g = g.copy()
    g["age"] += 15
    g["credit_amount"] *= 2
    g["duration"] = (g["duration"] * 1.5).round().astype("int64")
    g.loc[_rows(g, rng, 0.4), "purpose"] = "business"
    return g


def _leaked(g: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # The largest amounts go to the bad risks: the column's values (so no drift, no range
    # problem) are unchanged, but alone it predicts the target.
    g = g.copy()
    order = g[TARGET].sort_values(kind="stable").index
    g.loc[order, "credit_amount"] = np.sort(g["credit_amount"].to_numpy())[::-1]
    return g


def _rare_class(g: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    return pd.concat([g[g[TARGET] == 1], g[g[TARGET] == 0].head(5)])


def _csv_lines(n: int) -> Callable:
    def make(g: pd.DataFrame, rng: np.random.Generator) -> bytes:
        return g.sample(n=n, random_state=1).to_csv(index=False).encode()
    return make


def _sample(n: int, *, replace: bool = False, seed: int = 0) -> Callable:
    return lambda g, rng: g.sample(n=n, replace=replace, random_state=seed)


def _w(*pairs: tuple[str | None, str]) -> Where:
    return frozenset(pairs)


PSI, JS = "ks+psi", "chi2+js"

CORPUS: dict[str, Case] = {
    # -- the seven batches of the issue's table ------------------------------------------
    "table_age_999_in_5pct": Case(
        _set("age", 999, 0.05), "block",
        _w(("age", "reference_spread"), ("age", "reference_range")), table=True),
    "table_amount_negative_in_5pct": Case(
        _scale("credit_amount", -1, 0.05), "block",
        _w(("credit_amount", "new_sign"), ("credit_amount", "hard_bound")), table=True),
    "table_purpose_unseen_30pct": Case(
        _set("purpose", "crypto", 0.30), "block", _w(("purpose", "unseen_share")),
        table=True),
    "table_single_class_700_rows": Case(
        lambda g, rng: g[g[TARGET] == 1], "block",
        _w((TARGET, "min_classes"), (TARGET, "label_drift")), table=True),
    "table_header_and_one_row": Case(_csv_lines(1), "block", _w((None, "min_rows")),
                                     table=True),
    "table_strong_drift_4_of_9": Case(
        _strong_drift, "block",
        _w(("age", PSI), ("credit_amount", PSI), ("duration", PSI), ("purpose", JS),
           (None, "drifted_share")), table=True),
    "table_mild_drift_amount_x1_15": Case(
        _scale("credit_amount", 1.15), "warn", _w(("credit_amount", PSI)), table=True),
    # -- anomalies in share: a little warns, a lot blocks --------------------------------
    "age_999_one_row": Case(_set("age", 999, 0.001), "warn",
                            _w(("age", "reference_spread"))),
    "age_999_three_rows": Case(_set("age", 999, 0.003), "block",
                               _w(("age", "reference_spread"))),
    "age_76_to_80_in_1pct": Case(_uniform("age", 76, 80, 0.01), "warn",
                                 _w(("age", "reference_range"))),
    "age_76_to_80_in_5pct": Case(_uniform("age", 76, 80, 0.05), "block",
                                 _w(("age", "reference_range"))),
    "job_4_in_1pct": Case(_set("job", 4, 0.01), "warn", _w(("job", "reference_range"))),
    "job_9_in_1pct": Case(_set("job", 9, 0.01), "block", _w(("job", "reference_spread"))),
    "duration_2_in_0_3pct": Case(_set("duration", 2, 0.003), "pass"),
    "missing_job_3pct": Case(_set("job", np.nan, 0.03), "warn", _w(("job", "missing_share"))),
    "missing_checking_account_10pct": Case(_set("checking_account", np.nan, 0.10), "block",
                                           _w(("checking_account", "missing_share"))),
    # -- sign ----------------------------------------------------------------------------
    "amount_one_negative": Case(_scale("credit_amount", -1, 0.001), "block",
                                _w(("credit_amount", "hard_bound"))),
    "duration_all_negative": Case(_scale("duration", -1), "block",
                                  _w(("duration", "hard_bound"), ("duration", "new_sign"))),
    "age_negative_in_2pct": Case(_scale("age", -1, 0.02), "block",
                                 _w(("age", "hard_bound"), ("age", "new_sign"))),
    # -- magnitude (units) ---------------------------------------------------------------
    "amount_in_cents": Case(_scale("credit_amount", 100), "block",
                            _w(("credit_amount", "reference_spread"), ("credit_amount", PSI))),
    "amount_in_thousands": Case(_scale("credit_amount", 0.001), "block",
                                _w(("credit_amount", "reference_range"),
                                   ("credit_amount", PSI))),
    "duration_in_days": Case(_scale("duration", 30), "block",
                             _w(("duration", "reference_spread"))),
    "age_in_months": Case(_scale("age", 12), "block", _w(("age", "reference_spread"))),
    "amount_x10_in_2pct": Case(_scale("credit_amount", 10, 0.02), "block",
                               _w(("credit_amount", "reference_spread"))),
    # -- category novelties --------------------------------------------------------------
    "purpose_unseen_0_5pct": Case(_set("purpose", "crypto", 0.005), "pass"),
    "purpose_unseen_3pct": Case(_set("purpose", "crypto", 0.03), "warn",
                                _w(("purpose", "unseen_share"))),
    "housing_title_case": Case(lambda g, rng: g.assign(housing=g["housing"].str.title()),
                               "block", _w(("housing", "unseen_share"))),
    "sex_new_category_15pct": Case(_set("sex", "diverse", 0.15), "block",
                                   _w(("sex", "unseen_share"))),
    "saving_accounts_typo_2pct": Case(_set("saving_accounts", "litle", 0.02), "warn",
                                      _w(("saving_accounts", "unseen_share"))),
    # -- labels of a labelled batch ------------------------------------------------------
    "labels_unknown_value": Case(_set(TARGET, 2, 0.01), "block",
                                 _w((TARGET, "known_labels"))),
    "labels_some_missing": Case(_set(TARGET, np.nan, 0.02), "block",
                                _w((TARGET, "no_missing_labels"))),
    "labels_flipped": Case(lambda g, rng: g.assign(**{TARGET: 1 - g[TARGET]}), "block",
                           _w((TARGET, "label_drift"))),
    "labels_only_bad_risks": Case(lambda g, rng: g[g[TARGET] == 0], "block",
                                  _w((TARGET, "min_classes"), (TARGET, "label_drift"))),
    "labels_single_class_40_rows": Case(lambda g, rng: g[g[TARGET] == 1].head(40), "block",
                                        _w((TARGET, "min_classes"))),
    # -- training data -------------------------------------------------------------------
    "training_clean": Case(lambda g, rng: g, "pass", purpose="training"),
    "training_too_few_rows": Case(_sample(60), "block", _w((None, "min_rows")),
                                  purpose="training"),
    "training_single_class": Case(lambda g, rng: g[g[TARGET] == 1], "block",
                                  _w((TARGET, "min_classes")), purpose="training"),
    "training_rare_class": Case(_rare_class, "block",
                                _w((TARGET, "min_class_rows"), (TARGET, "min_class_share")),
                                purpose="training"),
    "training_labels_all_missing": Case(lambda g, rng: g.assign(**{TARGET: np.nan}),
                                        "block", _w((TARGET, "min_classes")),
                                        purpose="training"),
    "training_leaked_column": Case(_leaked, "warn",
                                   _w(("credit_amount", "single_feature_roc_auc")),
                                   purpose="training"),
    "training_bootstrap_resample": Case(_sample(1000, replace=True), "warn",
                                        _w((None, "duplicate_share")), purpose="training"),
    # -- tiny files ----------------------------------------------------------------------
    "two_rows": Case(_csv_lines(2), "block", _w((None, "min_rows"))),
    "ten_rows": Case(_csv_lines(10), "block", _w((None, "min_rows"))),
    "twenty_nine_rows": Case(_csv_lines(29), "block", _w((None, "min_rows"))),
    "thirty_rows": Case(_csv_lines(30), "pass"),
    # -- batches without labels ----------------------------------------------------------
    "no_labels_clean": Case(lambda g, rng: g.sample(500, random_state=2).drop(
        columns=TARGET), "pass"),
    "no_labels_age_999": Case(lambda g, rng: _set("age", 999, 0.05)(g, rng).drop(
        columns=TARGET), "block", _w(("age", "reference_spread"))),
    "no_labels_strong_drift": Case(lambda g, rng: _strong_drift(g, rng).drop(
        columns=TARGET), "block", _w(("age", PSI), (None, "drifted_share"))),
    # -- mild drift warns ----------------------------------------------------------------
    "mild_drift_age_plus_2": Case(_shift("age", 2), "warn", _w(("age", PSI))),
    "mild_drift_more_rent": Case(_set("housing", "rent", 0.16), "warn", _w(("housing", JS))),
    # -- clean batches pass --------------------------------------------------------------
    "clean_bootstrap_resample_0": Case(_sample(1000, replace=True, seed=0), "pass"),
    "clean_bootstrap_resample_1": Case(_sample(1000, replace=True, seed=1), "pass"),
    "clean_half_sample": Case(_sample(500, seed=3), "pass"),
    "clean_columns_reordered": Case(lambda g, rng: g[g.columns[::-1]], "pass"),
    # -- schema --------------------------------------------------------------------------
    "missing_column": Case(lambda g, rng: g.drop(columns="age"), "block",
                           _w(("age", "column_present"))),
    "renamed_column": Case(lambda g, rng: g.rename(columns={"duration": "durations"}),
                           "block", _w(("duration", "column_present"),
                                       ("durations", "no_extra_columns"))),
    "text_in_numeric": Case(_set("age", "forty", 0.001), "block", _w(("age", "dtype"))),
    "infinite_amount": Case(_set("credit_amount", np.inf, 0.001), "block",
                            _w(("credit_amount", "finite"))),
    "fraction_in_int": Case(_set("duration", 6.5, 0.001), "block",
                            _w(("duration", "dtype"))),
    "constant_column": Case(lambda g, rng: g.assign(sex="male"), "block",
                            _w(("sex", JS))),
}


def _write(name: str, folder: Path) -> Path:
    case = CORPUS[name]
    made = case.make(GERMAN.copy(), np.random.default_rng(sorted(CORPUS).index(name)))
    path = folder / f"{name}.csv"
    if isinstance(made, bytes):
        path.write_bytes(made)
    else:
        made.to_csv(path, index=False)
    return path


def test_corpus_is_large_and_covers_every_verdict():
    assert len(CORPUS) >= 40
    assert {c.grade for c in CORPUS.values()} == {"block", "warn", "pass"}
    assert sum(c.table for c in CORPUS.values()) == 7
    assert {c.purpose for c in CORPUS.values()} == {"batch", "training"}


@pytest.fixture(scope="module")
def params():
    return load_params(PARAMS)  # the shipped defaults: nothing tuned per file


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_file_gets_its_verdict(tmp_path, params, name):
    case = CORPUS[name]
    report = run_validate(params, _write(name, tmp_path), purpose=case.purpose)
    found = {(r.column, r.rule) for r in (report.failures if case.grade == "block"
                                          else report.warnings)}
    assert report.grade == case.grade, report.summary()
    assert case.where <= found, report.summary()
    for result in report.failures:  # a block says where and why
        assert str(tmp_path) in result.message and result.rule
        if result.column is not None:
            assert repr(result.column) in result.message


@pytest.mark.parametrize("name", sorted(n for n, c in CORPUS.items() if c.table))
def test_the_issue_table_through_the_command_line(tmp_path, capsys, name):
    case = CORPUS[name]
    code = main(["validate", "--data", str(_write(name, tmp_path)), "--params", str(PARAMS)])
    assert code == (1 if case.grade == "block" else 0)
    out = capsys.readouterr().out
    assert f"validation {'FAILED' if case.grade == 'block' else 'PASSED'}" in out
    for column, rule in case.where:  # the table names them, with observed and thresholds
        line = next(x for x in out.splitlines()
                    if f" {rule} " in x and (column is None or f" {column} " in x))
        assert line.split()[0] == case.grade
