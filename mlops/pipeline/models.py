"""The models of a repository as the pipeline sees them, and which ones a change touches."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from mlops.core.config import load_params
from mlops.core.exceptions import ConfigError
from mlops.core.models import model_files
from mlops.pipeline.runner import run_inputs

__all__ = ["changed_models", "model_rows"]


def model_rows(root: str | Path) -> list[dict[str, Any]]:
    """One row per model: name, params file (relative to ``root``), task and estimator."""
    root = Path(root).resolve()
    rows = []
    for name, path in model_files(root).items():
        params = load_params(path)
        rows.append({"name": name, "params": path.resolve().relative_to(root).as_posix(),
                     "task": params.data.task, "estimator": params.model.estimator})
    return rows


def changed_models(root: str | Path, since: str) -> set[str]:
    """Names of the models whose run inputs differ between git revision ``since`` and now.

    Inputs are what :func:`run_inputs` lists (params, data, schema, stage notebooks, model
    code, lock); an untracked input counts as changed.
    """
    root = Path(root).resolve()

    def git(*args: str) -> list[str]:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise ConfigError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}",
                              rule="git")
        return done.stdout.splitlines()

    top = Path(git("rev-parse", "--show-toplevel")[0]).resolve()
    touched = {(top / p).resolve() for p in git("diff", "--name-only", since, "--")}
    touched |= {(root / p).resolve() for p in git("ls-files", "--others", "--exclude-standard")}
    changed = set()
    for name, path in model_files(root).items():
        inputs = run_inputs(load_params(path), path, root / "notebooks")
        if any(_under(touched, p.resolve()) for p in inputs):
            changed.add(name)
    return changed


def _under(touched: set[Path], path: Path) -> bool:
    """``path`` was touched, or is a folder (model code) holding a touched file."""
    return path in touched or any(path in t.parents for t in touched)
