"""The one schema-cell checker: one value and a whole column get the same verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops.core.cells import check_cell, check_column
from mlops.core.exceptions import RequestError
from mlops.core.schema import ColumnSchema

SPECS = {
    "int": ColumnSchema("age", "int", nullable=False, min=18, max=75),
    "float": ColumnSchema("amount", "float", nullable=True, min=250.0, max=18424.0),
    "bool": ColumnSchema("foreign", "bool", nullable=False),
    "category": ColumnSchema("housing", "category", nullable=False,
                             categories=("free", "own", "rent")),
    # Hard bounds pinned in the schema: outside them a value is refused, not warned about.
    "int_hard": ColumnSchema("age", "int", nullable=False, min=18, max=75, hard_min=0,
                             hard_max=120),
    "float_hard": ColumnSchema("amount", "float", nullable=True, min=250.0, max=18424.0,
                               min_exclusive=0.0, max_exclusive=1e6),
    "category_allowed": ColumnSchema("housing", "category", nullable=False,
                                     categories=("free", "own", "rent"),
                                     allowed=("castle", "free", "own", "rent")),
}

CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["own", "rent", "free", "castle", "palace", "", " 35 ", "35.5", "1e300",
                     "inf", "nan", "true", "False", "0", "forty", "-3", "121", "120"]),
    st.sampled_from([0, 0.0, -0.0, 120, 121, 1e6, -1, 75.5, 999999.9]),
    st.text(max_size=8),
)


def _cell_rule(value, spec, text):
    try:
        check_cell(value, spec, text=text)
    except RequestError as exc:
        return exc.fields["rule"]
    return ""


def _column_rule(value, spec, text):
    cells = check_column(pd.Series([value], dtype=object), spec, text=text)
    rule = cells.rules[0]
    return cells.error(pd.Series([value]), 0).fields["rule"] if rule else ""


@settings(max_examples=300, deadline=None)
@given(value=CELLS, kind=st.sampled_from(sorted(SPECS)), text=st.booleans())
def test_one_cell_and_a_column_agree(value, kind, text):
    if text and value is not None and not isinstance(value, str):
        value = str(value)
    spec = SPECS[kind]
    assert _cell_rule(value, spec, text) == _column_rule(value, spec, text)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-10**6, 10**6)),
                       min_size=1, max_size=20))
def test_typed_numeric_columns_take_the_same_rules_as_single_cells(values):
    # The vectorised path for float64 columns must match the cell-by-cell verdicts.
    series = pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    for spec in (SPECS["int"], SPECS["float"], SPECS["int_hard"], SPECS["float_hard"]):
        fast = check_column(series, spec)
        slow = [_cell_rule(v, spec, False) for v in series.tolist()]
        assert [fast.error(series, i).fields["rule"] if r else ""
                for i, r in enumerate(fast.rules)] == slow
        in_range = [(not r and not math.isnan(v) and not spec.min <= v <= spec.max)
                    for v, r in zip(series.tolist(), slow, strict=True)]
        assert list(fast.out_of_range) == in_range


@pytest.mark.parametrize(("value", "kind", "rule"), [
    (35.5, "int", "type"),            # not a whole number
    (1e300, "int", "type"),           # whole, but beyond int64
    (10**400, "int", "type"),
    (math.inf, "float", "finite"),
    ("forty", "int", "type"),
    (True, "int", "type"),
    (None, "int", "null"),
    ("castle", "category", "unknown_category"),
    (3, "category", "type"),
    (-1, "int_hard", "hard_bound"),       # below hard_min
    (121, "int_hard", "hard_bound"),      # above hard_max
    (0.0, "float_hard", "hard_bound"),    # not above min_exclusive
    (1e6, "float_hard", "hard_bound"),    # not below max_exclusive
    ("palace", "category_allowed", "hard_bound"),  # not an allowed value
    ("castle", "category_allowed", "unknown_category"),  # allowed, but never seen
])
def test_refusals_name_the_rule_and_the_column(value, kind, rule):
    with pytest.raises(RequestError) as info:
        check_cell(value, SPECS[kind])
    assert info.value.fields == {"column": SPECS[kind].name, "rule": rule}


def test_out_of_range_is_a_warning_not_a_refusal():
    value, warning = check_cell(99, SPECS["int"])
    assert value == 99 and "outside the training range [18, 75]" in warning
    assert check_cell(40, SPECS["int"]) == (40, None)
    # Inside the hard bounds, outside the reference range: still only a warning.
    value, warning = check_cell(99, SPECS["int_hard"])
    assert value == 99 and "outside the training range" in warning
    assert check_cell(120, SPECS["int_hard"])[0] == 120


def test_hard_bounds_refuse_and_say_the_bound():
    with pytest.raises(RequestError, match=r"'age' is -5; it must be at least 0 and at most "
                                           r"120 \(a hard bound of the schema\)"):
        check_cell(-5, SPECS["int_hard"])
    with pytest.raises(RequestError, match=r"not an allowed value"):
        check_cell("palace", SPECS["category_allowed"])
    cells = check_column(pd.Series([30, -1, 999, 50]), SPECS["int_hard"])
    assert list(cells.rules) == ["", "hard_bound", "hard_bound", ""]
    assert not cells.out_of_range.any(), "a refused cell is not also a range warning"


def test_text_cells_are_parsed_and_stripped():
    assert check_cell(" 35 ", SPECS["int"], text=True) == (35, None)
    assert check_cell("TRUE", SPECS["bool"], text=True) == (True, None)
    assert check_cell("", SPECS["float"], text=True) == (None, None)
    with pytest.raises(RequestError):
        check_cell(" 35 ", SPECS["int"])  # JSON requests send numbers, not text


def test_a_column_reports_every_bad_row():
    series = pd.Series([20, 35.5, np.inf, 40.0, np.nan])
    cells = check_column(series, SPECS["int"])
    assert list(cells.rules) == ["", "whole", "finite", "", "null"]
    assert list(cells.bad_positions()) == [1, 2, 4]
