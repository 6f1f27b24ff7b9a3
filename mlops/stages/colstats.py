"""Mergeable column statistics: what the validation checks and drift tests observe.

A frame (or one chunk of a file too large for memory) is reduced by :func:`summarize` to
a :class:`FrameStats`: per column the row and missing counts, the cell checker's rule
counts, counts outside the reference range, beyond it and of a new sign, min/max, the
category counts, and for drift a histogram on the reference's own bin edges (the drift
profile's quantile edges, so the KS statistic and PSI come out exactly as in memory).
Two summaries of consecutive chunks :meth:`FrameStats.merge` into the summary of both.
The checks in :mod:`mlops.stages.validation` grade only these statistics, so the
in-memory path (one chunk) and the chunked path give the same verdicts.

Bounded on purpose: examples shown in messages and distinct values are kept up to a cap
(:data:`KEEP`); category counts of a column are kept for at most :data:`MAX_CATEGORIES`
values, the rest pooled (a free-text column), and the drift result says so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.cells import RULES, check_column
from mlops.core.schema import ColumnSchema, Schema, is_number
from mlops.stages.drift import CategoricalProfile, NumericCounts, NumericProfile, numeric_counts

__all__ = ["KEEP", "MAX_CATEGORIES", "OTHER", "ColumnStats", "FrameStats", "summarize"]

KEEP = 1000  # examples per finding and distinct values tracked per column
MAX_CATEGORIES = 100_000  # category counts kept per column; the rest pooled as OTHER
OTHER = "\x00other"  # the pooled bucket's key: no real category is spelled like this


def _unique_into(kept: list[Any], values: Any) -> None:
    """Append ``values``' unique items not yet in ``kept``, in order, up to :data:`KEEP`."""
    if len(kept) >= KEEP:
        return
    seen = set(kept)
    for value in pd.unique(np.asarray(values, dtype=object) if not hasattr(values, "dtype")
                           else values):
        if value not in seen:
            kept.append(value)
            seen.add(value)
            if len(kept) >= KEEP:
                return


def _add_counts(a: pd.Series | None, b: pd.Series | None) -> pd.Series | None:
    """Sum two count series (index: value); beyond :data:`MAX_CATEGORIES`, pool the rarest."""
    if a is None or b is None:
        return a if b is None else b
    total = a.add(b, fill_value=0).astype(np.int64)
    if len(total) > MAX_CATEGORIES:
        ranked = total.sort_values(ascending=False, kind="stable")
        pooled = int(ranked.iloc[MAX_CATEGORIES - 1:].sum())
        total = pd.concat([ranked.iloc[:MAX_CATEGORIES - 1], pd.Series({OTHER: pooled})])
    return total


@dataclass
class ColumnStats:
    """The mergeable statistics of one column (see the module docstring)."""

    name: str
    rows: int = 0
    missing: int = 0
    text: bool = False  # a numeric column that (in some chunk) is stored as text
    rules: Counter[str] = field(default_factory=Counter)  # the cell checker's rule counts
    examples: dict[str, list[Any]] = field(default_factory=dict)  # finding -> unique values
    distinct: int = 0
    distinct_values: set[Any] | None = field(default_factory=set)  # None: more than KEEP
    # numeric, among present numbers that break no rule but a hard bound
    present: int = 0
    valid: int = 0
    lo: float = math.inf
    hi: float = -math.inf
    outside: int = 0  # outside the reference [min, max]
    far: int = 0  # beyond it by more than its spread
    flipped: int = 0  # of a sign the reference never had
    # categorical
    values: int = 0  # non-null cells
    not_allowed: pd.Series | None = None  # value (as text) -> count, not among `allowed`
    unseen: pd.Series | None = None  # value (as text) -> count, not among the categories
    counts: pd.Series | None = None  # raw value -> count: drift, labels
    hist: NumericCounts | None = None  # drift: counts on the reference profile's edges

    @property
    def distinct_exact(self) -> bool:
        """True when :attr:`distinct` is the exact number of distinct values."""
        return self.distinct_values is not None

    def merge(self, other: ColumnStats) -> ColumnStats:
        """The statistics of this column's rows followed by ``other``'s."""
        out = ColumnStats(self.name)
        out.rows, out.missing = self.rows + other.rows, self.missing + other.missing
        out.text = self.text or other.text
        out.rules = self.rules + other.rules
        for key in {*self.examples, *other.examples}:
            kept = list(self.examples.get(key, []))
            _unique_into(kept, other.examples.get(key, []))
            out.examples[key] = kept
        if self.distinct_values is not None and other.distinct_values is not None:
            union = self.distinct_values | other.distinct_values
            out.distinct_values = union if len(union) <= KEEP else None
            out.distinct = len(union)
        else:
            out.distinct_values = None
            out.distinct = max(self.distinct, other.distinct)
        out.present, out.valid = self.present + other.present, self.valid + other.valid
        out.lo, out.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        out.outside, out.far = self.outside + other.outside, self.far + other.far
        out.flipped = self.flipped + other.flipped
        out.values = self.values + other.values
        out.not_allowed = _add_counts(self.not_allowed, other.not_allowed)
        out.unseen = _add_counts(self.unseen, other.unseen)
        out.counts = _add_counts(self.counts, other.counts)
        out.hist = (self.hist if other.hist is None else other.hist if self.hist is None
                    else self.hist + other.hist)
        return out


@dataclass
class FrameStats:
    """The mergeable statistics of a frame: its rows, its columns and theirs."""

    rows: int
    columns: list[str]  # in the order of the frame
    stats: dict[str, ColumnStats]  # schema columns present in the frame

    def merge(self, other: FrameStats) -> FrameStats:
        """The statistics of this frame's rows followed by ``other``'s (same columns)."""
        if other.columns != self.columns:
            raise ValueError(f"chunks disagree on their columns: {self.columns} then "
                             f"{other.columns}")
        return FrameStats(self.rows + other.rows, self.columns,
                          {k: v.merge(other.stats[k]) for k, v in self.stats.items()})


def _examples(stats: ColumnStats, key: str, values: Any) -> None:
    if len(values):
        _unique_into(stats.examples.setdefault(key, []), values)


def _numeric(stats: ColumnStats, series: pd.Series, spec: ColumnSchema, target: bool) -> None:
    """Rule counts and range findings of a numeric column (see ``ColumnChecker.numeric_values``)."""
    # Numbers stored as text are parsed, so only the cells that are not numbers fail.
    stored_as_text = not is_number(series)
    cells = check_column(series, spec, text=stored_as_text
                         and not pd.api.types.is_bool_dtype(series))
    # The checker's one-byte codes, not a string per row.
    codes = cells.codes
    found = np.bincount(codes, minlength=len(RULES))
    stats.rules.update({RULES[i]: int(n) for i, n in enumerate(found) if i and n})
    if stored_as_text:
        stats.text = True
        _examples(stats, "type", series[codes == RULES.index("type")])
        return
    _examples(stats, "whole", series[codes == RULES.index("whole")])
    numbers = series.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(numbers)
    stats.present += int(present.sum())
    hard = codes == RULES.index("hard_bound")
    _examples(stats, "hard_bound", numbers[hard])
    if spec.min is None or spec.max is None or target:
        return
    values = numbers[((codes == 0) | hard) & present]
    if not values.size:
        return
    stats.valid += values.size
    stats.lo, stats.hi = min(stats.lo, float(values.min())), max(stats.hi, float(values.max()))
    stats.outside += int(((values < spec.min) | (values > spec.max)).sum())
    spread = (spec.max - spec.min) or max(abs(spec.min), abs(spec.max), 1.0)
    far = (values < spec.min - spread) | (values > spec.max + spread)
    stats.far += int(far.sum())
    _examples(stats, "far", values[far])
    if spec.min >= 0 or spec.max <= 0:
        flipped = values < 0 if spec.min >= 0 else values > 0
        stats.flipped += int(flipped.sum())
        _examples(stats, "flipped", values[flipped])


def _categorical(stats: ColumnStats, series: pd.Series, spec: ColumnSchema) -> None:
    """Values outside ``allowed`` and unseen categories, counted by their text."""
    present = series.dropna()
    stats.values += len(present)
    if not len(present):
        return
    text = present.astype(str)
    if spec.allowed is not None:
        stats.not_allowed = text[~text.isin(spec.allowed)].value_counts(sort=False)
    if spec.categories is not None:
        stats.unseen = text[~text.isin(spec.categories)].value_counts(sort=False)


def summarize(frame: pd.DataFrame, schema: Schema,
              profiles: Mapping[str, NumericProfile | CategoricalProfile] | None = None
              ) -> FrameStats:
    """The statistics of ``frame`` (a whole data set or one chunk of it).

    ``profiles`` (the reference's drift profiles) add a histogram on the reference's edges
    for numeric columns and the value counts for categorical ones.
    """
    profiles = profiles or {}
    out = FrameStats(len(frame), [str(c) for c in frame.columns], {})
    for spec in schema.columns:
        if spec.name not in frame.columns:
            continue
        series = frame[spec.name]
        stats = ColumnStats(spec.name, rows=len(series), missing=int(series.isna().sum()))
        distinct = series.dropna().unique()
        stats.distinct = len(distinct)
        stats.distinct_values = set(distinct.tolist()) if len(distinct) <= KEEP else None
        is_target = spec.name == schema.target
        if spec.numeric:
            _numeric(stats, series, spec, is_target)
        else:
            _categorical(stats, series, spec)
        profile = profiles.get(spec.name)
        if isinstance(profile, NumericProfile) and not stats.text:
            stats.hist = numeric_counts(profile, series)
        # A regression target is profiled like a numeric column (its histogram above):
        # counting its values would keep one entry per distinct number. Its counts are
        # kept only to check them against labels that the schema lists.
        if isinstance(profile, CategoricalProfile) or (is_target and (
                schema.classification or not spec.numeric or bool(schema.labels))):
            counts = series.value_counts(dropna=True, sort=False)
            stats.counts = _add_counts(counts.astype(np.int64), None)
        out.stats[spec.name] = stats
    return out
