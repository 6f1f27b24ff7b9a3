"""The rollback and abort rules of ``mlops.serving.rules``, each breached, passed and unjudged.

Every frame here is a real prediction log: records written through ``PredictionLog``,
labels through ``add_feedback``, read back with ``read_predictions``, the way the monitor
and the canary analysis read it.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pandas as pd
import pytest

from mlops.core.config import MonitoringConfig
from mlops.serving.predlog import LogRecord, PredictionLog, read_predictions
from mlops.serving.rules import (
    breaches,
    check_rules,
    production_refusals,
    version_stats,
)

MODEL = "credit-risk"
CFG = MonitoringConfig(
    log_path="unused.sqlite", min_labelled=50, accuracy_floor=0.65, max_accuracy_drop=0.05,
    significance=0.05, max_error_rate=0.02, max_p99_latency_ms=250, cooldown_seconds=600,
    min_samples=100,
)


def traffic(version: int | None, requests: int, *, errors: int = 0, labelled: int = 0,
            correct: int = 0, latency_ms: float = 10.0, slow: int = 0, slow_ms: float = 1000.0,
            role: str = "primary", start: float = 1000.0) -> list[tuple[LogRecord, int | None]]:
    """``requests`` log records of ``version``, each with the label fed back (or None).

    The first ``errors`` requests failed. Of the others, the first ``labelled`` get a label,
    ``correct`` of them equal to the prediction (1); the last ``slow`` took ``slow_ms``.
    """
    assert errors + labelled <= requests and correct <= labelled and slow <= requests - errors
    out = []
    for i in range(requests):
        failed, j = i < errors, i - errors
        latency = slow_ms if i >= requests - slow else latency_ms
        record = LogRecord(
            request_id=uuid.uuid4().hex, ts=start + i * 0.1, model=MODEL, version=version,
            role=role, routing_key=f"user-{i}", inputs=json.dumps({"age": 30}),
            proba=None if failed else 0.8, prediction=None if failed else 1,
            latency_ms=latency, error="ValueError: boom" if failed else None)
        label = None if failed or j >= labelled else (1 if j < correct else 0)
        out.append((record, label))
    return out


def logged(path: Path, *groups: list[tuple[LogRecord, int | None]]) -> pd.DataFrame:
    """Write ``groups`` to a prediction log at ``path`` and read it back as the monitor does."""
    with PredictionLog(path) as log:
        for record, _ in (item for group in groups for item in group):
            log.log(record)
        log.flush()
        log.add_feedback({r.request_id: label for group in groups for r, label in group
                          if label is not None}, source="test", trusted=True)
    return read_predictions(path, model=MODEL)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "predictions.sqlite"


def rule(frame: pd.DataFrame, name: str, version: int = 2, reference: int | None = None):
    """The result of rule ``name`` for ``version`` (against ``reference``) on ``frame``."""
    ref = version_stats(frame, reference) if reference is not None else None
    results = {r.rule: r for r in check_rules(version_stats(frame, version), ref, CFG)}
    assert set(results) == {"error_rate", "p99_latency_ms", "accuracy_floor", "accuracy_drop"}
    return results[name]


# ------------------------------------------------------------------ version_stats
def test_stats_count_only_primary_rows_of_the_version(log_path: Path) -> None:
    frame = logged(log_path,
                   traffic(2, 40, errors=4, labelled=30, correct=24, slow=1),
                   traffic(2, 25, role="shadow", labelled=0),  # scored off the user's path
                   traffic(1, 60, errors=30, labelled=10, correct=0))
    assert set(frame.columns) >= {"version", "role", "error", "latency_ms", "label",
                                  "prediction", "ts"}
    s = version_stats(frame, 2)
    assert (s.requests, s.errors, s.labelled, s.correct) == (40, 4, 30, 24)
    assert s.error_rate == pytest.approx(0.1) and s.accuracy == pytest.approx(0.8)
    assert s.p50_ms == pytest.approx(10.0) and s.p99_ms > s.p95_ms  # one slow request
    nothing = version_stats(frame, None)
    assert (nothing.requests, nothing.error_rate, nothing.accuracy, nothing.p99_ms) == (
        0, 0.0, None, None)


# ------------------------------------------------------------------ error rate
def test_error_rate_breaches_above_the_limit(log_path: Path) -> None:
    result = rule(logged(log_path, traffic(2, 200, errors=10)), "error_rate")
    assert result.status == "breach"
    assert result.observed == pytest.approx(0.05) and result.threshold == 0.02
    assert "10 errors in 200 requests" in result.detail


def test_error_rate_at_the_limit_is_ok(log_path: Path) -> None:
    result = rule(logged(log_path, traffic(2, 200, errors=4)), "error_rate")
    assert result.status == "ok" and result.observed == pytest.approx(0.02)


def test_error_rate_is_not_judged_on_too_few_requests(log_path: Path) -> None:
    # Half the requests failed, but 99 requests are fewer than min_samples (100).
    result = rule(logged(log_path, traffic(2, 99, errors=50)), "error_rate")
    assert result.status == "insufficient"
    assert "99 requests < min_samples 100" in result.detail


def refused(requests: int, *, start: float) -> list[tuple[LogRecord, int | None]]:
    """``requests`` refused before routing, as the router logs them: no version."""
    return [(dataclasses.replace(r, latency_ms=None, error="RequestError: field 'age' is '3_5'"),
             label) for r, label in traffic(None, requests, errors=requests, start=start)]


def test_refused_requests_count_against_production_while_it_serves(log_path: Path) -> None:
    frame = logged(log_path,
                   traffic(1, 50, start=1000.0), refused(5, start=1002.0),  # v1's time
                   traffic(2, 150, start=2000.0), refused(10, start=2001.0))  # v2's time
    assert production_refusals(frame, 2) == 10  # not v1's five, nor anything for None
    assert production_refusals(frame, None) == 0
    # A running canary's candidate shares production's time: all fifteen came under v1.
    assert production_refusals(frame, 1, canary=2) == 15
    stats = version_stats(frame, 2, refused=production_refusals(frame, 2))
    assert (stats.requests, stats.errors, stats.refused) == (160, 10, 10)
    results = {r.rule: r for r in check_rules(stats, None, CFG)}
    assert results["error_rate"].status == "breach"  # on refusals alone: v2 never failed
    assert results["error_rate"].detail == ("10 errors in 160 requests "
                                            "(10 refused before routing)")
    assert results["p99_latency_ms"].detail == "p99 over 150 requests"  # only timed ones
    assert version_stats(frame, 2).error_rate == 0.0  # routed traffic alone: no refusal


# ------------------------------------------------------------------ p99 latency
def test_p99_latency_breaches_when_the_slowest_percent_is_slow(log_path: Path) -> None:
    result = rule(logged(log_path, traffic(2, 200, slow=5)), "p99_latency_ms")
    assert result.status == "breach" and result.observed > 250


def test_p99_latency_ignores_one_slow_request_in_two_hundred(log_path: Path) -> None:
    result = rule(logged(log_path, traffic(2, 200, slow=1)), "p99_latency_ms")
    assert result.status == "ok" and result.observed == pytest.approx(10.0)


def test_p99_latency_counts_only_successful_requests(log_path: Path) -> None:
    # 150 requests, but only 90 succeeded and were timed: fewer than min_samples.
    result = rule(logged(log_path, traffic(2, 150, errors=60, slow=50)), "p99_latency_ms")
    assert result.status == "insufficient"
    assert "90 timed requests" in result.detail


# ------------------------------------------------------------------ accuracy floor
def test_accuracy_floor_breaches_when_the_data_reject_it(log_path: Path) -> None:
    result = rule(logged(log_path, traffic(2, 100, labelled=100, correct=50)), "accuracy_floor")
    assert result.status == "breach"
    assert result.observed == pytest.approx(0.5) and result.p_value < CFG.significance


def test_accuracy_floor_holds_a_point_estimate_below_it_that_is_not_significant(
        log_path: Path) -> None:
    # 60 % observed under a 65 % floor: one-sided binomial p is about 0.18, not below 0.05.
    result = rule(logged(log_path, traffic(2, 100, labelled=100, correct=60)), "accuracy_floor")
    assert result.observed < result.threshold
    assert result.status == "ok" and result.p_value > CFG.significance


def test_accuracy_floor_is_not_judged_on_too_few_labels(log_path: Path) -> None:
    # Every one of the 49 labels is wrong, but 49 < min_labelled (50).
    result = rule(logged(log_path, traffic(2, 300, labelled=49, correct=0)), "accuracy_floor")
    assert result.status == "insufficient" and result.observed == 0.0
    assert "49 labelled < min_labelled 50" in result.detail


# ------------------------------------------------------------------ accuracy drop
def test_accuracy_drop_breaches_against_the_previous_version(log_path: Path) -> None:
    frame = logged(log_path, traffic(1, 100, labelled=100, correct=90),
                   traffic(2, 100, labelled=100, correct=70))
    result = rule(frame, "accuracy_drop", version=2, reference=1)
    assert result.status == "breach"
    assert result.observed == pytest.approx(0.2) and result.p_value < CFG.significance
    assert "v2 0.700 vs v1 0.900" in result.detail


def test_accuracy_drop_within_the_margin_is_ok(log_path: Path) -> None:
    frame = logged(log_path, traffic(1, 100, labelled=100, correct=80),
                   traffic(2, 100, labelled=100, correct=78))
    result = rule(frame, "accuracy_drop", version=2, reference=1)
    assert result.status == "ok" and result.observed == pytest.approx(0.02)


@pytest.mark.parametrize(("reference_labelled", "current_labelled", "words"), [
    (None, 100, "no previous version"),
    (49, 100, "v1 49; need 50 each"),
    (100, 49, "v2 49"),
])
def test_accuracy_drop_is_not_judged_without_enough_labels_on_both_sides(
        log_path: Path, reference_labelled: int | None, current_labelled: int,
        words: str) -> None:
    groups = [traffic(2, 100, labelled=current_labelled, correct=0)]  # as bad as it gets
    if reference_labelled is not None:
        groups.append(traffic(1, 100, labelled=reference_labelled,
                              correct=reference_labelled))
    frame = logged(log_path, *groups)
    result = rule(frame, "accuracy_drop", version=2,
                  reference=1 if reference_labelled is not None else None)
    assert result.status == "insufficient" and words in result.detail


# ------------------------------------------------------------------ all rules together
def test_breaches_lists_only_the_breached_rules(log_path: Path) -> None:
    frame = logged(log_path, traffic(1, 200, labelled=100, correct=90),
                   traffic(2, 200, errors=10, labelled=100, correct=50, slow=2))
    results = check_rules(version_stats(frame, 2), version_stats(frame, 1), CFG)
    status = {r.rule: r.status for r in results}
    assert status == {"error_rate": "breach", "p99_latency_ms": "ok",
                      "accuracy_floor": "breach", "accuracy_drop": "breach"}
    assert [r.rule for r in breaches(results)] == ["error_rate", "accuracy_floor",
                                                   "accuracy_drop"]
    assert all(r.to_dict()["status"] == r.status for r in results)
