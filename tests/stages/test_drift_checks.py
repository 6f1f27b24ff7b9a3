"""check_drift counts only what the drift tests read, and grades it as validate does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops.core.config import load_params
from mlops.core.data import load_split
from mlops.core.schema import load_schema
from mlops.stages import validation
from mlops.stages.validation import check_drift, validate

ROOT = Path(__file__).resolve().parents[2]
DRIFT_CHECKS = {"drift_psi", "drift_js", "drifted_share", "label_drift"}


@pytest.mark.parametrize("params_file", [ROOT / "params.yaml",
                                         ROOT / "models" / "diabetes" / "params.yaml"])
def test_check_drift_skips_the_statistics_pass_and_agrees_with_validate(
        params_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_params(params_file)
    schema = load_schema(params.resolve(params.data.schema))
    data = load_split(params)
    train, test = data.train, data.test.copy()
    numeric = next(c.name for c in schema.columns if c.numeric and c.name != schema.target)
    test[numeric] = test[numeric] * 3  # a planted shift: some records fail
    full = validate(test, schema, params.validation, reference=train, source="t",
                    purpose="batch")
    expected = [r for r in full.results if r.check in DRIFT_CHECKS]

    def no_summary(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("check_drift summarised every column")

    monkeypatch.setattr(validation, "summarize", no_summary)
    only = check_drift(train, test, schema, params.validation, source="t")
    assert [r for r in only.results if r.check in DRIFT_CHECKS] == expected
    assert only.drift.to_dict() == full.drift.to_dict()
    assert any(not r.passed for r in expected)


def test_a_numeric_column_stored_as_text_is_not_tested() -> None:
    params = load_params(ROOT / "params.yaml")
    schema = load_schema(params.resolve(params.data.schema))
    data = load_split(params)
    numeric = next(c.name for c in schema.columns if c.numeric and c.name != schema.target)
    test = data.test.assign(**{numeric: data.test[numeric].astype(str).where(
        data.test.index % 2 == 0, "n/a")})
    report = check_drift(data.train, test, schema, params.validation)
    assert numeric not in {c.column for c in report.drift.columns}
    assert isinstance(test[numeric].iloc[0], str) and pd.notna(test[numeric].iloc[0])
