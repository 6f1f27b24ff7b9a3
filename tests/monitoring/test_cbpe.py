"""Performance before labels (CBPE), its early-warning rule, and the monitoring timeline.

Real models on the bundled data (the session's ``serving_models``), served through a real
router into a temp log; drift is simulated with :mod:`mlops.monitoring.simulation`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mlops.core.schema import load_schema
from mlops.monitoring import cbpe
from mlops.monitoring.monitor import auto_act, estimated_performance
from mlops.monitoring.simulation import SimClock, covariate_shift, send_traffic
from mlops.monitoring.timeline import (
    canary_progress,
    plot_canary,
    plot_drift,
    plot_latency,
    plot_quality,
    plot_requests,
    timeline,
)
from mlops.serving import deployment
from mlops.serving.predlog import LogRecord, PredictionLog
from mlops.serving.rules import breaches, early_warning


@pytest.fixture
def params(serving_models):
    p = serving_models.params
    return dataclasses.replace(
        p,
        deployment=dataclasses.replace(p.deployment, canary_steps=(50, 100),
                                       min_samples_per_step=30, min_bake_seconds=0),
        monitoring=dataclasses.replace(p.monitoring, min_labelled=30, min_samples=30))


@pytest.fixture
def clock():
    return SimClock()


def test_estimate_matches_known_probabilities():
    """Labels drawn from the probabilities themselves: calibrated by construction."""
    rng = np.random.default_rng(3)
    p = rng.beta(2, 2, 3000)
    y = rng.random(3000) < p
    est = cbpe.estimate(np.column_stack([1 - p, p]))
    realised = float(((p >= 0.5) == y).mean())
    assert est.accuracy_interval[0] <= realised <= est.accuracy_interval[1]
    assert est.roc_auc_interval[0] <= roc_auc_score(y, p) <= est.roc_auc_interval[1]
    assert est.accuracy == pytest.approx(np.maximum(p, 1 - p).mean())
    three = rng.dirichlet([1, 1, 1], 2000)
    y3 = (rng.random((2000, 1)) > three.cumsum(axis=1)[:, :-1]).sum(axis=1)
    est3 = cbpe.estimate(three)
    assert est3.accuracy_interval[0] <= (three.argmax(axis=1) == y3).mean() \
        <= est3.accuracy_interval[1]
    assert est3.roc_auc_interval[0] <= roc_auc_score(y3, three, multi_class="ovr") \
        <= est3.roc_auc_interval[1]


@pytest.mark.slow
def test_estimate_is_within_its_interval_on_stationary_traffic(router, serving_models,
                                                               params):
    send_traffic(router, serving_models.test, params.data.target)  # each held-out row once
    frame = router.log.frame()
    est = estimated_performance(frame, 1)
    assert est["n"] == est["labelled"] == len(serving_models.test)
    low, high = est["accuracy_interval"]
    assert low <= est["realised_accuracy"] <= high
    assert low <= est["accuracy"] <= high


@pytest.mark.slow
def test_estimate_moves_with_realised_accuracy_under_covariate_shift(router, serving_models,
                                                                     params,
                                                                     serving_registry):
    """Traffic moves towards the cases the model is unsure of (then sure of): the estimate
    falls (rises) with the realised accuracy, before any label is used."""
    target = params.data.target
    test = serving_models.test
    confidence = serving_registry.load_model(params.model.name, 1).predict_proba(
        test.drop(columns=[target])).max(axis=1)
    results = {}
    for name, weight in (("hard", (1 - confidence) ** 2), ("easy", confidence ** 4)):
        router.clock.now += 1000  # send_traffic keeps the clock still: a phase of its own
        since = router.clock()
        send_traffic(router, covariate_shift(test, weight, n=600, seed=0), target)
        frame = router.log.frame()
        results[name] = estimated_performance(frame[frame["ts"] >= since], 1)
    stationary = cbpe.estimate(serving_registry.load_model(params.model.name, 1)
                               .predict_proba(test.drop(columns=[target])))
    hard, easy = results["hard"], results["easy"]
    assert hard["accuracy"] < stationary.accuracy < easy["accuracy"]
    assert hard["realised_accuracy"] < easy["realised_accuracy"]
    for r in (hard, easy):  # and it stays close to what the labels later say
        assert abs(r["accuracy"] - r["realised_accuracy"]) < 0.06


def test_early_warning_alerts_and_never_rolls_back(serving_registry, params, tmp_path):
    """Production's predictions are all near 0.5: CBPE expects about 52 % accuracy, below the
    floor, with no label at all. The monitor alerts; production and the ledger stay put."""
    name = params.model.name
    serving_registry.promote(name, 2, "production", expected=1, reason="v2 replaces v1")
    ledger_before = len(serving_registry.history(name))
    rng = np.random.default_rng(0)
    with PredictionLog(tmp_path / "log.sqlite") as log:
        for i, p in enumerate(rng.uniform(0.45, 0.55, 200)):
            log.log(LogRecord(f"r{i}", 1000.0 + i, name, 2, "primary", None, "{}", float(p),
                              int(p >= 0.5), 3.0))
        frame = log.frame(inputs=False)
    actions = auto_act(serving_registry, name, frame, params, now=2000.0, apply=True)
    assert [a["action"] for a in actions] == ["alert"]
    assert actions[0]["reasons"][0].startswith("estimated_accuracy")
    assert serving_registry.aliases(name)["production"] == 2
    assert len(serving_registry.history(name)) == ledger_before
    # The rule's own verdict is "alert", which is never a breach.
    result = early_warning(0.52, 0.58, 200, reference=None, cfg=params.monitoring)
    assert result.status == "alert" and breaches([result]) == []
    ok = early_warning(0.8, 0.85, 200, reference=0.78, cfg=params.monitoring)
    assert ok.status == "ok"
    few = early_warning(0.5, 0.55, 10, reference=None, cfg=params.monitoring)
    assert few.status == "insufficient"


def test_calibration_check_on_the_held_out_set(serving_registry, serving_models, params):
    model = serving_registry.load_model(params.model.name, 1)
    test = serving_models.test
    proba = model.predict_proba(test.drop(columns=[params.data.target]))
    check = cbpe.calibration_check(proba, test[params.data.target].to_numpy(), model.classes_)
    assert check["rows"] == len(test)
    assert 0 <= check["expected_calibration_error"] < 0.15
    assert check["accuracy_within_interval"] is True
    assert check["realised_roc_auc"] == pytest.approx(roc_auc_score(test[params.data.target],
                                                                    proba[:, 1]))


@pytest.mark.slow
def test_timeline_of_a_simulated_canary(router, serving_registry, serving_models, params):
    """v2 goes out as a canary and is promoted in two steps; the timeline shows per-version
    series, the drift per column, the estimate next to the realised accuracy, and each
    ledger decision of the canary."""
    name, target = params.model.name, params.data.target
    data = pd.concat([serving_models.test] * 3, ignore_index=True)
    send_traffic(router, data.head(200), target, seed=1)
    deployment.start(serving_registry, name, params.deployment, candidate=2,
                     strategy="canary", now=router.clock())
    router.refresh()
    for chunk in range(3):
        send_traffic(router, data.iloc[200 + chunk * 150:350 + chunk * 150], target,
                     seed=chunk + 2)
        deployment.analyse_and_apply(serving_registry, name, router.log.frame(inputs=False),
                                     params.deployment, params.monitoring,
                                     now=router.clock())
        router.refresh()
    frame = router.log.frame()
    features = serving_models.train.drop(columns=[target])
    schema = load_schema(params.resolve(params.data.schema))
    cols = list(schema.serving_columns)
    tl = timeline(frame, windows=10, reference=features[cols],
                  numeric=[c for c in cols if schema.by_name[c].numeric],
                  categorical=[c for c in cols if not schema.by_name[c].numeric],
                  ledger=serving_registry.history(name))
    per = tl.per_version
    assert set(per["version"]) == {1, 2}
    assert per["requests"].sum() == len(frame)
    assert (per["p99_ms"] >= per["p50_ms"]).all()
    assert per["quality"].between(0, 1).all() and tl.quality == "accuracy"
    assert (per["estimated_lower"] <= per["estimated"]).all()
    assert (per["estimated"] <= per["estimated_upper"]).all()
    assert set(tl.drift["column"]) == set(cols)
    canary = tl.canary[tl.canary["strategy"] == "canary"]
    assert canary["weight"].tolist() == [50.0, 100.0, 100.0]
    assert canary["action"].tolist() == ["start", "promote", "promote"]
    assert canary["status"].tolist()[-1] == "promoted"
    assert serving_registry.aliases(name)["production"] == 2
    wide = tl.series("requests")
    assert list(wide.columns) == ["v1", "v2"]
    for plot in (plot_requests, plot_latency, plot_quality, plot_drift, plot_canary):
        fig = plot(tl)
        assert fig.axes and (fig.axes[0].lines or fig.axes[0].collections)
    assert len(tl.plot("quality").axes[0].lines) == 4  # realised and estimated, per version
    with pytest.raises(ValueError, match="unknown plot"):
        tl.plot("accuracy")


def test_canary_progress_reads_only_deployment_state():
    entries = [{"action": "promote", "key": None, "value": None, "time": "2026-01-01T00:00:00"},
               {"action": "set-state", "key": "deployment", "time": "2026-01-01T00:00:00+00:00",
                "reason": "start", "value": {"strategy": "canary", "status": "running",
                                             "candidate": 2, "step": 0, "weight": 5.0,
                                             "step_started_ts": 10.0}},
               {"action": "set-state", "key": "deployment", "time": "2026-01-01T00:01:00+00:00",
                "reason": "abort: mae", "evidence": {"kind": "abort", "auto": True, "ts": 70},
                "value": {"strategy": "canary", "status": "aborted", "candidate": 2,
                          "step": 0, "weight": 0.0, "step_started_ts": 70.0}}]
    table = canary_progress(entries)
    assert table["action"].tolist() == ["start", "abort"]
    assert table["ts"].tolist() == [10.0, 70.0] and table["auto"].tolist() == [False, True]


def test_monitor_report_shows_the_estimate_and_its_held_out_calibration(router, serving_models,
                                                                       serving_registry, params,
                                                                       tmp_path):
    from mlops.monitoring.monitor import monitor_report

    send_traffic(router, serving_models.test.head(120), params.data.target)
    report, _, _ = monitor_report(params, log_path=tmp_path / "log.sqlite",
                                  registry=serving_registry, now=router.clock())
    est = report["estimated_performance"]
    assert est["version"] == 1 and est["n"] == est["labelled"] == 120
    assert est["accuracy_interval"][0] <= est["accuracy"] <= est["accuracy_interval"][1]
    calibration = est["calibration"]
    assert calibration["rows"] == len(serving_models.test)  # the held-out split
    assert {"expected_calibration_error", "accuracy_within_interval",
            "realised_roc_auc"} <= set(calibration)
