"""Release strategies (blue-green, canary, shadow, direct) as a state machine in the registry.

The state is one registry state key, ``deployment``, of the model: the app, the CLI and CI
read the same thing, every change is compare-and-swap and a ledger entry. Which version is
*production* is always the registry's ``production`` alias; the state only adds who else
gets traffic (canary), who scores on the side (shadow) and which versions stay loaded
(blue-green slots). See ``docs/serving.md``.

``analyse_canary`` is pure: the deployment, the log and the params go in, a
:class:`Decision` comes out. ``apply_decision`` is the edge that writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import pandas as pd

from mlops.core.config import DeploymentConfig, MonitoringConfig
from mlops.core.exceptions import ConflictError, NotFoundError, RegistryError
from mlops.registry.base import Refs, Registry
from mlops.registry.records import LedgerEntry
from mlops.serving.rules import (
    RuleResult,
    breaches,
    check_rules,
    held_out_metric,
    routed,
    version_stats,
)
from mlops.serving.rules import evidence as evidence_of

__all__ = [
    "STATE_KEY",
    "STRATEGIES",
    "Deployment",
    "Decision",
    "Releases",
    "read_deployment",
    "start",
    "pending_candidate",
    "start_candidate",
    "switch",
    "abort",
    "finish_shadow",
    "analyse_canary",
    "apply_decision",
    "analyse_and_apply",
]

STATE_KEY = "deployment"
STRATEGIES = ("direct", "blue_green", "canary", "shadow")
ACTOR = "mlops-deploy"
Status = Literal["running", "promoted", "aborted", "stopped", "completed"]


@dataclass(frozen=True)
class Deployment:
    """A release in progress (or finished): the value of the ``deployment`` state key."""

    strategy: str
    status: str
    baseline: int | None  # production when the release started
    candidate: int | None
    steps: tuple[int, ...] = ()
    step: int = 0
    weight: float = 0.0  # percent of primary traffic the candidate serves (canary)
    shadow_share: float = 0.0  # share of requests the candidate also scores (shadow)
    slots: dict[str, int] = field(default_factory=dict)  # blue-green: slot -> version
    live: str | None = None  # blue-green: the slot that is production
    started_ts: float = 0.0
    step_started_ts: float = 0.0
    note: str = ""

    @property
    def running(self) -> bool:
        """True while a canary or shadow release is active."""
        return self.status == "running"

    def loaded_versions(self) -> set[int]:
        """Versions a router should keep in memory for this deployment."""
        keep = {v for v in self.slots.values() if v is not None}
        if self.running and self.candidate is not None:
            keep.add(self.candidate)
        return keep

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = asdict(self)
        data["steps"] = list(self.steps)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in names}
        values["steps"] = tuple(values.get("steps", ()))
        values["slots"] = {k: int(v) for k, v in (values.get("slots") or {}).items()}
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    """Outcome of a canary analysis: ``promote`` (next step), ``abort`` or ``pause``."""

    action: Literal["promote", "abort", "pause"]
    reasons: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return {"action": self.action, "reasons": list(self.reasons), "evidence": self.evidence}


def read_deployment(registry: Registry, name: str) -> tuple[Deployment | None, str | None]:
    """The current deployment of ``name`` and its CAS token (``(None, None)`` if none)."""
    value, token = registry.get_state(name, STATE_KEY)
    return (None if value is None else Deployment.from_dict(value)), token


def _write(registry: Registry, name: str, dep: Deployment, token: str | None, *, reason: str,
           evidence: dict[str, Any] | None = None, actor: str | None = None) -> Deployment:
    registry.set_state(name, STATE_KEY, dep.to_dict(), expected_token=token,
                       actor=actor or ACTOR, reason=reason, evidence=evidence)
    return dep


def start(registry: Registry, name: str, cfg: DeploymentConfig, *, candidate: int,
          strategy: str | None = None, now: float, reason: str = "",
          actor: str | None = None) -> Deployment:
    """Start releasing ``candidate`` with ``strategy`` (default ``deployment.strategy``).

    ``direct`` promotes at once; ``blue_green`` loads the candidate into the idle slot
    (``switch`` makes it production); ``canary`` sends it ``canary_steps[0]`` % of
    traffic; ``shadow`` lets it score ``shadow_sample_share`` of requests off the path.
    """
    strategy = strategy or cfg.strategy
    if strategy not in STRATEGIES:
        raise RegistryError(f"unknown strategy {strategy!r}; use one of {list(STRATEGIES)}")
    mv = registry.get(name, candidate)
    if not mv.gates_passed:
        raise RegistryError(f"{mv.label}: its gates did not pass; it cannot be released")
    aliases = registry.aliases(name)
    baseline = aliases.get("production")
    if baseline is None:
        raise NotFoundError(f"{name}: no production version yet; promote a first version "
                            "directly (mlops promote VERSION --to production)", model=name)
    if baseline == mv.version:
        raise RegistryError(f"{mv.label} is already production")
    current, token = read_deployment(registry, name)
    if current is not None and current.running:
        raise RegistryError(
            f"{name}: a {current.strategy} release of v{current.candidate} is running; "
            "finish or abort it first (mlops deploy abort)", model=name)
    why = reason or f"start {strategy} release of v{mv.version}"
    if strategy == "direct":
        registry.promote(name, mv.version, "production", expected=baseline,
                         actor=actor or ACTOR, reason=why)
        dep = Deployment("direct", "completed", baseline, mv.version, started_ts=now)
        return _write(registry, name, dep, token, reason=why, actor=actor)
    if strategy == "blue_green":
        # The production version keeps its slot; the candidate goes into the other one.
        live = "blue"
        if (current is not None and current.strategy == "blue_green" and current.live
                and current.slots.get(current.live) == baseline):
            live = current.live
        idle = "green" if live == "blue" else "blue"
        dep = Deployment("blue_green", "running", baseline, mv.version,
                         slots={live: baseline, idle: mv.version}, live=live, started_ts=now)
        return _write(registry, name, dep, token, reason=why, actor=actor)
    if strategy == "canary":
        steps = tuple(int(s) for s in cfg.canary_steps)
        if not steps or any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(steps):
            raise RegistryError(f"deployment.canary_steps {list(steps)} must rise within "
                                "1..100")
        dep = Deployment("canary", "running", baseline, mv.version, steps=steps, step=0,
                         weight=float(steps[0]), started_ts=now, step_started_ts=now)
        return _write(registry, name, dep, token, reason=why, actor=actor)
    dep = Deployment("shadow", "running", baseline, mv.version,
                     shadow_share=float(cfg.shadow_sample_share), started_ts=now,
                     step_started_ts=now)
    return _write(registry, name, dep, token, reason=why, actor=actor)


def pending_candidate(registry: Registry, name: str) -> int | None:
    """The version of the ``candidate`` alias if it is still to be released, else None.

    A candidate is released once: not when it is production already, nor again after its
    release ended (promoted, aborted or rolled back). CD starts a release on every push.
    """
    aliases = registry.aliases(name)
    candidate = aliases.get("candidate")
    last, _ = read_deployment(registry, name)
    if candidate is None or candidate == aliases.get("production") or (
            last is not None and last.candidate == candidate):
        return None
    return candidate


def start_candidate(registry: Registry, name: str, cfg: DeploymentConfig, *,
                    strategy: str | None = None, now: float, reason: str = "",
                    actor: str | None = None) -> Deployment | None:
    """:func:`start` the :func:`pending_candidate`; None (nothing written) when there is none.

    What ``mlops deploy start`` without a version does, after each ``mlops run``.
    """
    candidate = pending_candidate(registry, name)
    if candidate is None:
        return None
    return start(registry, name, cfg, candidate=candidate, strategy=strategy, now=now,
                 reason=reason, actor=actor)


def switch(registry: Registry, name: str, *, now: float, reason: str = "",
           actor: str | None = None) -> Deployment:
    """Blue-green: make the other slot production in one alias move; again to switch back.

    Both slots stay loaded in every router, so the switch (and a switch back) is instant.
    """
    dep, token = read_deployment(registry, name)
    if dep is None or dep.strategy != "blue_green" or len(dep.slots) != 2:
        raise RegistryError(f"{name}: no blue-green deployment to switch; start one with "
                            "mlops deploy start --strategy blue_green VERSION")
    target = next(s for s in dep.slots if s != dep.live)
    current = registry.aliases(name).get("production")
    why = reason or f"blue-green switch to slot {target} (v{dep.slots[target]})"
    # The alias move is the atomic switch: one compare-and-swap ledger entry.
    registry.promote(name, dep.slots[target], "production", expected=current,
                     actor=actor or ACTOR, reason=why)
    new = replace(dep, live=target, status="running", step_started_ts=now)
    return _write(registry, name, new, token, reason=why, actor=actor)


def abort(registry: Registry, name: str, *, reason: str, evidence: dict[str, Any] | None = None,
          now: float, actor: str | None = None) -> Deployment | None:
    """Stop a running canary or shadow: all traffic back to production. None if idle."""
    for _ in range(3):  # a concurrent router may abort at the same time: re-read and retry
        dep, token = read_deployment(registry, name)
        if dep is None or not dep.running:
            return None
        new = replace(dep, status="aborted", weight=0.0, shadow_share=0.0, note=reason,
                      step_started_ts=now)
        try:
            return _write(registry, name, new, token, reason=f"abort: {reason}",
                          evidence=evidence, actor=actor)
        except ConflictError:
            continue
    raise ConflictError(f"{name}: the deployment state keeps changing; abort again")


def finish_shadow(registry: Registry, name: str, *, promote: bool, now: float,
                  reason: str = "", evidence: dict[str, Any] | None = None,
                  actor: str | None = None) -> Deployment:
    """End a shadow release; with ``promote`` the candidate becomes production."""
    dep, token = read_deployment(registry, name)
    if dep is None or dep.strategy != "shadow" or not dep.running:
        raise RegistryError(f"{name}: no running shadow release")
    why = reason or ("promote shadow candidate" if promote else "stop shadow")
    if promote:
        registry.promote(name, dep.candidate, "production", expected=dep.baseline,
                         actor=actor or ACTOR, reason=why, evidence=evidence)
    new = replace(dep, status="promoted" if promote else "stopped", shadow_share=0.0,
                  step_started_ts=now)
    return _write(registry, name, new, token, reason=why, evidence=evidence, actor=actor)


def analyse_canary(dep: Deployment, frame: pd.DataFrame, dcfg: DeploymentConfig,
                   mcfg: MonitoringConfig, *, now: float, regression: bool = False,
                   held_out_mae: float | None = None) -> Decision:
    """Decide the next move of a running canary from the prediction log.

    Abort on any breached rule (candidate over the whole canary, compared with the
    baseline's traffic over the same time). Pause while the current step has fewer than
    ``min_samples_per_step`` candidate requests, has baked less than ``min_bake_seconds``
    or the candidate has fewer than ``min_labelled`` labels. Otherwise promote.

    Only routed requests (role ``primary``) and trusted labels count (see
    :mod:`mlops.serving.rules`); the last reason of every decision says what was used.
    With ``regression`` live quality is the MAE (``held_out_mae``: the candidate's own).
    """
    if dep.strategy != "canary" or not dep.running:
        return Decision("pause", ("no running canary",))
    window = frame[frame["ts"] >= dep.started_ts]
    cand = version_stats(window, dep.candidate, regression=regression)
    base = version_stats(window, dep.baseline, regression=regression)
    results = check_rules(cand, base, mcfg, held_out_mae=held_out_mae)
    step_rows = routed(window[window["ts"] >= dep.step_started_ts], dep.candidate)
    baked = now - dep.step_started_ts
    used = (evidence_of(window, dep.candidate), evidence_of(window, dep.baseline))
    facts = {
        "step": dep.step, "weight": dep.weight, "candidate": cand.to_dict(),
        "baseline": base.to_dict(), "rules": [r.to_dict() for r in results],
        "step_samples": len(step_rows), "baked_seconds": round(baked, 3),
        "evidence": {"candidate": used[0].to_dict(), "baseline": used[1].to_dict()},
        "evidence_text": f"evidence: candidate {used[0].text}; baseline {used[1].text}; "
                         f"{len(step_rows)} routed candidate requests in this step",
    }
    broken = breaches(results)
    if broken:
        return Decision("abort", tuple(_why(r) for r in broken), facts)
    waiting = []
    if len(step_rows) < dcfg.min_samples_per_step:
        waiting.append(f"{len(step_rows)} candidate requests in this step < "
                       f"min_samples_per_step {dcfg.min_samples_per_step}")
    if baked < dcfg.min_bake_seconds:
        waiting.append(f"baked {baked:.0f} s < min_bake_seconds {dcfg.min_bake_seconds:g}")
    if cand.labelled < mcfg.min_labelled:
        waiting.append(f"{cand.labelled} labelled candidate predictions < min_labelled "
                       f"{mcfg.min_labelled}")
    if waiting:
        return Decision("pause", tuple(waiting), facts)
    return Decision("promote", (f"step {dep.step} ({dep.weight:g} %) healthy",), facts)


def _why(result: RuleResult) -> str:
    return f"{result.rule} breached: observed {result.observed}, limit {result.threshold} " \
           f"({result.detail})"


def apply_decision(registry: Registry, name: str, decision: Decision, *, now: float,
                   actor: str | None = None) -> Deployment | None:
    """Write ``decision`` to the registry: next step, final promotion or abort.

    A pause writes nothing (the ledger records changes, not heartbeats). The reason of an
    automatic decision ends with the evidence it used (``evidence_text``).
    """
    dep, token = read_deployment(registry, name)
    if dep is None or not dep.running or dep.strategy != "canary":
        return dep
    reason = "; ".join((*decision.reasons, *(
        [decision.evidence["evidence_text"]] if decision.evidence.get("evidence_text") else [])))
    evidence = {**decision.evidence, "ts": now,
                "auto": not decision.evidence.get("manual"), "kind": decision.action}
    if decision.action == "pause":
        return dep
    if decision.action == "abort":
        return abort(registry, name, reason=reason, evidence=evidence, now=now, actor=actor)
    if dep.step + 1 >= len(dep.steps):
        registry.promote(name, dep.candidate, "production", expected=dep.baseline,
                         actor=actor or ACTOR, reason=f"canary complete: {reason}",
                         evidence=evidence)
        new = replace(dep, status="promoted", weight=100.0, step_started_ts=now)
        return _write(registry, name, new, token, reason="canary complete", evidence=evidence,
                      actor=actor)
    step = dep.step + 1
    new = replace(dep, step=step, weight=float(dep.steps[step]), step_started_ts=now)
    return _write(registry, name, new, token,
                  reason=f"canary step {step}: {dep.steps[step]} % ({reason})",
                  evidence=evidence, actor=actor)


def analyse_and_apply(registry: Registry, name: str, frame: pd.DataFrame,
                      dcfg: DeploymentConfig, mcfg: MonitoringConfig, *, now: float,
                      actor: str | None = None, regression: bool = False
                      ) -> Decision | None:
    """Analyse the running canary of ``name`` and apply the decision; None if no canary."""
    dep, _ = read_deployment(registry, name)
    if dep is None or not dep.running or dep.strategy != "canary":
        return None
    decision = analyse_canary(dep, frame, dcfg, mcfg, now=now, regression=regression,
                              held_out_mae=held_out_metric(registry, name, dep.candidate)
                              if regression else None)
    apply_decision(registry, name, decision, now=now, actor=actor)
    return decision


@dataclass(frozen=True)
class Releases:
    """One model's releases as read once for a screen or a monitoring run: the aliases,
    the ledger and the deployment (a write through the registry makes it stale)."""

    aliases: Mapping[str, int]
    ledger: Sequence[LedgerEntry]
    deployment: Deployment | None

    @classmethod
    def read(cls, registry: Registry, name: str) -> Releases:
        """The registry's view of ``name`` now."""
        return cls(registry.aliases(name), registry.history(name),
                   read_deployment(registry, name)[0])

    @property
    def production(self) -> int | None:
        """The version the ``production`` alias names (None before the first release)."""
        return self.aliases.get("production")

    @cached_property
    def previous_production(self) -> int | None:
        """The version a rollback of ``production`` would go back to (None if none)."""
        stack = Refs.fold([e.to_dict() for e in self.ledger]).stacks.get("production", [])
        return stack[-2] if len(stack) >= 2 else None

    @property
    def canary(self) -> int | None:
        """The candidate of a running canary (it shares production's time), else None."""
        dep = self.deployment
        return dep.candidate if dep is not None and dep.running and dep.strategy == "canary" \
            else None

    @property
    def last_auto_action(self) -> float | None:
        """Clock time (``evidence.ts``) of the newest automatic rollback or abort, if any."""
        for entry in reversed(self.ledger):
            ev = entry.evidence or {}
            if ev.get("auto") and ev.get("kind") in ("rollback", "abort") and "ts" in ev:
                return float(ev["ts"])
        return None
