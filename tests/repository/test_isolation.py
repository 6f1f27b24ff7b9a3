"""The tests run against a registry, prediction log and runs folder of their own.

``tests/conftest.py::project_state`` (and ``notebooks/conftest.py`` for nbval) point
``MLOPS_REGISTRY_PATH``, ``MLOPS_LOG_PATH`` and ``MLOPS_RUNS_DIR`` into a temporary folder
for the whole session, so the working copy's ``registry/`` and ``runs/`` cannot change a
test's outcome (say, a better champion registered by ``make pipeline`` failing the champion
gate of the notebook that the tests run).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mlops.core.config import load_params, runs_dir
from mlops.pipeline.registration import load_champion
from mlops.registry import open_registry
from mlops.registry.local import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"
STATE_VARS = ("MLOPS_REGISTRY_PATH", "MLOPS_LOG_PATH", "MLOPS_RUNS_DIR")


def test_the_session_state_lies_outside_the_working_copy(project_state: Path) -> None:
    assert not project_state.resolve().is_relative_to(ROOT)
    for var in STATE_VARS:
        path = Path(os.environ[var]).resolve()
        assert path.is_relative_to(project_state.resolve()), var
        assert not path.is_relative_to(ROOT), var


def test_the_repository_params_open_the_session_registry_log_and_runs(
        project_state: Path) -> None:
    params = load_params(PARAMS)
    registry = open_registry(params.registry, params.root)
    assert isinstance(registry, LocalRegistry)
    assert registry.root == project_state / "registry"
    assert params.resolve(params.monitoring.log_path) == (
        project_state / "logs" / "predictions.sqlite")
    assert runs_dir("../runs") == project_state / "runs"


def test_an_explicit_override_still_wins_over_the_environment(tmp_path: Path) -> None:
    params = load_params(PARAMS, [f"registry.path={tmp_path / 'mine'}",
                                  "monitoring.log_path=log.sqlite"])
    assert open_registry(params.registry, params.root).root == tmp_path / "mine"
    assert params.resolve(params.monitoring.log_path) == ROOT / "log.sqlite"


def test_without_the_variables_the_params_file_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in STATE_VARS:
        monkeypatch.delenv(var)
    params = load_params(PARAMS)
    assert open_registry(params.registry, params.root).root == ROOT / "registry"
    assert params.monitoring.log_path == "logs/predictions.sqlite"
    assert runs_dir("../runs") == Path("../runs")


def test_a_champion_in_the_projects_own_registry_is_not_what_the_tests_see(
        tmp_path: Path, registry_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A copy of the project whose registry/ holds a production model, as after make pipeline.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(PARAMS, project / "params.yaml")
    shutil.copytree(ROOT / "data", project / "data")
    theirs = LocalRegistry(project / "registry")
    theirs.register("credit-risk", registry_model_dir / "model.skops",
                    metadata={"gates_passed": True, "source": "make pipeline"})
    theirs.promote("credit-risk", 1, "production", expected=None, reason="a better model")

    _, seen = load_champion(load_params(project / "params.yaml"))
    assert seen is None or seen.metadata.get("source") != "make pipeline"

    monkeypatch.delenv("MLOPS_REGISTRY_PATH")  # what the tests saw before the isolation
    _, seen = load_champion(load_params(project / "params.yaml"))
    assert seen is not None and seen.metadata["source"] == "make pipeline"
