"""Project hygiene: pins agree, the Makefile documents itself, notebooks stay thin and clean."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from mlops.core.feature_code import MARK
from mlops.pipeline.runner import NOTEBOOK_PARAMETERS, STAGES

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_lock_pins_every_package_exactly():
    lines = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert lines, "requirements.lock is empty"
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", ln) for ln in lines), lines
    wanted = {ln.split("#")[0].strip().lower().replace("_", "-")
              for ln in (ROOT / "requirements.in").read_text().splitlines()
              if ln.split("#")[0].strip()}
    assert wanted <= set(lock_pins()), f"not pinned: {wanted - set(lock_pins())}"


def test_environment_yml_installs_the_same_pins_for_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    # Either the lock itself or an identical list: anything else would disagree with it.
    if "-r requirements.lock" not in pip:
        listed = {p.split("==")[0].lower(): p.split("==")[1] for p in pip if "==" in p}
        assert listed == lock_pins()


def test_installed_versions_match_the_lock():
    from importlib import metadata

    pins = lock_pins()
    for name in ("pandas", "scikit-learn", "skops", "papermill", "nbval", "streamlit"):
        assert metadata.version(name) == pins[name], name


def test_every_make_target_has_a_description():
    text = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY: (.+)$", text, re.M).group(1).split()
    documented = set(re.findall(r"^([a-zA-Z_-]+):.*## ", text, re.M))
    assert set(phony) <= documented, set(phony) - documented
    assert {"help", "pipeline", "test", "lint", "bench", "clean"} <= documented
    assert ".DEFAULT_GOAL := help" in text


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make pipeline" in readme and "make test" in readme


def test_every_stage_notebook_exists():
    assert {n for _, n in STAGES} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin(path):
    """No def or class: logic lives in mlops, where tests reach it. The one exception is
    the model's own feature code, the cell marked ``#| features`` (docs/features.md)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.source.startswith(MARK):
            continue
        tree = ast.parse(cell.source)
        banned = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
        defs = [n for n in ast.walk(tree) if isinstance(n, banned)]
        assert not defs, f"{path.name}: move {type(defs[0]).__name__} into mlops/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_one_parameters_cell_with_the_runner_parameters(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert set(papermill.inspect_notebook(str(path))) == set(NOTEBOOK_PARAMETERS)
    assert any(c.cell_type == "markdown" for c in nb.cells)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    """Outputs only on cells deliberately kept for nbval (metadata keep_output)."""
    # --keep-count: nbval compares only checked cells that carry an execution count.
    command = [sys.executable, "-m", "nbstripout", "--keep-id", "--keep-count", "--verify",
               str(path)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            assert cell.metadata.get("keep_output"), cell.source[:60]
            assert "NBVAL_CHECK_OUTPUT" in cell.source


@pytest.mark.slow
def test_importing_mlops_is_cheap():
    code = ("import sys, mlops, mlops.core.config, mlops.core.modelio;"
            "heavy = {'matplotlib', 'papermill', 'streamlit', 'huggingface_hub'};"
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
