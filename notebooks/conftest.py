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
