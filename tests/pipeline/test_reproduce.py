"""``mlops reproduce``: a registered version is rebuilt from git and compared byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.core.exceptions import ConfigError, IntegrityError
from mlops.pipeline.reproduce import champion_at_registration, reproduce
from mlops.registry.local import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]


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
def test_versions_are_rebuilt_byte_for_byte_after_the_data_changed(
        project: Path, tmp_path: Path) -> None:
    runs = ["--runs-dir", str(tmp_path / "runs")]
    first = _mlops(project, "run", "--require-clean", *runs)
    assert first.returncode == 0, first.stderr
    # v2 trains on newer data that git never held: the registry keeps a snapshot of it.
    csv = project / "data" / "german.csv"
    committed = csv.read_bytes()
    lines = committed.splitlines(True)
    csv.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b",27", b",28"))  # a correction
    second = _mlops(project, "run", "--require-clean", *runs)
    assert second.returncode == 0, second.stderr
    # The working data moves on again (back to the committed file).
    csv.write_bytes(committed)
    for version in ("1", "2"):
        again = _mlops(project, "reproduce", "credit-risk", version)
        assert again.returncode == 0, again.stderr + again.stdout
        assert "DIFFERS" not in again.stdout and "missing" not in again.stdout
        for name in ("model.skops", "evaluation.json", "report.md", "README.md"):
            assert f"identical  {name}" in again.stdout
    # One byte of v2's snapshot changed: refused, naming the stored file.
    registry = LocalRegistry(project / "registry")
    where = registry.resolve("credit-risk", 2).metadata["lineage"]["data_snapshot"]["where"]
    blob = project / "registry" / where
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))
    refused = _mlops(project, "reproduce", "credit-risk", "2")
    assert refused.returncode == 4 and where in refused.stderr


def test_the_same_data_is_stored_once_and_a_changed_blob_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    reg = LocalRegistry(tmp_path / "registry")
    wheres = {reg.store_blob(data) for _ in range(10)}
    assert len(wheres) == 1
    stored = [p for p in (tmp_path / "registry" / "blobs").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == data.read_bytes()
    assert reg.blob_path(wheres.pop()).read_bytes() == data.read_bytes()
    stored[0].write_text("a,b\n1,3\n")
    with pytest.raises(IntegrityError, match="blobs/sha256/"):
        reg.blob_path(f"blobs/sha256/{stored[0].name}")
    with pytest.raises(IntegrityError, match="not a blob name"):
        reg.blob_path("../../etc/passwd")
