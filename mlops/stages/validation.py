"""The data validation gate: graded checks of a frame against the schema and reference.

Every check observes a number (a share of rows, a count, an effect size) and grades it
against two thresholds from ``params.yaml`` (``validation.thresholds.<check>``):
``block`` above the block threshold (the run stops, ``mlops validate`` exits 1), ``warn``
above the warn threshold, else ``pass``. One setting thus warns on a little and blocks on
a lot. Results are :class:`CheckResult` records ``{check, column, rule, observed, warn,
block, grade, message}``; :class:`ValidationReport` collects them.

Two purposes (``validate(..., purpose=...)``):

* ``batch``: data to score, checked against the schema and the reference (drift); the
  target may be absent, and label checks run only when it is there. Too few rows to judge
  (``validation.batch.min_rows``) block.
* ``training``: data to train on: the same checks, plus training-only ones that all block
  (rows, classes, rarest class; see ``validation.training``), duplicates, and a warning
  when one feature alone predicts the target almost perfectly (a leak).

The checks grade mergeable statistics (:mod:`mlops.stages.colstats`), never the rows
themselves: :func:`validate` summarises a frame in one piece, :func:`validate_chunks`
merges the summaries of a file's chunks, and both grade the same numbers the same way.
Only duplicates and leaked features need every row at once, so the chunked path skips them.

Nothing here reads files or prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from mlops.core.config import CHECK_UNITS, ValidationConfig
from mlops.core.exceptions import DataError
from mlops.core.schema import Schema
from mlops.stages.colstats import FrameStats, summarize
from mlops.stages.column_checks import ColumnChecker
from mlops.stages.drift import CategoricalProfile, NumericProfile
from mlops.stages.drift_checks import (
    drift_checks,
    frame_counts,
    reference_profiles,
    stats_counts,
)
from mlops.stages.validation_report import ValidationReport

__all__ = ["CHECKS", "PURPOSES", "validate", "validate_chunks", "check_drift"]

# Graded checks (thresholds in params), then the fixed minimums: ``rows`` (too few rows to
# judge) and ``training`` (classes of training data), whose records always block.
CHECKS = (*CHECK_UNITS, "rows", "training")
PURPOSES = ("batch", "training")
Purpose = Literal["batch", "training"]


def validate(
    frame: pd.DataFrame,
    schema: Schema,
    cfg: ValidationConfig,
    *,
    reference: pd.DataFrame | None = None,
    source: str = "",
    purpose: Purpose = "training",
) -> ValidationReport:
    """Grade every enabled check of ``frame`` against ``schema`` (and drift vs ``reference``).

    ``purpose="batch"``: data to score; the target may be missing (label checks run when
    it is there). ``purpose="training"`` (the default): data to train on; the target is
    required and the training checks (rows, classes, duplicates, leakage) run too.
    ``source`` names the data in messages (a file path). Returns the report; call
    ``report.raise_for_failures()`` to stop on blocking checks.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose is {purpose!r}; expected one of {PURPOSES}")
    profiles = (None if reference is None
                else reference_profiles(schema, cfg, reference, frame.columns))
    return _grade(summarize(frame, schema, profiles), schema, cfg, reference, profiles,
                  source, purpose, frame)


def validate_chunks(
    chunks: Iterable[pd.DataFrame],
    schema: Schema,
    cfg: ValidationConfig,
    *,
    reference: pd.DataFrame | None = None,
    source: str = "",
    purpose: Purpose = "batch",
) -> ValidationReport:
    """:func:`validate` a data set given as consecutive chunks, in bounded memory.

    Each chunk is reduced to mergeable statistics (:func:`mlops.stages.colstats.summarize`)
    and dropped, so memory is bounded by a chunk and the reference. The verdicts are those
    of :func:`validate` on the whole frame, except the checks that need every row at once:
    duplicates and leakage (training data) are not run.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose is {purpose!r}; expected one of {PURPOSES}")
    profiles: dict[str, NumericProfile | CategoricalProfile] | None = None
    stats: FrameStats | None = None
    for chunk in chunks:
        if profiles is None and reference is not None:
            profiles = reference_profiles(schema, cfg, reference, chunk.columns)
        part = summarize(chunk, schema, profiles)
        stats = part if stats is None else stats.merge(part)
    if stats is None:
        raise DataError(f"{source or 'data'}: has no rows to validate", file=source or None,
                        rule="non_empty")
    return _grade(stats, schema, cfg, reference, profiles, source, purpose, None)


def _grade(stats: FrameStats, schema: Schema, cfg: ValidationConfig,
           reference: pd.DataFrame | None,
           profiles: dict[str, NumericProfile | CategoricalProfile] | None, source: str,
           purpose: str, frame: pd.DataFrame | None) -> ValidationReport:
    """Every enabled check on ``stats``; ``frame`` (in memory) adds duplicates, leakage."""
    if stats.rows == 0:
        raise DataError(f"{source or 'data'}: has no rows to validate", file=source or None,
                        rule="non_empty")
    training = purpose == "training"
    checker = ColumnChecker(stats, schema, cfg, source, purpose, frame=frame)
    checker.rows(cfg.training.min_rows if training else cfg.batch.min_rows, purpose)
    checker.columns(require_target=training)
    present = [spec for spec in schema.columns if spec.name in stats.stats]
    for spec in present:
        if checker.on("schema"):
            checker.dtype(spec)
    for spec in present:
        if checker.on("missing"):
            checker.missing(spec.name)
        if checker.on("constant"):
            checker.constant(spec)
        if spec.numeric and spec.name not in checker.bad_dtype:
            checker.numeric_values(spec)
        elif not spec.numeric:
            checker.categories(spec)
    if checker.on("labels"):
        checker.labels()
    if training:
        checker.training()
        if frame is not None:
            if checker.on("duplicates"):
                checker.duplicates()
            checker.leakage(checker.usable())
    drift = None
    if reference is not None:
        drift = drift_checks(checker, reference, profiles or {},
                             stats_counts(stats, profiles or {}), checker.label_counts())
    return ValidationReport(checker.results(), drift, source, purpose)


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: Schema,
    cfg: ValidationConfig,
    *,
    source: str = "",
) -> ValidationReport:
    """Only the drift checks of ``current`` against ``reference`` (features and label).

    For the pipeline: ``validate`` the full data set, then ``check_drift(train, test, ...)``
    and ``merge`` the two reports.
    """
    profiles = reference_profiles(schema, cfg, reference, current.columns)
    # Only what the drift tests read is counted: no statistics pass over every column.
    checker = ColumnChecker(FrameStats(len(current), [str(c) for c in current.columns], {}),
                            schema, cfg, source)
    target = schema.target
    labels = (current[target].value_counts(dropna=True, sort=False).astype(np.int64)
              if target is not None and target in current.columns else None)
    drift = drift_checks(checker, reference, profiles, frame_counts(current, profiles), labels)
    return ValidationReport(checker.results(), drift, source)
