"""The prediction form: one widget per serving column, built from the schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.core.exceptions import DataError
from mlops.core.schema import Schema

if TYPE_CHECKING:  # pandas is imported when a row is scored, not to draw the first page
    from mlops.serving.request_check import CheckedBatch

__all__ = ["FieldSpec", "form_spec", "needs_reference", "option_words", "row_from_form"]


@dataclass(frozen=True)
class FieldSpec:
    """One widget of the prediction form.

    ``widget`` is ``number`` (with ``min``/``max``/``step``/``integer``), ``select``
    (with ``options``), ``checkbox``, ``date`` (its default an ISO date) or ``text``.
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


def option_words(value: Any) -> str:
    """A category as the form shows it: ``not_known`` -> ``not known`` (the value sent
    to the model stays the category itself)."""
    return str(value).replace("_", " ")


def _label(name: str, unit: str | None = None) -> str:
    text = name.replace("_", " ").capitalize()
    return f"{text} ({unit})" if unit else text


def needs_reference(schema: Schema) -> bool:
    """True when some serving column has no ``typical`` value in the schema, so the form's
    defaults must come from the training data's summary."""
    return any(schema.by_name[c].typical is None for c in schema.serving_columns)


def form_spec(schema: Schema, typical: Mapping[str, Any] | None = None) -> list[FieldSpec]:
    """One :class:`FieldSpec` per serving column, from the schema's kinds and ranges.

    Defaults are a typical case: the schema's ``typical`` value, else the one in ``typical``
    (the training data's median or most common value, from the version's reference
    summary), else the middle of the schema's range and the first category. Labels carry
    the schema's unit, help texts its description.
    """
    specs = []
    for name in schema.serving_columns:
        col = schema.by_name[name]
        label = _label(name, col.unit)
        usual = col.typical if col.typical is not None else (typical or {}).get(name)
        if col.kind == "bool":
            default_bool = bool(usual) if usual is not None else False
            specs.append(FieldSpec(name, "checkbox", label, default_bool,
                                   help=col.description or ""))
        elif col.numeric:
            integer = col.kind == "int"
            lo, hi = col.min, col.max
            if usual is not None:
                mid = float(usual)
            else:
                mid = (lo + hi) / 2 if lo is not None and hi is not None else (lo or hi or 0)
            if lo is not None:
                mid = max(mid, lo)
            if hi is not None:
                mid = min(mid, hi)
            default: float | int = int(round(mid)) if integer else float(mid)
            parts = [col.description or ""]
            if lo is not None:
                unit = f" {col.unit}" if col.unit else ""
                parts.append(f"seen in training: {lo:g} – {hi:g}{unit}")
            specs.append(FieldSpec(
                name, "number", label, default,
                None if lo is None else (int(lo) if integer else float(lo)),
                None if hi is None else (int(hi) if integer else float(hi)),
                1 if integer else None, integer,
                help="; ".join(p for p in parts if p),
            ))
        elif col.kind == "date":  # a date picker; a date-time is typed as text
            typical = str(col.typical or "")
            specs.append(FieldSpec(name, "date" if len(typical) == 10 else "text", label,
                                   typical, help=col.description or ""))
        elif col.categories:
            options = tuple(col.categories)
            mode = str(usual) if usual is not None else options[0]
            specs.append(FieldSpec(name, "select", label, mode if mode in options
                                   else options[0], options=options,
                                   help=col.description or ""))
        else:  # free text: the schema keeps no category list
            specs.append(FieldSpec(name, "text", label, "", help=col.description or ""))
    return specs


def row_from_form(values: Mapping[str, Any], schema: Schema) -> CheckedBatch:
    """The form's values as one checked row, judged like a batch (DataError if bad)."""
    import pandas as pd

    from mlops.app.batch import coerce_frame

    missing = [c for c in schema.serving_columns if c not in values]
    if missing:
        raise DataError(f"form is missing fields {missing}", column=missing[0],
                        rule="missing_field")
    return coerce_frame(pd.DataFrame([{c: values[c] for c in schema.serving_columns}]),
                        schema)
