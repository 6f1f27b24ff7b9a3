"""The verdicts of the data gate: graded check records, the report, and how they read.

A :class:`CheckResult` is one check on one column (or the data set): what it observed,
both thresholds and the grade. A :class:`ValidationReport` collects them, says whether
anything blocks, and renders them as a summary, a table or JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops.core.config import CHECK_UNITS
from mlops.core.exceptions import DataValidationError

if TYPE_CHECKING:
    from mlops.stages.drift import DriftResult

__all__ = ["CheckResult", "ValidationReport", "format_value", "plain_value", "show_examples",
           "show_share", "unit_of"]

_SHOWN = 5  # example values quoted in a message


def unit_of(check: str, rule: str) -> str:
    """The unit of a check's observed value: share, count, psi or score."""
    if rule.startswith("min_"):  # minimums: rows, classes, rows per class, class share
        return "share" if rule.endswith("_share") else "count"
    return CHECK_UNITS.get(check, "count")


def format_value(value: Any, unit: str) -> str:
    """``value`` for people: shares as percentages, effects with 3 decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if unit == "share":
        return f"{value:.2%}" if value < 0.1 else f"{value:.1%}"
    if unit in ("psi", "score"):
        return f"{value:.3f}"
    return f"{value:g}"


@dataclass(frozen=True)
class CheckResult:
    """One check on one column (``column`` is None for data-set checks).

    ``observed`` is graded against ``warn`` and ``block``: above ``block`` gives grade
    ``block``, above ``warn`` gives ``warn`` (rules named ``min_*`` are minimums: below
    ``block`` blocks). A threshold of None never gives that grade.
    """

    check: str
    column: str | None
    rule: str
    observed: Any
    warn: Any
    block: Any
    grade: str  # pass, warn or block
    message: str = ""

    @property
    def passed(self) -> bool:
        """True when the grade is ``pass``."""
        return self.grade == "pass"

    @property
    def unit(self) -> str:
        """What ``observed`` measures: share, count, psi or score."""
        return unit_of(self.check, self.rule)

    def describe(self) -> str:
        """Short form for summaries, e.g. ``range(age) 4.50% > block 2.00%``."""
        name = f"{self.check}({self.column})" if self.column else self.check
        cmp = "<" if self.rule.startswith("min_") else ">"
        limit = self.block if self.grade == "block" else self.warn
        if limit is None or self.grade == "pass":
            return f"{name} {self.rule}"
        return (f"{name} {format_value(self.observed, self.unit)} {cmp} {self.grade} "
                f"{format_value(limit, self.unit)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-friendly), with ``passed``."""
        return {**asdict(self), "passed": self.passed}


@dataclass(frozen=True)
class ValidationReport:
    """All check results; ``passed`` is False when any check graded ``block``."""

    results: tuple[CheckResult, ...]
    drift: DriftResult | None = None
    source: str = ""
    purpose: str = ""

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """Checks graded ``block``."""
        return tuple(r for r in self.results if r.grade == "block")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        """Checks graded ``warn``."""
        return tuple(r for r in self.results if r.grade == "warn")

    @property
    def passed(self) -> bool:
        """True when no check blocks."""
        return not self.failures

    @property
    def grade(self) -> str:
        """The verdict: ``block``, ``warn`` or ``pass``."""
        return "block" if self.failures else "warn" if self.warnings else "pass"

    def summary(self) -> str:
        """One-line verdict with each finding's observed value and the threshold it crossed.

        For example ``validation FAILED for b.csv (batch): 60 checks, 1 blocking, 1 warning;
        blocking: far_range(age) 4.50% > block 0.10%; warnings: ...``.
        """
        def names(items: tuple[CheckResult, ...]) -> str:
            shown = [r.describe() for r in items[:6]]
            return ", ".join(shown) + (", ..." if len(items) > 6 else "")

        head = f"validation {'PASSED' if self.passed else 'FAILED'}"
        if self.source:
            head += f" for {self.source}"
        if self.purpose:
            head += f" ({self.purpose})"
        n_warn = len(self.warnings)
        text = (f"{head}: {len(self.results)} checks, {len(self.failures)} blocking, "
                f"{n_warn} warning{'' if n_warn == 1 else 's'}")
        if self.failures:
            text += f"; blocking: {names(self.failures)}"
        if self.warnings:
            text += f"; warnings: {names(self.warnings)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: verdict, summary, every check, and drift details."""
        return {
            "passed": self.passed,
            "grade": self.grade,
            "summary": self.summary(),
            "source": self.source,
            "purpose": self.purpose,
            "checks": [r.to_dict() for r in self.results],
            "drift": self.drift.to_dict() if self.drift is not None else None,
        }

    def to_frame(self, *, failed_only: bool = False, readable: bool = False) -> pd.DataFrame:
        """A table, one row per check: observed value, both thresholds and the grade.

        ``failed_only`` keeps warnings and blocks; ``readable`` formats the numbers
        (shares as percentages) and writes minimums as ``< x``.
        """
        fields = ["check", "column", "rule", "observed", "warn", "block", "grade", "message"]
        rows = []
        for r in self.results:
            if failed_only and r.passed:
                continue
            row = {f: getattr(r, f) for f in fields}
            if readable:
                cmp = "<" if r.rule.startswith("min_") else ">"
                row["observed"] = format_value(r.observed, r.unit)
                for key in ("warn", "block"):
                    value = getattr(r, key)
                    row[key] = "-" if value is None else f"{cmp} {format_value(value, r.unit)}"
            rows.append(row)
        return pd.DataFrame(rows, columns=fields)

    def extend(self, results: Iterable[CheckResult]) -> ValidationReport:
        """A new report with ``results`` added (for example from ``check_features``)."""
        return ValidationReport(self.results + tuple(results), self.drift, self.source,
                                self.purpose)

    def merge(self, other: ValidationReport) -> ValidationReport:
        """Results of both; drift details of ``other`` when it has them."""
        return ValidationReport(self.results + other.results, other.drift or self.drift,
                                self.source or other.source, self.purpose or other.purpose)

    def raise_for_failures(self) -> None:
        """Raise :class:`DataValidationError` listing blocking checks, if any."""
        if self.passed:
            return
        lines = "; ".join(r.message for r in self.failures[:10])
        raise DataValidationError(
            f"{self.source or 'data'}: {len(self.failures)} blocking validation check(s): "
            f"{lines}. Fix the data, or change validation.thresholds in params.yaml",
            file=self.source or None, rule=self.failures[0].rule,
            column=self.failures[0].column,
        )


def plain_value(value: Any) -> Any:
    """numpy scalars -> Python, NaN -> None: keeps records JSON-friendly."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def show_examples(values: Iterable[Any]) -> str:
    items = list(values)
    shown = ", ".join(repr(plain_value(v)) for v in items[:_SHOWN])
    return shown + (f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else "")


def show_share(share: float) -> str:
    return format_value(share, "share")
