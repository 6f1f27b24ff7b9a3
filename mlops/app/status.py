"""What is serving: the aliases and versions of the model, read from the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.registry import Registry

__all__ = ["ServingStatus", "serving_status"]


@dataclass(frozen=True)
class ServingStatus:
    """What is serving: aliases, the production version and, on the Hub, its commit."""

    model: str
    backend: str
    aliases: dict[str, int]
    versions: tuple[int, ...]
    production: int | None
    revision: str | None = None  # Hub commit of the production version's tag

    @property
    def label(self) -> str:
        """``my-model v3`` (plus ``@abc123`` on the Hub), or a hint when nothing serves."""
        if self.production is None:
            return f"{self.model}: no production version yet (run `make pipeline`)"
        rev = f" @ {self.revision[:10]}" if self.revision else ""
        return f"{self.model} v{self.production}{rev}"


def serving_status(registry: Registry, name: str) -> ServingStatus:
    """Read aliases and versions of ``name`` now (no cache)."""
    aliases = registry.aliases(name)
    versions = tuple(v.version for v in registry.versions(name))
    production = aliases.get("production")
    revision = None if production is None else registry.revision(name, production)
    return ServingStatus(name, registry.backend, aliases, versions, production, revision)
