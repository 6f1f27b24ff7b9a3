"""The model registry: immutable versions, aliases with compare-and-swap, a promotion ledger.

Two backends share one interface (:class:`Registry`): a local folder (the default) and a
Hugging Face Hub model repository. :func:`open_registry` picks one from ``params.registry``
or the environment (``MLOPS_REGISTRY_BACKEND``, ``MLOPS_HUB_REPO_ID``);
:func:`open_champion_registry` opens, read-only, the registry that holds production for the
pull-request comparison (``MLOPS_CHAMPION_REGISTRY``, else the same). Importing this
package is cheap: skops is imported when a model is loaded, huggingface_hub only by the
Hub backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.core.exceptions import ConfigError
from mlops.registry.base import (
    DEFAULT_ALIASES,
    ENVIRONMENTS,
    LedgerEntry,
    ModelVersion,
    Registry,
    default_actor,
    parse_version,
    validate_name,
)
from mlops.registry.champion import open_champion_registry

if TYPE_CHECKING:
    from mlops.core.config import RegistryConfig

__all__ = [
    "DEFAULT_ALIASES",
    "ENVIRONMENTS",
    "LedgerEntry",
    "ModelVersion",
    "Registry",
    "default_actor",
    "open_champion_registry",
    "open_registry",
    "parse_version",
    "validate_name",
]


def open_registry(cfg: RegistryConfig, root: str | Path = ".") -> Registry:
    """The registry described by ``cfg``; relative paths resolve against ``root``.

    ``MLOPS_REGISTRY_BACKEND`` (``local`` or ``hub``) and ``MLOPS_HUB_REPO_ID`` override
    the params, so CI can point the same params at the Hub. The Hub backend keeps its
    download cache under ``registry.path``.
    """
    backend = os.environ.get("MLOPS_REGISTRY_BACKEND") or cfg.backend
    aliases = tuple(cfg.aliases) or DEFAULT_ALIASES
    path = Path(root) / cfg.path
    if backend == "local":
        from mlops.registry.local import LocalRegistry

        return LocalRegistry(path, aliases=aliases)
    if backend == "hub":
        repo_id = os.environ.get("MLOPS_HUB_REPO_ID") or cfg.hub_repo_id
        if not repo_id:
            raise ConfigError(
                "registry.backend is 'hub' but no repository is set: set registry.hub_repo_id "
                "in params.yaml or MLOPS_HUB_REPO_ID (and HF_TOKEN for writes)",
                key="registry.hub_repo_id",
            )
        from mlops.registry.hub import HubRegistry

        return HubRegistry(repo_id, cache_dir=path / ".hub-cache", aliases=aliases)
    raise ConfigError(
        f"registry backend {backend!r} is unknown; use 'local' or 'hub' "
        "(registry.backend or MLOPS_REGISTRY_BACKEND)", key="registry.backend",
    )
