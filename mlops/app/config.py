"""Where the app's settings and registry come from: params plus the environment.

``mlops.core.config`` and ``mlops.registry`` are imported when called, not at import, so
the first page of the app does not wait for them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.core.config import Params

__all__ = ["load_app_params"]


def load_app_params(app_dir: str | Path, env: Mapping[str, str] | None = None) -> Params:
    """Params for the app: ``MLOPS_PARAMS`` or ``params.yaml`` next to ``app.py``.

    ``MLOPS_REGISTRY_PATH`` replaces ``registry.path`` (relative to the params folder, or
    absolute), so tests and Spaces can point the same params at another registry.
    """
    from mlops.core.config import load_params

    env = os.environ if env is None else env
    params = load_params(env.get("MLOPS_PARAMS") or Path(app_dir) / "params.yaml")
    override = env.get("MLOPS_REGISTRY_PATH")
    if override:
        registry = dataclasses.replace(params.registry, path=override)
        params = dataclasses.replace(params, registry=registry)
    return params
