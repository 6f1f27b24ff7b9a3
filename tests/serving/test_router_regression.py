"""Regression served end to end: router, log, feedback, MAE rules, canary, monitor, load time.

A ridge regression on scikit-learn's bundled diabetes data, registered in a temp local
registry; a "bad" version learned the target mirrored around its midrange (a silent bug).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops.core.exceptions import RequestError
from mlops.core.schema import load_schema
from mlops.monitoring.monitor import auto_act, monitor_report
from mlops.monitoring.simulation import SimClock, send_traffic, shift_frame
from mlops.serving import deployment
from mlops.serving.predlog import PredictionLog, read_predictions
from mlops.serving.router import Router
from mlops.serving.rules import check_rules, version_stats

TARGET = "progression"
NAME = "diabetes-test"


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """Data, schema, params (task regression) and two fitted regressors on disk."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops.core.config import load_params
    from mlops.core.modelio import save_model
    from mlops.core.schema import infer_schema, save_schema

    folder = tmp_path_factory.mktemp("diabetes")
    data = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": TARGET})
    data.to_csv(folder / "diabetes.csv", index=False)
    save_schema(infer_schema(data, target=TARGET), folder / "schema.yaml")
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    raw["data"].update(path="diabetes.csv", target=TARGET, task="regression", unit="points",
                       positive_class=None, class_labels={}, sensitive_features=[],
                       schema="schema.yaml")
    raw["evaluation"]["group_bins"] = {}
    raw["model"].update(name=NAME, estimator="ridge",
                        hyperparameters={"ridge": {"alpha": 1.0}})
    (folder / "params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    params = load_params(folder / "params.yaml")
    params = dataclasses.replace(params, monitoring=dataclasses.replace(
        params.monitoring, min_labelled=30, min_samples=30, max_mae_rise=0.2),
        deployment=dataclasses.replace(params.deployment, canary_steps=(50, 100),
                                       min_samples_per_step=30, min_bake_seconds=0))
    train, test = train_test_split(data, test_size=params.data.test_size,
                                   random_state=params.seed)
    X, y = train.drop(columns=[TARGET]), train[TARGET]
    files, mae = {}, {}
    for key, target in (("good", y), ("bad", y.max() + y.min() - y)):
        model = Pipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=1.0))])
        model.fit(X, target)
        files[key] = folder / f"{key}.skops"
        save_model(model, files[key])
        mae[key] = float(np.abs(model.predict(test.drop(columns=[TARGET])) - test[TARGET]).mean())
    return SimpleNamespace(params=params, train=train, test=test, files=files, mae=mae,
                           schema=load_schema(folder / "schema.yaml"))


def _registry(tmp_path: Path, d, order=("good", "bad")):
    from mlops.registry.local import LocalRegistry

    registry = LocalRegistry(tmp_path / "registry")
    for key in order:  # the held-out MAE, as evaluation records it
        registry.register(NAME, d.files[key], metadata={"gates_passed": True,
                                                        "metrics": {"mae": d.mae[key]}})
    registry.promote(NAME, 1, "production", expected=None, reason="first release")
    return registry


def _router(registry, d, tmp_path, **kwargs):
    return Router(registry, NAME, d.schema, PredictionLog(tmp_path / "log.sqlite"),
                  refresh_seconds=3600, task="regression", **kwargs)


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in frame.drop(columns=[TARGET]).to_dict(orient="records")]


def test_regression_router_returns_values_and_logs_numbers(diabetes, tmp_path):
    registry = _registry(tmp_path, diabetes)
    pipeline = registry.load_model(NAME, 1)
    rows = _rows(diabetes.test)
    with _router(registry, diabetes, tmp_path) as router:
        pred = router.predict(rows[0], "user-1")
        expected = float(pipeline.predict(pd.DataFrame([rows[0]]))[0])
        assert pred.proba is None and isinstance(pred.label, float)
        assert pred.label == pytest.approx(expected)
        batch = router.predict_batch(diabetes.test.drop(columns=[TARGET]).head(20))
        assert batch["proba"].isna().all()
        np.testing.assert_allclose(batch["prediction"], pipeline.predict(
            diabetes.test.drop(columns=[TARGET]).head(20)))
        # Numeric labels are stored as numbers; anything else is refused, nothing stored.
        true = float(diabetes.test[TARGET].iloc[0])
        assert router.feedback({pred.request_id: true + 0.5}, source="test", trusted=True) == 1
        for bad in ("151", math.nan, math.inf, None, True):
            with pytest.raises(RequestError, match="not a finite number"):
                router.feedback({pred.request_id: bad}, source="test", trusted=True)
        frame = router.log.frame()
    one = frame[frame["request_id"] == pred.request_id].iloc[0]
    assert one["prediction"] == pytest.approx(expected) and pd.isna(one["proba"])
    assert one["label"] == pytest.approx(true + 0.5)
    assert len(frame) == 21
    stats = version_stats(frame, 1, regression=True)
    assert stats.regression and stats.accuracy is None and stats.labelled == 1
    assert stats.mae == pytest.approx(abs(true + 0.5 - expected))


def test_a_classifier_where_regression_is_expected_does_not_load(diabetes, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from mlops.core.modelio import save_model
    from mlops.registry.local import LocalRegistry

    X, y = diabetes.train.drop(columns=[TARGET]), diabetes.train[TARGET]
    save_model(LogisticRegression(max_iter=2000).fit(X, y > y.median()), tmp_path / "c.skops")
    registry = LocalRegistry(tmp_path / "registry")
    registry.register(NAME, tmp_path / "c.skops", metadata={"gates_passed": True})
    registry.promote(NAME, 1, "production", expected=None, reason="a classifier")
    with _router(registry, diabetes, tmp_path) as router:
        assert "data.task is regression" in router.load_errors[1]
        assert router.status()["production"] is None


def test_mae_rules_roll_back_a_bad_regressor_and_keep_a_good_one(diabetes, tmp_path):
    registry = _registry(tmp_path, diabetes)
    params, clock = diabetes.params, SimClock()
    with _router(registry, diabetes, tmp_path, clock=clock) as router:
        send_traffic(router, diabetes.test, TARGET, n=60)  # v1: healthy
        frame = router.log.frame(inputs=False)
        good = version_stats(frame, 1, regression=True)
        assert good.labelled == 60 and good.mae == pytest.approx(diabetes.mae["good"], rel=0.5)
        results = {r.rule: r for r in check_rules(good, None, params.monitoring,
                                                  held_out_mae=diabetes.mae["good"])}
        assert results["mae_ceiling"].status == "ok"
        assert "accuracy_floor" not in results
        assert auto_act(registry, NAME, frame, params, now=clock()) == []
        registry.promote(NAME, 2, "production", expected=1, reason="release the bad one")
        router.refresh()
        send_traffic(router, diabetes.test, TARGET, n=60, seed=1)
        frame = router.log.frame(inputs=False)
        bad = version_stats(frame, 2, regression=True)
        results = {r.rule: r for r in check_rules(bad, good, params.monitoring,
                                                  held_out_mae=diabetes.mae["bad"])}
        # The mirrored model is as bad on its own held-out set (the ceiling sees nothing
        # new); the comparison with v1's live MAE catches it.
        assert results["mae_rise"].status == "breach" and results["mae_rise"].p_value < 0.05
        actions = auto_act(registry, NAME, frame, params, now=clock())
    assert actions[0]["action"] == "rollback" and actions[0]["to"] == 1
    assert any(r.startswith("mae_rise") for r in actions[0]["reasons"])
    assert registry.aliases(NAME)["production"] == 1


def test_mae_ceiling_uses_the_held_out_mae_of_the_version(diabetes, tmp_path):
    """A version whose live MAE is far above what its evaluation measured is breached."""
    from mlops.registry.local import LocalRegistry

    registry = LocalRegistry(tmp_path / "registry")
    registry.register(NAME, diabetes.files["bad"], metadata={
        "gates_passed": True, "metrics": {"mae": diabetes.mae["good"]}})  # claims good
    registry.promote(NAME, 1, "production", expected=None, reason="first release")
    with _router(registry, diabetes, tmp_path) as router:
        send_traffic(router, diabetes.test, TARGET, n=60)
        frame = router.log.frame(inputs=False)
    actions = auto_act(registry, NAME, frame, diabetes.params, now=1e9)
    assert actions[0]["action"] == "alert"  # breached, but no earlier version to go back to
    assert any(r.startswith("mae_ceiling") for r in actions[0]["reasons"])


def test_regression_canary_of_a_bad_model_is_aborted(diabetes, tmp_path):
    registry = _registry(tmp_path, diabetes)
    params, clock = diabetes.params, SimClock()
    deployment.start(registry, NAME, params.deployment, candidate=2, strategy="canary",
                     now=clock())
    with _router(registry, diabetes, tmp_path, clock=clock) as router:
        served = send_traffic(router, diabetes.test, TARGET, n=200)
        assert set(served["by_version"]) == {1, 2}
        decision = deployment.analyse_and_apply(
            registry, NAME, router.log.frame(inputs=False), params.deployment,
            params.monitoring, now=clock(), regression=True)
    assert decision.action == "abort"
    assert any("mae" in r for r in decision.reasons)
    dep, _ = deployment.read_deployment(registry, NAME)
    assert dep.status == "aborted"


def test_monitor_report_on_a_regression_log(diabetes, tmp_path):
    """`mlops monitor`'s report: MAE per version, drift of predicted values, MAE rules."""

    registry = _registry(tmp_path, diabetes)
    clock = SimClock()
    with _router(registry, diabetes, tmp_path, clock=clock) as router:
        live = shift_frame(diabetes.test, 0.5, seed=0, columns=["bmi", "bp"])
        send_traffic(router, live, TARGET, n=100)
    report, frame, reference = monitor_report(diabetes.params, log_path=tmp_path / "log.sqlite",
                                              registry=registry, now=clock())
    v1 = report["versions"][0]
    assert v1["mae"] is not None and v1["rmse"] >= v1["mae"] and v1["accuracy"] is None
    assert {r["rule"] for r in report["rules"]} >= {"mae_ceiling", "mae_rise"}
    assert "estimated_performance" in report and report["estimated_performance"] is None
    assert report["prediction_drift"]["columns"][0]["column"] == "prediction"
    assert report["input_drift"]["dataset_drift"] or "bmi" in report["input_drift"][
        "drifted_columns"]
    assert len(reference) == len(diabetes.train)


class SlowRegistry:
    """A registry whose model loads take ``delay`` seconds (a big file, a slow disk)."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def load_model(self, name, version):
        time.sleep(self.delay)
        return self.inner.load_model(name, version)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


@pytest.mark.slow
def test_model_load_time_is_recorded_apart_from_latency(diabetes, tmp_path):
    registry = SlowRegistry(_registry(tmp_path, diabetes), delay=1.0)
    rows = _rows(diabetes.test)
    with _router(registry, diabetes, tmp_path) as router:
        registry.inner.promote(NAME, 2, "production", expected=1, reason="next")
        router._next_refresh = 0  # the next request refreshes and loads v2 on its path
        pred = router.predict(rows[0], "user-1")
        status = router.status()
    assert pred.version == 2
    assert status["load_ms"][2] >= 1000  # the load is recorded...
    assert pred.latency_ms < status["load_ms"][2]  # ...and is not this request's latency


def test_cli_feedback_and_monitor_on_a_regression_model(diabetes, tmp_path,
                                                        capsys):
    """`mlops feedback` takes numeric labels (and refuses others, storing nothing);
    `mlops monitor` reports MAE per version and draws its plots for a regressor."""
    import json

    from mlops.cli.main import main

    registry = _registry(tmp_path, diabetes)
    log_path = tmp_path / "log.sqlite"
    with _router(registry, diabetes, tmp_path) as router:
        ids = [router.predict(row).request_id for row in _rows(diabetes.test.head(40))]
    params = str(Path(diabetes.params.root) / "params.yaml")
    common = ["--params", params, "--set", f"monitoring.log_path={log_path}",
              "--set", f"registry.path={tmp_path / 'registry'}"]
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,label\n" + f"{ids[0]},12.5\n{ids[1]},inf\n", encoding="utf-8")
    assert main(["feedback", str(bad), *common]) == 2
    good = tmp_path / "labels.csv"
    truth = diabetes.test[TARGET].head(40).to_numpy(dtype=float) + 0.25
    good.write_text("request_id,label\n" + "".join(f"{r},{y}\n" for r, y in zip(
        ids, truth, strict=True)), encoding="utf-8")
    assert main(["feedback", str(good), *common]) == 0
    stored = read_predictions(log_path)
    assert stored["label"].tolist() == pytest.approx(truth.tolist())
    out = tmp_path / "monitor"
    assert main(["monitor", *common, "--log", str(log_path), "--out", str(out)]) == 0
    report = json.loads((out / "monitor.json").read_text())
    v1 = report["versions"][0]
    assert v1["labelled"] == 40 and v1["mae"] == pytest.approx(
        float(np.abs(stored["label"].astype(float) - stored["prediction"].astype(float)).mean()))
    assert "MAE" in capsys.readouterr().out
    assert {p.name for p in out.glob("*.png")} == {"latency.png", "scores.png", "accuracy.png"}


@pytest.mark.slow
def test_simulation_runs_a_regression_model_through_canary_shadow_and_rollback(
        diabetes, tmp_path):
    """`mlops simulate` on a regressor: v2 is promoted through the canary, v3 (learned the
    mirrored target) is compared in shadow, released, and rolled back on its MAE."""

    from mlops.monitoring import simulation

    data = pd.concat([diabetes.train, diabetes.test], ignore_index=True)
    summary = simulation.simulate(diabetes.params, data, tmp_path / "sim", label_noise=0.05,
                                  feedback_delay=10, check_every=25, phase_requests=100,
                                  max_requests=800)
    assert summary["phases"]["canary"]["production_after"] == 2
    shadow = summary["phases"]["shadow"]
    assert shadow["pairs"] > 0 and shadow["mae_shadow"] > 1.5 * shadow["mae_primary"]
    assert summary["phases"]["rollback"]["production_after"] == 2
    last = summary["ledger"][-1]
    assert last["action"] == "rollback" and last["evidence"]["auto"] is True
    assert "mae_rise" in last["reason"]
    logged = read_predictions(tmp_path / "sim" / "predictions.sqlite", inputs=False)
    assert logged["proba"].isna().all() and logged["prediction"].dtype == "Float64"
