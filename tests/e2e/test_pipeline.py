"""`mlops run` end to end: real notebooks through papermill into a run folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mlops.core.config import load_params
from mlops.core.data import read_csv
from mlops.core.exceptions import ConfigError, DataError, DataValidationError
from mlops.core.lineage import file_sha256
from mlops.core.modelio import load_model
from mlops.pipeline.runner import NOTEBOOKS_DIR, STAGES, run_pipeline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"


def run(tmp_path: Path, overrides=(), **kw):
    params = load_params(PARAMS, overrides)
    return run_pipeline(params, params_file=PARAMS, overrides=list(overrides),
                        runs_dir=tmp_path / "runs", register=False, progress=lambda _: None, **kw)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    return run(tmp), run(tmp)


def test_run_leaves_executed_notebooks_results_and_manifest(two_runs):
    result = two_runs[0]
    files = {p.name for p in result.run_dir.iterdir()}
    assert {name for _, name in STAGES} | {"manifest.json", "model.skops", "training.json"} <= files
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert manifest["run_id"] == result.run_id == result.run_dir.name
    assert manifest["data"]["sha256"] == file_sha256(ROOT / "data" / "german.csv")
    assert manifest["seed"] == 42 and manifest["params"]["model"]["estimator"]
    assert set(manifest["git"]) == {"commit", "dirty", "dirty_files"}
    assert manifest["packages"]["scikit-learn"]
    for stage, name in STAGES:
        record = manifest["stages"][stage]
        assert record["status"] == "succeeded" and record["seconds"] > 0
        assert record["sha256"] == file_sha256(result.run_dir / name)
    # The executed notebooks carry the injected parameters, i.e. they are the evidence.
    nb = nbformat.read(result.run_dir / STAGES[0][1], as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and result.run_id in injected[0].source


def test_same_data_params_and_seed_give_identical_results(two_runs):
    first, second = two_runs
    assert first.run_id != second.run_id
    for name in ("training.json", "evaluation.json", "validation.json"):
        assert (first.run_dir / name).read_bytes() == (second.run_dir / name).read_bytes(), name
    frame = read_csv(ROOT / "data" / "german.csv").drop(columns="risk")
    a = load_model(first.run_dir / "model.skops").predict_proba(frame)
    b = load_model(second.run_dir / "model.skops").predict_proba(frame)
    np.testing.assert_array_equal(a, b)


def _notebook(path: Path, *sources: str) -> None:
    from nbformat.v4 import new_code_cell, new_notebook

    parameters = new_code_cell("params_path = ''\noverrides = []\nrun_dir = ''\nrun_id = ''")
    parameters.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[parameters, *(new_code_cell(s) for s in sources)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def test_each_notebook_sees_a_fresh_kernel_though_the_stages_share_one(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "a.ipynb", "import os\nleaked = 1\nos.chdir('/')")
    _notebook(notebooks / "b.ipynb",
              "import os\nassert 'leaked' not in globals()",
              f"assert os.getcwd() == {str(notebooks)!r}, os.getcwd()")
    result = run(tmp_path, notebooks_dir=notebooks, stages=[("a", "a.ipynb"), ("b", "b.ipynb")])
    for name in ("a.ipynb", "b.ipynb"):
        nb = nbformat.read(result.run_dir / name, as_version=4)
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), (name, counts)


def test_failing_stage_names_notebook_and_cell_and_marks_run_failed(tmp_path):
    with pytest.raises(DataError) as info:
        run(tmp_path, ["data.path=missing.csv"])
    message = str(info.value)
    assert "01_validate_data.ipynb" in message and "cell" in message and "missing.csv" in message
    (run_dir,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["stages"]["validate"]["status"] == "failed"
    assert "train" not in manifest["stages"]
    assert not (run_dir / "model.skops").exists()


@pytest.mark.parametrize(("column", "value", "rule"), [
    ("duration", "abc", "dtype"),  # text in a numeric column
    ("risk", "", "missing"),  # a row without its label
])
def test_bad_data_fails_the_validation_gate_before_the_split(tmp_path, column, value, rule):
    frame = read_csv(ROOT / "data" / "german.csv").astype({column: object})
    frame.loc[3, column] = value
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(DataValidationError) as info:
        run(tmp_path, [f"data.path={bad}"])
    assert "01_validate_data.ipynb" in str(info.value) and column in str(info.value)
    (run_dir,) = (tmp_path / "runs").iterdir()
    checks = json.loads((run_dir / "validation.json").read_text())["checks"]
    assert any(c["column"] == column and not c["passed"] for c in checks), rule


def test_unknown_notebook_parameter_is_an_error(tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, notebooks)
    path = notebooks / STAGES[1][1]
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\nlearning_rate = 0.1"
    nbformat.write(nb, path)
    with pytest.raises(ConfigError, match=r"unknown \['learning_rate'\]"):
        run(tmp_path, notebooks_dir=notebooks)


@pytest.mark.parametrize(("override", "key"), [
    ("data.test_size=1.5", "data.test_size"),
    ("evaluation.gates.min_acuracy=0.7", "min_acuracy"),
])
def test_bad_settings_fail_before_any_stage_runs(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key):
        run(tmp_path, [override])
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "manifest.json").read_text())["stages"] == {}


@pytest.mark.parametrize(("override", "key"), [
    ("validation.thresholds.drfit={warn: 0.1}", "validation.thresholds.drfit"),
    ("validation.thresholds.range.warn=0.5", "validation.thresholds.range"),
])
def test_bad_validation_thresholds_fail_when_params_load(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key):
        run(tmp_path, [override])
    assert not (tmp_path / "runs").exists(), "nothing ran, not even a run folder"


def test_cli_exit_code_and_message(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mlops.cli.main", "run", "--params", str(PARAMS), "--no-register",
         "--runs-dir", str(tmp_path), "--set", "data.path=missing.csv"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == DataError.exit_code
    assert "error: stage 'validate' failed in 01_validate_data.ipynb" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "mlops.cli.main", "run", "--params", str(PARAMS),
                          "--set", "model.estimator=svm"], capture_output=True, text=True)
    assert bad.returncode == ConfigError.exit_code
    assert "'model.estimator'" in bad.stderr


def test_run_folders_go_to_mlops_runs_dir_without_a_flag(tmp_path):
    env = {**os.environ, "MLOPS_RUNS_DIR": str(tmp_path / "elsewhere")}
    subprocess.run([sys.executable, "-m", "mlops.cli.main", "run", "--params", str(PARAMS),
                    "--no-register", "--set", "data.path=missing.csv"],
                   capture_output=True, text=True, cwd=tmp_path, env=env)
    (run_dir,) = (tmp_path / "elsewhere").iterdir()
    assert (run_dir / "manifest.json").is_file()
    assert not (tmp_path / "runs").exists()


def test_registers_then_reuses_when_inputs_are_unchanged(tmp_path):
    from mlops.registry import open_registry

    overrides = [f"registry.path={tmp_path / 'registry'}"]
    params = load_params(PARAMS, overrides)
    kw = dict(params_file=PARAMS, overrides=overrides, runs_dir=tmp_path / "runs",
              progress=lambda _: None)
    first = run_pipeline(params, **kw)
    assert first.manifest["registry"] == {"model": "credit-risk", "version": 1,
                                          "alias": "production", "backend": "local"}
    registry = open_registry(params.registry, params.root)
    version = registry.get("credit-risk", 1)
    lineage = version.metadata["lineage"]
    assert lineage["fingerprint"] == first.manifest["fingerprint"]
    assert lineage["run_id"] == first.run_id and lineage["data_sha256"]
    assert set(lineage["notebooks"]) == {name for _, name in STAGES}
    assert version.gates_passed and version.metadata["validation"]["passed"]
    assert registry.file_path("credit-risk", 1, "README.md").is_file()
    # The estimate's calibrator is stored with the version, its hash recorded and checked.
    calibration = json.loads(registry.read_verified("credit-risk", 1, "calibration.json"))
    assert calibration["method"] == "sigmoid" and calibration["trusted"]
    assert "## Calibration" in registry.file_path("credit-risk", 1, "README.md").read_text()
    # The evidence travels with the version, and `registry show --evidence` fetches it.
    evidence = {"manifest.json", *(name for _, name in STAGES)}
    assert evidence <= set(version.files)
    from mlops.cli.main import main

    out = tmp_path / "evidence"
    assert main(["registry", "show", "credit-risk", "1", "--evidence", str(out),
                 "--params", str(PARAMS), *[a for o in overrides for a in ("--set", o)]]) == 0
    for name in evidence:
        assert (out / name).read_bytes() == (first.run_dir / name).read_bytes() or (
            name == "manifest.json")
    stored = json.loads((out / "manifest.json").read_text())
    assert stored["run_id"] == first.run_id and set(stored["stages"]) == {
        stage for stage, _ in STAGES}

    again = run_pipeline(params, **kw)
    assert again.status == "reused" and again.manifest["registry"]["version"] == 1
    assert not (again.run_dir / "model.skops").exists()
    forced = run_pipeline(params, force=True, **kw)
    assert forced.manifest["registry"]["alias"] == "candidate"
    assert [e.to_version for e in registry.history("credit-risk")] == [1, 2]
