"""Checking prediction requests against the schema's serving columns.

A request that does not fit (missing field, unknown field, wrong type, null where none is
allowed, a category never seen in training) raises :class:`RequestError` naming the field,
the rule and the fix. Each cell is judged by :mod:`mlops.core.cells`, the same checker that
validation and the app use, for single rows and batches alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops.core.cells import check_cell, check_column
from mlops.core.exceptions import RequestError
from mlops.core.schema import ColumnSchema, Schema

__all__ = ["CheckedBatch", "RequestValidator", "names_preview"]

MAX_NAMES_SHOWN = 10  # a hostile request may carry 100,000 unknown fields
MAX_NAME_CHARS = 64


def names_preview(names: list[Any], limit: int = MAX_NAMES_SHOWN) -> str:
    """``['a', 'b'] and 99998 more``: a bounded list of (truncated) field names."""
    shown = [str(n) if len(str(n)) <= MAX_NAME_CHARS else str(n)[:MAX_NAME_CHARS] + "…"
             for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{shown}{more}"


@dataclass(frozen=True)
class CheckedBatch:
    """A batch whose every cell passed :func:`~mlops.core.cells.check_column` against
    ``schema``: its serving columns in order, as the checker parsed them, and the count of
    cells outside the training range per column. A validator of the same schema takes it
    as it is, so an upload is judged once (the app's checks list every problem with its
    row; the router's stop at the first)."""

    frame: pd.DataFrame
    schema: Schema
    out_of_range: Mapping[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)


class RequestValidator:
    """Validates single rows (dicts) and batches (frames) against ``schema``."""

    def __init__(self, schema: Schema, *, strict_categories: bool = True) -> None:
        self.schema = schema
        self.columns: tuple[str, ...] = tuple(schema.serving_columns)
        self.specs: tuple[ColumnSchema, ...] = tuple(schema.by_name[c] for c in self.columns)
        self._known = frozenset(self.columns)
        self.strict_categories = strict_categories

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
            value, warning = check_cell(row[spec.name], spec,
                                        strict_categories=self.strict_categories)
            clean[spec.name] = value
            if warning:
                warnings.append(warning)
        return clean, tuple(warnings)

    def _key_error(self, row: Mapping[str, Any]) -> None:
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise RequestError(
                f"missing field(s) {missing}; a request needs exactly: {list(self.columns)}",
                column=missing[0], rule="missing_field")
        unknown = sorted(str(k) for k in row if k not in self._known)
        raise RequestError(
            f"unknown field(s) {names_preview(unknown)}; the model takes only: "
            f"{list(self.columns)}", column=unknown[0][:MAX_NAME_CHARS], rule="unknown_field")

    # ------------------------------------------------------------------ batches
    def check_frame(self, frame: pd.DataFrame | CheckedBatch) -> pd.DataFrame:
        """The serving columns of ``frame`` in order, or RequestError for the first problem
        (a :class:`CheckedBatch` of this very schema is not checked again)."""
        if isinstance(frame, CheckedBatch):
            if frame.schema is self.schema:
                return frame.frame
            frame = frame.frame  # judged against another schema: checked here as any frame
        if not isinstance(frame, pd.DataFrame):
            raise RequestError("a batch must be a DataFrame", rule="format")
        names = [str(c) for c in frame.columns]
        if len(set(names)) != len(names):
            seen: set[str] = set()
            dupes = sorted({n for n in names if n in seen or seen.add(n)})
            raise RequestError(f"batch has duplicate column(s) {names_preview(dupes)}; each "
                               "column may appear once", column=dupes[0][:MAX_NAME_CHARS],
                               rule="duplicate_field")
        missing = [c for c in self.columns if c not in names]
        if missing:
            raise RequestError(f"batch is missing column(s) {missing}", column=missing[0],
                               rule="missing_field")
        unknown = sorted(set(names) - self._known)
        if unknown:
            raise RequestError(f"batch has unknown column(s) {names_preview(unknown)}; the "
                               f"model takes only {list(self.columns)}",
                               column=unknown[0][:MAX_NAME_CHARS], rule="unknown_field")
        for spec in self.specs:
            col = frame[spec.name]
            cells = check_column(col, spec, strict_categories=self.strict_categories,
                                 parse=False)  # the frame itself is scored, not the parse
            bad = cells.bad_positions()
            if len(bad):
                first = cells.error(col, int(bad[0]))
                rows = list(frame.index[bad[:5]])
                raise RequestError(f"{first.message} (rows {rows}"
                                   f"{f' and {len(bad) - 5} more' if len(bad) > 5 else ''})",
                                   column=spec.name, rule=first.fields["rule"])
        return frame[list(self.columns)]
