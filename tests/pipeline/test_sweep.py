"""``mlops sweep``: parameter sets as full runs on a local Dask cluster; the best registered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.cli.main import main
from mlops.core.exceptions import ConfigError, GateFailedError
from mlops.pipeline.sweep import _best, load_grid, run_sweep
from mlops.registry.local import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"


def test_grid_file_takes_lists_and_mappings_and_names_a_bad_set(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("sets:\n  - [model.estimator=random_forest, seed=7]\n"
                    "  - {model.estimator: logistic_regression, "
                    "model.hyperparameters.logistic_regression.C: 0.1}\n", encoding="utf-8")
    assert load_grid(grid) == [
        ["model.estimator=random_forest", "seed=7"],
        ['model.estimator="logistic_regression"',
         "model.hyperparameters.logistic_regression.C=0.1"]]
    grid.write_text("sets:\n  - [seed=1]\n  - seed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="set 2 must be"):
        load_grid(grid)
    grid.write_text("runs: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="under 'sets:'"):
        load_grid(grid)


def test_best_run_is_lower_is_better_aware_and_ignores_failed_gates():
    def run(i, value, passed=True, lower=False):
        return {"run_id": str(i), "status": "succeeded", "passed": passed, "value": value,
                "lower_is_better": lower, "failed_gates": []}

    assert _best([run(1, 0.7), run(2, 0.9, passed=False), run(3, 0.8)])["run_id"] == "3"
    assert _best([run(1, 0.20, lower=True), run(2, 0.10, lower=True)])["run_id"] == "2"
    assert _best([run(1, 0.8), run(2, 0.8)])["run_id"] == "1"  # a tie: the earlier set
    assert _best([run(1, 0.9, passed=False)]) is None


@pytest.mark.slow
def test_sweep_on_a_local_cluster_registers_the_best_passing_run_as_candidate(tmp_path):
    registry, runs = tmp_path / "registry", tmp_path / "runs"
    common = [f"registry.path={registry}", "evaluation.bootstrap_samples=20"]
    grid = [
        ["model.hyperparameters.logistic_regression.C=1.0"],
        # a better model by the primary metric might come from here, but a gate fails
        ["model.estimator=random_forest", "evaluation.gates.min_accuracy=0.99"],
    ]
    result = run_sweep(PARAMS, grid, overrides=common, runs_dir=runs, engine="local",
                       workers=2, progress=lambda line: None)
    assert result.workers == 2
    # a failed gate stops the run (the evaluate stage raises) but its evaluation is read
    assert [r["status"] for r in result.runs] == ["succeeded", "failed"]
    assert "GateFailedError" in result.runs[1]["error"]
    assert [r["passed"] for r in result.runs] == [True, False]
    assert result.runs[1]["failed_gates"] == ["min_accuracy"]
    assert result.best["run_id"] == result.runs[0]["run_id"]
    assert result.best["metric"] == "roc_auc" and result.best["value"] > 0.7

    # every run has its own folder and evidence: the manifest, the executed notebooks
    for r in result.runs:
        folder = Path(r["run_dir"])
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["status"] == r["status"] and manifest["overrides"][-len(
            grid[result.runs.index(r)]):] == grid[result.runs.index(r)]
        assert all((folder / s["notebook"]).is_file() for s in manifest["stages"].values())
    # the best is a candidate, never production, even in an empty registry
    reg = LocalRegistry(registry)
    assert reg.aliases("credit-risk") == {"candidate": 1}
    version = reg.get("credit-risk", 1)
    assert version.metadata["lineage"]["run_id"] == result.best["run_id"]
    assert {"sweep.json", "manifest.json", "02_train.ipynb"} <= set(version.files)
    summary = json.loads(reg.file_path("credit-risk", 1, "sweep.json").read_text())
    assert [r["run_id"] for r in summary["runs"]] == [r["run_id"] for r in result.runs]
    assert json.loads((result.folder / "sweep.json").read_text())["registry"]["version"] == 1


@pytest.mark.slow
def test_sweep_where_no_run_passes_registers_nothing_and_fails(tmp_path, capsys):
    registry, runs = tmp_path / "registry", tmp_path / "runs"
    grid = tmp_path / "grid.yaml"
    grid.write_text("sets:\n  - [evaluation.gates.min_accuracy=0.99]\n", encoding="utf-8")
    code = main(["sweep", "--grid", str(grid), "--workers", "1", "--runs-dir", str(runs),
                 "--params", str(PARAMS), "--set", f"registry.path={registry}",
                 "--set", "evaluation.bootstrap_samples=20"])
    assert code == GateFailedError.exit_code
    err = capsys.readouterr().err
    assert "none of 1 runs passed every gate" in err and "['min_accuracy']" in err
    assert not registry.exists() or LocalRegistry(registry).models() == []
    (summary,) = runs.glob("sweep-*/sweep.json")
    assert json.loads(summary.read_text())["best"] is None
