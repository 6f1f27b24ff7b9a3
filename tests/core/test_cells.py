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


@settings(deadline=None)
@given(value=CELLS, kind=st.sampled_from(sorted(SPECS)), text=st.booleans())
def test_one_cell_and_a_column_agree(value, kind, text):
    if text and value is not None and not isinstance(value, str):
        value = str(value)
    spec = SPECS[kind]
    assert _cell_rule(value, spec, text) == _column_rule(value, spec, text)


@settings(deadline=None)
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


# ------------------------------------------------------------------ numbers read from text
NULLABLE_INT = ColumnSchema("flipper", "int", nullable=True, min=170, max=230)
TEXT_SPECS = {**SPECS, "nullable_int": NULLABLE_INT}


@pytest.mark.parametrize(("text", "kind", "parsed"), [
    ("35", "int", 35), (" +35 ", "int", 35), ("-3", "float", -3.0), ("1e2", "int", 100),
    ("35.0", "int", 35), (".5", "float", 0.5), ("5.", "float", 5.0), ("\u00a035\u2003", "int", 35),
    ("9007199254740993", "int", 9007199254740993),  # exact: float64 would drop the last 1
    ("9223372036854775807", "int", 2**63 - 1),
    ("", "nullable_int", None), ("  ", "nullable_int", None),
])
def test_text_numbers_that_are_read(text, kind, parsed):
    assert check_cell(text, TEXT_SPECS[kind], text=True)[0] == parsed
    assert check_column(pd.Series([text], dtype=object), TEXT_SPECS[kind],
                        text=True).values[0] == parsed


@pytest.mark.parametrize(("text", "rule"), [
    ("3_5", "type"),          # Python's float() takes it; no CSV writer writes it
    ("\u0663\u0665", "type"),  # Arabic-Indic digits: float() says 35.0
    ("\uff13\uff15", "type"),  # fullwidth digits
    ("1,234", "type"), ("1 234", "type"), ("1.234,5", "type"),  # thousands separators
    ("0x10", "type"), ("--3", "type"), ("+-3", "type"), ("\u22123", "type"),  # U+2212 minus
    ("inf", "finite"), ("-Infinity", "finite"), ("NaN", "finite"),
    ("9223372036854775808", "type"),  # 2**63: beyond int64 (rule type, said as int64)
    ("9" * 5000, "type"),  # more digits than Python converts
])
def test_text_numbers_that_are_refused_say_how_to_write_one(text, rule):
    with pytest.raises(RequestError) as info:
        check_cell(text, SPECS["int"], text=True)
    assert info.value.fields == {"column": "age", "rule": rule}
    if rule == "type" and not (text.isascii() and text.isdigit()):  # say how to write one
        assert "digits 0-9" in info.value.message and "thousands separators" in info.value.message


def test_json_text_is_not_told_to_write_digits():
    # A JSON request sends numbers as numbers: "35" is the wrong type, not badly written.
    with pytest.raises(RequestError) as info:
        check_cell("35", SPECS["int"])
    assert "digits 0-9" not in info.value.message


_DIGITS = "0123456789\u0660\u0663\u06f5\u0966\uff13"  # ASCII, Arabic-Indic, Devanagari, fullwidth
TEXT_CELLS = st.one_of(
    st.text(alphabet=_DIGITS + "+-.,_eE \u00a0\t", max_size=12),
    st.builds(lambda sign, n, sep, pad: f"{pad}{sign}{n:{sep}}{pad}",
              st.sampled_from(["", "+", "-"]), st.integers(0, 10**12),
              st.sampled_from(["", ",", "_"]), st.sampled_from(["", " ", "\u2003"])),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "inf", "nan", "1e400", "-0", "0.0", "9" * 30]),
)


@settings(deadline=None)
@given(cell=TEXT_CELLS, kind=st.sampled_from(["int", "float", "int_hard", "nullable_int"]))
def test_an_accepted_text_cell_converts_to_the_value_the_checker_parsed(cell, kind):
    spec = TEXT_SPECS[kind]
    try:
        parsed, _ = check_cell(cell, spec, text=True)
    except RequestError as exc:
        assert exc.fields["column"] == spec.name and exc.fields["rule"]
        assert not check_column(pd.Series([cell], dtype=object), spec, text=True).ok
        return
    # The decision: only ASCII digits are numbers, and thousands separators are refused.
    assert cell.strip() == "" or (cell.strip().isascii() and "_" not in cell
                                  and "," not in cell)
    typed = check_column(pd.Series([cell], dtype=object), spec, text=True).typed()
    if parsed is None:
        assert spec.nullable and math.isnan(typed[0])
    else:
        assert typed[0] == parsed and typed.dtype == ("int64" if spec.kind == "int"
                                                      else "float64")


def test_typed_columns_get_the_verdicts_of_single_cells():
    # uint64 past int64 and NA in a nullable-boolean column: the vectorised paths agreed
    # with check_cell only for the common dtypes.
    big = pd.Series([2**64 - 1, 2**63 - 1, 5], dtype="uint64")
    assert [_cell_rule(v, SPECS["int_hard"], False) for v in big.tolist()] == [
        "type", "hard_bound", ""]
    assert list(check_column(big, SPECS["int_hard"]).rules) == ["int64", "hard_bound", ""]
    flags = pd.Series([True, None], dtype="boolean")
    assert list(check_column(flags, SPECS["bool"]).rules) == ["", "null"]
    assert check_column(flags, ColumnSchema("foreign", "bool", nullable=True)).ok
