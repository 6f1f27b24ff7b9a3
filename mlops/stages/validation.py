"""The data validation gate: checks of an incoming frame against the schema and reference.

Every check gives :class:`CheckResult` records ``{check, column, rule, observed, threshold,
severity, passed, message}``; :class:`ValidationReport` collects them. Severities come from
``params.yaml`` (``validation.severity``): ``blocking`` fails the report, ``warning`` is only
reported, ``off`` skips the check. Nothing here reads files or prints.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from mlops.core.cells import ColumnCheck, check_column
from mlops.core.config import ValidationConfig
from mlops.core.exceptions import ConfigError, DataError, DataValidationError
from mlops.core.schema import ColumnSchema, Schema, is_number
from mlops.stages.drift import DriftResult, detect_drift, label_drift

__all__ = ["CHECKS", "CheckResult", "ValidationReport", "validate", "check_drift",
           "severity_of"]

CHECKS = ("schema", "missing", "constant", "range", "unseen_category", "infinite",
          "duplicates", "labels", "drift", "features")
_SHOWN = 5  # example values quoted in a message


@dataclass(frozen=True)
class CheckResult:
    """One check on one column (``column`` is None for data-set checks)."""

    check: str
    column: str | None
    rule: str
    observed: Any
    threshold: Any
    severity: str
    passed: bool
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-friendly)."""
        return asdict(self)


@dataclass(frozen=True)
class ValidationReport:
    """All check results; ``passed`` is False when any blocking check failed."""

    results: tuple[CheckResult, ...]
    drift: DriftResult | None = None
    source: str = ""

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """Failed blocking checks."""
        return tuple(r for r in self.results if not r.passed and r.severity == "blocking")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        """Failed warning checks."""
        return tuple(r for r in self.results if not r.passed and r.severity == "warning")

    @property
    def passed(self) -> bool:
        """True when no blocking check failed."""
        return not self.failures

    def summary(self) -> str:
        """One-line verdict, e.g. ``validation PASSED: 60 checks, 0 blocking, 2 warnings``."""
        def names(items: tuple[CheckResult, ...]) -> str:
            shown = [f"{r.check}({r.column})" if r.column else r.check for r in items[:6]]
            return ", ".join(shown) + (", ..." if len(items) > 6 else "")

        head = f"validation {'PASSED' if self.passed else 'FAILED'}"
        if self.source:
            head += f" for {self.source}"
        text = (f"{head}: {len(self.results)} checks, {len(self.failures)} blocking "
                f"failures, {len(self.warnings)} warnings")
        if self.failures:
            text += f"; blocking: {names(self.failures)}"
        if self.warnings:
            text += f"; warnings: {names(self.warnings)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: verdict, summary, every check, and drift details."""
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "source": self.source,
            "checks": [r.to_dict() for r in self.results],
            "drift": self.drift.to_dict() if self.drift is not None else None,
        }

    def to_frame(self, *, failed_only: bool = False) -> pd.DataFrame:
        """A readable table, one row per check result."""
        rows = [r.to_dict() for r in self.results if not (failed_only and r.passed)]
        return pd.DataFrame(rows, columns=list(CheckResult.__dataclass_fields__))

    def extend(self, results: Iterable[CheckResult]) -> ValidationReport:
        """A new report with ``results`` added (for example from ``check_features``)."""
        return ValidationReport(self.results + tuple(results), self.drift, self.source)

    def merge(self, other: ValidationReport) -> ValidationReport:
        """Results of both; drift details of ``other`` when it has them."""
        return ValidationReport(self.results + other.results, other.drift or self.drift,
                                self.source or other.source)

    def raise_for_failures(self) -> None:
        """Raise :class:`DataValidationError` listing blocking failures, if any."""
        if self.passed:
            return
        lines = "; ".join(r.message for r in self.failures[:10])
        raise DataValidationError(
            f"{self.source or 'data'}: {len(self.failures)} blocking validation check(s) "
            f"failed: {lines}. Fix the data, or change validation.severity in params.yaml",
            file=self.source or None, rule=self.failures[0].rule,
            column=self.failures[0].column,
        )


def severity_of(cfg: ValidationConfig, check: str) -> str:
    """Severity of ``check`` from the config (``blocking`` when not listed)."""
    unknown = sorted(set(cfg.severity) - set(CHECKS))
    if unknown:
        raise ConfigError(f"validation.severity.{unknown[0]} is not a check; known checks: "
                          f"{', '.join(CHECKS)}", key=f"validation.severity.{unknown[0]}")
    return cfg.severity.get(check, "blocking")


def _num(value: Any) -> Any:
    """numpy scalars -> Python, NaN -> None: keeps records JSON-friendly."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _examples(values: Iterable[Any]) -> str:
    items = list(values)
    shown = ", ".join(repr(_num(v)) for v in items[:_SHOWN])
    return shown + (f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else "")


class _Checker:
    """Accumulates results for one frame; one method per check."""

    def __init__(self, frame: pd.DataFrame, schema: Schema, cfg: ValidationConfig,
                 source: str) -> None:
        self.frame, self.schema, self.cfg = frame, schema, cfg
        self.where = source or "data"
        self.results: list[CheckResult] = []
        self.bad_dtype: set[str] = set()
        self._cells: dict[str, ColumnCheck] = {}

    def cells(self, spec: ColumnSchema) -> ColumnCheck:
        """The one schema-cell checker's verdict on a column, computed once."""
        if spec.name not in self._cells:
            series = self.frame[spec.name]
            # Numbers stored as text are parsed, so only the cells that are not numbers fail.
            as_text = spec.numeric and not is_number(series) and not (
                pd.api.types.is_bool_dtype(series))
            self._cells[spec.name] = check_column(series, spec, text=as_text)
        return self._cells[spec.name]

    def add(self, check: str, column: str | None, rule: str, observed: Any, threshold: Any,
            passed: bool, message: str) -> None:
        severity = severity_of(self.cfg, check)
        if severity != "off":
            self.results.append(CheckResult(check, column, rule, _num(observed),
                                            _num(threshold), severity, bool(passed),
                                            f"{self.where}: {message}"))

    def on(self, check: str) -> bool:
        return severity_of(self.cfg, check) != "off"

    # -- schema conformance -------------------------------------------------------------
    def columns(self, require_target: bool) -> None:
        present = [str(c) for c in self.frame.columns]
        expected = list(self.schema.names)
        optional = set() if require_target or self.schema.target is None else {
            self.schema.target}
        missing = [c for c in expected if c not in present and c not in optional]
        extra = [c for c in present if c not in self.schema.by_name]
        for col in missing:
            close = difflib.get_close_matches(col, extra, n=1, cutoff=0.6)
            hint = (f"; was it renamed to {close[0]!r}?" if close
                    else "; add it or re-infer the schema with `mlops schema infer`")
            self.add("schema", col, "column_present", "missing", "present", False,
                     f"column {col!r} is missing{hint}")
        for col in extra:
            self.add("schema", col, "no_extra_columns", "extra", "absent", False,
                     f"column {col!r} is not in the schema; drop it or re-infer the schema")
        if not missing and not extra:
            self.add("schema", None, "columns_match", len(present), len(expected), True,
                     f"all {len(present)} columns match the schema")

    def dtype(self, spec: ColumnSchema) -> None:
        series = self.frame[spec.name]
        if not spec.numeric:
            self.add("schema", spec.name, "dtype", str(series.dtype), spec.kind, True,
                     f"column {spec.name!r} is {spec.kind}")
            return
        rules = self.cells(spec).rules
        if not is_number(series):
            bad = series[rules == "type"]
            self.bad_dtype.add(spec.name)
            self.add("schema", spec.name, "dtype", str(series.dtype), spec.kind, False,
                     f"column {spec.name!r} should be {spec.kind} but is stored as text; "
                     f"{len(bad)} value(s) are not numbers: {_examples(bad.unique())}")
            return
        fractional = series[rules == "whole"]
        if len(fractional):
            self.add("schema", spec.name, "dtype", "float", "int", False,
                     f"column {spec.name!r} should hold whole numbers; found "
                     f"{_examples(fractional.unique())}")
            return
        self.add("schema", spec.name, "dtype", str(series.dtype), spec.kind, True,
                 f"column {spec.name!r} is {spec.kind}")

    # -- per-column anomalies -----------------------------------------------------------
    def missing(self, name: str) -> None:
        share = float(self.frame[name].isna().mean())
        limit = self.cfg.max_missing_share
        self.add("missing", name, "max_missing_share", share, limit, share <= limit,
                 f"column {name!r} has {share:.1%} missing values (limit {limit:.1%})")

    def constant(self, spec: ColumnSchema) -> None:
        series = self.frame[spec.name]
        if series.isna().all():
            self.add("constant", spec.name, "all_null", 0, 1, False,
                     f"column {spec.name!r} has only missing values")
            return
        varied_in_reference = (spec.numeric and spec.min != spec.max) or (
            spec.categories is not None and len(spec.categories) > 1) or (
            not spec.numeric and spec.categories is None)
        distinct = int(series.nunique(dropna=True))
        ok = distinct > 1 or not varied_in_reference or len(series) < 2
        self.add("constant", spec.name, "not_constant", distinct, 2, ok,
                 f"column {spec.name!r} has {distinct} distinct value(s)")

    def numeric_values(self, spec: ColumnSchema) -> None:
        cells = self.cells(spec)
        series = self.frame[spec.name]
        present = int(series.notna().sum())
        n_inf = int((cells.rules == "finite").sum())
        self.add("infinite", spec.name, "finite", n_inf, 0, n_inf == 0,
                 f"column {spec.name!r} has {n_inf} infinite value(s)")
        if spec.min is None or spec.max is None or not present:
            return
        if spec.name == self.schema.target:  # the labels check covers the target
            return
        n_outside = int(cells.out_of_range.sum())
        share = n_outside / present
        finite = series[(cells.rules == "") & series.notna().to_numpy()]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (None, None)
        self.add("range", spec.name, "within_reference_range", share, 0.0, n_outside == 0,
                 f"column {spec.name!r}: {share:.2%} of values outside the reference range "
                 f"[{_num(spec.min)}, {_num(spec.max)}] (observed [{lo}, {hi}])")

    def unseen(self, spec: ColumnSchema) -> None:
        if spec.categories is None:
            return
        series = self.frame[spec.name]
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            rules = self.cells(spec).rules
            unseen = series[(rules == "unknown_category") | (rules == "type")]
        else:  # numbers or booleans stored in a category column
            unseen = series.dropna()[~series.dropna().astype(str).isin(spec.categories)]
        total = int(series.notna().sum())
        share = len(unseen) / total if total else 0.0
        limit = self.cfg.max_unseen_category_share
        self.add("unseen_category", spec.name, "max_unseen_category_share", share, limit,
                 share <= limit,
                 f"column {spec.name!r}: {share:.2%} of values are categories not seen in "
                 f"the reference (limit {limit:.2%})"
                 + (f": {_examples(unseen.astype(str).value_counts().index)}"
                    if len(unseen) else ""))

    # -- data-set checks ----------------------------------------------------------------
    def duplicates(self) -> None:
        share = float(self.frame.duplicated().mean()) if len(self.frame) else 0.0
        limit = self.cfg.max_duplicate_share
        self.add("duplicates", None, "max_duplicate_share", share, limit, share <= limit,
                 f"{share:.2%} of rows are exact duplicates (limit {limit:.2%})")

    def labels(self) -> None:
        target = self.schema.target
        if target is None or target not in self.frame.columns:
            return
        series = self.frame[target]
        n_missing = int(series.isna().sum())
        self.add("labels", target, "no_missing_labels", n_missing, 0, n_missing == 0,
                 f"target {target!r} has {n_missing} missing label(s)")
        if not self.schema.labels:
            return
        known = {_label_key(v) for v in self.schema.labels}
        values = series.dropna().unique()
        unknown = [v for v in values if _label_key(v) not in known]
        self.add("labels", target, "known_labels", len(unknown), 0, not unknown,
                 f"target {target!r} has {len(unknown)} label(s) outside the known set "
                 f"{list(self.schema.labels)}" + (f": {_examples(unknown)}" if unknown else ""))


def _label_key(value: Any) -> str:
    """Compare labels across dtypes: 1, 1.0 and '1' are the same label."""
    value = _num(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _drift(checker: _Checker, reference: pd.DataFrame, require_target: bool
           ) -> DriftResult | None:
    cfg, schema, frame = checker.cfg, checker.schema, checker.frame
    usable = [c for c in schema.serving_columns if c in frame.columns
              and c in reference.columns and c not in checker.bad_dtype]
    numeric = [c for c in usable if schema.by_name[c].numeric]
    categorical = [c for c in usable if not schema.by_name[c].numeric]
    result = detect_drift(reference, frame, numeric=numeric, categorical=categorical,
                          alpha=cfg.drift_alpha, min_psi=cfg.drift_min_psi,
                          min_js=cfg.drift_min_js, max_drifted_share=cfg.max_drifted_share)
    for col in result.columns:
        checker.add(
            "drift", col.column, f"{col.test}+{col.effect_name}", col.effect, col.effect_floor,
            not col.drifted,
            f"column {col.column!r} {'drifted' if col.drifted else 'is stable'}: "
            f"{col.effect_name}={col.effect:.4f} (floor {col.effect_floor}), {col.test} "
            f"Holm-adjusted p={col.p_adjusted:.2g} (alpha {cfg.drift_alpha})",
        )
    checker.add("drift", None, "max_drifted_share", result.drifted_share,
                cfg.max_drifted_share, not result.dataset_drift,
                f"{len(result.drifted_columns)} of {len(result.columns)} columns drifted "
                f"({result.drifted_share:.0%}, limit {cfg.max_drifted_share:.0%})"
                + (f": {', '.join(result.drifted_columns)}" if result.drifted_columns else ""))
    target = schema.target
    if target and target in frame.columns and target in reference.columns:
        lab = label_drift(reference[target], frame[target], alpha=cfg.drift_alpha,
                          min_js=cfg.drift_min_js)
        checker.add("drift", target, "label_drift", lab.effect, lab.effect_floor,
                    not lab.drifted,
                    f"label {target!r} {'drifted' if lab.drifted else 'is stable'}: "
                    f"js={lab.effect:.4f} (floor {lab.effect_floor}), chi2 p={lab.p_value:.2g}")
    return result


def validate(
    frame: pd.DataFrame,
    schema: Schema,
    cfg: ValidationConfig,
    *,
    reference: pd.DataFrame | None = None,
    source: str = "",
    require_target: bool = True,
) -> ValidationReport:
    """Run every enabled check of ``frame`` against ``schema`` (and drift vs ``reference``).

    ``source`` names the data in messages (a file path). With ``require_target=False`` a
    batch without the target column (a serving batch) is accepted. Returns the report;
    call ``report.raise_for_failures()`` to stop on blocking failures.
    """
    if len(frame) == 0:
        raise DataError(f"{source or 'data'}: has no rows to validate", file=source or None,
                        rule="non_empty")
    checker = _Checker(frame, schema, cfg, source)
    checker.columns(require_target)
    present = [spec for spec in schema.columns if spec.name in frame.columns]
    for spec in present:
        if checker.on("schema"):
            checker.dtype(spec)
        else:  # numeric checks below still need numbers
            if spec.numeric and not pd.api.types.is_numeric_dtype(frame[spec.name]):
                checker.bad_dtype.add(spec.name)
    for spec in present:
        if checker.on("missing"):
            checker.missing(spec.name)
        if checker.on("constant"):
            checker.constant(spec)
        if spec.numeric and spec.name not in checker.bad_dtype:
            checker.numeric_values(spec)
        elif not spec.numeric and checker.on("unseen_category"):
            checker.unseen(spec)
    if checker.on("duplicates"):
        checker.duplicates()
    if checker.on("labels"):
        checker.labels()
    drift = None
    if reference is not None and checker.on("drift"):
        drift = _drift(checker, reference, require_target)
    return ValidationReport(tuple(checker.results), drift, source)


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
    checker = _Checker(current, schema, cfg, source)
    drift = _drift(checker, reference, True) if checker.on("drift") else None
    return ValidationReport(tuple(checker.results), drift, source)
