"""Class labels of every kind (text, integer, boolean; two or more classes) on every serving
path: single row, small and large batch, pinned version, canary, shadow, the log and its
feedback, the monitor's live metrics and CBPE, and ``mlops predict``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlops.core.modelio import save_model
from mlops.core.schema import infer_schema
from mlops.registry.local import LocalRegistry
from mlops.serving import deployment
from mlops.serving.predlog import PredictionLog, read_predictions
from mlops.serving.router import Router
from mlops.serving.summary import SUMMARY_ROWS
from mlops.stages.conversion import ONNX_FILE, convert
from mlops.stages.features import build_preprocessor

LABELS = {
    "text3": ["north", "south", "west"],
    "text2": ["no", "yes"],
    "int3": [3, 7, 11],
    "int2": [0, 1],
    "bool": [False, True],
}


def _data(labels: list, n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    score = x1 + 0.5 * x2 + (colour == "red") + rng.normal(scale=0.3, size=n)
    edges = np.quantile(score, np.linspace(0, 1, len(labels) + 1)[1:-1])
    y = np.asarray(labels, dtype=object)[np.searchsorted(edges, score)]
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour,
                         "y": pd.Series(list(y), dtype=object).infer_objects()})


def _served(tmp_path: Path, kind: str) -> SimpleNamespace:
    """A registry with v1 (production) and v2 of a model whose classes are ``LABELS[kind]``."""
    labels = LABELS[kind]
    frame = _data(labels)
    features = frame.drop(columns="y")
    schema = infer_schema(frame, target="y")
    registry = LocalRegistry(tmp_path / "registry")
    for c in (1.0, 0.1):
        model = Pipeline([("features", build_preprocessor(features)),
                          ("model", LogisticRegression(C=c, max_iter=500))])
        model.fit(features, frame["y"])
        path = tmp_path / f"model-{c}.skops"
        save_model(model, path)
        # With its ONNX twin, as a pipeline run registers it: the twin serves when it may.
        conversion = convert(model, features)
        files = {}
        if conversion.onnx is not None:
            files[ONNX_FILE] = path.with_suffix(".onnx")
            files[ONNX_FILE].write_bytes(conversion.onnx)
        registry.register("m", path, files=files,
                          metadata={"gates_passed": True, "compiled": conversion.record})
    registry.promote("m", 1, "production", expected=None, reason="first release")
    log = PredictionLog(tmp_path / "log.sqlite")
    router = Router(registry, "m", schema, log, positive_class=labels[-1], refresh_seconds=0)
    return SimpleNamespace(router=router, registry=registry, log=log, features=features,
                           labels=labels, frame=frame, path=tmp_path / "log.sqlite")


def _plain_set(values) -> set:
    return {v.item() if hasattr(v, "item") else v for v in values}


@pytest.fixture(params=sorted(LABELS))
def served(request, tmp_path):
    s = _served(tmp_path, request.param)
    yield s
    s.router.close()


def test_every_serving_path_returns_the_models_classes(served):
    router, labels, features = served.router, served.labels, served.features
    router.refresh()
    assert router.status()["scoring"][1]["engine"] == "onnxruntime"  # the twin serves too
    one = router.predict(features.iloc[0].to_dict())
    assert one.label in labels
    small = router.predict_batch(features.head(20))
    assert _plain_set(small["prediction"]) <= set(labels)
    assert small["request_id"].is_unique and len(small) == 20
    big = router.predict_batch(pd.concat([features] * (SUMMARY_ROWS // len(features) + 1),
                                         ignore_index=True))
    assert len(big) > SUMMARY_ROWS and _plain_set(big["prediction"]) <= set(labels)
    pinned = router.predict_batch(features.head(5), version=2)
    assert (pinned["version"] == 2).all() and _plain_set(pinned["prediction"]) <= set(labels)
    router.flush()
    logged = read_predictions(served.path)
    assert _plain_set(logged["prediction"].dropna()) <= set(labels)
    assert set(logged["role"]) == {"primary", "pinned"}
    # The same rows read back as what the caller was given.
    back = logged.set_index("request_id").loc[small["request_id"], "prediction"]
    assert [*back] == [*small["prediction"]]


def test_canary_and_shadow_serve_and_log_the_classes(served):
    from mlops.core.config import load_params

    cfg = load_params(Path(__file__).resolve().parents[2] / "params.yaml").deployment
    router, labels, features = served.router, served.labels, served.features
    deployment.start(served.registry, "m", cfg, candidate=2, strategy="canary", now=0.0)
    router.refresh()
    keys = [f"user-{i}" for i in range(len(features))]
    scored = router.predict_batch(features, routing_keys=keys)
    assert set(scored["version"]) == {1, 2}
    assert _plain_set(scored["prediction"]) <= set(labels)
    deployment.abort(served.registry, "m", reason="test", now=1.0)
    deployment.start(served.registry, "m", cfg, candidate=2, strategy="shadow", now=2.0)
    router.refresh()
    router.predict(features.iloc[0].to_dict())
    router.predict_batch(features.head(10))
    router.flush()
    logged = read_predictions(served.path)
    shadow = logged[logged["role"] == "shadow"]
    assert len(shadow) == 11 and _plain_set(shadow["prediction"]) <= set(labels)


def test_feedback_and_the_monitor_read_the_classes(served):
    from mlops.monitoring import monitor
    from mlops.monitoring.timeline import timeline
    from mlops.serving.rules import version_stats

    router, labels, frame = served.router, served.labels, served.frame
    scored = router.predict_batch(frame.drop(columns="y"))
    truth = dict(zip(scored["request_id"], frame["y"], strict=True))
    assert router.feedback(truth, source="test", trusted=True) == len(frame)
    with pytest.raises(Exception, match="not one of the classes"):
        router.feedback({scored["request_id"][0]: "no such class"}, trusted=True)
    router.flush()
    logged = read_predictions(served.path)
    assert _plain_set(logged["label"]) == set(labels)
    accuracy = float((scored["prediction"].to_numpy() == frame["y"].to_numpy()).mean())
    stats = version_stats(logged, 1)
    assert stats.accuracy == pytest.approx(accuracy)
    live = monitor._labelled_metrics(logged, positive_class=labels[-1])
    assert live["accuracy"] == pytest.approx(accuracy)
    assert live["macro_f1"] is not None
    assert (live["roc_auc"] is not None) == (len(labels) == 2)
    est = monitor.estimated_performance(logged, 1, model=router.loaded_pipeline(1))
    assert est["realised_accuracy"] == pytest.approx(accuracy)
    assert 0 < est["accuracy"] <= 1
    assert timeline(logged).per_version["quality"].notna().any()


def test_mlops_predict_scores_a_file_through_the_router(tmp_path, capsys):
    """`mlops predict` on a raw CSV: the same checks, labels and log as the app's batch."""
    from mlops.cli.main import main

    s = _served(tmp_path, "text3")
    s.router.close()
    raw = tmp_path / "raw.csv"
    s.features.head(40).to_csv(raw, index=False)
    out = tmp_path / "scored.csv"
    env = {"MLOPS_REGISTRY_PATH": str(tmp_path / "registry"),
           "MLOPS_LOG_PATH": str(s.path)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        params = _params_for(tmp_path, s)
        assert main(["predict", "--params", str(params), "--data", str(raw),
                     "--out", str(out)]) == 0
        scored = pd.read_csv(out)
        assert len(scored) == 40 and set(scored["prediction"]) <= set(s.labels)
        assert list(scored.columns[:4]) == ["request_id", "prediction", "confidence", "version"]
        assert main(["predict", "--params", str(params), "--data", str(raw),
                     "--out", str(out), "--version", "2"]) == 0
        assert set(pd.read_csv(out)["version"]) == {2}
        bad = tmp_path / "bad.csv"
        s.features.head(3).drop(columns="x2").to_csv(bad, index=False)
        assert main(["predict", "--params", str(params), "--data", str(bad),
                     "--out", str(tmp_path / "no.csv")]) == 2
        assert "x2" in capsys.readouterr().err
        assert not (tmp_path / "no.csv").exists()
    logged = read_predictions(s.path)
    assert (logged["role"] == "pinned").sum() == 40 and (logged["role"] == "primary").sum() == 40


def _params_for(tmp_path: Path, s: SimpleNamespace) -> Path:
    """A params file for the served model, written the way a user would have it."""
    import yaml

    from mlops.core.schema import save_schema

    root = Path(__file__).resolve().parents[2]
    data = tmp_path / "data.csv"
    s.frame.to_csv(data, index=False)
    save_schema(infer_schema(s.frame, target="y"), tmp_path / "schema.yaml")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"].update(path="data.csv", target="y", schema="schema.yaml",
                          positive_class=s.labels[-1], sensitive_features=[],
                          class_labels={})
    params["model"]["name"] = "m"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_a_batch_answer_names_the_classes_of_the_versions_that_answered(tmp_path):
    """Binary production, a three-class canary: a batch that production alone answered is
    binary (the app then shows the positive class's chance), one that reached the canary
    is not."""
    from mlops.serving.router import bucket

    registry = LocalRegistry(tmp_path / "registry")
    for kind in ("text2", "text3"):
        frame = _data(LABELS[kind])
        features = frame.drop(columns="y")
        model = Pipeline([("features", build_preprocessor(features)),
                          ("model", LogisticRegression(max_iter=500))]).fit(features,
                                                                           frame["y"])
        save_model(model, tmp_path / f"{kind}.skops")
        registry.register("m", tmp_path / f"{kind}.skops", metadata={"gates_passed": True})
    registry.promote("m", 1, "production", expected=None, reason="first release")
    params = SimpleNamespace(canary_steps=(50.0,), canary_interval_seconds=60,
                             strategy="canary", shadow_share=1.0)
    deployment.start(registry, "m", params, candidate=2, strategy="canary", now=0.0)
    rows = _data(LABELS["text3"]).drop(columns="y").head(40)
    keys = [f"k{i}" for i in range(40)]
    to_canary = [bucket(k, 2) < 50 for k in keys]
    with Router(registry, "m", infer_schema(rows, target=None), None) as router:
        stays = [k for k, c in zip(keys, to_canary, strict=True) if not c][:10]
        alone = router.predict_batch(rows.head(len(stays)), routing_keys=stays)
        assert set(alone["variant"]) == {"production"}
        assert alone.attrs["classes"] == ("no", "yes")
        mixed = router.predict_batch(rows, routing_keys=keys)
        assert set(mixed["variant"]) == {"production", "candidate"}
        assert set(mixed.attrs["classes"]) == {"no", "yes", "north", "south", "west"}
