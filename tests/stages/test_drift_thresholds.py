"""DriftThresholds: the six drift settings as one value, read from params.validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlops.core.config import load_params
from mlops.stages.drift import DriftThresholds, detect_drift
from mlops.stages.synthetic import synthetic_frame

ROOT = Path(__file__).resolve().parents[2]
CFG = load_params(ROOT / "params.yaml").validation


def test_from_config_reads_the_validation_thresholds() -> None:
    th = DriftThresholds.from_config(CFG)
    assert (th.alpha, th.min_psi, th.min_js, th.max_drifted_share) == (
        CFG.drift_alpha, CFG.drift_min_psi, CFG.drift_min_js, CFG.max_drifted_share)
    assert th.block_psi is None and th.block_js is None  # monitoring reports, never blocks
    gate = DriftThresholds.from_config(CFG, blocking=True)
    assert (gate.block_psi, gate.block_js) == (CFG.limits("drift_psi").block,
                                               CFG.limits("drift_js").block)


def test_thresholds_grade_the_drift() -> None:
    reference = synthetic_frame(5_000, seed=0)
    current = synthetic_frame(5_000, seed=1, shifted=True)
    warn_only = detect_drift(reference, current, thresholds=DriftThresholds())
    blocking = detect_drift(reference, current,
                            thresholds=dataclasses.replace(DriftThresholds(), block_psi=0.25,
                                                           block_js=0.2))
    assert warn_only.blocked_columns == ()
    assert blocking.blocked_columns  # large planted shifts block once a block threshold is set
    assert set(blocking.drifted_columns) == set(warn_only.drifted_columns)
    strict = detect_drift(reference, current, thresholds=DriftThresholds(max_drifted_share=0.0))
    assert strict.max_drifted_share == 0.0 and strict.dataset_drift
