"""Every verdict of the canary analysis, and what applying each one writes to the registry.

``analyse_canary`` is pure: a deployment, a prediction log and the params go in, a decision
(``promote``, ``pause`` or ``abort``) comes out. ``apply_decision`` then advances the canary
a step, completes it (the candidate becomes production), aborts it, or writes nothing.
The logs are real prediction logs (see ``test_rules.traffic``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_rules import CFG, MODEL, logged, traffic

from mlops.core.config import DeploymentConfig
from mlops.registry.local import LocalRegistry
from mlops.serving import deployment
from mlops.serving.deployment import Decision, Deployment, analyse_canary, apply_decision

DCFG = DeploymentConfig(strategy="canary", canary_steps=(25, 100), min_samples_per_step=50,
                        min_bake_seconds=60, shadow_sample_share=1.0)
START = 1000.0


def canary(step: int = 0, step_started: float = START) -> Deployment:
    """A running canary of v2 against production v1, started at ``START``."""
    return Deployment("canary", "running", baseline=1, candidate=2, steps=DCFG.canary_steps,
                      step=step, weight=float(DCFG.canary_steps[step]), started_ts=START,
                      step_started_ts=step_started)


def healthy(log_path: Path, *, candidate_requests: int = 120, labelled: int = 100,
            start: float = START):
    """Baseline and candidate both right 85 % of the time, fast, without errors."""
    return logged(log_path,
                  traffic(1, 300, labelled=200, correct=170, start=start),
                  traffic(2, candidate_requests, labelled=labelled,
                          correct=int(labelled * 0.85), start=start))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "predictions.sqlite"


# ------------------------------------------------------------------ promote
def test_healthy_step_that_baked_long_enough_is_promoted(log_path: Path) -> None:
    decision = analyse_canary(canary(), healthy(log_path), DCFG, CFG, now=START + 61)
    assert decision.action == "promote"
    assert decision.reasons == ("step 0 (25 %) healthy",)
    ev = decision.evidence
    assert ev["step_samples"] == 120 and ev["baked_seconds"] == 61
    assert ev["candidate"]["version"] == 2 and ev["baseline"]["version"] == 1
    assert {r["rule"]: r["status"] for r in ev["rules"]} == {
        "error_rate": "ok", "p99_latency_ms": "ok", "accuracy_floor": "ok",
        "accuracy_drop": "ok"}


# ------------------------------------------------------------------ pause
def test_too_few_requests_in_this_step_pauses(log_path: Path) -> None:
    # 120 candidate requests in the canary, but only those after the step began count.
    frame = healthy(log_path)
    step_started = float(frame[frame["version"] == 2]["ts"].iloc[-40])
    decision = analyse_canary(canary(step=1, step_started=step_started), frame, DCFG, CFG,
                              now=step_started + 61)
    assert decision.action == "pause"
    assert decision.reasons == ("40 candidate requests in this step < min_samples_per_step 50",)


def test_a_step_that_has_not_baked_long_enough_pauses(log_path: Path) -> None:
    decision = analyse_canary(canary(), healthy(log_path), DCFG, CFG, now=START + 59)
    assert decision.action == "pause"
    assert decision.reasons == ("baked 59 s < min_bake_seconds 60",)


def test_too_few_labels_on_the_candidate_pauses(log_path: Path) -> None:
    decision = analyse_canary(canary(), healthy(log_path, labelled=49), DCFG, CFG,
                              now=START + 61)
    assert decision.action == "pause"
    assert decision.reasons == ("49 labelled candidate predictions < min_labelled 50",)


def test_every_reason_to_wait_is_listed(log_path: Path) -> None:
    frame = healthy(log_path, candidate_requests=10, labelled=5)
    decision = analyse_canary(canary(), frame, DCFG, CFG, now=START)
    assert decision.action == "pause" and len(decision.reasons) == 3


@pytest.mark.parametrize("dep", [
    Deployment("shadow", "running", baseline=1, candidate=2),
    Deployment("canary", "aborted", baseline=1, candidate=2, steps=(25, 100)),
    Deployment("canary", "promoted", baseline=1, candidate=2, steps=(25, 100)),
])
def test_no_running_canary_pauses_without_reading_the_log(dep: Deployment, log_path: Path
                                                          ) -> None:
    decision = analyse_canary(dep, healthy(log_path), DCFG, CFG, now=START + 1e6)
    assert decision == Decision("pause", ("no running canary",))


# ------------------------------------------------------------------ abort
def test_candidate_below_the_accuracy_floor_aborts(log_path: Path) -> None:
    frame = logged(log_path, traffic(1, 300, labelled=200, correct=170),
                   traffic(2, 120, labelled=100, correct=40))
    decision = analyse_canary(canary(), frame, DCFG, CFG, now=START + 61)
    assert decision.action == "abort"
    assert any(r.startswith("accuracy_floor breached") for r in decision.reasons)
    assert any(r.startswith("accuracy_drop breached") for r in decision.reasons)


def test_candidate_errors_abort_even_before_the_step_is_due(log_path: Path) -> None:
    # The step has neither baked nor gathered labels: a breach does not wait for either.
    frame = logged(log_path, traffic(1, 300), traffic(2, 120, errors=12))
    decision = analyse_canary(canary(), frame, DCFG, CFG, now=START + 1)
    assert decision.action == "abort"
    assert decision.reasons == (
        "error_rate breached: observed 0.1, limit 0.02 (12 errors in 120 requests)",)


def test_candidate_much_worse_than_the_baseline_aborts(log_path: Path) -> None:
    # 72 % is above the 65 % floor, but 18 points under the baseline's 90 %.
    frame = logged(log_path, traffic(1, 300, labelled=200, correct=180),
                   traffic(2, 120, labelled=100, correct=72))
    decision = analyse_canary(canary(), frame, DCFG, CFG, now=START + 61)
    assert decision.action == "abort"
    assert [r.split(":")[0] for r in decision.reasons] == ["accuracy_drop breached"]


def test_only_traffic_since_the_canary_started_is_judged(log_path: Path) -> None:
    # v2 failed badly in an earlier release; this canary started afterwards and is healthy.
    frame = logged(log_path,
                   traffic(2, 200, errors=100, labelled=100, correct=0, start=START - 500),
                   traffic(1, 300, labelled=200, correct=170),
                   traffic(2, 120, labelled=100, correct=85))
    decision = analyse_canary(canary(), frame, DCFG, CFG, now=START + 61)
    assert decision.action == "promote"
    assert decision.evidence["candidate"]["requests"] == 120


# ------------------------------------------------------------------ apply_decision
@pytest.fixture
def registry(tmp_path: Path, registry_model_dir: Path) -> LocalRegistry:
    """v1 in production, v2 in a canary at its first step (25 %)."""
    reg = LocalRegistry(tmp_path / "registry")
    for _ in range(2):
        reg.register(MODEL, registry_model_dir / "model.skops", metadata={"gates_passed": True})
    reg.promote(MODEL, 1, "production", expected=None, reason="first release")
    deployment.start(reg, MODEL, DCFG, candidate=2, strategy="canary", now=START)
    return reg


def _ledger_size(reg: LocalRegistry) -> int:
    return len(reg.history(MODEL))


def test_applying_promote_advances_the_step_then_completes_the_canary(
        registry: LocalRegistry, log_path: Path) -> None:
    frame = healthy(log_path)
    dep, _ = deployment.read_deployment(registry, MODEL)
    decision = analyse_canary(dep, frame, DCFG, CFG, now=START + 61)
    assert decision.action == "promote"
    after = apply_decision(registry, MODEL, decision, now=START + 61)
    assert (after.status, after.step, after.weight) == ("running", 1, 100.0)
    assert registry.aliases(MODEL)["production"] == 1, "a step is not a promotion"

    done = apply_decision(registry, MODEL, decision, now=START + 200)
    assert (done.status, done.weight) == ("promoted", 100.0)
    assert registry.aliases(MODEL)["production"] == 2
    assert deployment.read_deployment(registry, MODEL)[0].status == "promoted"


def test_applying_abort_sends_all_traffic_back_to_production(registry: LocalRegistry,
                                                             log_path: Path) -> None:
    frame = logged(log_path, traffic(1, 300), traffic(2, 120, errors=12))
    dep, _ = deployment.read_deployment(registry, MODEL)
    decision = analyse_canary(dep, frame, DCFG, CFG, now=START + 1)
    after = apply_decision(registry, MODEL, decision, now=START + 1)
    assert (after.status, after.weight) == ("aborted", 0.0)
    assert "error_rate breached" in after.note
    assert registry.aliases(MODEL)["production"] == 1
    assert not deployment.read_deployment(registry, MODEL)[0].running


def test_applying_pause_writes_nothing(registry: LocalRegistry, log_path: Path) -> None:
    before = (deployment.read_deployment(registry, MODEL), _ledger_size(registry))
    dep = before[0][0]
    decision = analyse_canary(dep, healthy(log_path), DCFG, CFG, now=START + 1)
    assert decision.action == "pause"
    assert apply_decision(registry, MODEL, decision, now=START + 1) == dep
    assert (deployment.read_deployment(registry, MODEL), _ledger_size(registry)) == before
