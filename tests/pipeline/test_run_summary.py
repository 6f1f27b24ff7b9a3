"""`mlops run` ends with one block per model: what was registered, gates, the headline metric
against production, the report and the next command."""

from __future__ import annotations

import json

from mlops.pipeline.run_summary import run_summary


def _run(tmp_path, alias, champion):
    (tmp_path / "report.md").write_text("# report\n")
    (tmp_path / "evaluation.json").write_text(json.dumps({
        "gates": [{"passed": True}, {"passed": True}, {"passed": False}],
        "metrics": {"roc_auc": 0.8123}, "metric_labels": {"roc_auc": "ROC-AUC"},
        "champion": None if champion is None else {"metrics": {"roc_auc": champion}}}))
    return {"status": "succeeded", "params": {"evaluation": {"baseline": {"metric": "roc_auc"}}},
            "registry": {"model": "churn", "version": 3, "alias": alias}}


def test_a_candidate_is_compared_with_production_and_points_to_its_release(tmp_path):
    text = run_summary(_run(tmp_path, "candidate", 0.79), tmp_path)
    lines = text.splitlines()
    assert lines[0] == "churn: v3 registered as candidate (gates 2/3 passed)"
    assert lines[1] == "  ROC-AUC 0.812 (production: 0.790)"
    assert "report.md" in lines[2] and lines[3].startswith("  next: mlops deploy start")


def test_a_first_version_and_a_reused_one_say_so(tmp_path):
    first = run_summary(_run(tmp_path, "production", None), tmp_path)
    assert "registered as production" in first and "no production to compare with" in first
    assert "next: make app" in first
    reused = run_summary({"status": "reused", "registry": {"model": "churn", "version": 2}},
                         tmp_path)
    assert reused.startswith("churn: inputs unchanged since v2, which is reused")
