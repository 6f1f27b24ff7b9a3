"""What the Batch screen says when it refuses an upload: each problem named once, in words.

:func:`~mlops.app.batch.validate_batch` finds the problems; this module words them for a
person: a file of the wrong type, a file that is not a CSV of the model's columns at all
(one message, not one per missing column), missing and unknown columns together with a
"did you mean" where a name is close, and the bad cells as a table with the column as the
form labels it. No Streamlit here.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops.app.form import form_spec

if TYPE_CHECKING:
    import pandas as pd

    from mlops.app.batch import BatchResult
    from mlops.core.schema import Schema

__all__ = ["ACCEPTED_SUFFIXES", "Refusal", "file_type_problem", "refusal"]

ACCEPTED_SUFFIXES = (".csv",)
_HEADER_PEEK = 64_000  # bytes read to find the header row; a longer one is no CSV of ours


@dataclass(frozen=True)
class Refusal:
    """Why an upload cannot be scored: ``message`` in words, and the bad cells (``row``,
    ``column``, ``problem``), if any, as a table."""

    message: str
    cells: list[dict[str, object]] = field(default_factory=list)
    shown_cells: int = 0  # of how many in all (the table holds the first ones)

    def cells_frame(self) -> pd.DataFrame:
        """The bad cells as a table (empty when the problem is the whole file)."""
        import pandas as pd

        return pd.DataFrame(self.cells, columns=["row", "column", "problem"])


def file_type_problem(filename: str) -> str | None:
    """A sentence when ``filename`` is not a CSV file, else None."""
    name = filename.rsplit("/", 1)[-1]
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if suffix in ACCEPTED_SUFFIXES:
        return None
    kind = f"a {suffix} file" if suffix else "a file without an extension"
    return (f"{name} is {kind}, not a CSV file. Save it as CSV (comma-separated values, "
            "ending in .csv) with the column names in the first row, and upload that.")


def _header(data: bytes) -> list[str] | None:
    """The first row's names, or None when it cannot be read (validation says why)."""
    try:
        text = data[:_HEADER_PEEK].decode("utf-8-sig")
        row = next(csv.reader(io.StringIO(text, newline="")), [])
    except (UnicodeDecodeError, csv.Error):
        return None
    return [c.strip() for c in row]


def _listed(names: Sequence[str], limit: int = 8) -> str:
    shown = [n if len(n) <= 40 else n[:40] + "…" for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def _did_you_mean(missing: str, unknown: Sequence[str]) -> str | None:
    lowered = {u.lower().replace(" ", "_"): u for u in unknown}
    close = difflib.get_close_matches(missing.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def refusal(data: bytes, result: BatchResult, schema: Schema, *, target: str = ""
            ) -> Refusal:
    """The refusal of an upload that :func:`~mlops.app.batch.validate_batch` did not
    accept (``result``), in words.

    ``target`` is the model's target column: a file may carry it (it is dropped), so it is
    never called unknown.
    """
    # Validation's own file-level reason (an unreadable header, say) comes first: the
    # peek below reads only the start of the file.
    file_level = [i for i in result.issues if i.row is None and i.column is None]
    if file_level:
        text = file_level[0].message
        return Refusal(f"This file cannot be scored: {text[0].lower() + text[1:]}.")
    serving = list(schema.serving_columns)
    header = _header(data)
    if header is not None and any(header) and not set(header) & set(serving):
        # Not a table of this model's columns at all (a note saved as .csv, another
        # export): one message, not one per missing column.
        return Refusal(
            "This file is not a CSV of this model's inputs: none of its column names is "
            f"one the model needs. Its first row must name the columns {_listed(serving, 20)}"
            f"; it reads {_listed([h for h in header if h] or ['(nothing)'], 4)}.")
    missing = [i.column for i in result.issues if i.row is None and i.column]
    labels = {spec.name: spec.label for spec in form_spec(schema, {})}
    parts = []
    if missing:
        unknown = [c for c in result.ignored_columns if c and c != target]
        named = []
        for column in missing:
            guess = _did_you_mean(column, unknown)
            if guess is None and len(missing) == 1 and len(unknown) == 1:
                guess = unknown[0]  # one missing, one unknown: most likely renamed
            named.append(f"{column} (did you mean {guess}?)" if guess else column)
        parts.append(f"Missing {'column' if len(missing) == 1 else 'columns'}: "
                     f"{', '.join(named)}.")
        if unknown:
            noun = "the column" if len(unknown) == 1 else "the columns"
            parts.append(f"This model does not know {noun} {_listed(unknown)}.")
    cells = [{"row": i.row, "column": labels.get(i.column or "", i.column or ""),
              "problem": i.message} for i in result.issues if i.row is not None]
    n_cells = result.total_issues - len(missing)
    if n_cells > 0:
        parts.append(f"{n_cells:,} {'cell needs' if n_cells == 1 else 'cells need'} fixing"
                     + (f"; the first {len(cells)} are listed below." if n_cells > len(cells)
                        else ", listed below."))
    return Refusal("This file cannot be scored. " + " ".join(parts), cells, n_cells)
