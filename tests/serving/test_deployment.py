"""Canary analysis, automatic abort and rollback, end to end on real models."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mlops.monitoring.monitor import auto_act, build_report
from mlops.serving import deployment


class Clock:
    """A settable clock, so bake times and cool-downs need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def params(serving_models):
    p = serving_models.params
    return dataclasses.replace(
        p,
        deployment=dataclasses.replace(p.deployment, canary_steps=(50, 100),
                                       min_samples_per_step=30, min_bake_seconds=10),
        monitoring=dataclasses.replace(p.monitoring, min_labelled=30, min_samples=30,
                                       cooldown_seconds=600))


@pytest.fixture
def clock():
    return Clock()


def serve(router, data: pd.DataFrame, n: int, *, start: int = 0, label: bool = True) -> None:
    """Send ``n`` requests (one user each) and feed back their true labels."""
    target = "risk"
    labels = {}
    for i in range(start, start + n):
        row = data.iloc[i % len(data)]
        features = {k: (v.item() if hasattr(v, "item") else v)
                    for k, v in row.drop(target).items()}
        pred = router.predict(features, f"user-{i}")
        labels[pred.request_id] = int(row[target])
        router.clock.now += 0.1
    if label:
        router.feedback(labels, source="test", trusted=True)


@pytest.mark.slow
def test_healthy_canary_pauses_then_promotes_step_by_step(router, params, serving_models):
    reg, name = router.registry, router.name
    deployment.start(reg, name, params.deployment, candidate=2, strategy="canary",
                     now=router.clock())
    router.refresh()
    decision = deployment.analyse_and_apply(reg, name, router.log.frame(), params.deployment,
                                            params.monitoring, now=router.clock())
    assert decision.action == "pause"
    assert any("min_samples_per_step" in r for r in decision.reasons)
    serve(router, serving_models.test, 120)
    decision = deployment.analyse_and_apply(reg, name, router.log.frame(), params.deployment,
                                            params.monitoring, now=router.clock())
    assert decision.action == "promote", decision.reasons
    dep, _ = deployment.read_deployment(reg, name)
    assert (dep.step, dep.weight, dep.status) == (1, 100.0, "running")
    router.refresh()
    serve(router, serving_models.test, 40, start=120)
    # Enough samples, but the step has not baked for min_bake_seconds yet: pause.
    router.clock.now = dep.step_started_ts + 5
    decision = deployment.analyse_and_apply(reg, name, router.log.frame(), params.deployment,
                                            params.monitoring, now=router.clock())
    assert decision.action == "pause" and "baked" in decision.reasons[0]
    router.clock.now = dep.step_started_ts + 11
    decision = deployment.analyse_and_apply(reg, name, router.log.frame(), params.deployment,
                                            params.monitoring, now=router.clock())
    assert decision.action == "promote"
    assert reg.aliases(name)["production"] == 2
    assert deployment.read_deployment(reg, name)[0].status == "promoted"
    promote = [e for e in reg.history(name) if e.action == "promote"][-1]
    assert promote.to_version == 2 and promote.evidence["candidate"]["labelled"] >= 30


@pytest.mark.slow
def test_accuracy_drop_on_canary_aborts_it(router, params, serving_models):
    reg, name = router.registry, router.name
    deployment.start(reg, name, params.deployment, candidate=3, strategy="canary",
                     now=router.clock())
    router.refresh()
    serve(router, serving_models.test, 150)
    actions = auto_act(reg, name, router.log.frame(), params, now=router.clock())
    assert actions[0]["action"] == "abort"
    dep, _ = deployment.read_deployment(reg, name)
    assert dep.status == "aborted" and dep.weight == 0
    entry = reg.history(name)[-1]
    assert entry.reason.startswith("abort:") and "accuracy" in entry.reason
    rules = {r["rule"]: r for r in entry.evidence["rules"]}
    assert rules["accuracy_floor"]["status"] == "breach"
    assert rules["accuracy_drop"]["status"] == "breach"
    assert reg.aliases(name)["production"] == 1
    router.refresh()
    assert router.predict(serving_models.test.drop(columns="risk").iloc[0].to_dict()).version == 1


def test_accuracy_drop_on_production_rolls_back_with_evidence_once(router, params,
                                                                   serving_models):
    reg, name = router.registry, router.name
    serve(router, serving_models.test, 60)  # v1's live track record
    deployment.start(reg, name, params.deployment, candidate=3, strategy="direct",
                     now=router.clock())
    router.refresh()
    assert deployment.Releases.read(reg, name).previous_production == 1
    serve(router, serving_models.test, 60, start=60)
    frame = router.log.frame()
    actions = auto_act(reg, name, frame, params, now=router.clock())
    assert [a["action"] for a in actions] == ["rollback"]
    assert reg.aliases(name)["production"] == 1
    entry = reg.history(name)[-1]
    assert (entry.action, entry.from_version, entry.to_version) == ("rollback", 3, 1)
    assert entry.evidence["current"]["version"] == 3
    assert entry.evidence["current"]["accuracy"] < 0.5
    assert entry.evidence["previous"]["accuracy"] > 0.6
    router.refresh()
    assert router.predict(serving_models.test.drop(columns="risk").iloc[0].to_dict()).version == 1
    # Re-promote the bad version at once: the cool-down holds instead of flapping.
    reg.promote(name, 3, "production", expected=1, reason="test")
    actions = auto_act(reg, name, frame, params, now=router.clock() + 60)
    assert actions[-1]["action"] == "hold"
    assert reg.aliases(name)["production"] == 3


def test_healthy_production_is_left_alone_and_report_has_every_section(router, params,
                                                                       serving_models):
    reg, name = router.registry, router.name
    deployment.start(reg, name, params.deployment, candidate=2, strategy="shadow",
                     now=router.clock())
    router.refresh()
    serve(router, serving_models.test, 80)
    router.flush()
    frame = router.log.frame()
    assert auto_act(reg, name, frame, params, now=router.clock()) == []
    features = serving_models.train.drop(columns="risk")
    report = build_report(frame, params, reference=features, production=1,
                          reference_proba=reg.load_model(name, 1).predict_proba(features)[:, 1])
    (v1,) = report["versions"]
    assert v1["version"] == 1 and v1["requests"] == 80 and v1["labelled"] == 80
    assert v1["accuracy"] > 0.6 and v1["p99_ms"] >= v1["p50_ms"] > 0
    assert report["shadow"]["pairs"] == 80 and 0.5 < report["shadow"]["agreement"] <= 1
    assert {c["column"] for c in report["input_drift"]["columns"]} >= {"age", "sex"}
    assert "prediction_drift" in report
    assert {r["rule"] for r in report["rules"]} == {"error_rate", "p99_latency_ms",
                                                     "accuracy_floor", "accuracy_drop"}


def test_a_candidate_is_released_once(tmp_path, registry_model_dir):
    from mlops.core.config import load_params
    from mlops.registry.local import LocalRegistry

    cfg = load_params("params.yaml").deployment
    reg = LocalRegistry(tmp_path / "registry")

    def publish() -> None:  # the first version becomes production, later ones candidate
        reg.publish("credit-risk", registry_model_dir / "model.skops",
                    metadata={"gates_passed": True})

    publish()
    assert deployment.pending_candidate(reg, "credit-risk") is None  # no candidate yet
    assert deployment.start_candidate(reg, "credit-risk", cfg, now=1.0) is None
    publish()
    assert deployment.pending_candidate(reg, "credit-risk") == 2
    dep = deployment.start_candidate(reg, "credit-risk", cfg, strategy="direct", now=1.0)
    assert (dep.strategy, dep.candidate, dep.status) == ("direct", 2, "completed")
    assert reg.aliases("credit-risk")["production"] == 2
    assert deployment.pending_candidate(reg, "credit-risk") is None  # it is production now
    publish()
    assert deployment.pending_candidate(reg, "credit-risk") == 3
    dep = deployment.start_candidate(reg, "credit-risk", cfg, strategy="canary", now=2.0)
    assert (dep.strategy, dep.candidate, dep.status) == ("canary", 3, "running")
    assert deployment.pending_candidate(reg, "credit-risk") is None  # being released
    deployment.abort(reg, "credit-risk", reason="drill", now=3.0)
    assert deployment.pending_candidate(reg, "credit-risk") is None  # its release ended
    assert deployment.start_candidate(reg, "credit-risk", cfg, now=4.0) is None
    assert deployment.read_deployment(reg, "credit-risk")[0].status == "aborted"
