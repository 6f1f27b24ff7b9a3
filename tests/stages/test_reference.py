"""A version's reference summary: what serving reads of the training data, without a row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.core.config import load_params
from mlops.core.data import load_split
from mlops.core.exceptions import DataError
from mlops.core.schema import infer_schema, load_schema
from mlops.stages.drift import compare
from mlops.stages.reference import (
    ReferenceSummary,
    read_reference,
    serving_profiles,
    summarize_reference,
    write_reference,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def split():
    params = load_params(ROOT / "params.yaml")
    return load_split(params), load_schema(params.resolve(params.data.schema))


def test_stored_summary_grades_drift_exactly_as_the_rows(split, tmp_path: Path) -> None:
    data, schema = split
    stored = read_reference(write_reference(summarize_reference(data.train, schema),
                                            tmp_path / "reference.json"))
    assert stored.rows == len(data.train)
    assert compare(stored.profiles, data.test).to_dict() == \
        compare(serving_profiles(data.train, schema), data.test).to_dict()
    # Typical values as schema inference finds them: medians, most common categories.
    assert stored.typical == {c.name: c.typical for c in infer_schema(
        data.train[list(stored.columns)], target=None).columns}
    assert stored.typical["age"] == int(round(data.train["age"].median()))


def test_summary_holds_no_row_and_background_rows_are_synthetic(split) -> None:
    data, schema = split
    summary = summarize_reference(data.train, schema)
    text = json.dumps(summary.to_dict())
    for line in data.train.astype(str).itertuples(index=False):
        assert ",".join(line) not in text
    background = summary.background(50, seed=3)
    assert list(background.columns) == list(summary.columns) and len(background) == 50
    assert background.dtypes["age"] == np.int64 and background["sex"].isin(["male",
                                                                            "female"]).all()
    seen = data.frame[list(background.columns)].drop_duplicates()
    assert background.merge(seen).empty, "no background row is a training row"
    assert background.equals(summary.background(50, seed=3))


def test_booleans_and_empty_columns_round_trip() -> None:
    frame = pd.DataFrame({"flag": [True, False, True, True], "x": [np.nan] * 4,
                          "y": [1.5, 2.5, 2.5, 9.0]})
    schema = infer_schema(frame, target=None)
    summary = summarize_reference(frame, schema)
    back = ReferenceSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert back.typical == {"flag": True, "x": None, "y": 2.5}
    assert back.profiles["flag"].counts.to_dict() == {True: 3, False: 1}
    background = back.background(4)
    assert background["flag"].dtype == bool and background["x"].isna().all()


def test_a_damaged_summary_names_the_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"format": "mlops-reference/1", "rows": 3, "columns": [
        {"name": "age", "kind": "int", "profile": {"type": "numeric", "n": 3}}]}))
    with pytest.raises(DataError, match=r"reference.json: column 'age' is malformed"):
        read_reference(path)
    path.write_text("{}")
    with pytest.raises(DataError, match="not a reference summary"):
        read_reference(path)
