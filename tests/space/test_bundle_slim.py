"""The Space bundle carries only what serving needs (issue 27 item 8).

The package files come from app.py's import graph (mlops.space.bundle.serving_files), the
requirements from the runtime packages' closure; both are checked against what the bundled
modules really import.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest

from mlops.core.config import load_params
from mlops.space.bundle import RUNTIME_PACKAGES, build_space, serving_files

ROOT = Path(__file__).resolve().parents[2]
# What serving never needs: the local Hub, the loop rehearsal, the CLI, the pipeline and
# the training-only stages.
NOT_SERVING = ("mlops/space/hubserver.py", "mlops/cli/loop.py", "mlops/cli/main.py",
               "mlops/pipeline/runner.py", "mlops/stages/training.py",
               "mlops/stages/evaluation.py", "mlops/stages/fairness.py",
               "mlops/stages/validation.py", "mlops/space/bundle.py")
# Imports of bundled modules that the image does not install: each is guarded (the
# compiled ONNX scorer falls back to scikit-learn when they are missing).
OPTIONAL = {"onnx", "onnxruntime", "skl2onnx"}
# Files and size of the whole-package bundle (issue 27 item 8) that this replaces.
WHOLE_PACKAGE_FILES = 114


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("slim") / "space"
    return build_space(load_params(ROOT / "params.yaml"), out, project=ROOT,
                       repo_id="acme/credit-models")


def test_the_bundle_leaves_out_what_serving_never_imports(bundle) -> None:
    files = set(bundle.files)
    assert [f for f in NOT_SERVING if f in files] == []
    assert not [f for f in files if f.startswith(("mlops/cli/", "mlops/pipeline/"))]
    assert {"app.py", "mlops/__init__.py", "mlops/app/context.py", "mlops/serving/router.py",
            "mlops/space/logpush.py", "mlops/core/trusted_types.txt"} <= files
    assert len(files) < WHOLE_PACKAGE_FILES
    # No marker the local Hub reacts to (it failed the Space's build while hubserver.py
    # was shipped).
    assert not [f for f in files if b"HUBSERVER_BUILD_ERROR" in (bundle.folder / f).read_bytes()]


def test_every_import_of_a_bundled_module_is_bundled_or_installed(bundle) -> None:
    """Each ``mlops`` import of a bundled file resolves inside the bundle; each other
    import is the standard library, a package of requirements.txt, or a guarded optional."""
    pins = {line.split("==")[0].lower().replace("_", "-")
            for line in (bundle.folder / "requirements.txt").read_text().split()}
    provided = {top for top, dists in importlib.metadata.packages_distributions().items()
                if any(d.lower().replace("_", "-") in pins for d in dists)}
    missing, unknown = [], set()
    for rel in (f for f in bundle.files if f.endswith(".py")):
        tree = ast.parse((bundle.folder / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and not node.level
                     and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top == "mlops":
                    base = bundle.folder.joinpath(*name.split("."))
                    if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
                        missing.append(f"{rel}: {name}")
                elif (top not in sys.stdlib_module_names and top not in provided
                      and top not in OPTIONAL):
                    unknown.add(f"{rel}: {top}")
    assert missing == []
    assert sorted(unknown) == []


def test_the_runtime_packages_are_imported_by_the_bundle(bundle) -> None:
    """No runtime package is listed that no bundled module imports (fairlearn was)."""
    imported = set()
    for rel in (f for f in bundle.files if f.endswith(".py")):
        for node in ast.walk(ast.parse((bundle.folder / rel).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    tops = importlib.metadata.packages_distributions()
    dists = {d.lower().replace("_", "-") for top in imported for d in tops.get(top, [])}
    assert [p for p in RUNTIME_PACKAGES if p.lower().replace("_", "-") not in dists] == []
    assert "fairlearn" not in (bundle.folder / "requirements.txt").read_text()


def test_serving_files_follow_lazy_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "mlops"
    for rel, text in {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/front.py": "from . import helper\n\ndef f():\n    from mlops.b.lazy import g\n",
        "a/helper.py": "from ..b import plain\n",
        "a/unused.py": "import os\n",
        "b/__init__.py": "",
        "b/lazy.py": "def g():\n    pass\n",
        "b/plain.py": "X = 1\n",
        "b/data.txt": "kept: package data of a package in use\n",
        "c/__init__.py": "",
        "c/other.py": "",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    (tmp_path / "app.py").write_text("import mlops.a.front\n")
    assert serving_files(tmp_path) == [
        "mlops/__init__.py", "mlops/a/__init__.py", "mlops/a/front.py", "mlops/a/helper.py",
        "mlops/b/__init__.py", "mlops/b/data.txt", "mlops/b/lazy.py", "mlops/b/plain.py"]
