"""The checker grades first and formats once: no value goes through the report's
formatting while the checks run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.core.config import load_params
from mlops.core.data import read_csv
from mlops.core.schema import load_schema
from mlops.stages import column_checks
from mlops.stages.validation import validate

ROOT = Path(__file__).resolve().parents[2]


def test_values_are_formatted_once_after_every_check(monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_params(ROOT / "params.yaml")
    frame = read_csv(params.resolve(params.data.path)).head(300)
    schema = load_schema(params.resolve(params.data.schema))
    # Damage a numeric column, so that some checks warn or block and get a threshold text.
    numeric = next(c.name for c in schema.columns if c.numeric and c.name != schema.target)
    frame.loc[frame.index[:40], numeric] = None
    events: list[str] = []
    add, record = column_checks.ColumnChecker.add, column_checks.ColumnChecker.record
    fmt = column_checks.format_value

    def spy_add(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        events.append("check")
        return add(self, *args, **kwargs)

    def spy_record(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        events.append("check")
        return record(self, *args, **kwargs)

    def spy_format(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        events.append("format")
        return fmt(*args, **kwargs)

    monkeypatch.setattr(column_checks.ColumnChecker, "add", spy_add)
    monkeypatch.setattr(column_checks.ColumnChecker, "record", spy_record)
    monkeypatch.setattr(column_checks, "format_value", spy_format)
    report = validate(frame, schema, params.validation, reference=frame, source="x.csv",
                      purpose="batch")

    failing = [r for r in report.results if r.grade != "pass"]
    assert failing, "the damaged column must fail a check"
    assert "format" in events
    first_format = events.index("format")
    assert "check" not in events[first_format:], "a value was formatted before the checks ended"
    assert events.count("format") == sum(  # once per failing record that names its limit
        1 for r in failing if (r.block if r.grade == "block" else r.warn) is not None)
    assert all(r.message.startswith("x.csv: ") for r in report.results)
