"""Uploaded CSV files: checked cell by cell against the serving schema, then scored.

Nothing is scored until every serving column is present and every cell is valid; the
problems come back with their row and column, so a user fixes the file in one go.

The upload is public, so every step costs at most linear time in the file's size: the
size is checked before decoding, the header's width before any per-column work, and the
checks count with hash maps rather than scanning lists. A file that cannot be parsed gets
a plain message, never a traceback.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.cells import ColumnCheck, check_column
from mlops.core.exceptions import DataError
from mlops.core.schema import Schema
from mlops.serving.request_check import CheckedBatch

__all__ = [
    "MAX_EXTRA_COLUMNS",
    "MAX_ISSUES_SHOWN",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_ROWS",
    "BatchIssue",
    "BatchResult",
    "coerce_frame",
    "out_of_range_note",
    "to_csv_bytes",
    "validate_batch",
]

# The one size cap of a batch, uploaded or pasted (the paste box and validate_batch use it):
# ~20k rows of ten columns; keeps a shared Space responsive.
MAX_UPLOAD_BYTES = 2_000_000
MAX_UPLOAD_ROWS = 10_000
MAX_ISSUES_SHOWN = 50  # a broken file would otherwise produce one message per cell
MAX_EXTRA_COLUMNS = 50  # columns beyond the serving ones and the target that are ignored
MAX_NAME_CHARS = 64  # a column name shown in a message is cut to this
MAX_ISSUES_SAID = 5  # the problems one error message names (a form's row, a frame)

log = logging.getLogger(__name__)


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

    checked: CheckedBatch | None  # what the router scores without checking it again
    issues: list[BatchIssue] = field(default_factory=list)
    total_issues: int = 0  # before truncation to MAX_ISSUES_SHOWN
    ignored_columns: tuple[str, ...] = ()

    @property
    def frame(self) -> pd.DataFrame | None:
        """The accepted rows, as the checker parsed them (None when refused)."""
        return None if self.checked is None else self.checked.frame

    @property
    def ok(self) -> bool:
        """True when the frame may be scored."""
        return self.checked is not None and not self.issues


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
    # The header first, on its own (pandas renames duplicate headers "a", "a.1"): its width
    # bounds all per-column work below.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [c.strip() for c in next(reader, [])]
    except csv.Error as exc:  # e.g. a header field larger than the csv field limit
        return _fail_batch(f"the header row cannot be read as CSV ({_first_line(exc)}); "
                           "the first row must hold the column names")
    widest = len(schema.serving_columns) + 1 + MAX_EXTRA_COLUMNS
    if len(header) > widest:
        return _fail_batch(f"file has {len(header):,} columns; at most {widest} are accepted "
                           f"(the {len(schema.serving_columns)} serving columns, the target "
                           f"and up to {MAX_EXTRA_COLUMNS} others)")
    dupes = sorted(c for c, n in Counter(header).items() if n > 1)
    if dupes:
        return _fail_batch(f"duplicate column names {_names(dupes)}; each column may "
                           "appear once")
    # Then every record, in one linear pass, before pandas sees it: pandas would make the
    # extra fields of a row wider than the header into an index (a silent column shift,
    # and minutes of CPU for a row of a million fields).
    rows = 0
    try:
        for record in reader:
            if not record:
                continue  # a blank line; pandas skips it too
            rows += 1
            if len(record) > len(header):
                return _fail_batch(f"row {rows} has {len(record):,} fields but the header "
                                   f"has {len(header)}; every row needs one field per column")
            if rows > max_rows:
                return _fail_batch(f"file has more than {max_rows:,} rows; the limit is "
                                   f"{max_rows:,}")
    except csv.Error as exc:
        return _fail_batch(f"row {rows + 1} cannot be read as CSV ({_first_line(exc)})")
    try:
        # Read everything as text: types are checked per cell below, with row numbers.
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as exc:  # any parser failure is the file's problem, said plainly
        log.info("upload refused by the CSV parser: %s: %s", type(exc).__name__, exc)
        return _fail_batch(f"cannot be read as CSV: {_first_line(exc)}")
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        return _fail_batch("file has a header but no data rows")
    if len(frame) > max_rows:
        return _fail_batch(f"file has {len(frame):,} rows; the limit is {max_rows:,}")
    serving = frozenset(schema.serving_columns)
    ignored = tuple(c for c in frame.columns if c not in serving)
    frame = frame.replace({"": None})
    issues, total, checks = _frame_issues(frame, schema, MAX_ISSUES_SHOWN)
    if total:
        return BatchResult(None, issues, total, ignored)
    # The values the checker parsed, not a second parse: no accepted cell can fail later.
    return BatchResult(_checked(checks, schema), [], 0, ignored)


def _fail_batch(message: str) -> BatchResult:
    return BatchResult(None, [BatchIssue(message)], 1)


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error's message, cut: what a user may see of a parser error."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def _names(names: list[str], limit: int = 10) -> str:
    shown = [n if len(n) <= MAX_NAME_CHARS else n[:MAX_NAME_CHARS] + "…" for n in names[:limit]]
    return f"{shown}" + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _frame_issues(frame: pd.DataFrame, schema: Schema, limit: int | None
                  ) -> tuple[list[BatchIssue], int, dict[str, ColumnCheck]]:
    """The first ``limit`` issues (all with None) in (row, column) order, their count, and
    the checker's verdict on each serving column present.

    Only the issues shown get a message: a file of 90,000 bad cells costs one pass of the
    checker, not 90,000 formatted messages.
    """
    missing = [BatchIssue(f"required column is missing (expected: "
                          f"{', '.join(schema.serving_columns)})", column=c)
               for c in sorted(c for c in schema.serving_columns if c not in frame.columns)]
    checks: dict[str, ColumnCheck] = {}
    rows, names = [], []
    for name in schema.serving_columns:
        if name in frame.columns:
            checks[name] = check_column(frame[name], schema.by_name[name], text=True)
            bad = checks[name].bad_positions()
            rows.append(bad)
            names.append(np.full(len(bad), name, dtype=object))
    positions = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    columns = np.concatenate(names) if names else np.empty(0, dtype=object)
    total = len(missing) + len(positions)
    order = np.lexsort((columns.astype(str), positions)) if len(positions) else positions
    if limit is not None:
        order = order[:max(limit - len(missing), 0)]
    issues = list(missing)
    for i in order:
        name, pos = str(columns[i]), int(positions[i])
        message = checks[name].error(frame[name], pos).message
        issues.append(BatchIssue(_plain(message, name), name, pos + 1))
    return (issues if limit is None else issues[:limit]), total, checks


def _plain(message: str, column: str) -> str:
    # The issue table already names the column; drop the checker's "field 'x' is" lead.
    return message.removeprefix(f"field {column!r} is ").removeprefix("null; ")


def out_of_range_note(checked: CheckedBatch) -> str | None:
    """A note on values outside the training range: they are scored, but less trusted."""
    if not checked.out_of_range:
        return None
    listed = ", ".join(f"{name} ({n} rows)" for name, n in checked.out_of_range.items())
    return (f"Some values are outside the range the model was trained on: {listed}. "
            "They are scored, but the predictions for them are less certain.")


def coerce_frame(frame: pd.DataFrame, schema: Schema) -> CheckedBatch:
    """The serving columns of ``frame`` (text or typed cells) in the schema's dtypes.

    Each cell is converted by the checker's own parse (:meth:`ColumnCheck.typed`), in the
    same pass that judges it. A missing column or a refused cell is a DataError naming the
    column, the row (1-based) and the rule (and the next few problems), never a parser's
    exception.
    """
    frame = frame.reset_index(drop=True)
    issues, total, checks = _frame_issues(frame, schema, MAX_ISSUES_SAID)
    if total:
        first = issues[0]
        rule = "missing_field" if first.row is None else checks[first.column].error(
            frame[first.column], first.row - 1).fields["rule"]
        more = f" (and {total - len(issues)} more problems)" if total > len(issues) else ""
        raise DataError("; ".join(i.text for i in issues) + more, column=first.column,
                        row=first.row, rule=rule)
    return _checked(checks, schema)


def _checked(checks: dict[str, ColumnCheck], schema: Schema) -> CheckedBatch:
    """The serving columns, in order, as the values the checker parsed (all accepted), and
    the cells outside the training range per column."""
    frame = pd.DataFrame({name: checks[name].typed() for name in schema.serving_columns})
    outside = {name: int(check.out_of_range.sum()) for name, check in checks.items()}
    return CheckedBatch(frame, schema, {name: n for name, n in outside.items() if n})


# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV bytes for the download button, safe to open in a spreadsheet.

    Text cells (and column names) that start with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return get a leading single quote, as OWASP advises, so a spreadsheet shows
    them as text instead of running them. Numbers are left alone: a numeric column stays
    numeric, and a text cell that is just a number (``-3``) is no formula. Rows end in
    CRLF (RFC 4180).
    """
    out = frame.copy()
    out.columns = [_formula_safe(c) for c in out.columns]
    for name in out.columns:
        if not pd.api.types.is_numeric_dtype(out[name]):
            out[name] = out[name].map(_formula_safe)
    # CRLF, as RFC 4180 has it: the writer then quotes a cell holding a lone CR too, which
    # a spreadsheet would otherwise read as the end of the row.
    return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _formula_safe(value: Any) -> Any:
    if (isinstance(value, str) and value.startswith(_FORMULA_START)
            and not _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value
