"""The dirty flag is honest: any run input that git does not hold makes a run dirty."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlops.cli.main import main
from mlops.core.lineage import git_state, portable_strings, project_path

ROOT = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   cwd=repo, check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "params.yaml").write_text("seed: 1\n")
    (repo / "data" / "train.csv").write_text("a,b\n1,2\n")
    (repo / "README.md").write_text("docs\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    return repo


def test_clean_inputs_are_clean(repo: Path) -> None:
    state = git_state(repo, [repo / "params.yaml", repo / "data" / "train.csv"])
    assert state["commit"] and state["dirty"] is False and state["dirty_files"] == []


def test_an_untracked_params_file_makes_the_run_dirty(repo: Path) -> None:
    (repo / "params-mine.yaml").write_text("seed: 2\n")
    state = git_state(repo, [repo / "params-mine.yaml", repo / "data" / "train.csv"])
    assert state["dirty"] is True and state["dirty_files"] == ["params-mine.yaml"]


def test_modified_inputs_are_listed_and_other_files_do_not_count(repo: Path) -> None:
    (repo / "README.md").write_text("edited docs\n")  # not an input
    assert git_state(repo, [repo / "data"])["dirty"] is False
    (repo / "data" / "train.csv").write_text("a,b\n1,3\n")
    (repo / "data" / "new.csv").write_text("a,b\n")
    assert git_state(repo, [repo / "data"])["dirty_files"] == ["data/new.csv", "data/train.csv"]


def test_an_input_outside_the_repository_is_dirty(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("a\n1\n")
    state = git_state(repo, [repo / "params.yaml", elsewhere])
    # Dirty, and named without the folders above the project: lineage is published.
    assert state["dirty"] is True
    assert state["dirty_files"] == ["<outside the project>/elsewhere.csv"]
    assert str(tmp_path) not in str(state)


def test_project_paths_are_relative_and_never_absolute(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    assert project_path(root / "data" / "x.csv", root) == "data/x.csv"
    assert project_path(root, root) == "."
    assert project_path(tmp_path / "elsewhere" / "x.csv", root) == "<outside the project>/x.csv"


def test_portable_strings_rewrite_folders_at_path_boundaries_only() -> None:
    prefixes = {"/home/me/proj": ".", "/home/me/proj/runs/r1": "runs/r1", "/home/me": "~"}
    doc = {"params_path": "/home/me/proj/params.yaml", "run_dir": "/home/me/proj/runs/r1",
           "text": ['File "/home/me/proj/.venv/lib/x.py", line 3', "cwd: /home/me/proj"],
           "other": "/home/me/project2/a and /home/me/proj2", "n": 3}
    assert portable_strings(doc, prefixes) == {
        "params_path": "params.yaml", "run_dir": "runs/r1",
        "text": ['File ".venv/lib/x.py", line 3', "cwd: ."],
        "other": "~/project2/a and ~/proj2", "n": 3}


def test_outside_git_nothing_is_claimed(tmp_path: Path) -> None:
    assert git_state(tmp_path, [tmp_path]) == {"commit": None, "dirty": None, "dirty_files": []}


@pytest.mark.slow
def test_require_clean_refuses_a_run_with_an_untracked_params_file(tmp_path: Path,
                                                                   capsys) -> None:
    project = tmp_path / "project"
    for name in ("mlops", "notebooks", "data"):
        shutil.copytree(ROOT / name, project / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("params.yaml", "requirements.lock"):
        shutil.copy2(ROOT / name, project / name)
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "init")
    shutil.copy2(project / "params.yaml", project / "params-local.yaml")  # never committed
    code = main(["run", "--params", str(project / "params-local.yaml"), "--require-clean",
                 "--runs-dir", str(tmp_path / "runs"), "--no-register"])
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing a dirty run" in err and "params-local.yaml" in err
