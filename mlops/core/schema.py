"""The data schema: inferred from reference data, stored as readable, versioned YAML.

The schema changes only when someone runs ``mlops schema infer`` on purpose, so a change
shows up as a diff in review. Output is deterministic (sorted categories, no timestamps)
so the same data always writes the same file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlops.core.exceptions import DataError
from mlops.core.typed_yaml import safe_load_yaml

if TYPE_CHECKING:  # pandas is imported by inference only: the app reads schemas without it
    import pandas as pd

    from mlops.core.config import Params

__all__ = [
    "is_number",
    "SCHEMA_VERSION",
    "ColumnSchema",
    "Schema",
    "infer_schema",
    "keep_hand_written",
    "schema_to_yaml",
    "save_schema",
    "load_schema",
    "request_schema",
    "without_inputs",
]

SCHEMA_VERSION = 1
MAX_CATEGORIES = 1000  # beyond this a text column is free text: no category list is kept
KINDS = ("int", "float", "bool", "category", "date")
# A date or date-time as text, the way CSV files write them (ISO 8601): 2024-03-05,
# 2024-03-05 14:30, 2024-03-05T14:30:00. Kept as text: the model's feature code turns it
# into numbers (mlops.stages.derived.date_parts).
DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?")
MAX_CLASSES = 50  # an int target with more distinct labels than this is a number, not classes


@dataclass(frozen=True)
class ColumnSchema:
    """What one column must look like."""

    name: str
    kind: str  # one of KINDS; "category" means text / categorical, "date" an ISO date
    nullable: bool
    min: float | None = None  # numeric columns only: the reference range
    max: float | None = None
    categories: tuple[str, ...] | None = None  # category columns only; None = not checked
    # Expectations the reference cannot show, pinned by hand (or proposed by infer):
    hard_min: float | None = None  # values below are impossible: they block
    hard_max: float | None = None
    min_exclusive: float | None = None  # values must be above this (e.g. 0 for amounts)
    max_exclusive: float | None = None
    allowed: tuple[str, ...] | None = None  # category columns: every legal value
    optional: bool = False  # the column may be missing from a batch
    # For people, optional and by hand: what the column means and its unit (app, card).
    # Not compared: a schema with descriptions checks data exactly as one without.
    description: str | None = field(default=None, compare=False)
    unit: str | None = field(default=None, compare=False)
    # A typical value (the reference's median or most common value): where the app's form
    # starts. Written by infer, may be edited to show another case; not compared either.
    typical: float | int | str | bool | None = field(default=None, compare=False)

    @property
    def numeric(self) -> bool:
        """True for int and float columns."""
        return self.kind in ("int", "float")

    @property
    def categorical(self) -> bool:
        """True for category and bool columns (a date is neither numeric nor categorical:
        it has no category list and takes no part in drift)."""
        return self.kind in ("category", "bool")

    @property
    def has_hard_bounds(self) -> bool:
        """True when a numeric hard bound is pinned."""
        return any(b is not None for b in (self.hard_min, self.hard_max, self.min_exclusive,
                                           self.max_exclusive))

    def outside_hard_bounds(self, value: float) -> bool:
        """True when the number ``value`` breaks a hard bound."""
        return bool((self.hard_min is not None and value < self.hard_min)
                    or (self.hard_max is not None and value > self.hard_max)
                    or (self.min_exclusive is not None and value <= self.min_exclusive)
                    or (self.max_exclusive is not None and value >= self.max_exclusive))

    def hard_bounds_text(self) -> str:
        """The hard bounds in words, e.g. ``at least 0 and at most 120``."""
        parts = []
        if self.hard_min is not None:
            parts.append(f"at least {self.hard_min:g}")
        if self.min_exclusive is not None:
            parts.append(f"above {self.min_exclusive:g}")
        if self.hard_max is not None:
            parts.append(f"at most {self.hard_max:g}")
        if self.max_exclusive is not None:
            parts.append(f"below {self.max_exclusive:g}")
        return " and ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict without empty fields."""
        out: dict[str, Any] = {"kind": self.kind, "nullable": self.nullable}
        if self.numeric:
            out["min"], out["max"] = self.min, self.max
        if self.categories is not None:
            out["categories"] = list(self.categories)
        for key in _PINNED:
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if key == "allowed" else value
        if self.optional:
            out["optional"] = True
        for key in _TEXTS:
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.typical is not None:
            out["typical"] = self.typical
        return out


_PINNED = ("hard_min", "hard_max", "min_exclusive", "max_exclusive", "allowed")
_TEXTS = ("description", "unit")


@dataclass(frozen=True)
class Schema:
    """Columns in order, the target, its label set, and the columns present at serving."""

    columns: tuple[ColumnSchema, ...]
    target: str | None
    labels: tuple[Any, ...] = ()
    serving_columns: tuple[str, ...] = ()
    version: int = SCHEMA_VERSION
    source: str = ""
    rows: int = 0
    by_name: dict[str, ColumnSchema] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    @property
    def numeric(self) -> tuple[str, ...]:
        """Names of numeric columns."""
        return tuple(c.name for c in self.columns if c.numeric)

    @property
    def categorical(self) -> tuple[str, ...]:
        """Names of category and bool columns."""
        return tuple(c.name for c in self.columns if c.categorical)

    @property
    def classification(self) -> bool:
        """True when the target holds classes: text, bool, or a few whole-number labels."""
        if self.target is None:
            return False
        kind = self.by_name[self.target].kind
        return kind in ("category", "bool") or (kind == "int"
                                                and 0 < len(self.labels) <= MAX_CLASSES)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, the shape of the YAML file."""
        return {
            "version": self.version,
            "source": self.source,
            "rows": self.rows,
            "target": self.target,
            "labels": list(self.labels),
            "serving_columns": list(self.serving_columns),
            "columns": {c.name: c.to_dict() for c in self.columns},
        }


def is_number(series: pd.Series) -> bool:
    """True for numeric columns; booleans count as categories, not numbers."""
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _kind(series: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        # Integers with missing values are read as floats; keep them int if they are.
        values = series.dropna()
        if len(values) and bool((values == values.round()).all()):
            return "int"
        return "float"
    known = series.dropna()
    if len(known) and all(isinstance(v, str) and DATE_TEXT.fullmatch(v.strip())
                          for v in known) and is_date(known):
        return "date"
    return "category"


def is_date(values: Any) -> bool:
    """True when every value is a real date or date-time (not 2024-02-30)."""
    from datetime import datetime

    try:
        for v in values:
            datetime.fromisoformat(str(v).strip())
    except ValueError:
        return False
    return True


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar, so YAML stays plain."""
    return value.item() if hasattr(value, "item") else value


def _infer_column(series: pd.Series) -> ColumnSchema:
    import pandas as pd

    kind = _kind(series)
    nullable = bool(series.isna().any())
    if kind in ("int", "float"):
        values = pd.to_numeric(series, errors="coerce").dropna()
        finite = values[values.abs() != math.inf]
        lo = _plain(finite.min()) if len(finite) else None
        hi = _plain(finite.max()) if len(finite) else None
        typical = _plain(finite.median()) if len(finite) else None
        if kind == "int" and lo is not None:
            lo, hi, typical = int(lo), int(hi), int(round(typical))
        # Proposed for review: a column that was never negative probably cannot be.
        hard_min = 0 if lo is not None and lo >= 0 else None
        return ColumnSchema(str(series.name), kind, nullable, lo, hi, hard_min=hard_min,
                            typical=typical)
    known = series.dropna()
    if kind == "date":  # no category list: every new day is a valid value
        dates = sorted(known.astype(str).str.strip())
        return ColumnSchema(str(series.name), kind, nullable,
                            typical=dates[len(dates) // 2] if dates else None)
    uniques = known.astype(str).unique()
    categories = tuple(sorted(uniques)) if len(uniques) <= MAX_CATEGORIES else None
    typical: Any = None
    if kind == "bool":
        categories = ("False", "True")
        typical = bool(known.mode().iloc[0]) if len(known) else None
    elif categories is not None and len(known):
        counts = known.astype(str).value_counts()
        # The most common value; ties go to the first in sorted order, so output is stable.
        typical = min(counts.index[counts == counts.max()])
    return ColumnSchema(str(series.name), kind, nullable, categories=categories,
                        typical=typical)


def infer_schema(frame: pd.DataFrame, *, target: str | None, source: str = "",
                 regression: bool = False) -> Schema:
    """Infer a schema from reference (training) data.

    ``target`` is excluded from ``serving_columns``; its distinct values become the label
    set, unless the target is a number to predict (``regression``), which has no labels.
    ``source`` is recorded for the reader (for example ``data/train.csv``).
    """
    if frame.empty:
        raise DataError(f"{source or 'data'}: cannot infer a schema from an empty frame",
                        file=source or None, rule="non_empty")
    if target is not None and target not in frame.columns:
        raise DataError(
            f"{source or 'data'}: target column {target!r} is missing; set data.target in "
            "params.yaml to one of: " + ", ".join(map(str, frame.columns)),
            file=source or None, column=target, rule="target",
        )
    columns = tuple(_infer_column(frame[c]) for c in frame.columns)
    labels: tuple[Any, ...] = ()
    if target is not None and not regression:
        labels = tuple(sorted(_plain(v) for v in frame[target].dropna().unique()))
    serving = tuple(str(c) for c in frame.columns if c != target)
    return Schema(columns, target, labels, serving, SCHEMA_VERSION, source, len(frame))


def keep_hand_written(schema: Schema, previous: Schema) -> Schema:
    """``schema`` with what people wrote in ``previous`` carried over, for each column in both:
    description and unit, and the pinned bounds, categories and ``optional`` while the column
    stays a number or a category (a pin of the other kind no longer applies).

    Re-inferring refreshes what the data shows (ranges, categories, typical values) and keeps
    what was reviewed by hand; a column new to the data gets infer's proposals.
    """
    columns = []
    for c in schema.columns:
        old = previous.by_name.get(c.name)
        if old is None:
            columns.append(c)
            continue
        kept = ("description", "unit")
        if old.numeric == c.numeric:
            kept += ("optional", *_PINNED)
        columns.append(replace(c, **{k: getattr(old, k) for k in kept}))
    return replace(schema, columns=tuple(columns))


def _flow(value: Any) -> str:
    """One YAML value on one line."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000,
                          sort_keys=False).strip().removesuffix("...").strip()


def schema_to_yaml(schema: Schema) -> str:
    """Readable YAML: one line per column, so a changed column is a one-line diff."""
    lines = [
        "# Data schema: what the data must look like. Written by `mlops schema infer`;",
        "# edit by hand or re-infer on purpose, and review the diff. min/max: the reference",
        "# range (outside it warns, far outside blocks). Pinned by hand, they block when broken:",
        "# hard_min, hard_max, min_exclusive, max_exclusive, allowed (categories); optional:",
        "# true lets a batch leave the column out. infer proposes hard_min: 0 for columns that",
        "# were never negative: review it.",
        f"version: {schema.version}",
        f"source: {_flow(schema.source)}",
        f"rows: {schema.rows}",
        f"target: {_flow(schema.target)}",
        f"labels: {_flow(list(schema.labels))}",
        "# present in a prediction request (everything but the target)",
        f"serving_columns: {_flow(list(schema.serving_columns))}",
        "columns:",
    ]
    lines += [f"  {_flow(c.name)}: {_flow(c.to_dict())}" for c in schema.columns]
    return "\n".join(lines) + "\n"


def save_schema(schema: Schema, path: str | Path) -> None:
    """Write ``schema`` as YAML to ``path``."""
    Path(path).write_text(schema_to_yaml(schema), encoding="utf-8")


def _column_from(name: str, raw: Any, path: Path) -> ColumnSchema:
    if not isinstance(raw, Mapping):
        raise DataError(f"{path}: column {name!r} must be a mapping", file=str(path),
                        column=name, rule="schema_format")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise DataError(f"{path}: column {name!r} has kind {kind!r}; expected one of "
                        f"{list(KINDS)}", file=str(path), column=name, rule="schema_format")
    unknown = sorted(set(raw) - {"kind", "nullable", "min", "max", "categories",
                                 "optional", "typical", *_PINNED, *_TEXTS})
    if unknown:
        raise DataError(f"{path}: column {name!r} has unknown keys {unknown}",
                        file=str(path), column=name, rule="schema_format")

    def bad(message: str) -> DataError:
        return DataError(f"{path}: column {name!r}: {message}", file=str(path), column=name,
                         rule="schema_format")

    numeric = kind in ("int", "float")
    bounds = {}
    for key in _PINNED[:4]:
        value = raw.get(key)
        if value is None:
            continue
        if not numeric:
            raise bad(f"{key} is for int and float columns, not {kind}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"{key} is {value!r}; expected a number")
        bounds[key] = value
    lows = [bounds[k] for k in ("hard_min", "min_exclusive") if k in bounds]
    highs = [bounds[k] for k in ("hard_max", "max_exclusive") if k in bounds]
    if lows and highs and max(lows) > min(highs):
        raise bad(f"hard bounds leave no value: lower {max(lows)} > upper {min(highs)}")
    allowed = raw.get("allowed")
    if allowed is not None and (kind != "category" or not isinstance(allowed, list)):
        raise bad("allowed is a list, for category columns")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise bad(f"optional is {optional!r}; expected true or false")
    texts = {}
    for key in _TEXTS:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(f"{key} is {value!r}; expected text")
        if value:
            texts[key] = value
    typical = raw.get("typical")
    if typical is not None:
        if kind == "bool" and not isinstance(typical, bool):
            raise bad(f"typical is {typical!r}; expected true or false")
        if numeric and (isinstance(typical, bool) or not isinstance(typical, int | float)
                        or not math.isfinite(typical)):
            raise bad(f"typical is {typical!r}; expected a finite number")
        if kind == "category":
            typical = str(typical)
    cats = raw.get("categories")
    return ColumnSchema(
        str(name), kind, bool(raw.get("nullable", False)), raw.get("min"), raw.get("max"),
        tuple(str(c) for c in cats) if cats is not None else None,
        allowed=tuple(str(c) for c in allowed) if allowed is not None else None,
        optional=optional, typical=typical, **bounds, **texts,
    )


def without_inputs(schema: Schema, columns: Iterable[str]) -> Schema:
    """``schema`` with ``columns`` out of its serving columns (the request contract)."""
    left_out = set(columns)
    return replace(schema, serving_columns=tuple(c for c in schema.serving_columns
                                                 if c not in left_out))


def request_schema(params: Params) -> Schema:
    """The schema of ``params.data.schema`` as serving uses it: ``data.id_columns`` and
    ``data.drop_columns`` are never a model's input, so they leave the request contract
    (the API, the app's form, batch uploads, the prediction log and its monitoring)."""
    schema = load_schema(params.resolve(params.data.schema))
    return without_inputs(schema, (*params.data.id_columns, *params.data.drop_columns))


def load_schema(path: str | Path) -> Schema:
    """Read a schema written by :func:`save_schema` (or by hand), checking its shape."""
    path = Path(path)
    try:
        raw = safe_load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: schema file not found; create it with `mlops schema infer`",
                        file=str(path), rule="exists") from None
    except (yaml.YAMLError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise DataError(f"{path}: not a readable YAML schema: {exc}", file=str(path),
                        rule="schema_format") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("columns"), Mapping):
        raise DataError(f"{path}: expected a mapping with a 'columns' section",
                        file=str(path), rule="schema_format")
    version = raw.get("version")
    if version != SCHEMA_VERSION:
        raise DataError(f"{path}: schema version {version!r} is not supported (expected "
                        f"{SCHEMA_VERSION}); re-run `mlops schema infer`", file=str(path),
                        rule="schema_version")
    columns = tuple(_column_from(n, c, path) for n, c in raw["columns"].items())
    target = raw.get("target")
    names = {c.name for c in columns}
    if target is not None and target not in names:
        raise DataError(f"{path}: target {target!r} is not one of the columns",
                        file=str(path), column=target, rule="schema_format")
    serving = tuple(raw.get("serving_columns") or (n.name for n in columns
                                                   if n.name != target))
    missing = sorted(set(serving) - names)
    if missing:
        raise DataError(f"{path}: serving_columns {missing} are not columns",
                        file=str(path), rule="schema_format")
    return Schema(columns, target, tuple(raw.get("labels") or ()), serving,
                  int(version), str(raw.get("source") or ""), int(raw.get("rows") or 0))
