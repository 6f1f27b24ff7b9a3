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

import difflib
import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops.core.config import CHECK_UNITS, ValidationConfig
from mlops.core.exceptions import DataError
from mlops.core.schema import ColumnSchema, Schema
from mlops.stages.colstats import FrameStats, summarize
from mlops.stages.drift import (
    CategoricalProfile,
    DriftResult,
    NumericProfile,
    compare_counts,
    label_drift_counts,
    label_drift_numeric,
    profile_reference,
)
from mlops.stages.leakage import single_feature_scores
from mlops.stages.verdicts import (
    CheckResult,
    ValidationReport,
    format_value,
    plain_value,
    show_examples,
    show_share,
    unit_of,
)

__all__ = ["CHECKS", "PURPOSES", "validate", "validate_chunks", "check_drift"]

# Graded checks (thresholds in params), then the fixed minimums: ``rows`` (too few rows to
# judge) and ``training`` (classes of training data), whose records always block.
CHECKS = (*CHECK_UNITS, "rows", "training")
PURPOSES = ("batch", "training")
Purpose = Literal["batch", "training"]


class _Checker:
    """Accumulates graded results for one data set's statistics; one method per check.

    ``frame`` is the data itself when it is in memory (duplicates and leakage need it),
    None for a chunked read.
    """

    def __init__(self, stats: FrameStats, schema: Schema, cfg: ValidationConfig,
                 source: str, purpose: str = "batch", frame: pd.DataFrame | None = None
                 ) -> None:
        self.stats, self.schema, self.cfg, self.purpose = stats, schema, cfg, purpose
        self.frame = frame
        self.where = source or "data"
        self.results: list[CheckResult] = []
        self.bad_dtype: set[str] = {c for c, st in stats.stats.items() if st.text}

    def on(self, check: str) -> bool:
        return self.cfg.on(check)

    def add(self, check: str, column: str | None, rule: str, observed: Any, message: str,
            *, grade: str | None = None) -> None:
        """A graded record of ``check``; ``grade`` overrides the thresholds' verdict."""
        limits = self.cfg.limits(check)
        if limits.off:
            return
        observed = plain_value(observed)
        if grade is None:
            grade = limits.grade(observed)
        self._append(check, column, rule, observed, limits.warn, limits.block, grade,
                     message)

    def minimum(self, check: str, column: str | None, rule: str, observed: float,
                minimum: float, message: str) -> None:
        """A record that blocks when ``observed`` is below ``minimum`` (rules ``min_*``)."""
        grade = "block" if observed < minimum else "pass"
        self._append(check, column, rule, plain_value(observed), None, plain_value(minimum),
                     grade, message)

    def _append(self, check: str, column: str | None, rule: str, observed: Any, warn: Any,
                block: Any, grade: str, message: str) -> None:
        if grade != "pass":
            unit = unit_of(check, rule)
            cmp = "below" if rule.startswith("min_") else "above"
            limit = block if grade == "block" else warn
            message += (f" [{grade}]" if limit is None
                        else f" [{grade}: {cmp} {format_value(limit, unit)}]")
        self.results.append(CheckResult(check, column, rule, observed, warn, block, grade,
                                        f"{self.where}: {message}"))

    # -- schema conformance -------------------------------------------------------------
    def columns(self, require_target: bool) -> None:
        present = list(self.stats.columns)
        expected = list(self.schema.names)
        optional = {c.name for c in self.schema.columns if c.optional}
        if not require_target and self.schema.target is not None:
            optional.add(self.schema.target)
        missing = [c for c in expected if c not in present and c not in optional]
        extra = [c for c in present if c not in self.schema.by_name]
        for col in missing:
            close = difflib.get_close_matches(col, extra, n=1, cutoff=0.6)
            hint = (f"; was it renamed to {close[0]!r}?" if close
                    else "; add it or re-infer the schema with `mlops schema infer`")
            self.add("schema", col, "column_present", 1, f"column {col!r} is missing{hint}")
        for col in extra:
            self.add("schema", col, "no_extra_columns", 1,
                     f"column {col!r} is not in the schema; drop it or re-infer the schema")
        if not missing and not extra:
            self.add("schema", None, "columns_match", 0,
                     f"all {len(present)} columns match the schema")

    def dtype(self, spec: ColumnSchema) -> None:
        st = self.stats.stats[spec.name]
        if not spec.numeric:
            self.add("schema", spec.name, "dtype", 0, f"column {spec.name!r} is {spec.kind}")
            return
        if st.text:
            n_bad, bad = st.rules["type"], st.examples.get("type", [])
            self.add("schema", spec.name, "dtype", max(n_bad, 1),
                     f"column {spec.name!r} should be {spec.kind} but is stored as text; "
                     f"{n_bad} value(s) are not numbers: {show_examples(bad)}")
            return
        if st.rules["whole"]:
            self.add("schema", spec.name, "dtype", st.rules["whole"],
                     f"column {spec.name!r} should hold whole numbers; found "
                     f"{show_examples(st.examples.get('whole', []))}")
            return
        self.add("schema", spec.name, "dtype", 0, f"column {spec.name!r} is {spec.kind}")

    # -- per-column anomalies -----------------------------------------------------------
    def missing(self, name: str) -> None:
        st = self.stats.stats[name]
        share = st.missing / st.rows if st.rows else math.nan
        self.add("missing", name, "missing_share", share,
                 f"column {name!r} has {show_share(share)} missing values")

    def constant(self, spec: ColumnSchema) -> None:
        st = self.stats.stats[spec.name]
        if st.missing == st.rows:
            self.add("constant", spec.name, "all_null", 1,
                     f"column {spec.name!r} has only missing values")
            return
        varied_in_reference = (spec.numeric and spec.min != spec.max) or (
            spec.categories is not None and len(spec.categories) > 1) or (
            not spec.numeric and spec.categories is None)
        distinct = st.distinct
        constant = distinct <= 1 and varied_in_reference and st.rows >= 2
        shown = distinct if st.distinct_exact else f"at least {distinct}"
        self.add("constant", spec.name, "not_constant", int(constant),
                 f"column {spec.name!r} has {shown} distinct value(s)"
                 + (" but varied in the reference" if constant else ""))

    def numeric_values(self, spec: ColumnSchema) -> None:
        """infinite, hard bounds, and (not for the target) range, far range and sign."""
        st = self.stats.stats[spec.name]
        name = spec.name
        n_present = st.present
        if not n_present:
            return
        if self.on("infinite"):
            n_inf = st.rules["finite"]
            self.add("infinite", name, "finite", n_inf / n_present,
                     f"column {name!r} has {n_inf} infinite value(s)")
        if spec.has_hard_bounds and self.on("hard_bounds"):
            n_hard = st.rules["hard_bound"]
            self.add("hard_bounds", name, "hard_bound", n_hard / n_present,
                     f"column {name!r}: {n_hard} value(s) "
                     f"({show_share(n_hard / n_present)}"
                     f") break the schema's hard bounds ({spec.hard_bounds_text()})"
                     + (f": {show_examples(st.examples.get('hard_bound', []))}"
                        if n_hard else ""))
        if spec.min is None or spec.max is None or name == self.schema.target:
            return  # the labels checks cover the target
        if not st.valid:
            return
        observed = f"(observed [{plain_value(st.lo):g}, {plain_value(st.hi):g}])"
        if self.on("range"):
            share = st.outside / st.valid
            self.add("range", name, "reference_range", share,
                     f"column {name!r}: {show_share(share)} of values outside the reference range "
                     f"[{spec.min:g}, {spec.max:g}] {observed}")
        if self.on("far_range"):
            spread = (spec.max - spec.min) or max(abs(spec.min), abs(spec.max), 1.0)
            low, high = spec.min - spread, spec.max + spread
            share = st.far / st.valid
            self.add("far_range", name, "reference_spread", share,
                     f"column {name!r}: {show_share(share)} of values lie beyond the reference "
                     "range "
                     f"by more than its own spread, outside [{low:g}, {high:g}] {observed}"
                     + (f": {show_examples(st.examples.get('far', []))}" if st.far else ""))
        if self.on("sign") and (spec.min >= 0 or spec.max <= 0):
            negative = spec.min >= 0
            share = st.flipped / st.valid
            never = "negative" if negative else "positive"
            self.add("sign", name, "new_sign", share,
                     f"column {name!r}: {show_share(share)} of values are {never}, which the "
                     f"reference never was"
                     + (f": {show_examples(st.examples.get('flipped', []))}"
                        if st.flipped else ""))

    def categories(self, spec: ColumnSchema) -> None:
        """Unseen categories (graded by share) and values outside ``allowed`` (hard)."""
        st = self.stats.stats[spec.name]
        if not st.values:
            return
        if spec.allowed is not None and self.on("hard_bounds"):
            outside = _by_count(st.not_allowed)
            n_out = int(outside.sum())
            self.add("hard_bounds", spec.name, "hard_bound", n_out / st.values,
                     f"column {spec.name!r}: {n_out} value(s) are not among the "
                     f"schema's allowed values"
                     + (f": {show_examples(outside.index)}" if n_out else ""))
        if spec.categories is None or not self.on("unseen_category"):
            return
        unseen = _by_count(st.unseen)
        share = int(unseen.sum()) / st.values
        self.add("unseen_category", spec.name, "unseen_share", share,
                 f"column {spec.name!r}: {show_share(share)} of values are categories not seen in "
                 f"the reference"
                 + (f": {show_examples(unseen.index)}" if len(unseen) else ""))

    # -- data-set checks ----------------------------------------------------------------
    def rows(self, minimum: int, purpose: str) -> None:
        n = self.stats.rows
        self.minimum("rows", None, "min_rows", n, minimum,
                     f"{n} row(s); a {'training set' if purpose == 'training' else 'batch'} "
                     f"needs at least {minimum} to be judged")

    def duplicates(self) -> None:
        share = float(self.frame.duplicated().mean()) if len(self.frame) else 0.0
        self.add("duplicates", None, "duplicate_share", share,
                 f"{show_share(share)} of rows are exact duplicates")

    def _label_counts(self) -> pd.Series | None:
        """The target's value counts (label -> count), or None when it is absent.

        Empty for a numeric (regression) target: it is profiled like a numeric column.
        """
        target = self.schema.target
        if target is None or target not in self.stats.stats:
            return None
        counts = self.stats.stats[target].counts
        return pd.Series(dtype=np.int64) if counts is None else counts

    def labels(self) -> None:
        counts = self._label_counts()
        if counts is None:
            return
        target, st = self.schema.target, self.stats.stats[self.schema.target]
        n_missing = st.missing
        self.add("labels", target, "no_missing_labels", n_missing / st.rows,
                 f"target {target!r} has {n_missing} missing label(s)")
        if not self.schema.labels:
            return
        known = {_label_key(v) for v in self.schema.labels}
        unknown = counts[[_label_key(v) not in known for v in counts.index]]
        n_present = int(counts.sum())
        share = int(unknown.sum()) / n_present if n_present else 0.0
        self.add("labels", target, "known_labels", share,
                 f"target {target!r} has {int(unknown.sum())} label(s) outside the known set "
                 f"{list(self.schema.labels)}"
                 + (f": {show_examples(unknown.index)}" if len(unknown) else ""))

    def training(self) -> None:
        """Training data only, all blocking: enough labels, classes and rows per class."""
        target, cfg = self.schema.target, self.cfg.training
        counts = self._label_counts()
        if counts is None:
            return
        if not self.schema.classification:
            st = self.stats.stats[target]
            distinct = st.distinct
            self.minimum("training", target, "min_distinct_targets", distinct, 2,
                         f"target {target!r} has {'' if st.distinct_exact else 'at least '}"
                         f"{distinct} distinct value(s)"
                         + ("" if distinct > 1 else "; nothing to learn"))
            return
        # Labels that print the same are one class (as astype(str) made them).
        counts = counts.groupby(counts.index.map(str), sort=False).sum()
        counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
        shown = ", ".join(f"{k}: {v}" for k, v in counts.items())
        what = "only missing labels" if counts.empty else f"{len(counts)} class(es) ({shown})"
        self.minimum("training", target, "min_classes", len(counts), 2,
                     f"target {target!r} has {what}; a classifier needs at least two")
        if len(counts) < 2:
            return
        rarest, n_rare = str(counts.index[-1]), int(counts.iloc[-1])
        self.minimum("training", target, "min_class_rows", n_rare, cfg.min_class_rows,
                     f"target {target!r}: the rarest class {rarest!r} has {n_rare} row(s) "
                     f"(at least {cfg.min_class_rows} needed)")
        share = n_rare / int(counts.sum())
        self.minimum("training", target, "min_class_share", share, cfg.min_class_share,
                     f"target {target!r}: the rarest class {rarest!r} is {show_share(share)} of "
                     f"the labels (at least {show_share(cfg.min_class_share)} needed)")

    def leakage(self, usable: list[str]) -> None:
        """A warning per feature that alone predicts the target almost perfectly."""
        target = self.schema.target
        check = "leakage_auc" if self.schema.classification else "leakage_r2"
        if target is None or target not in self.frame.columns or not self.on(check):
            return
        numeric = [c for c in usable if self.schema.by_name[c].numeric]
        categorical = [c for c in usable if self.schema.by_name[c].categorical]
        scores = single_feature_scores(self.frame, target, numeric=numeric,
                                       categorical=categorical,
                                       classification=self.schema.classification)
        measure = "ROC-AUC" if self.schema.classification else "R²"
        for score in scores:
            self.add(check, score.column, f"single_feature_{score.measure}", score.score,
                     f"column {score.column!r} alone predicts {target!r} with {measure} "
                     f"{score.score:.3f}" + ("; is it a leak (known only after the outcome, "
                                            "or derived from it)?"
                                            if self.cfg.limits(check).grade(score.score)
                                            != "pass" else ""))

    def usable(self) -> list[str]:
        """Serving columns present and numeric where they should be (for drift, leakage)."""
        return [c for c in self.schema.serving_columns if c in self.stats.stats
                and c not in self.bad_dtype]


def _by_count(counts: pd.Series | None) -> pd.Series:
    """Value counts, most frequent first (ties keep their first-seen order)."""
    if counts is None:
        return pd.Series(dtype=np.int64)
    counts = counts[counts > 0]
    return counts.sort_values(ascending=False, kind="stable")


def _label_key(value: Any) -> str:
    """Compare labels across dtypes: 1, 1.0 and '1' are the same label."""
    value = plain_value(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _profiles(schema: Schema, cfg: ValidationConfig, reference: pd.DataFrame,
              columns: Iterable[str]) -> dict[str, NumericProfile | CategoricalProfile]:
    """The reference's drift profiles of the serving columns that ``columns`` has."""
    present = set(columns)
    usable = [c for c in schema.serving_columns if c in present and c in reference.columns]
    numeric = [c for c in usable if schema.by_name[c].numeric and not cfg.limits("drift_psi").off]
    categorical = [c for c in usable if schema.by_name[c].categorical
                   and not cfg.limits("drift_js").off]
    target = schema.target
    if (_numeric_target(schema) and target in present and target in reference.columns
            and cfg.on("label_drift")):
        numeric.append(target)  # summarize then keeps its histogram, not its values
    return profile_reference(reference, numeric=numeric, categorical=categorical)


def _numeric_target(schema: Schema) -> bool:
    """A regression target: numeric and not a handful of class labels."""
    return (schema.target is not None and not schema.classification
            and schema.by_name[schema.target].numeric)


def _drift(checker: _Checker, reference: pd.DataFrame,
           profiles: dict[str, NumericProfile | CategoricalProfile]) -> DriftResult | None:
    cfg, schema, stats = checker.cfg, checker.schema, checker.stats.stats
    psi, js = cfg.limits("drift_psi"), cfg.limits("drift_js")
    usable = set(checker.usable())
    tested = {c: p for c, p in profiles.items() if c in usable}
    current = {c: stats[c].hist if isinstance(p, NumericProfile) else stats[c].counts
               for c, p in tested.items()}
    result = compare_counts(tested, current, alpha=cfg.drift_alpha, min_psi=cfg.drift_min_psi,
                            min_js=cfg.drift_min_js, max_drifted_share=cfg.max_drifted_share,
                            block_psi=psi.block, block_js=js.block)
    for col in result.columns:
        check = "drift_psi" if col.effect_name == "psi" else "drift_js"
        size = "strongly " if col.grade == "block" else ""
        checker.add(
            check, col.column, f"{col.test}+{col.effect_name}", col.effect,
            f"column {col.column!r} {size + 'drifted' if col.drifted else 'is stable'}: "
            f"{col.effect_name}={col.effect:.4f}, {col.test} Holm-adjusted "
            f"p={col.p_adjusted:.2g} (alpha {cfg.drift_alpha})", grade=col.grade)
    if result.columns:
        checker.add("drifted_share", None, "drifted_share", result.drifted_share,
                    f"{len(result.drifted_columns)} of {len(result.columns)} columns drifted"
                    + (f": {', '.join(result.drifted_columns)}" if result.drifted_columns
                       else ""))
    target = schema.target
    if (target and target in stats and target in reference.columns
            and checker.on("label_drift")):
        _label_drift(checker, reference[target], profiles.get(target))
    return result


def _label_drift(checker: _Checker, reference: pd.Series,
                 profile: NumericProfile | CategoricalProfile | None) -> None:
    cfg, target = checker.cfg, str(reference.name)
    limits = cfg.limits("label_drift")
    floor, block = _first_set(limits.warn, limits.block), limits.block
    counts = checker._label_counts()
    if _numeric_target(checker.schema):
        # A regression target: KS and PSI as for numeric columns, on its histogram.
        current = checker.stats.stats[target].hist
        if not isinstance(profile, NumericProfile) or current is None:
            return  # stored as text: the schema check reports it
        lab = label_drift_numeric(profile, current, alpha=cfg.drift_alpha, min_psi=floor,
                                  block_psi=block)
    else:
        lab = label_drift_counts(target, reference.value_counts(dropna=True, sort=False),
                                 counts, alpha=cfg.drift_alpha, min_js=floor, block_js=block)
    checker.add("label_drift", target, "label_drift", lab.effect,
                f"label {target!r} {'drifted' if lab.drifted else 'is stable'}: "
                f"{lab.effect_name}={lab.effect:.4f}, {lab.test} p={lab.p_value:.2g}",
                grade=lab.grade)
    limits = cfg.limits("labels")
    if checker.purpose != "batch" or not checker.schema.classification or limits.off:
        return
    keys = counts[counts > 0].groupby(counts[counts > 0].index.map(_label_key)).sum()
    shares = reference.dropna().map(_label_key).value_counts(normalize=True)
    if len(keys) == 1 and len(shares) > 1:
        # (Training data gets the stricter training/min_classes check instead.)
        # One class in n labelled rows happens by chance with probability sum(p_c ** n).
        n = int(keys.sum())
        chance = float((shares.to_numpy() ** n).sum())
        if chance < cfg.drift_alpha:
            checker._append("labels", target, "min_classes", 1, None, 2, limits.flag(True),
                            f"target {target!r} has a single class "
                            f"({keys.index[0]}) in {n} labelled rows; by chance that "
                            f"happens with probability {chance:.2g}")


def _first_set(*values: float | None) -> float:
    return next((v for v in values if v is not None), math.inf)


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
                else _profiles(schema, cfg, reference, frame.columns))
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
            profiles = _profiles(schema, cfg, reference, chunk.columns)
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
    checker = _Checker(stats, schema, cfg, source, purpose, frame=frame)
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
        drift = _drift(checker, reference, profiles or {})
    return ValidationReport(tuple(checker.results), drift, source, purpose)


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
    profiles = _profiles(schema, cfg, reference, current.columns)
    checker = _Checker(summarize(current, schema, profiles), schema, cfg, source)
    drift = _drift(checker, reference, profiles)
    return ValidationReport(tuple(checker.results), drift, source)
