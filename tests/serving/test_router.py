"""Router, request validation and the prediction log, on real models in a tmp registry."""

from __future__ import annotations

import os
import sqlite3
import threading

import pandas as pd
import pytest

from mlops.core.exceptions import RequestError
from mlops.serving import deployment
from mlops.serving.predlog import PredictionLog, read_events, read_predictions
from mlops.serving.router import Router, bucket


@pytest.fixture
def rows(serving_models):
    features = serving_models.test.drop(columns=[serving_models.params.data.target])
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in features.to_dict(orient="records")]


def test_predict_scores_with_production_and_logs_the_row(router, rows, serving_registry):
    pipeline = serving_registry.load_model(router.name, 1)
    pred = router.predict(rows[0], "user-1")
    assert pred.version == 1 and pred.variant == "production"
    import pandas as pd

    expected = pipeline.predict_proba(pd.DataFrame([rows[0]]))[0, 1]
    assert pred.proba == pytest.approx(expected)
    assert pred.label == int(expected >= 0.5)
    frame = router.log.frame()
    assert list(frame["request_id"]) == [pred.request_id]
    assert frame.loc[0, "role"] == "primary" and frame.loc[0, "version"] == 1
    assert frame.loc[0, "latency_ms"] > 0 and pd.isna(frame.loc[0, "error"])


@pytest.mark.parametrize(("change", "rule", "words"), [
    (lambda r: r.pop("age"), "missing_field", "missing field(s) ['age']"),
    (lambda r: r.update(colour="red"), "unknown_field", "unknown field(s) ['colour']"),
    (lambda r: r.update(age="forty"), "type", "'age' is 'forty'"),
    (lambda r: r.update(age=True), "type", "expected an integer"),
    (lambda r: r.update(sex=3), "type", "expected a string"),
    (lambda r: r.update(sex="robot"), "unknown_category", "never seen in training"),
    (lambda r: r.update(duration=None), "null", "is null"),
    (lambda r: r.update(age=10**400), "type", "int64 range"),
])
def test_bad_request_is_refused_clearly_and_logged(router, rows, change, rule, words):
    row = dict(rows[0])
    change(row)
    with pytest.raises(RequestError) as info:
        router.predict(row, "user-1")
    assert info.value.fields["rule"] == rule
    assert words in info.value.message
    frame = router.log.frame()
    assert frame.loc[0, "error"].startswith("RequestError")
    assert pd_isna(frame.loc[0, "version"])
    # The router keeps serving after a refusal.
    assert router.predict(rows[0]).version == 1


def pd_isna(value):
    import pandas as pd

    return pd.isna(value)


def test_request_accepts_integral_floats_and_warns_out_of_range(router, rows):
    row = dict(rows[0], age=80.0)
    pred = router.predict(row)
    assert pred.warnings and "age=80" in pred.warnings[0]


def test_bucket_is_stable_and_uniform():
    assert bucket("user-7", 2) == bucket("user-7", 2)
    assert bucket("user-7", 2) != bucket("user-7", 3)
    share = sum(bucket(f"u{i}", 2) < 25 for i in range(4000)) / 4000
    assert 0.22 < share < 0.28


@pytest.mark.slow
def test_canary_routing_is_sticky_per_key_and_follows_the_weight(router, rows, serving_models):
    reg, name = router.registry, router.name
    deployment.start(reg, name, serving_models.params.deployment, candidate=2,
                     strategy="canary", now=0.0)
    router.refresh()
    seen = {}
    for i in range(400):
        key = f"user-{i % 100}"
        pred = router.predict(rows[i % len(rows)], key)
        assert seen.setdefault(key, pred.version) == pred.version  # sticky
    on_candidate = {k for k, v in seen.items() if v == 2}
    assert on_candidate == {k for k in seen if bucket(k, 2) < 5}
    assert all(v == 1 for k, v in seen.items() if k not in on_candidate)
    # A batch says who answered each row, and the classes: the caller need not ask again.
    keys = [f"user-{i}" for i in range(100)]
    frame = pd.DataFrame([rows[i % len(rows)] for i in range(100)])
    result = router.predict_batch(frame, routing_keys=keys)
    assert result["variant"].tolist() == ["candidate" if k in on_candidate else "production"
                                          for k in keys]
    assert result["version"].tolist() == [2 if k in on_candidate else 1 for k in keys]
    assert result.attrs["classes"] == router.classes(1)
    assert set(router.predict_batch(frame, version=2)["variant"]) == {"pinned"}


@pytest.mark.slow  # 10,000 real predictions: about 50 s on two cores
def test_eight_threads_log_exactly_ten_thousand_rows(serving_registry, serving_models, schema,
                                                     rows, tmp_path):
    path = tmp_path / "threads.sqlite"
    router = Router(serving_registry, serving_models.params.model.name, schema,
                    PredictionLog(path), refresh_seconds=3600)
    failures = []

    def worker(t):
        try:
            for i in range(1250):
                router.predict(rows[(t * 1250 + i) % len(rows)], f"u{t}",
                               request_id=f"t{t}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    router.close()
    assert not failures
    conn = sqlite3.connect(path)
    total, distinct = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM predictions").fetchone()
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert (total, distinct) == (10_000, 10_000)
    assert mode == "wal"


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_broken_candidate_aborts_canary_and_production_keeps_serving(
        router, rows, serving_models, damage):
    reg, name = router.registry, router.name
    deployment.start(reg, name, serving_models.params.deployment, candidate=2,
                     strategy="canary", now=0.0)
    path = reg.root / name / "versions" / "2" / "model.skops"
    os.chmod(path, 0o644)
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"not a model")
    router.refresh()
    # Every user is served by production, even those in the canary's buckets.
    preds = [router.predict(rows[i], f"user-{i}") for i in range(60)]
    assert {p.version for p in preds} == {1}
    dep, _ = deployment.read_deployment(reg, name)
    assert dep.status == "aborted" and dep.weight == 0
    entry = reg.history(name)[-1]
    assert entry.action == "set-state" and "failed to load" in entry.reason
    assert "IntegrityError" in entry.evidence["error"]
    router.log.flush()
    events = read_events(router.log.path)
    assert list(events["kind"]) == ["load_error"] and events.loc[0, "version"] == 2


def test_shadow_scores_off_path_and_is_never_returned(router, rows, serving_models):
    reg, name = router.registry, router.name
    deployment.start(reg, name, serving_models.params.deployment, candidate=3,
                     strategy="shadow", now=0.0)
    router.refresh()
    preds = [router.predict(rows[i], f"user-{i}") for i in range(40)]
    assert {p.version for p in preds} == {1}
    router.flush()
    frame = read_predictions(router.log.path)
    shadow = frame[frame["role"] == "shadow"]
    assert len(shadow) == 40 and set(shadow["version"]) == {3}
    assert set(shadow["request_id"]) == {p.request_id for p in preds}


def test_blue_green_switch_is_instant_and_keeps_the_old_slot_loaded(router, rows,
                                                                    serving_models):
    reg, name = router.registry, router.name
    deployment.start(reg, name, serving_models.params.deployment, candidate=2,
                     strategy="blue_green", now=0.0)
    router.refresh()
    assert router.status()["loaded"] == [1, 2]
    assert router.predict(rows[0]).version == 1
    deployment.switch(reg, name, now=1.0)
    router.refresh()
    assert reg.aliases(name)["production"] == 2
    assert router.predict(rows[0]).version == 2
    assert router.status()["loaded"] == [1, 2]  # rollback needs no load
    deployment.switch(reg, name, now=2.0)
    router.refresh()
    assert router.predict(rows[0]).version == 1


def test_batch_scoring_matches_single_rows_and_logs_every_row(router, rows, serving_models):
    import pandas as pd

    frame = pd.DataFrame(rows[:50])
    result = router.predict_batch(frame)
    singles = [router.predict(r).proba for r in rows[:50]]
    assert result["proba"].tolist() == pytest.approx(singles)
    logged = router.log.frame()
    batch = logged[logged["request_id"].str.startswith(result.attrs["batch_id"])]
    assert len(batch) == 50 and set(batch["version"]) == {1}
    with pytest.raises(RequestError, match="missing column"):
        router.predict_batch(frame.drop(columns=["age"]))


def test_feedback_joins_labels_by_request_id(router, rows):
    preds = [router.predict(r) for r in rows[:5]]
    assert router.feedback({preds[0].request_id: 1, preds[3].request_id: 0},
                           source="labels.csv", trusted=True) == 2
    assert router.feedback({preds[1].request_id: 1}) == 1  # untrusted unless vouched for
    frame = router.log.frame().set_index("request_id")
    assert frame.loc[preds[0].request_id, "label"] == 1
    assert frame.loc[preds[3].request_id, "label"] == 0
    assert frame["label"].isna().sum() == 3  # only trusted labels are evidence
    assert frame.loc[preds[1].request_id, "feedback_label"] == 1  # shown, not used
    assert frame.loc[preds[1].request_id, "label_source"] == "api"
    assert not frame.loc[preds[1].request_id, "label_trusted"]
