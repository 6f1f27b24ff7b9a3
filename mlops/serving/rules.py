"""Live statistics of a model version and the rules that trigger a rollback or an abort.

Pure functions over the prediction log (a frame from
:func:`mlops.serving.predlog.read_predictions`).
Each rule ends ``ok``, ``breach`` or ``insufficient`` (too few samples to judge), so that a
handful of unlucky requests never moves production: accuracy rules use a one-sided test at
``monitoring.significance`` rather than a bare point estimate.

Live quality depends on the task. Classification: accuracy, against ``accuracy_floor``
(binomial test) and against the version before (``max_accuracy_drop``, z-test).
Regression: the mean absolute error (MAE), against the version's own held-out MAE from
its evaluation (``mae_ceiling``) and against the version before (``mae_rise``), each
allowed to rise by ``max_mae_rise`` (a share); both are one-sided tests on the absolute
errors (a t-test, and Welch's z-test for the comparison).

:func:`early_warning` judges an estimate of quality made before labels arrive (CBPE, see
:mod:`mlops.monitoring.cbpe`). Its verdict is ``alert``, never ``breach``: an estimate
that rests on the model's own calibration may warn an operator but never moves
production (:func:`breaches` ignores it).

What counts as evidence: ROUTED predictions only (role ``primary``: production or the
canary answered; never ``pinned`` predictions of a version a visitor chose to try, nor
``shadow`` scores), and TRUSTED labels only (the ``label`` column of the log holds labels
from the operator or ``mlops feedback``; anonymous feedback is kept apart).
:func:`evidence` says what a decision used, for its ledger entry.

Refused requests (role ``primary``, no version: the schema check turned them away before
routing) are requests the service failed to answer, so production's error rate counts
them (:func:`production_refusals`, ``version_stats(..., refused=n)``): a release that
refuses what its callers send breaks the error-rate rule like one that crashes. A canary's
candidate is judged without them: routing comes after the check, so a refusal says
nothing about the version it would have gone to.
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
           "correct", "early_warning", "evidence", "held_out_metric", "production_refusals",
           "routed"]


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
    accuracy: float | None  # None for regression
    regression: bool = False
    mae: float | None = None  # regression: mean absolute error on labelled predictions
    abs_error_sd: float | None = None  # its sample standard deviation (for the tests)
    refused: int = 0  # of ``requests`` and ``errors``: refused before routing

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class RuleResult:
    """The verdict of one rule on one version."""

    rule: str
    status: str  # ok, breach or insufficient; alert for an early warning (never acts)
    observed: float | None
    threshold: float | None  # None: nothing to compare with (for example no held-out MAE)
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


def correct(rows: pd.DataFrame) -> np.ndarray:
    """Per labelled row, whether the prediction is the label (classes of any kind: text,
    integers, booleans; both sides come from the log, so they are stored alike)."""
    return rows["label"].to_numpy(dtype=object) == rows["prediction"].to_numpy(dtype=object)


def production_refusals(frame: pd.DataFrame, production: int | None, *,
                        canary: int | None = None) -> int:
    """How many requests were refused before routing while ``production`` was production.

    A refusal names no version, so it goes to the version that was production when it
    came, as the log shows it: every refusal after the last request routed to another
    version. ``canary`` (the candidate of a running canary) shares production's time
    and does not end it.
    """
    if production is None:
        return 0
    primary = frame[frame["role"] == "primary"]
    refused = primary[primary["version"].isna() & primary["error"].notna()]
    others = primary[primary["version"].notna()
                     & ~primary["version"].isin([v for v in (production, canary)
                                                 if v is not None])]
    if len(others):
        refused = refused[refused["ts"] > others["ts"].max()]
    return len(refused)


def version_stats(frame: pd.DataFrame, version: int | None, *,
                  regression: bool = False, refused: int = 0) -> VersionStats:
    """Request count, error rate, latency percentiles and live quality of ``version``:
    accuracy, or MAE with ``regression``.

    Routed predictions and trusted labels only (see the module docstring); ``refused``
    requests (:func:`production_refusals`) count as requests and errors too.
    """
    rows = routed(frame, version)
    failed = rows["error"].notna()
    n, errors = len(rows) + refused, int(failed.sum()) + refused
    ok = rows[~failed]
    lat = ok["latency_ms"].to_numpy(dtype=float)
    p50, p95, p99 = (np.percentile(lat, [50, 95, 99]).tolist() if len(lat)
                     else (None, None, None))
    labelled = ok[ok["label"].notna() & ok["prediction"].notna()]
    base = dict(version=version, requests=n, errors=errors,
                error_rate=errors / n if n else 0.0, p50_ms=p50, p95_ms=p95,
                p99_ms=p99, labelled=len(labelled), refused=refused)
    if regression:
        errors = np.abs(labelled["label"].to_numpy(dtype=float)
                        - labelled["prediction"].to_numpy(dtype=float))
        return VersionStats(**base, correct=0, accuracy=None, regression=True,
                            mae=float(errors.mean()) if len(errors) else None,
                            abs_error_sd=float(errors.std(ddof=1)) if len(errors) > 1 else None)
    hits = int(correct(labelled).sum())
    return VersionStats(**base, correct=hits,
                        accuracy=hits / len(labelled) if len(labelled) else None)


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
                cfg: MonitoringConfig, *, held_out_mae: float | None = None
                ) -> list[RuleResult]:
    """Apply every rollback rule of ``cfg`` to ``current`` (``reference``: the version before).

    For regression, ``held_out_mae`` is ``current``'s MAE on its held-out evaluation set
    (:func:`held_out_metric`); without it the ``mae_ceiling`` rule is insufficient.
    """
    results = [_error_rate(current, cfg), _latency(current, cfg)]
    if current.regression:
        return [*results, _mae_ceiling(current, held_out_mae, cfg),
                _mae_rise(current, reference, cfg)]
    return [*results, _floor(current, cfg), _drop(current, reference, cfg)]


def held_out_metric(registry: Any, name: str, version: int | None,
                    metric: str = "mae") -> float | None:
    """``metric`` of ``version`` on its held-out set, as its evaluation recorded it."""
    if version is None:
        return None
    try:
        value = (registry.get(name, version).metadata.get("metrics") or {}).get(metric)
    except Exception:  # a version without a record: the rule says it cannot judge
        return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def early_warning(estimate: float | None, upper: float | None, n: int, *,
                  reference: float | None, cfg: MonitoringConfig,
                  metric: str = "accuracy") -> RuleResult:
    """Alert when estimated ``metric`` (before labels, with the interval's ``upper`` end)
    is surely below what the rules would accept: ``accuracy_floor``, or ``reference``
    (the held-out value) minus ``max_accuracy_drop``.

    Status ``alert`` or ``ok`` (``insufficient`` below ``min_samples`` rows); never
    ``breach``, so it never rolls back or aborts anything on its own.
    """
    limit = cfg.accuracy_floor if reference is None else \
        max(cfg.accuracy_floor, reference - cfg.max_accuracy_drop)
    rule = f"estimated_{metric}"
    if estimate is None or upper is None or n < cfg.min_samples:
        return RuleResult(rule, "insufficient", estimate, limit,
                          f"{n} unlabelled predictions < min_samples {cfg.min_samples}")
    status = "alert" if upper < limit else "ok"
    return RuleResult(rule, status, estimate, limit,
                      f"estimate {estimate:.3f} (upper {upper:.3f}) over {n} predictions; "
                      "an early warning: it alerts, it never rolls back")


def breaches(results: list[RuleResult]) -> list[RuleResult]:
    """The rules that were breached."""
    return [r for r in results if r.status == "breach"]


def _error_rate(s: VersionStats, cfg: MonitoringConfig) -> RuleResult:
    if s.requests < cfg.min_samples:
        return RuleResult("error_rate", "insufficient", s.error_rate, cfg.max_error_rate,
                          f"{s.requests} requests < min_samples {cfg.min_samples}")
    status = "breach" if s.error_rate > cfg.max_error_rate else "ok"
    refused = f" ({s.refused} refused before routing)" if s.refused else ""
    return RuleResult("error_rate", status, s.error_rate, cfg.max_error_rate,
                      f"{s.errors} errors in {s.requests} requests{refused}")


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


def _mae_ceiling(s: VersionStats, held_out: float | None, cfg: MonitoringConfig) -> RuleResult:
    limit = None if held_out is None else held_out * (1 + cfg.max_mae_rise)
    if limit is None:
        return RuleResult("mae_ceiling", "insufficient", s.mae, None,
                          f"v{s.version} has no held-out MAE recorded")
    if s.labelled < cfg.min_labelled or s.mae is None:
        return RuleResult("mae_ceiling", "insufficient", s.mae, limit,
                          f"{s.labelled} labelled < min_labelled {cfg.min_labelled}")
    # H0: live MAE <= held-out MAE * (1 + max_mae_rise); one-sided t-test on |error|.
    se = (s.abs_error_sd or 0.0) / math.sqrt(s.labelled)
    p = float(stats.t.sf((s.mae - limit) / se, s.labelled - 1)) if se > 0 else \
        float(s.mae <= limit)
    status = "breach" if p < cfg.significance else "ok"
    return RuleResult("mae_ceiling", status, s.mae, limit,
                      f"MAE {s.mae:.4g} over {s.labelled} labelled vs held-out {held_out:.4g} "
                      f"+{cfg.max_mae_rise:.0%}; one-sided t-test on absolute errors", p)


def _mae_rise(s: VersionStats, ref: VersionStats | None, cfg: MonitoringConfig) -> RuleResult:
    rise = cfg.max_mae_rise
    if ref is None or ref.version is None:
        return RuleResult("mae_rise", "insufficient", None, rise,
                          "no previous version to compare with")
    if s.labelled < cfg.min_labelled or ref.labelled < cfg.min_labelled \
            or s.mae is None or ref.mae is None:
        return RuleResult("mae_rise", "insufficient", None, rise,
                          f"labelled: v{s.version} {s.labelled}, v{ref.version} "
                          f"{ref.labelled}; need {cfg.min_labelled} each")
    # H0: MAE_current <= (1 + rise) * MAE_reference; Welch's z-test on the absolute errors.
    var = (s.abs_error_sd or 0.0) ** 2 / s.labelled \
        + (1 + rise) ** 2 * (ref.abs_error_sd or 0.0) ** 2 / ref.labelled
    se = math.sqrt(var) if var > 0 else 1e-9
    p = float(stats.norm.sf((s.mae - (1 + rise) * ref.mae) / se))
    observed = s.mae / ref.mae - 1 if ref.mae > 0 else math.inf
    status = "breach" if p < cfg.significance else "ok"
    return RuleResult("mae_rise", status, observed, rise,
                      f"v{s.version} MAE {s.mae:.4g} vs v{ref.version} {ref.mae:.4g} "
                      f"({s.labelled}/{ref.labelled} labelled); one-sided Welch z-test", p)
