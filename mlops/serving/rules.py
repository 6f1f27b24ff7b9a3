"""Live statistics of a model version and the rules that trigger a rollback or an abort.

Pure functions over the prediction log (a frame from
:func:`mlops.serving.predlog.read_predictions`).
Each rule ends ``ok``, ``breach`` or ``insufficient`` (too few samples to judge), so that a
handful of unlucky requests never moves production: accuracy rules use a one-sided test at
``monitoring.significance`` rather than a bare point estimate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlops.core.config import MonitoringConfig

__all__ = ["VersionStats", "RuleResult", "version_stats", "check_rules", "breaches"]


@dataclass(frozen=True)
class VersionStats:
    """What the log says about one version (primary predictions only)."""

    version: int | None
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    labelled: int
    correct: int
    accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class RuleResult:
    """The verdict of one rule on one version."""

    rule: str
    status: str  # ok, breach or insufficient
    observed: float | None
    threshold: float
    detail: str
    p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def version_stats(frame: pd.DataFrame, version: int | None) -> VersionStats:
    """Request count, error rate, latency percentiles and live accuracy of ``version``."""
    rows = frame[(frame["role"] == "primary") & (frame["version"] == version)] \
        if version is not None else frame.iloc[0:0]
    n = len(rows)
    failed = rows["error"].notna()
    ok = rows[~failed]
    lat = ok["latency_ms"].to_numpy(dtype=float)
    p50, p95, p99 = (np.percentile(lat, [50, 95, 99]).tolist() if len(lat)
                     else (None, None, None))
    labelled = ok[ok["label"].notna()]
    correct = int((labelled["label"].astype(int) == labelled["prediction"].astype(int)).sum())
    return VersionStats(
        version=version, requests=n, errors=int(failed.sum()),
        error_rate=float(failed.mean()) if n else 0.0, p50_ms=p50, p95_ms=p95, p99_ms=p99,
        labelled=len(labelled), correct=correct,
        accuracy=correct / len(labelled) if len(labelled) else None,
    )


def check_rules(current: VersionStats, reference: VersionStats | None,
                cfg: MonitoringConfig) -> list[RuleResult]:
    """Apply every rollback rule of ``cfg`` to ``current`` (``reference``: the version before)."""
    results = [_error_rate(current, cfg), _latency(current, cfg), _floor(current, cfg)]
    results.append(_drop(current, reference, cfg))
    return results


def breaches(results: list[RuleResult]) -> list[RuleResult]:
    """The rules that were breached."""
    return [r for r in results if r.status == "breach"]


def _error_rate(s: VersionStats, cfg: MonitoringConfig) -> RuleResult:
    if s.requests < cfg.min_samples:
        return RuleResult("error_rate", "insufficient", s.error_rate, cfg.max_error_rate,
                          f"{s.requests} requests < min_samples {cfg.min_samples}")
    status = "breach" if s.error_rate > cfg.max_error_rate else "ok"
    return RuleResult("error_rate", status, s.error_rate, cfg.max_error_rate,
                      f"{s.errors} errors in {s.requests} requests")


def _latency(s: VersionStats, cfg: MonitoringConfig) -> RuleResult:
    ok = s.requests - s.errors
    if ok < cfg.min_samples or s.p99_ms is None:
        return RuleResult("p99_latency_ms", "insufficient", s.p99_ms, cfg.max_p99_latency_ms,
                          f"{ok} timed requests < min_samples {cfg.min_samples}")
    status = "breach" if s.p99_ms > cfg.max_p99_latency_ms else "ok"
    return RuleResult("p99_latency_ms", status, s.p99_ms, cfg.max_p99_latency_ms,
                      f"p99 over {ok} requests")


def _floor(s: VersionStats, cfg: MonitoringConfig) -> RuleResult:
    if s.labelled < cfg.min_labelled:
        return RuleResult("accuracy_floor", "insufficient", s.accuracy, cfg.accuracy_floor,
                          f"{s.labelled} labelled < min_labelled {cfg.min_labelled}")
    # H0: true accuracy >= floor. Breach only when the data reject it.
    p = float(stats.binomtest(s.correct, s.labelled, cfg.accuracy_floor,
                              alternative="less").pvalue)
    status = "breach" if p < cfg.significance else "ok"
    return RuleResult("accuracy_floor", status, s.accuracy, cfg.accuracy_floor,
                      f"{s.correct}/{s.labelled} correct; one-sided binomial test", p)


def _drop(s: VersionStats, ref: VersionStats | None, cfg: MonitoringConfig) -> RuleResult:
    margin = cfg.max_accuracy_drop
    if ref is None or ref.version is None:
        return RuleResult("accuracy_drop", "insufficient", None, margin,
                          "no previous version to compare with")
    if s.labelled < cfg.min_labelled or ref.labelled < cfg.min_labelled:
        return RuleResult("accuracy_drop", "insufficient", None, margin,
                          f"labelled: v{s.version} {s.labelled}, v{ref.version} "
                          f"{ref.labelled}; need {cfg.min_labelled} each")
    pc, pr = s.correct / s.labelled, ref.correct / ref.labelled
    drop = pr - pc
    # H0: current >= reference - margin; one-sided z-test on the difference of proportions.
    var = pc * (1 - pc) / s.labelled + pr * (1 - pr) / ref.labelled
    se = math.sqrt(var) if var > 0 else 1e-9
    p = float(stats.norm.cdf((pc - (pr - margin)) / se))
    status = "breach" if p < cfg.significance else "ok"
    return RuleResult("accuracy_drop", status, drop, margin,
                      f"v{s.version} {pc:.3f} vs v{ref.version} {pr:.3f} "
                      f"({s.labelled}/{ref.labelled} labelled); one-sided z-test", p)
