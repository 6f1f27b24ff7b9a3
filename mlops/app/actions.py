"""Operator actions: promote, roll back, start/advance/abort a release, stop a shadow.

Each one checks the operator token itself (:func:`mlops.app.auth.require_operator`) before
it touches the registry, and writes through the registry (or ``mlops.serving.deployment``)
as actor ``app`` (``app:<name>`` with the name the operator typed), so every action is a
ledger entry. ``mlops.serving.deployment`` is imported when an action runs, not at import:
it pulls in scipy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from mlops.app.auth import require_operator
from mlops.core.exceptions import RegistryError

if TYPE_CHECKING:
    from mlops.core.config import DeploymentConfig
    from mlops.registry import LedgerEntry, Registry
    from mlops.serving.deployment import Deployment

__all__ = [
    "ACTOR",
    "abort_release",
    "advance_canary",
    "ledger_frame",
    "promote_version",
    "rollback_alias",
    "start_release",
    "stop_shadow",
    "switch_blue_green",
]

ACTOR = "app"  # every registry write made by the app is recorded under this actor


def actor_of(operator_name: str | None) -> str:
    """The ledger's actor for an operator: ``app:<name>`` (the name they typed, reduced to
    40 plain characters), or ``app`` when they gave none."""
    name = re.sub(r"[^\w .@-]", "", (operator_name or "").strip())[:40].strip()
    return f"{ACTOR}:{name}" if name else ACTOR


def promote_version(
    registry: Registry, name: str, version: int, alias: str, *, token: str | None,
    expected: int | None, reason: str, env: Mapping[str, str] | None = None,
    actor: str = ACTOR,
) -> LedgerEntry:
    """Point ``alias`` at ``version`` as actor ``app`` (token checked, compare-and-swap).

    ``expected`` is the version the operator saw on screen, so a move made by someone else
    meanwhile makes this fail with ConflictError instead of being silently overwritten.
    """
    require_operator(token, env)
    return registry.promote(name, version, alias, expected=expected, actor=actor,
                            reason=reason.strip() or f"promoted from the app to {alias}")


def rollback_alias(
    registry: Registry, name: str, *, token: str | None, alias: str = "production",
    reason: str = "", env: Mapping[str, str] | None = None, actor: str = ACTOR,
    expected: int | None = None,
) -> LedgerEntry:
    """One-click rollback of ``alias`` to its previous version, as actor ``app``.

    ``expected`` is the version the operator saw: if it moved since, the rollback fails.
    """
    require_operator(token, env)
    return registry.rollback(name, alias=alias, actor=actor, expected=expected,
                             reason=reason.strip() or "one-click rollback from the app")


def start_release(
    registry: Registry, name: str, cfg: DeploymentConfig, *, candidate: int, strategy: str,
    token: str | None, reason: str = "", env: Mapping[str, str] | None = None, actor: str = ACTOR,
) -> Deployment:
    """Start a canary or shadow (or other) release of ``candidate`` as actor ``app``."""
    from mlops.serving import deployment

    require_operator(token, env)
    return deployment.start(registry, name, cfg, candidate=candidate, strategy=strategy,
                            now=time.time(), reason=reason.strip(), actor=actor)


def advance_canary(registry: Registry, name: str, *, token: str | None, reason: str = "",
                   env: Mapping[str, str] | None = None, actor: str = ACTOR) -> Deployment | None:
    """Move a running canary to its next step (the last step promotes it), as ``app``.

    This is the operator overruling the automatic analysis, so it is recorded as a manual
    decision in the ledger.
    """
    from mlops.serving import deployment

    require_operator(token, env)
    dep, _ = deployment.read_deployment(registry, name)
    if dep is None or not dep.running or dep.strategy != "canary":
        raise RegistryError(f"{name}: no running canary to advance; start one first")
    decision = deployment.Decision(
        "promote", (reason.strip() or "advanced by an operator in the app",), {"manual": True})
    return deployment.apply_decision(registry, name, decision, now=time.time(), actor=actor)


def abort_release(registry: Registry, name: str, *, token: str | None, reason: str = "",
                  env: Mapping[str, str] | None = None, actor: str = ACTOR) -> Deployment | None:
    """Abort a running canary or shadow: all traffic back to production, as ``app``."""
    from mlops.serving import deployment

    require_operator(token, env)
    return deployment.abort(registry, name, reason=reason.strip() or "aborted in the app",
                            now=time.time(), actor=actor)


def stop_shadow(registry: Registry, name: str, *, token: str | None, promote: bool = False,
                reason: str = "", env: Mapping[str, str] | None = None,
                actor: str = ACTOR) -> Deployment:
    """End a running shadow release (optionally promoting the candidate), as ``app``."""
    from mlops.serving import deployment

    require_operator(token, env)
    return deployment.finish_shadow(registry, name, promote=promote, now=time.time(),
                                    reason=reason.strip(), actor=actor)


def switch_blue_green(registry: Registry, name: str, *, token: str | None, reason: str = "",
                      env: Mapping[str, str] | None = None, actor: str = ACTOR) -> Deployment:
    """Blue-green: make the idle slot production (one alias move), as ``app``."""
    from mlops.serving import deployment

    require_operator(token, env)
    return deployment.switch(registry, name, now=time.time(), reason=reason.strip(),
                             actor=actor)


def ledger_frame(entries: Sequence[LedgerEntry]) -> pd.DataFrame:
    """The promotion ledger, newest first, as a table people read: versions as ``vN`` and
    a dash where an entry has none (a first promotion comes from no version)."""
    rows = [{
        "#": e.seq, "when (UTC)": e.time.replace("T", " ")[:16], "actor": e.actor,
        "action": e.action, "alias": e.alias or e.key or "",
        "from": f"v{e.from_version}" if e.from_version else "–",
        "to": f"v{e.to_version}" if e.to_version else "–", "reason": e.reason or "–",
    } for e in reversed(entries)]
    columns = ["#", "when (UTC)", "actor", "action", "alias", "from", "to", "reason"]
    return pd.DataFrame(rows, columns=columns)
