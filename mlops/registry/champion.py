"""Where the pull-request report finds production: a registry opened read-only.

CI compares every pull request with the model in production. ``MLOPS_CHAMPION_REGISTRY``
names the registry that holds it:

- ``hub:owner/name``: a Hugging Face Hub model repository (a public one needs no token, so
  this also works where a workflow gets no secrets);
- a folder: a local registry (``~`` and relative paths resolve against the params file);
- unset or empty: the registry of ``params.registry`` (:func:`open_registry`), as before.

Whatever it names is wrapped in :class:`ReadOnlyRegistry`: a run that only compares can
never move an alias or register a version there. A registry named by the variable is also
*tolerant*: when it cannot be read (the Hub unreachable, a private repo without a token),
``aliases`` answers ``{}`` and keeps the reason in ``error``, so the pull request's report
says why there is no comparison instead of the run failing. The params' own registry (CD's
champion gate) stays strict: there an unreadable registry fails the run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.core.exceptions import ConfigError, MLOpsError, RegistryError
from mlops.registry.base import Registry

if TYPE_CHECKING:
    from mlops.core.config import Params

__all__ = ["CHAMPION_REGISTRY_ENV", "ReadOnlyRegistry", "champion_source",
           "open_champion_registry"]

CHAMPION_REGISTRY_ENV = "MLOPS_CHAMPION_REGISTRY"

# What a read-only registry refuses: every method that writes.
_WRITES = ("register", "publish", "promote", "rollback", "set_state")
log = logging.getLogger("mlops.registry")


class ReadOnlyRegistry:
    """A registry whose reads pass through and whose writes raise :class:`RegistryError`.

    ``tolerant``: :meth:`aliases` answers ``{}`` when the registry cannot be read and keeps
    the reason in :attr:`error`.
    """

    def __init__(self, inner: Registry, source: str, *, tolerant: bool = False) -> None:
        self._inner = inner
        self.source = source
        self.tolerant = tolerant
        self.error: str | None = None

    def aliases(self, name: str) -> dict[str, int]:
        """The aliases of ``name``; see ``tolerant``."""
        try:
            return self._inner.aliases(name)
        except MLOpsError as exc:
            if not self.tolerant:
                raise
            self.error = exc.message
            log.warning("cannot read production from %s, so there is no comparison: %s",
                        self.source, exc.message)
            return {}

    def __getattr__(self, attr: str) -> Any:
        if attr in _WRITES:
            def refuse(*args: Any, **kwargs: Any) -> Any:
                raise RegistryError(f"the champion registry {self.source} is opened read-only "
                                    f"(a comparison never writes): {attr} refused")
            return refuse
        return getattr(self._inner, attr)

    def __repr__(self) -> str:
        return f"ReadOnlyRegistry({self._inner!r})"


def champion_source(params: Params) -> tuple[str, bool]:
    """``(description, configured)``: where production is read from, and whether
    ``MLOPS_CHAMPION_REGISTRY`` chose it (False: the params' own registry)."""
    spec = (os.environ.get(CHAMPION_REGISTRY_ENV) or "").strip()
    if spec:
        return spec, True
    backend = os.environ.get("MLOPS_REGISTRY_BACKEND") or params.registry.backend
    if backend == "hub":
        repo = os.environ.get("MLOPS_HUB_REPO_ID") or params.registry.hub_repo_id
        return f"hub:{repo}", False
    # Named as configured, not by its absolute path: a report quotes this, and where a run's
    # folder lives is neither a result nor anyone else's business.
    return "local folder (registry.path)", False


def open_champion_registry(params: Params) -> ReadOnlyRegistry:
    """The registry that holds production for the comparison, opened read-only."""
    from mlops.registry import DEFAULT_ALIASES, open_registry

    spec, configured = champion_source(params)
    aliases = tuple(params.registry.aliases) or DEFAULT_ALIASES
    if not configured:
        return ReadOnlyRegistry(open_registry(params.registry, params.root), spec)
    if spec.startswith("hub:"):
        repo_id = spec[4:].strip()
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise ConfigError(f"{CHAMPION_REGISTRY_ENV}={spec!r}: expected hub:owner/name",
                              key=CHAMPION_REGISTRY_ENV)
        from mlops.registry.hub import HubRegistry

        cache = params.resolve(params.registry.path) / ".champion-cache"
        return ReadOnlyRegistry(HubRegistry(repo_id, cache_dir=cache, aliases=aliases), spec,
                                tolerant=True)
    from mlops.registry.local import LocalRegistry

    folder = params.resolve(Path(spec).expanduser())
    if not folder.is_dir():
        raise ConfigError(f"{CHAMPION_REGISTRY_ENV}={spec!r}: {folder} is not a registry "
                          "folder (or use hub:owner/name)", key=CHAMPION_REGISTRY_ENV)
    return ReadOnlyRegistry(LocalRegistry(folder, aliases=aliases), spec, tolerant=True)
