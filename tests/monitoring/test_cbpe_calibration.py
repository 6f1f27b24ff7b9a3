"""The estimate's calibrator (mlops.stages.calibration): fitted on held-out rows, stored with
the version, used by the estimate only, and the estimate withheld when the check fails.

Real data: probabilities with a known truth (drawn labels), and the session's models
trained on the bundled data, served through a real router.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mlops.core.modelio import load_model
from mlops.core.schema import load_schema
from mlops.monitoring import cbpe
from mlops.monitoring.simulation import SimClock, send_traffic
from mlops.monitoring.timeline import timeline
from mlops.registry.local import LocalRegistry
from mlops.serving.predlog import PredictionLog
from mlops.serving.router import Router
from mlops.stages.calibration import (
    CALIBRATION_FILE,
    ISOTONIC_MIN_ROWS,
    Calibrator,
    calibration_result,
    fit_calibrator,
)
from mlops.stages.evaluation import evaluate
from mlops.stages.outputs import write_outputs


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-class probabilities sharper than the truth (a model that is too sure), and
    labels drawn from the truth."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(2, 2, n)
    y = (rng.random(n) < truth).astype(int)
    logit = np.log(truth / (1 - truth))
    p = 1 / (1 + np.exp(-3 * logit))
    return np.column_stack([1 - p, p]), y


def test_calibrated_estimate_covers_what_the_raw_one_misses():
    """Ten held-out sets and live batches: the raw interval misses the realised accuracy
    every time (the model is too sure); the calibrated one covers it as a 95 % interval
    should, and its point lands far closer."""
    covered = {"raw": 0, "calibrated": 0}
    errors = {"raw": [], "calibrated": []}
    for seed in range(10):
        held_p, held_y = _overconfident(3000, 100 + seed)
        live_p, live_y = _overconfident(1000, 200 + seed)
        realised = float((live_p.argmax(axis=1) == live_y).mean())
        cal = fit_calibrator(held_p, held_y, [0, 1], seed=seed)
        assert cal.method == "isotonic"  # 3,000 rows: enough for isotonic
        for key, est in (("raw", cbpe.estimate(live_p, seed=seed)),
                         ("calibrated", cbpe.estimate(live_p, calibrator=cal, seed=seed))):
            low, high = est.accuracy_interval
            covered[key] += low <= realised <= high
            errors[key].append(abs(est.accuracy - realised))
    assert covered["raw"] == 0 and covered["calibrated"] >= 8
    assert np.mean(errors["calibrated"]) < np.mean(errors["raw"]) / 3


def test_few_rows_give_a_sigmoid_and_a_wider_interval_and_json_round_trips():
    held_p, held_y = _overconfident(300, 2)
    live_p, _ = _overconfident(1000, 3)
    small = fit_calibrator(held_p, held_y, [0, 1])
    assert small.method == "sigmoid" and ISOTONIC_MIN_ROWS > 300
    big = fit_calibrator(*_overconfident(6000, 4), [0, 1], method="sigmoid")

    def width(cal: Calibrator) -> float:
        low, high = cbpe.estimate(live_p, calibrator=cal).accuracy_interval
        return high - low

    # The calibrator's own uncertainty widens the interval: 300 rows more than 6,000.
    assert width(small) > 1.15 * width(big)
    again = Calibrator.from_dict(json.loads(json.dumps(small.to_dict())))
    np.testing.assert_allclose(again.apply_all(live_p), small.apply_all(live_p))
    assert cbpe.estimate(live_p, calibrator=again) == cbpe.estimate(live_p, calibrator=small)


def test_multiclass_calibrator_renormalises_one_vs_rest():
    rng = np.random.default_rng(5)
    truth = rng.dirichlet([1, 1, 1], 1500)
    y = (rng.random((1500, 1)) > truth.cumsum(axis=1)[:, :-1]).sum(axis=1)
    sharp = truth ** 3 / (truth ** 3).sum(axis=1, keepdims=True)
    result = calibration_result(sharp, y, [0, 1, 2])
    assert result["trusted"] and result["after"]["ece"] < result["before"]["ece"] / 2
    cal = Calibrator.from_dict(result["calibrator"])
    np.testing.assert_allclose(cal.apply(sharp).sum(axis=1), 1)


def test_check_fails_with_too_few_held_out_rows():
    p, y = _overconfident(30, 6)
    result = calibration_result(p, y, [0, 1])
    assert not result["trusted"] and result["calibrator"] is None
    assert "only 30 held-out rows" in result["reason"]


def test_check_fails_when_no_monotone_map_can_calibrate():
    """Right when sure either way, wrong in the middle... and wrong when very sure of the
    positive class: no monotone map of the probability makes it calibrated."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, 2000)
    y = ((p > 0.35) & (p < 0.65) | (p > 0.9)).astype(int)
    result = calibration_result(np.column_stack([1 - p, p]), y, [0, 1])
    assert not result["trusted"]
    assert "even after calibration" in result["reason"]


def _register(registry: LocalRegistry, serving_models, calibration: dict | None,
              folder: Path) -> int:
    files = {}
    if calibration is not None:
        path = folder / CALIBRATION_FILE
        path.write_text(json.dumps(calibration), "utf-8")
        files[CALIBRATION_FILE] = path
    mv = registry.register(serving_models.params.model.name, serving_models.files["good"],
                           metadata={"gates_passed": True}, files=files)
    return mv.version


def test_served_probabilities_are_byte_identical_with_and_without_the_calibrator(
        serving_models, tmp_path):
    params = serving_models.params
    name, target = params.model.name, params.data.target
    pipeline = load_model(serving_models.files["good"])
    before = pipeline.predict_proba(serving_models.test.drop(columns=[target])).tobytes()
    # The evaluation's outputs fit the calibrator on the held-out rows.
    out = tmp_path / "run"
    paths = write_outputs(evaluate(pipeline, serving_models.test, params), pipeline,
                          serving_models.test, params, out)
    calibration = json.loads(paths["calibration"].read_text("utf-8"))
    assert calibration["calibrator"] is not None and "## Calibration" in \
        (out / "README.md").read_text("utf-8")
    assert pipeline.predict_proba(serving_models.test.drop(columns=[target])).tobytes() \
        == before
    served = {}
    for key, cal in (("without", None), ("with", calibration)):
        registry = LocalRegistry(tmp_path / f"registry-{key}")
        version = _register(registry, serving_models, cal, tmp_path)
        assert (CALIBRATION_FILE in registry.get(name, version).files) == (cal is not None)
        registry.promote(name, version, "production", expected=None, reason="test")
        with Router(registry, name, load_schema(params.resolve(params.data.schema)),
                    PredictionLog(tmp_path / f"log-{key}.sqlite"), refresh_seconds=3600,
                    clock=SimClock()) as router:
            result = router.predict_batch(serving_models.test.drop(columns=[target]))
        served[key] = (result["proba"].to_numpy().tobytes(),
                       result["prediction"].to_numpy().tobytes())
    assert served["with"] == served["without"]
    assert served["with"][0] == np.ascontiguousarray(
        np.frombuffer(before).reshape(-1, 2)[:, 1]).tobytes()


FAILED = {"rows": 30, "trusted": False, "calibrator": None,
          "reason": "only 30 held-out rows (9 of the rarest class): too few to calibrate"}


def _served_log(serving_models, tmp_path, calibration: dict | None) -> tuple[Path, Path]:
    params = serving_models.params
    registry = LocalRegistry(tmp_path / "registry")
    version = _register(registry, serving_models, calibration, tmp_path)
    registry.promote(params.model.name, version, "production", expected=None, reason="test")
    log_path = tmp_path / "log.sqlite"
    clock = SimClock()
    with Router(registry, params.model.name, load_schema(params.resolve(params.data.schema)),
                PredictionLog(log_path), refresh_seconds=3600, clock=clock) as router:
        for i in range(3):
            send_traffic(router, serving_models.test.iloc[i * 60:(i + 1) * 60],
                         params.data.target, seed=i)
            clock.now += 60
    return registry.root, log_path


def test_timeline_withholds_the_estimate_when_the_check_failed(serving_models, tmp_path):
    _, log_path = _served_log(serving_models, tmp_path, None)
    frame = PredictionLog(log_path).frame()
    shown = timeline(frame, windows=3)
    assert shown.per_version["estimated"].notna().all() and not shown.estimate_withheld
    model = load_model(serving_models.files["good"])
    target = serving_models.params.data.target
    test = serving_models.test
    trusted = calibration_result(model.predict_proba(test.drop(columns=[target])),
                                 test[target].to_numpy(), model.classes_)
    calibrated = timeline(frame, windows=3, calibrations={1: trusted})
    assert calibrated.per_version["estimated"].notna().all()
    assert not np.allclose(calibrated.per_version["estimated"], shown.per_version["estimated"])
    hidden = timeline(frame, windows=3, calibrations={1: FAILED})
    assert hidden.per_version["estimated"].isna().all()
    assert hidden.per_version["quality"].notna().all()  # the measured line stays
    assert hidden.estimate_withheld == {1: FAILED["reason"]}


SCRIPT = """
from pathlib import Path
from mlops.app.context import AppContext
from mlops.app.live import show_timeline
from mlops.core.config import load_params
from mlops.core.modelio import load_model
from mlops.core.schema import load_schema
from mlops.registry.local import LocalRegistry

params = load_params({params!r})
ctx = AppContext(params, LocalRegistry({registry!r}), load_schema({schema!r}), Path({log!r}))
show_timeline(ctx)
"""


@pytest.mark.slow
@pytest.mark.parametrize("calibration", [FAILED, None], ids=["check-failed", "no-file"])
def test_monitoring_screen_says_why_there_is_no_estimate_line(serving_models, tmp_path,
                                                              calibration):
    import pyarrow as pa

    params = serving_models.params
    registry_root, log_path = _served_log(serving_models, tmp_path, calibration)
    script = SCRIPT.format(params=str(Path(params.root) / "params.yaml"),
                           registry=str(registry_root), log=str(log_path),
                           schema=str(params.resolve(params.data.schema)))
    at = AppTest.from_string(script, default_timeout=60).run()
    assert not at.exception
    series = {str(s) for chart in at.get("vega_lite_chart") for d in chart.proto.datasets
              for s in pa.ipc.open_stream(d.data.data).read_pandas().iloc[:, 1]}
    warnings = [w.value for w in at.warning]
    if calibration is None:  # registered before calibrators: the raw estimate, as before
        assert "v1 estimated" in series and not warnings
    else:
        assert "v1 estimated" not in series and "v1 measured" in series
        assert warnings == [f"No estimate of v1's accuracy before outcomes are known: "
                            f"{FAILED['reason']}."]


@pytest.mark.slow
def test_monitor_report_uses_the_versions_stored_calibration(serving_models, tmp_path):
    from mlops.monitoring.monitor import estimated_performance, stored_calibration

    params = serving_models.params
    name, target = params.model.name, params.data.target
    model = load_model(serving_models.files["good"])
    test = serving_models.test
    trusted = calibration_result(model.predict_proba(test.drop(columns=[target])),
                                 test[target].to_numpy(), model.classes_, seed=params.seed)
    assert trusted["trusted"], trusted["reason"]
    for calibration in (trusted, FAILED):
        folder = tmp_path / str(calibration["trusted"])
        folder.mkdir()
        root, log_path = _served_log(serving_models, folder, calibration)
        stored = stored_calibration(LocalRegistry(root), name, 1)
        assert stored == json.loads(json.dumps(calibration))
        est = estimated_performance(PredictionLog(log_path).frame(), 1, calibration=stored)
        if calibration["trusted"]:
            assert est["calibrated"] and est["accuracy"] is not None
            assert est["accuracy_interval"][0] <= est["realised_accuracy"] \
                <= est["accuracy_interval"][1]
        else:
            assert est["accuracy"] is None and est["withheld"] == FAILED["reason"]


def test_a_calibration_file_changed_after_registration_withholds_the_estimate(
        serving_models, tmp_path):
    from mlops.app.context import AppContext

    params = serving_models.params
    trusted = {**FAILED, "trusted": True, "reason": "fine", "calibrator": fit_calibrator(
        *_overconfident(300, 8), [0, 1]).to_dict()}
    root, log_path = _served_log(serving_models, tmp_path, trusted)
    registry = LocalRegistry(root)

    def context() -> AppContext:  # an app process
        return AppContext(params, registry, load_schema(params.resolve(params.data.schema)),
                          log_path)
    ctx = context()
    reads = []
    real = registry.read_verified
    registry.read_verified = lambda *a: reads.append(a[-1]) or real(*a)
    assert ctx.calibration(1)["trusted"]
    assert ctx.calibration(1)["trusted"] and reads == [CALIBRATION_FILE]  # checked once
    assert ctx.calibration(7) is None  # not in this registry: no calibration
    stored = registry.file_path(params.model.name, 1, CALIBRATION_FILE)
    stored.chmod(0o644)
    stored.write_text(stored.read_text("utf-8").replace('"trusted": true', '"trusted": 1'))
    changed = context().calibration(1)  # verified when an app loads it, as the model is
    assert not changed["trusted"] and "changed after registration" in changed["reason"]
