"""The validation gate's checks of one data set's statistics: schema conformance,
per-column anomalies (missing, constant, range, categories) and data-set checks (rows,
labels, training minimums, duplicates, leakage), each graded against ``params.yaml``.

The drift checks are :mod:`mlops.stages.drift_checks`; :mod:`mlops.stages.validation`
runs them all.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.config import ValidationConfig
from mlops.core.schema import ColumnSchema, Schema
from mlops.stages.colstats import FrameStats
from mlops.stages.leakage import single_feature_scores
from mlops.stages.validation_report import (
    CheckResult,
    format_value,
    plain_value,
    show_examples,
    show_share,
    unit_of,
)

__all__ = ["ColumnChecker", "label_key"]


class ColumnChecker:
    """Accumulates graded results for one data set's statistics; one method per check.

    ``frame`` is the data itself when it is in memory (duplicates and leakage need it),
    None for a chunked read. Checks only grade; :meth:`results` writes the messages once,
    after every check ran.
    """

    def __init__(self, stats: FrameStats, schema: Schema, cfg: ValidationConfig,
                 source: str, purpose: str = "batch", frame: pd.DataFrame | None = None
                 ) -> None:
        self.stats, self.schema, self.cfg, self.purpose = stats, schema, cfg, purpose
        self.frame = frame
        self.where = source or "data"
        # (check, column, rule, observed, warn, block, grade, message): graded, unformatted
        self._records: list[tuple[str, str | None, str, Any, Any, Any, str, str]] = []
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
        self.record(check, column, rule, observed, limits.warn, limits.block, grade,
                     message)

    def minimum(self, check: str, column: str | None, rule: str, observed: float,
                minimum: float, message: str) -> None:
        """A record that blocks when ``observed`` is below ``minimum`` (rules ``min_*``)."""
        grade = "block" if observed < minimum else "pass"
        self.record(check, column, rule, plain_value(observed), None, plain_value(minimum),
                     grade, message)

    def record(self, check: str, column: str | None, rule: str, observed: Any, warn: Any,
               block: Any, grade: str, message: str) -> None:
        """A graded record as it is: no formatting while the checks run."""
        self._records.append((check, column, rule, observed, warn, block, grade, message))

    def results(self) -> tuple[CheckResult, ...]:
        """Every record as a :class:`CheckResult`, a failing one's message naming its
        threshold; the values are formatted here, once."""
        out = []
        for check, column, rule, observed, warn, block, grade, message in self._records:
            if grade != "pass":
                unit = unit_of(check, rule)
                cmp = "below" if rule.startswith("min_") else "above"
                limit = block if grade == "block" else warn
                message += (f" [{grade}]" if limit is None
                            else f" [{grade}: {cmp} {format_value(limit, unit)}]")
            out.append(CheckResult(check, column, rule, observed, warn, block, grade,
                                   f"{self.where}: {message}"))
        return tuple(out)

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

    def label_counts(self) -> pd.Series | None:
        """The target's value counts (label -> count), or None when it is absent.

        Empty for a numeric (regression) target: it is profiled like a numeric column.
        """
        target = self.schema.target
        if target is None or target not in self.stats.stats:
            return None
        counts = self.stats.stats[target].counts
        return pd.Series(dtype=np.int64) if counts is None else counts

    def labels(self) -> None:
        counts = self.label_counts()
        if counts is None:
            return
        target, st = self.schema.target, self.stats.stats[self.schema.target]
        n_missing = st.missing
        self.add("labels", target, "no_missing_labels", n_missing / st.rows,
                 f"target {target!r} has {n_missing} missing label(s)")
        if not self.schema.labels:
            return
        known = {label_key(v) for v in self.schema.labels}
        unknown = counts[[label_key(v) not in known for v in counts.index]]
        n_present = int(counts.sum())
        share = int(unknown.sum()) / n_present if n_present else 0.0
        self.add("labels", target, "known_labels", share,
                 f"target {target!r} has {int(unknown.sum())} label(s) outside the known set "
                 f"{list(self.schema.labels)}"
                 + (f": {show_examples(unknown.index)}" if len(unknown) else ""))

    def training(self) -> None:
        """Training data only, all blocking: enough labels, classes and rows per class."""
        target, cfg = self.schema.target, self.cfg.training
        counts = self.label_counts()
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


def label_key(value: Any) -> str:
    """Compare labels across dtypes: 1, 1.0 and '1' are the same label."""
    value = plain_value(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
