"""The prediction form: one widget per serving column, built from the schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlops.app.batch import coerce_frame, validate_frame
from mlops.core.exceptions import DataError
from mlops.core.schema import Schema

__all__ = ["FieldSpec", "form_spec", "row_from_form"]


@dataclass(frozen=True)
class FieldSpec:
    """One widget of the prediction form.

    ``widget`` is ``number`` (with ``min``/``max``/``step``/``integer``), ``select``
    (with ``options``), ``checkbox`` or ``text``.
    """

    name: str
    widget: str
    label: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    integer: bool = False
    options: tuple[str, ...] = ()
    help: str = ""


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def form_spec(schema: Schema) -> list[FieldSpec]:
    """One :class:`FieldSpec` per serving column, from the schema's kinds and ranges."""
    specs = []
    for name in schema.serving_columns:
        col = schema.by_name[name]
        if col.kind == "bool":
            specs.append(FieldSpec(name, "checkbox", _label(name), False))
        elif col.numeric:
            integer = col.kind == "int"
            lo, hi = col.min, col.max
            # The median of the training range is unknown here; the midpoint is a valid start.
            mid = (lo + hi) / 2 if lo is not None and hi is not None else (lo or hi or 0)
            default: float | int = int(round(mid)) if integer else float(mid)
            specs.append(FieldSpec(
                name, "number", _label(name), default,
                None if lo is None else (int(lo) if integer else float(lo)),
                None if hi is None else (int(hi) if integer else float(hi)),
                1 if integer else None, integer,
                help=f"allowed range {lo} – {hi}" if lo is not None else "",
            ))
        elif col.categories:
            specs.append(FieldSpec(name, "select", _label(name), col.categories[0],
                                   options=tuple(col.categories)))
        else:  # free text: the schema keeps no category list
            specs.append(FieldSpec(name, "text", _label(name), ""))
    return specs


def row_from_form(values: Mapping[str, Any], schema: Schema) -> pd.DataFrame:
    """A one-row frame of the form's values, checked like a batch (DataError if bad)."""
    missing = [c for c in schema.serving_columns if c not in values]
    if missing:
        raise DataError(f"form is missing fields {missing}", column=missing[0],
                        rule="missing_field")
    frame = pd.DataFrame([{c: values[c] for c in schema.serving_columns}])
    issues = validate_frame(frame, schema)
    if issues:
        raise DataError("; ".join(i.text for i in issues), column=issues[0].column,
                        rule="form")
    return coerce_frame(frame, schema)
