"""Checking prediction requests against the schema's serving columns.

A request that does not fit (missing field, unknown field, wrong type, null where none is
allowed, a category never seen in training) raises :class:`RequestError` naming the field,
the rule and the fix. Numbers outside the training range are allowed (the training range is
not a law of nature) but come back as warnings, and drift monitoring picks them up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import RequestError
from mlops.core.schema import ColumnSchema, Schema, is_number

__all__ = ["RequestValidator"]


class RequestValidator:
    """Validates single rows (dicts) and batches (frames) against ``schema``."""

    def __init__(self, schema: Schema, *, strict_categories: bool = True) -> None:
        self.schema = schema
        self.columns: tuple[str, ...] = tuple(schema.serving_columns)
        self.specs: tuple[ColumnSchema, ...] = tuple(schema.by_name[c] for c in self.columns)
        self._known = frozenset(self.columns)
        self.strict_categories = strict_categories
        self._categories = {s.name: frozenset(s.categories) for s in self.specs
                            if s.categories is not None and s.kind == "category"}

    # ------------------------------------------------------------------ one row
    def check(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Return ``(clean row in serving-column order, warnings)`` or raise RequestError."""
        if not isinstance(row, Mapping):
            raise RequestError(f"request must be a JSON object of fields, not "
                               f"{type(row).__name__}", rule="format")
        if row.keys() != self._known:
            self._key_error(row)
        clean: dict[str, Any] = {}
        warnings: list[str] = []
        for spec in self.specs:
            value = self._value(spec, row[spec.name])
            clean[spec.name] = value
            if value is None or not spec.numeric:
                continue
            if (spec.min is not None and value < spec.min) or (
                    spec.max is not None and value > spec.max):
                warnings.append(f"{spec.name}={value} is outside the training range "
                                f"[{spec.min}, {spec.max}]")
        return clean, tuple(warnings)

    def _key_error(self, row: Mapping[str, Any]) -> None:
        missing = [c for c in self.columns if c not in row]
        unknown = sorted(str(k) for k in row if k not in self._known)
        if missing:
            raise RequestError(
                f"missing field(s) {missing}; a request needs exactly: {list(self.columns)}",
                column=missing[0], rule="missing_field")
        raise RequestError(
            f"unknown field(s) {unknown}; the model takes only: {list(self.columns)}",
            column=unknown[0], rule="unknown_field")

    def _value(self, spec: ColumnSchema, value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if spec.nullable:
                return None
            raise RequestError(f"field {spec.name!r} is null; it must have a value",
                               column=spec.name, rule="null")
        kind = spec.kind
        if kind == "int":
            if isinstance(value, bool | np.bool_):
                self._type_error(spec, value, "an integer")
            if isinstance(value, int | np.integer):
                if not -(2**63) <= int(value) < 2**63:  # would overflow the model's int64
                    raise RequestError(f"field {spec.name!r} is out of the int64 range",
                                       column=spec.name, rule="type")
                return int(value)
            if isinstance(value, float | np.floating) and float(value).is_integer():
                return int(value)
            self._type_error(spec, value, "an integer")
        if kind == "float":
            if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                    value, bool | np.bool_):
                try:
                    value = float(value)
                except OverflowError:
                    value = math.inf
                if math.isfinite(value):
                    return value
                raise RequestError(f"field {spec.name!r} is {value}; it must be finite",
                                   column=spec.name, rule="finite")
            self._type_error(spec, value, "a number")
        if kind == "bool":
            if isinstance(value, bool | np.bool_):
                return bool(value)
            self._type_error(spec, value, "true or false")
        if not isinstance(value, str):
            self._type_error(spec, value, "a string")
        allowed = self._categories.get(spec.name)
        if self.strict_categories and allowed is not None and value not in allowed:
            raise RequestError(
                f"field {spec.name!r} is {value!r}, a category never seen in training; "
                f"expected one of {sorted(allowed)}", column=spec.name, rule="unknown_category")
        return value

    @staticmethod
    def _type_error(spec: ColumnSchema, value: Any, expected: str) -> None:
        raise RequestError(
            f"field {spec.name!r} is {value!r} ({type(value).__name__}); expected {expected}",
            column=spec.name, rule="type")

    # ------------------------------------------------------------------ batches
    def check_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The serving columns of ``frame`` in order, or RequestError for the first problem."""
        if not isinstance(frame, pd.DataFrame):
            raise RequestError("a batch must be a DataFrame", rule="format")
        names = [str(c) for c in frame.columns]
        missing = [c for c in self.columns if c not in names]
        if missing:
            raise RequestError(f"batch is missing column(s) {missing}", column=missing[0],
                               rule="missing_field")
        unknown = sorted(set(names) - self._known)
        if unknown:
            raise RequestError(f"batch has unknown column(s) {unknown}; the model takes only "
                               f"{list(self.columns)}", column=unknown[0], rule="unknown_field")
        for spec in self.specs:
            col = frame[spec.name]
            nulls = col.isna()
            if not spec.nullable and nulls.any():
                raise RequestError(f"column {spec.name!r} has nulls in rows "
                                   f"{list(frame.index[nulls][:5])}", column=spec.name,
                                   rule="null")
            is_num = is_number(col)
            if spec.numeric and not is_num:
                raise RequestError(f"column {spec.name!r} has dtype {col.dtype}; expected "
                                   "numbers", column=spec.name, rule="type")
            if spec.kind == "category" and is_num:
                raise RequestError(f"column {spec.name!r} has dtype {col.dtype}; expected "
                                   "strings", column=spec.name, rule="type")
            allowed = self._categories.get(spec.name)
            if self.strict_categories and allowed is not None:
                bad = ~col.isin(allowed) & ~nulls
                if bad.any():
                    raise RequestError(
                        f"column {spec.name!r} has categories never seen in training: "
                        f"{sorted(map(str, col[bad].unique()))[:5]}", column=spec.name,
                        rule="unknown_category")
        return frame[list(self.columns)]
