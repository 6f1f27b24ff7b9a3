"""``mlops reproduce``: a registered version is rebuilt from git and compared byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.core.exceptions import ConfigError
from mlops.pipeline.reproduce import champion_at_registration, reproduce
from mlops.registry.local import LocalRegistry

ROOT = Path(__file__).resolve().parent.parent


def _mlops(project: Path, *args: str) -> subprocess.CompletedProcess:
    """The project's own CLI, as a fork runs it: its package first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return subprocess.run([sys.executable, "-m", "mlops.cli.main", *args], cwd=project,
                          env={**env, "PYTHONPATH": str(project)}, capture_output=True,
                          text=True, timeout=900)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   cwd=repo, check=True, capture_output=True)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A committed copy of this project: package, notebooks, data, params, lock."""
    proj = tmp_path / "project"
    for name in ("mlops", "notebooks", "data"):
        shutil.copytree(ROOT / name, proj / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("params.yaml", "requirements.lock", "pyproject.toml"):
        shutil.copy2(ROOT / name, proj / name)
    (proj / ".gitignore").write_text("registry/\nruns/\n")
    _git(proj, "init", "-q")
    _git(proj, "add", ".")
    _git(proj, "commit", "-q", "-m", "init")
    return proj


def _publish(registry: LocalRegistry, model: Path, lineage: dict) -> int:
    mv, _ = registry.publish("m", model, metadata={"lineage": lineage, "gates_passed": True},
                             reason="test")
    return mv.version


def test_champion_is_production_when_the_version_was_registered(tmp_path: Path) -> None:
    model = tmp_path / "m.skops"
    model.write_bytes(b"not a real model")
    reg = LocalRegistry(tmp_path / "registry")
    first = reg.resolve("m", _publish(reg, model, {}))
    second = reg.resolve("m", _publish(reg, model, {}))
    reg.promote("m", 2, "production", expected=1, reason="release v2")
    third = reg.resolve("m", _publish(reg, model, {}))
    assert champion_at_registration(reg, first) is None
    assert champion_at_registration(reg, second) == 1
    assert champion_at_registration(reg, third) == 2


def test_refuses_a_version_built_from_uncommitted_inputs(tmp_path: Path) -> None:
    model = tmp_path / "m.skops"
    model.write_bytes(b"x")
    reg = LocalRegistry(tmp_path / "registry")
    _publish(reg, model, {"git_commit": "a" * 40, "git_dirty": True,
                          "git_dirty_files": ["params-local.yaml"]})
    with pytest.raises(ConfigError, match="params-local.yaml"):
        reproduce(reg, "m", 1, project=tmp_path)


def test_refuses_other_package_versions_and_prints_how_to_match(tmp_path: Path) -> None:
    model = tmp_path / "m.skops"
    model.write_bytes(b"x")
    reg = LocalRegistry(tmp_path / "registry")
    _publish(reg, model, {"git_commit": "b" * 40, "git_dirty": False, "python": "3.11.7",
                          "packages": {"scikit-learn": "0.0.1"}})
    with pytest.raises(ConfigError, match=r"scikit-learn 0\.0\.1") as info:
        reproduce(reg, "m", 1, project=tmp_path)
    assert f"git show {'b' * 40}:requirements.lock" in info.value.message


@pytest.mark.slow
def test_an_old_version_is_rebuilt_byte_for_byte_after_the_data_changed(
        project: Path, tmp_path: Path) -> None:
    runs = ["--runs-dir", str(tmp_path / "runs")]
    first = _mlops(project, "run", "--require-clean", *runs)
    assert first.returncode == 0, first.stderr
    # v2 is compared with v1, production when it was registered.
    second = _mlops(project, "run", "--force", "--set",
                    "model.hyperparameters.logistic_regression.C=0.5", *runs)
    assert second.returncode == 0, second.stderr
    # The working data moves on: newer rows, committed.
    csv = project / "data" / "german.csv"
    lines = csv.read_text().splitlines(True)
    csv.write_text("".join(lines[:-100]))
    _git(project, "commit", "-q", "-am", "newer data")
    for version in ("1", "2"):
        again = _mlops(project, "reproduce", "credit-risk", version)
        assert again.returncode == 0, again.stderr + again.stdout
        assert "DIFFERS" not in again.stdout and "missing" not in again.stdout
        for name in ("model.skops", "evaluation.json", "report.md", "README.md"):
            assert f"identical  {name}" in again.stdout
