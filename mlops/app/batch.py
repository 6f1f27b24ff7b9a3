"""Uploaded CSV files: checked cell by cell against the serving schema, then scored.

Nothing is scored until every serving column is present and every cell is valid; the
problems come back with their row and column, so a user fixes the file in one go.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.cells import check_column
from mlops.core.exceptions import DataError
from mlops.core.schema import ColumnSchema, Schema

__all__ = [
    "MAX_ISSUES_SHOWN",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_ROWS",
    "BatchIssue",
    "BatchResult",
    "coerce_frame",
    "out_of_range_note",
    "score_frame",
    "to_csv_bytes",
    "validate_batch",
    "validate_frame",
]

MAX_UPLOAD_BYTES = 2_000_000  # ~20k German-credit rows; keeps a shared Space responsive
MAX_UPLOAD_ROWS = 10_000
MAX_ISSUES_SHOWN = 50  # a broken file would otherwise produce one message per cell


@dataclass(frozen=True)
class BatchIssue:
    """One problem with an uploaded file: ``row`` is the 1-based data row, or None."""

    message: str
    column: str | None = None
    row: int | None = None

    @property
    def text(self) -> str:
        """Human-readable line: ``row 3, column age: ...``."""
        where = [f"row {self.row}" if self.row is not None else "",
                 f"column {self.column!r}" if self.column else ""]
        prefix = ", ".join(w for w in where if w)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass
class BatchResult:
    """Outcome of :func:`validate_batch`: the clean frame, or the issues that stop it."""

    frame: pd.DataFrame | None
    issues: list[BatchIssue] = field(default_factory=list)
    total_issues: int = 0  # before truncation to MAX_ISSUES_SHOWN
    ignored_columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the frame may be scored."""
        return self.frame is not None and not self.issues


def validate_batch(
    data: bytes, schema: Schema, *, max_bytes: int = MAX_UPLOAD_BYTES,
    max_rows: int = MAX_UPLOAD_ROWS,
) -> BatchResult:
    """Check an uploaded CSV against the serving schema before any row is scored.

    Limits size and rows first (cheap, before parsing), then reports every missing
    column and every bad cell with its row number, so the user can fix the file in one go.
    The target column and unknown columns are dropped and listed, not rejected.
    """
    if len(data) > max_bytes:
        return _fail_batch(f"file is {len(data):,} bytes; the limit is {max_bytes:,} bytes. "
                           "Split it into smaller files")
    if not data.strip():
        return _fail_batch("file is empty; upload a CSV with a header row")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _fail_batch(f"file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV")
    try:
        # Read everything as text: types are checked per cell below, with row numbers.
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        return _fail_batch(f"cannot be read as CSV: {exc}")
    # pandas renames duplicate headers ("a", "a.1"), so check the raw header row instead.
    header = [c.strip() for c in next(csv.reader(io.StringIO(text)), [])]
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        return _fail_batch(f"duplicate column names {dupes}; each column may appear once")
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        return _fail_batch("file has a header but no data rows")
    if len(frame) > max_rows:
        return _fail_batch(f"file has {len(frame):,} rows; the limit is {max_rows:,}")
    ignored = tuple(c for c in frame.columns if c not in schema.serving_columns)
    frame = frame.replace({"": None})
    issues = validate_frame(frame, schema)
    if issues:
        return BatchResult(None, issues[:MAX_ISSUES_SHOWN], len(issues), ignored)
    return BatchResult(coerce_frame(frame[list(schema.serving_columns)], schema), [], 0, ignored)


def _fail_batch(message: str) -> BatchResult:
    return BatchResult(None, [BatchIssue(message)], 1)


def validate_frame(frame: pd.DataFrame, schema: Schema) -> list[BatchIssue]:
    """Every missing serving column and every bad cell (null, type, finite, category)."""
    issues = [BatchIssue(f"required column is missing (expected: "
                         f"{', '.join(schema.serving_columns)})", column=c)
              for c in schema.serving_columns if c not in frame.columns]
    for name in schema.serving_columns:
        if name in frame.columns:
            issues += _column_issues(frame[name], schema.by_name[name])
    return sorted(issues, key=lambda i: (i.row is not None, i.row or 0, i.column or ""))


def _column_issues(series: pd.Series, col: ColumnSchema) -> list[BatchIssue]:
    cells = check_column(series, col, text=True)
    return [BatchIssue(_plain(cells.error(series, int(pos)).message, col.name), col.name,
                       int(pos) + 1) for pos in cells.bad_positions()]


def _plain(message: str, column: str) -> str:
    # The issue table already names the column; drop the checker's "field 'x' is" lead.
    return message.removeprefix(f"field {column!r} is ").removeprefix("null; ")


def out_of_range_note(frame: pd.DataFrame, schema: Schema) -> str | None:
    """A note on values outside the training range: they are scored, but less trusted."""
    counts = {}
    for name in schema.serving_columns:
        col = schema.by_name[name]
        if col.numeric and name in frame.columns:
            n = int(check_column(frame[name], col).out_of_range.sum())
            if n:
                counts[name] = n
    if not counts:
        return None
    listed = ", ".join(f"{name} ({n} rows)" for name, n in counts.items())
    return (f"Some values are outside the range the model was trained on: {listed}. "
            "They are scored, but the predictions for them are less certain.")


def coerce_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Cast validated text cells to the schema's dtypes, as the model was trained on."""
    out = pd.DataFrame(index=range(len(frame)))
    for name in schema.serving_columns:
        col, values = schema.by_name[name], frame[name].reset_index(drop=True)
        if col.kind == "int":
            out[name] = pd.to_numeric(values.astype(str).str.strip()).round().astype("int64")
        elif col.kind == "float":
            out[name] = pd.to_numeric(values.astype(str).str.strip()).astype("float64")
        elif col.kind == "bool":
            out[name] = values.astype(str).str.strip().str.lower().isin({"true", "1"})
        else:
            out[name] = values.astype(str).str.strip()
    return out


def score_frame(model: Any, frame: pd.DataFrame, *, positive_class: Any) -> pd.DataFrame:
    """``frame`` plus ``predicted_class`` and ``probability`` (of the positive class)."""
    names = getattr(model, "feature_names_in_", None)
    features = frame[list(names)] if names is not None else frame
    classes = np.asarray(model.classes_).tolist()
    if positive_class not in classes:
        raise DataError(f"positive class {positive_class!r} is not one of the model's "
                        f"classes {classes}; check data.positive_class", rule="positive_class")
    proba = np.asarray(model.predict_proba(features), dtype=float)
    out = frame.copy()
    out["predicted_class"] = np.asarray(model.predict(features))
    out["probability"] = proba[:, classes.index(positive_class)].round(4)
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV bytes for the download button."""
    return frame.to_csv(index=False).encode("utf-8")
