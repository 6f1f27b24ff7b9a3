"""Live statistics of a model version and the rules that trigger a rollback or an abort.

Pure functions over the prediction log (a frame from
:func:`mlops.serving.predlog.read_predictions`).
Each rule ends ``ok``, ``breach`` or ``insufficient`` (too few samples to judge), so that a
handful of unlucky requests never moves production: accuracy rules use a one-sided test at
``monitoring.significance`` rather than a bare point estimate.

What counts as evidence: ROUTED predictions only (role ``primary``: production or the
canary answered; never ``pinned`` predictions of a version a visitor chose to try, nor
``shadow`` scores), and TRUSTED labels only (the ``label`` column of the log holds labels
from the operator or ``mlops feedback``; anonymous feedback is kept apart).
:func:`evidence` says what a decision used, for its ledger entry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlops.core.config import MonitoringConfig

__all__ = ["Evidence", "VersionStats", "RuleResult", "version_stats", "check_rules", "breaches",
           "evidence", "routed"]


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


def routed(frame: pd.DataFrame, version: int | None) -> pd.DataFrame:
    """The routed (role ``primary``) predictions of ``version``: the only traffic that counts."""
    if version is None:
        return frame.iloc[0:0]
    return frame[(frame["role"] == "primary") & (frame["version"] == version)]


def version_stats(frame: pd.DataFrame, version: int | None) -> VersionStats:
    """Request count, error rate, latency percentiles and live accuracy of ``version``.

    Routed predictions and trusted labels only (see the module docstring).
    """
    rows = routed(frame, version)
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


@dataclass(frozen=True)
class Evidence:
    """What a decision about ``version`` rests on, and what it left out on purpose."""

    version: int | None
    routed_requests: int
    trusted_labels: int
    label_sources: dict[str, int]  # trusted source -> labels used
    untrusted_labels: int  # on routed predictions; shown, never used
    pinned_requests: int  # "try this version" predictions; never traffic

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)

    @property
    def text(self) -> str:
        """One line for a ledger reason."""
        sources = ", ".join(f"{s} ({n})" for s, n in sorted(self.label_sources.items()))
        return (f"v{self.version}: routed requests={self.routed_requests}, trusted labels="
                f"{self.trusted_labels} from {sources or 'no source'}; not used: "
                f"{self.untrusted_labels} untrusted labels, {self.pinned_requests} pinned "
                "predictions")


def evidence(frame: pd.DataFrame, version: int | None) -> Evidence:
    """The evidence :func:`version_stats` uses for ``version``, with its label sources."""
    rows = routed(frame, version)
    ok = rows[rows["error"].isna()]
    trusted = ok[ok["label"].notna()]
    sources = trusted["label_source"].fillna("unknown") if "label_source" in frame \
        else pd.Series("unknown", index=trusted.index)
    untrusted = int(ok["feedback_label"].notna().sum()) - len(trusted) \
        if "feedback_label" in frame else 0
    pinned = int(((frame["role"] == "pinned") & (frame["version"] == version)).sum()) \
        if version is not None else 0
    return Evidence(version, len(rows), len(trusted),
                    {str(k): int(v) for k, v in sources.value_counts().items()},
                    untrusted, pinned)


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
