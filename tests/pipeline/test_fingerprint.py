"""``inputs_fingerprint``: changes with data, params, code or notebooks; stable otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops.core.config import load_params
from mlops.pipeline.fingerprint import inputs_fingerprint

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("01_validate_data.ipynb", "02_train.ipynb")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A small project: params, data, schema, a small package, two notebooks, a lock."""
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "data", proj / "data")
    shutil.copy2(ROOT / "params.yaml", proj / "params.yaml")
    (proj / "mlops" / "stages").mkdir(parents=True)
    (proj / "mlops" / "__init__.py").write_text('"""pkg."""\n')
    (proj / "mlops" / "stages" / "train.py").write_text("def fit():\n    return 1\n")
    (proj / "requirements.lock").write_text("numpy==2.4.6\n")
    (proj / "notebooks").mkdir()
    for name in STAGES:
        _notebook(proj / "notebooks" / name, ["import mlops", "x = 1"])
    return proj


def _notebook(path: Path, sources: list[str], outputs: list | None = None, count=None) -> None:
    cells = [{"cell_type": "code", "execution_count": count, "id": f"c{i}",
              "metadata": {}, "outputs": outputs or [], "source": src.splitlines(True)}
             for i, src in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))


def _fp(project: Path, *overrides: str) -> str:
    return inputs_fingerprint(load_params(project / "params.yaml", overrides), project,
                              notebooks=STAGES)


def test_fingerprint_form(project: Path) -> None:
    first = _fp(project)
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64


def test_independent_of_where_the_project_lives(project: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(project, tmp_path / "elsewhere" / "deeper")
    assert _fp(moved) == _fp(project)


def test_data_change_changes_it(project: Path) -> None:
    before = _fp(project)
    csv = project / "data" / "german.csv"
    csv.write_bytes(csv.read_bytes())  # rewritten, same bytes: a new mtime is no change
    assert _fp(project) == before
    lines = csv.read_bytes().splitlines(True)
    csv.write_bytes(b"".join(lines[:-1]))  # one row fewer
    assert _fp(project) != before


def test_schema_change_changes_it(project: Path) -> None:
    before = _fp(project)
    with (project / "data" / "schema.yaml").open("a") as f:
        f.write("# edited\n")
    assert _fp(project) != before


def test_model_params_change_it_but_release_params_do_not(project: Path) -> None:
    before = _fp(project)
    assert _fp(project, "seed=7") != before
    assert _fp(project, "model.estimator=random_forest") != before
    assert _fp(project, "evaluation.gates.min_roc_auc=0.8") != before
    assert _fp(project, "registry.backend=hub", "registry.hub_repo_id=a/b") == before
    assert _fp(project, "deployment.strategy=shadow") == before
    assert _fp(project, "monitoring.min_labelled=10") == before


def test_code_change_changes_it_and_caches_do_not(project: Path) -> None:
    before = _fp(project)
    (project / "mlops" / "__pycache__").mkdir()
    (project / "mlops" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0\1")
    (project / "mlops" / "notes.txt").write_text("not code")
    assert _fp(project) == before
    (project / "mlops" / "stages" / "train.py").write_text("def fit():\n    return 2\n")
    assert _fp(project) != before


def test_new_or_renamed_module_changes_it(project: Path) -> None:
    before = _fp(project)
    (project / "mlops" / "stages" / "train.py").rename(project / "mlops" / "stages" / "fit.py")
    assert _fp(project) != before


def test_lock_change_changes_it(project: Path) -> None:
    before = _fp(project)
    (project / "requirements.lock").write_text("numpy==2.4.7\n")
    assert _fp(project) != before


def test_line_endings_do_not_matter(project: Path) -> None:
    before = _fp(project)
    for path in (project / "mlops" / "stages" / "train.py", project / "requirements.lock"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert _fp(project) == before


def test_notebook_outputs_do_not_matter_but_sources_do(project: Path) -> None:
    before = _fp(project)
    nb = project / "notebooks" / "02_train.ipynb"
    _notebook(nb, ["import mlops", "x = 1"], count=3,
              outputs=[{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}])
    assert _fp(project) == before
    _notebook(nb, ["import mlops", "x = 2"])
    assert _fp(project) != before


@pytest.fixture()
def real_project(tmp_path: Path) -> Path:
    """A copy of this repository's package, notebooks, params, data and lock."""
    proj = tmp_path / "real"
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("mlops", "notebooks", "data"):
        shutil.copytree(ROOT / folder, proj / folder, ignore=ignore)
    for name in ("params.yaml", "requirements.lock"):
        shutil.copy2(ROOT / name, proj / name)
    return proj


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_app_cli_and_serving_edits_leave_it_unchanged(real_project: Path) -> None:
    before = inputs_fingerprint(load_params(real_project / "params.yaml"), real_project)
    _edit(real_project / "mlops" / "app" / "__init__.py", '"""', '"""A new label. ')
    _edit(real_project / "mlops" / "cli" / "main.py", '"""', '"""Different help. ')
    _edit(real_project / "mlops" / "serving" / "router.py", '"""', '"""Edited. ')
    after = inputs_fingerprint(load_params(real_project / "params.yaml"), real_project)
    assert after == before


@pytest.mark.parametrize("module", ["stages/training.py", "core/schema.py"])
def test_stage_and_core_edits_change_it(real_project: Path, module: str) -> None:
    before = inputs_fingerprint(load_params(real_project / "params.yaml"), real_project)
    _edit(real_project / "mlops" / module, '"""', '"""Edited. ')
    after = inputs_fingerprint(load_params(real_project / "params.yaml"), real_project)
    assert after != before
