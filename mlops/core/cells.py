"""The one schema-cell checker: does a value fit its column?

Validation, the router (single rows and batches) and the app's CSV upload all ask this
question; they ask it here, so they can never disagree. One rule set, two evaluators:

- :func:`check_cell` for one value (a JSON field of a request, a form input);
- :func:`check_column` for a whole column at once, vectorised (batches, uploads, data).

A test drives both with the same generated values and requires the same verdict.

Refusals (``rule``): ``null`` (a value is required), ``type`` (not a number, not a whole
number, outside the int64 range, not true/false, not text), ``finite`` (inf, nan where
numbers are required), ``unknown_category`` (a category never seen in training),
``hard_bound`` (outside a bound pinned in the schema: ``hard_min``, ``hard_max``,
``min_exclusive``, ``max_exclusive``, or not one of the ``allowed`` categories).
A number outside the reference range but inside the hard bounds is *not* refused: the
range is what training saw, not a law of nature. It comes back as a warning, and drift
monitoring picks it up.

``text=True`` is for cells read from text (a CSV read as strings, a form): numbers and
booleans are parsed from their text first; empty text is a missing value. A number in text
is plain ASCII decimal notation, as pandas reads it from the training CSV: an optional sign,
the digits 0-9, an optional ``.`` and exponent (``-3``, ``+2.5``, ``.5``, ``1e3``); ``inf``
and ``nan`` are read, then refused as not finite. Underscores (``3_5``), thousands
separators (``1,234``) and other digit scripts (``٣٥``, ``３５``) are refused (rule ``type``),
though Python's ``float`` would take some of them. Surrounding whitespace is stripped.

The values the checker parsed are the values served: :meth:`ColumnCheck.typed` gives a
checked column in the schema's dtype, so a cell that passes can never fail a second parser
later (the app's upload and form, :func:`mlops.app.batch.coerce_frame`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import RequestError
from mlops.core.schema import DATE_TEXT, ColumnSchema, is_date, is_number

__all__ = ["RULES", "ColumnCheck", "check_cell", "check_column", "range_warning"]

_INT64 = 2.0**63
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})
# ASCII only (re.ASCII would not matter: the classes are spelled out, never \d).
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE_TEXT = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_TEXT_NUMBER_HINT = ("; write numbers with the digits 0-9, an optional sign and '.' for "
                     "decimals, without thousands separators or underscores")


def _expected(spec: ColumnSchema) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false",
            "date": "a date such as 2024-03-05 (or 2024-03-05 14:30)"}.get(spec.kind,
                                                                         "a string")


def _refuse(spec: ColumnSchema, value: Any, rule: str, text: bool = False) -> RequestError:
    """The refusal of ``value`` in ``spec``'s column under ``rule``, with its fix."""
    name = spec.name
    if rule == "null":
        message = f"field {name!r} is null; it must have a value"
    elif rule == "finite":
        message = f"field {name!r} is {_short(value)}; it must be a finite number"
    elif rule == "int64":
        message = f"field {name!r} is out of the int64 range; expected {_expected(spec)}"
        rule = "type"
    elif rule == "whole":
        message = f"field {name!r} is {_short(value)}; expected a whole number"
        rule = "type"
    elif rule == "hard_bound" and spec.numeric:
        message = (f"field {name!r} is {_short(value)}; it must be {spec.hard_bounds_text()} "
                   "(a hard bound of the schema)")
    elif rule == "hard_bound":
        shown = sorted(spec.allowed or ())
        more = f" (and {len(shown) - 10} more)" if len(shown) > 10 else ""
        message = (f"field {name!r} is {_short(value)}, not an allowed value; expected one of "
                   f"{shown[:10]}{more}")
    elif rule == "unknown_category":
        shown = sorted(spec.categories or ())
        more = f" (and {len(shown) - 10} more)" if len(shown) > 10 else ""
        message = (f"field {name!r} is {_short(value)}, a category never seen in training; "
                   f"expected one of {shown[:10]}{more}")
    else:
        what = "not a number" if spec.numeric else f"a {type(value).__name__}"
        message = (f"field {name!r} is {_short(value)} ({what}); expected {_expected(spec)}")
        if text and spec.numeric and isinstance(value, str):
            message += _TEXT_NUMBER_HINT
    return RequestError(message, column=name, rule=rule)


def _short(value: Any, limit: int = 60) -> str:
    """A bounded repr of a user's value: never its whole payload, never an exception."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit])[:limit] + "…"  # the head only: a 1 MB string costs nothing
    if isinstance(value, int) and not -10**50 < value < 10**50:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = repr(value)
    except Exception:  # a deeply nested value, a broken __repr__
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "…"


def range_warning(spec: ColumnSchema, value: float) -> str | None:
    """A warning when ``value`` is outside the reference range of a numeric column."""
    if (spec.min is not None and value < spec.min) or (spec.max is not None
                                                       and value > spec.max):
        return (f"{spec.name}={value:g} is outside the training range "
                f"[{spec.min:g}, {spec.max:g}]")
    return None


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _verdict(value: Any, spec: ColumnSchema, text: bool,
             strict_categories: bool) -> tuple[Any, str]:
    """``(clean value, rule)`` for one cell; ``rule`` is ``""`` when the cell is fine."""
    clean, rule = _parse(value, spec, text, strict_categories)
    if not rule and clean is not None and spec.numeric and spec.outside_hard_bounds(clean):
        return value, "hard_bound"
    return clean, rule


def _parse(value: Any, spec: ColumnSchema, text: bool,
           strict_categories: bool) -> tuple[Any, str]:
    """``(clean value, rule)`` for one cell, before the numeric hard bounds."""
    if text and isinstance(value, str):
        value = value.strip() or None
    if _is_null(value):
        return None, "" if spec.nullable else "null"
    kind = spec.kind
    if kind == "date":
        if isinstance(value, datetime | date):  # a Parquet date column: the same text
            value = value.isoformat()
        if not (isinstance(value, str) and DATE_TEXT.fullmatch(value) and is_date([value])):
            return value, "type"
        return value, ""
    if kind == "category":
        if not isinstance(value, str):
            return value, "type"
        if spec.allowed is not None and value not in spec.allowed:
            return value, "hard_bound"
        if strict_categories and spec.categories is not None and value not in spec.categories:
            return value, "unknown_category"
        return value, ""
    if kind == "bool":
        if isinstance(value, bool | np.bool_):
            return bool(value), ""
        if text and isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE, ""
        return value, "type"
    if isinstance(value, bool | np.bool_):
        return value, "type"
    if text and isinstance(value, str):
        try:
            parsed = _text_number(value)
        except ValueError:  # more digits than Python converts: beyond any range served
            return value, "int64" if kind == "int" else "finite"
        if parsed is None:
            return value, "type"
        value = parsed
    if isinstance(value, int | np.integer):
        if kind == "int":
            return (int(value), "") if -_INT64 <= int(value) < _INT64 else (value, "int64")
        try:
            value = float(value)
        except OverflowError:
            return value, "finite"
    if not isinstance(value, float | np.floating):
        return value, "type"
    number = float(value)
    if not math.isfinite(number):
        return value, "finite"
    if kind == "int":
        if not number.is_integer():
            return value, "whole"
        if not -_INT64 <= number < _INT64:
            return value, "int64"
        return int(number), ""
    return number, ""


def _text_number(text: str) -> int | float | None:
    """The number ``text`` (already stripped) spells, or None when it spells none.

    Whole numbers come back as exact ints (``9007199254740993`` keeps its last digit);
    ValueError when there are more digits than Python converts.
    """
    if _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if _NUMBER_TEXT.fullmatch(text) or _NON_FINITE_TEXT.fullmatch(text):
        return float(text)
    return None


def check_cell(value: Any, spec: ColumnSchema, *, text: bool = False,
               strict_categories: bool = True) -> tuple[Any, str | None]:
    """``(clean value, warning or None)`` for one cell, or :class:`RequestError`."""
    clean, rule = _verdict(value, spec, text, strict_categories)
    if rule:
        raise _refuse(spec, value, rule, text)
    if clean is None or not spec.numeric:
        return clean, None
    return clean, range_warning(spec, clean)


# Verdicts are kept as one byte per row (an index in RULES), not as a string per row: a
# 100,000-row batch is judged with numpy masks and never builds 100,000 Python strings.
RULES = ("", "null", "type", "finite", "whole", "int64", "unknown_category", "hard_bound")
_CODE = {rule: code for code, rule in enumerate(RULES)}
_RULE_NAMES = np.array(RULES, dtype=object)


@dataclass(frozen=True)
class ColumnCheck:
    """The verdict on one column: a rule per row (``""`` where the cell is fine), and the
    values the checker parsed (see :meth:`typed`)."""

    spec: ColumnSchema
    codes: np.ndarray  # uint8 per row: its rule's index in RULES, 0 where the cell is fine
    out_of_range: np.ndarray  # bool; a warning, never a refusal
    # Per row, the parsed value (None or NaN where missing; meaningless where refused):
    # float64 or int64 from the vectorised numeric path, else objects.
    values: np.ndarray
    text: bool = False  # the cells were read from text (a refusal then says how to write one)

    @property
    def rules(self) -> np.ndarray:
        """Per row: ``""`` or the rule, with "whole" and "int64" told apart from "type"."""
        return _RULE_NAMES[self.codes]

    @property
    def ok(self) -> bool:
        """True when no cell is refused."""
        return not self.codes.any()

    def bad_positions(self) -> np.ndarray:
        """Row positions with a refusal, in order."""
        return np.flatnonzero(self.codes)

    def error(self, series: pd.Series, pos: int) -> RequestError:
        """The refusal :func:`check_cell` raises for the cell at position ``pos``."""
        return _refuse(self.spec, series.iloc[pos], RULES[self.codes[pos]], self.text)

    def typed(self) -> pd.Series:
        """The parsed values in the dtype the model was trained on (a RangeIndex).

        ``int`` is int64, or float64 with NaN when a cell is missing (what pandas makes of
        such a column in the training CSV); ``float`` is float64; ``bool`` is bool, or
        objects with NaN when a cell is missing; ``category`` is text objects with NaN.
        ValueError when a cell was refused: a refused cell has no value.
        """
        if not self.ok:
            raise ValueError(f"column {self.spec.name!r} has refused cells; report them "
                             "(bad_positions, error) instead of converting")
        if len(self.values) != len(self.codes):
            raise ValueError(f"column {self.spec.name!r} was checked without parsing "
                             "(check_column(..., parse=False)): it has no typed values")
        values, kind = self.values, self.spec.kind
        missing = pd.isna(values)  # None, NaN and NA alike
        if kind == "float" or (kind == "int" and missing.any()):
            if values.dtype == object:
                values = np.where(missing, np.nan, values)
            return pd.Series(values.astype("float64"), dtype="float64")
        if kind == "int":
            return pd.Series(values.astype("int64"), dtype="int64")
        if kind == "bool" and not missing.any():
            return pd.Series(values.astype(bool), dtype=bool)
        return pd.Series(np.where(missing, np.nan, values), dtype=object)


def _outside_hard(numbers: np.ndarray, spec: ColumnSchema) -> np.ndarray:
    """Vectorised :meth:`ColumnSchema.outside_hard_bounds` (NaN is never outside)."""
    out = np.zeros(numbers.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if spec.hard_min is not None:
            out |= numbers < spec.hard_min
        if spec.hard_max is not None:
            out |= numbers > spec.hard_max
        if spec.min_exclusive is not None:
            out |= numbers <= spec.min_exclusive
        if spec.max_exclusive is not None:
            out |= numbers >= spec.max_exclusive
    return out


def check_column(series: pd.Series, spec: ColumnSchema, *, text: bool = False,
                 strict_categories: bool = True, parse: bool = True) -> ColumnCheck:
    """Check every cell of ``series`` against ``spec`` (the verdicts of :func:`check_cell`).

    Numeric and text columns of the expected dtype are checked with numpy at once; other
    columns (mixed objects, text to parse) cell by cell with the same rules. ``parse=False``
    skips making Python objects of a text column's values when the caller only needs the
    verdicts (its ``values`` are then empty and :meth:`ColumnCheck.typed` unavailable).
    """
    n = len(series)
    out_of_range = np.zeros(n, dtype=bool)
    if spec.numeric and is_number(series):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        codes = np.zeros(n, dtype=np.uint8)
        nulls = np.isnan(numbers)  # NA and NaN alike (to_numpy made both NaN)
        if not spec.nullable:
            codes[nulls] = _CODE["null"]
        values = numbers
        with np.errstate(invalid="ignore"):
            present = ~nulls
            finite = np.isfinite(numbers)
            codes[present & ~finite] = _CODE["finite"]
            ok = present & finite
            if spec.kind == "int" and not pd.api.types.is_integer_dtype(series):
                whole = np.floor(numbers) == numbers
                codes[ok & ~whole] = _CODE["whole"]
                codes[ok & whole & ((numbers < -_INT64) | (numbers >= _INT64))] = _CODE["int64"]
            elif spec.kind == "int":
                if pd.api.types.is_unsigned_integer_dtype(series):
                    big = (series > np.iinfo(np.int64).max).to_numpy(dtype=bool,
                                                                     na_value=False)
                    codes[big] = _CODE["int64"]
                if not nulls.any():  # exact: float64 would round past 2**53
                    values = series.to_numpy(dtype="int64")
            ok &= codes == 0
            if spec.has_hard_bounds:
                hard = ok & _outside_hard(numbers, spec)
                codes[hard] = _CODE["hard_bound"]
                ok &= ~hard
            if spec.min is not None:
                out_of_range |= ok & (numbers < spec.min)
            if spec.max is not None:
                out_of_range |= ok & (numbers > spec.max)
        return ColumnCheck(spec, codes, out_of_range, values, text)
    if spec.kind == "bool" and pd.api.types.is_bool_dtype(series):
        codes = np.zeros(n, dtype=np.uint8)
        if not spec.nullable:  # a nullable "boolean" column may hold NA
            codes[series.isna().to_numpy()] = _CODE["null"]
        return ColumnCheck(spec, codes, out_of_range,
                           series.to_numpy(dtype=object, na_value=None), text)
    if (spec.kind == "category" and series.dtype != object
            and pd.api.types.is_string_dtype(series)):
        values = series.str.strip() if text else series
        nulls = values.isna().to_numpy() | (values == "").to_numpy(dtype=bool, na_value=False) \
            if text else values.isna().to_numpy()
        codes = np.zeros(n, dtype=np.uint8)
        if not spec.nullable:
            codes[nulls] = _CODE["null"]
        if strict_categories and spec.categories is not None:
            codes[~nulls & ~values.isin(spec.categories).to_numpy()] = _CODE["unknown_category"]
        if spec.allowed is not None:
            codes[~nulls & ~values.isin(spec.allowed).to_numpy()] = _CODE["hard_bound"]
        if not parse:  # the verdicts alone: no Python string per row
            return ColumnCheck(spec, codes, out_of_range, np.empty(0, dtype=object), text)
        parsed = values.to_numpy(dtype=object, na_value=None)
        parsed[nulls] = None
        return ColumnCheck(spec, codes, out_of_range, parsed, text)
    codes = np.zeros(n, dtype=np.uint8)
    parsed = np.empty(n, dtype=object)
    for i, value in enumerate(series.tolist()):
        clean, rule = _verdict(value, spec, text, strict_categories)
        codes[i], parsed[i] = _CODE[rule], clean
        if not rule and clean is not None and spec.numeric:
            out_of_range[i] = range_warning(spec, clean) is not None
    return ColumnCheck(spec, codes, out_of_range, parsed, text)
