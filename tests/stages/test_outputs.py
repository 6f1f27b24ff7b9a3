"""Every evaluation output is written, also when a gate fails, so the report explains why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.core.config import load_params
from mlops.core.data import read_csv, split
from mlops.core.exceptions import GateFailedError
from mlops.stages.evaluation import evaluate
from mlops.stages.gates import raise_on_failed_gates
from mlops.stages.outputs import write_outputs
from mlops.stages.training import train

ROOT = Path(__file__).resolve().parents[2]
FAST = ["evaluation.bootstrap_samples=50"]


@pytest.fixture(scope="module")
def fitted():
    params = load_params(ROOT / "params.yaml", overrides=FAST)
    frame = read_csv(params.resolve(params.data.path))
    train_frame, test_frame = split(frame, params.data.target,
                                    test_size=params.data.test_size, seed=params.seed)
    return train(params, train_frame), test_frame


@pytest.mark.slow
def test_writes_every_output_with_champion(fitted, tmp_path):
    model, test_frame = fitted
    params = load_params(ROOT / "params.yaml", overrides=FAST)
    result = evaluate(model, test_frame, params, champion=model)
    summary = {"passed": True, "summary": "validation PASSED: 12 checks", "checks": []}
    paths = write_outputs(result, model, test_frame, params, tmp_path, validation=summary,
                          run_id="r-1", git_commit="abc")
    for name in ("evaluation.json", "report.md", "README.md", "plots/roc.png"):
        assert (tmp_path / name).is_file(), name
    assert paths["report"] == tmp_path / "report.md"
    assert json.loads((tmp_path / "evaluation.json").read_text())["passed"] is True
    report = (tmp_path / "report.md").read_text("utf-8")
    assert "validation PASSED: 12 checks" in report and "champion_roc_auc" in report


@pytest.mark.slow
def test_failed_gate_still_writes_the_report(fitted, tmp_path):
    model, test_frame = fitted
    params = load_params(ROOT / "params.yaml", overrides=[*FAST, "evaluation.gates.min_f1=0.95"])
    result = evaluate(model, test_frame, params)
    write_outputs(result, model, test_frame, params, tmp_path)
    with pytest.raises(GateFailedError, match="min_f1"):
        raise_on_failed_gates(result)
    assert "❌ fail" in (tmp_path / "report.md").read_text("utf-8")
    assert json.loads((tmp_path / "evaluation.json").read_text())["passed"] is False
