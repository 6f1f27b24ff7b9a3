"""nbval runs these notebooks with their default parameters: give them a state of their own.

The defaults load ``../params.yaml`` and write to ``../runs/notebook``; 03 reads the champion
from the registry and 04 the prediction log. For the session, ``MLOPS_REGISTRY_PATH``,
``MLOPS_LOG_PATH`` and ``MLOPS_RUNS_DIR`` (see ``mlops.core.config``) point into a temporary
folder, so the working copy's ``registry/`` and ``runs/`` are neither read nor written and a
model registered by ``make pipeline`` cannot fail a gate here.

nbval's cells take no fixtures and each notebook's kernel starts (inheriting the
environment) before its first cell, so this is set when pytest is configured, not in a
fixture. ``tests/conftest.py`` does the same for the other tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

STATE_ENV = {"MLOPS_REGISTRY_PATH": "registry",
             "MLOPS_LOG_PATH": "logs/predictions.sqlite",
             "MLOPS_RUNS_DIR": "runs"}
_KEY = pytest.StashKey[tuple[Path, dict[str, str | None]]]()


def pytest_configure(config: pytest.Config) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mlops-nbval-"))
    saved = {var: os.environ.get(var) for var in STATE_ENV}
    for var, rel in STATE_ENV.items():
        os.environ[var] = str(folder / rel)
    config.stash[_KEY] = (folder, saved)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _KEY not in config.stash:
        return
    folder, saved = config.stash[_KEY]
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    shutil.rmtree(folder, ignore_errors=True)


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201
    """Under pytest-xdist (make test), every test on its own, but the stage notebooks as one
    unit, in order, on one worker: each reads what the one before it wrote (02's model).

    ``--dist loadgroup`` with an ``xdist_group`` mark would say this, but pytest-xdist 3.8
    renames the grouped items through ``_nodeid``, which pytest 9 no longer reads.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "notebooks" if nodeid.startswith("notebooks/") else nodeid

    return NotebooksTogether(config, log)


# --------------------------------------------------------------------------- every model
# nbval collects each notebook here once, for params.yaml. Each other model of the repository
# (models/<folder>/params.yaml) that has no copy of a notebook in models/<folder>/notebooks/
# runs this one too, on its own params (MLOPS_PARAMS, read by the parameters cell): an edit
# for one model is tested on every model's data. Its stored outputs are the top model's, so
# for the others only errors fail a cell. A model's own notebooks are collected where they
# are (pyproject's testpaths) and run on their own params by default.
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if (file_path.suffix != ".ipynb" or file_path.parent != Path(__file__).parent
            or not parent.config.option.nbval_lax):
        return None
    from mlops.core.models import params_files, stage_notebook

    root = file_path.parent.parent
    others = [p for p in params_files(root) if p.parent != root
              and stage_notebook(p, file_path.name, file_path.parent) == file_path]
    if not others:
        return None
    name = f"{file_path.name}[models]"
    return OtherModels.from_parent(parent, path=file_path, name=name, params=others,
                                   nodeid=f"{parent.nodeid}/{name}")


class OtherModels(pytest.File):
    """The shared notebook once per other model that runs it."""

    def __init__(self, *args, params: list[Path], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.params = params

    def collect(self):  # noqa: ANN201 - nbval's collectors
        for params in self.params:
            name = params.parent.name
            node = ModelNotebook.from_parent(self, path=self.path, name=name,
                                             nodeid=f"{self.nodeid}::{name}")
            node.params_file = params
            yield node


def _model_notebook() -> type:
    from nbval.plugin import IPyNbFile

    class ModelNotebook(IPyNbFile):
        """A shared notebook run on another model's params; only errors fail a cell."""

        params_file: Path

        def setup(self) -> None:
            # The model's own runs folder: its 03 reads what its 02 wrote.
            env = {"MLOPS_PARAMS": str(self.params_file),
                   "MLOPS_RUNS_DIR": str(Path(os.environ["MLOPS_RUNS_DIR"]) / self.name)}
            before = {var: os.environ.get(var) for var in env}
            os.environ.update(env)
            try:
                super().setup()  # the kernel starts here and keeps this environment
            finally:
                for var, value in before.items():
                    if value is None:
                        os.environ.pop(var, None)
                    else:
                        os.environ[var] = value

        def collect(self):  # noqa: ANN202 - nbval's items
            for item in super().collect():
                item.options["check"] = False
                yield item

    return ModelNotebook


ModelNotebook = _model_notebook()
