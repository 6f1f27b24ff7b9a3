"""Large batches in the prediction log: one bounded record, read like rows by monitoring."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.core.schema import infer_schema
from mlops.monitoring.monitor import build_report
from mlops.monitoring.timeline import timeline
from mlops.serving.predlog import (
    LogRecord,
    PredictionLog,
    connect,
    known_request_ids,
    read_input_summaries,
    read_predictions,
)
from mlops.serving.router import Router, batch_request_ids
from mlops.serving.rules import version_stats
from mlops.serving.summary import SUMMARY_ROWS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def features(serving_models):
    return serving_models.test.drop(columns=[serving_models.params.data.target])


@pytest.fixture
def train_features(serving_models):
    return serving_models.train.drop(columns=[serving_models.params.data.target])


def _router(registry, models, schema, path, **kwargs):
    return Router(registry, models.params.model.name, schema, PredictionLog(path),
                  refresh_seconds=3600, **kwargs)


def _table(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _shifted(features: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` held-out rows drawn again, older and with longer loans: a drift to find."""
    batch = features.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    return batch.assign(age=batch["age"] + 12, duration=batch["duration"] * 2)


def test_a_large_batch_is_one_bounded_record_and_reads_as_its_rows(
        serving_registry, serving_models, schema, features, tmp_path):
    path = tmp_path / "log.sqlite"
    small = features.head(20)
    sizes = (SUMMARY_ROWS + 1, 8 * SUMMARY_ROWS)
    with _router(serving_registry, serving_models, schema, path,
                 reference=serving_models.train) as router:
        results = [router.predict_batch(features.sample(n, replace=True, random_state=n))
                   for n in sizes]
        router.predict_batch(small)
        router.flush()
    # The large batches: one record each, no per-row rows; the small one: a row each.
    assert _table(path, "SELECT COUNT(*) FROM predictions")[0][0] == len(small)
    records = _table(path, "SELECT batch_id, n, length(inputs), length(prediction), "
                           "length(proba) FROM batches ORDER BY id")
    assert [r[1] for r in records] == list(sizes)
    assert [r[0] for r in records] == [r.attrs["batch_id"] for r in results]
    # Bounded: eight times the rows, the same input summary size (give or take the
    # categories that a larger sample happens to hit); predictions are 8 bytes a row.
    assert records[1][2] <= records[0][2] * 1.2
    assert [r[3] for r in records] == [r[4] for r in records] == [8 * n for n in sizes]
    frame = read_predictions(path)
    assert len(frame) == sum(sizes) + len(small)
    for result, n in zip(results, sizes, strict=True):
        rows = frame[frame["request_id"].str.startswith(result.attrs["batch_id"])]
        assert list(rows["request_id"]) == batch_request_ids(result.attrs["batch_id"], n)
        np.testing.assert_array_equal(rows["proba"].to_numpy(dtype=float),
                                      result["proba"].to_numpy())
        np.testing.assert_array_equal(rows["prediction"].to_numpy(dtype=int),
                                      result["prediction"].to_numpy())
        assert (rows["version"] == 1).all() and rows["inputs"].isna().all()
        assert rows["role"].eq("primary").all() and rows["error"].isna().all()
    # The small batch still logs its inputs row by row.
    assert frame["inputs"].notna().sum() == len(small)
    summaries = read_input_summaries(path)
    assert list(summaries["rows"]) == list(sizes)
    assert set(summaries["summary"][0]["columns"]) == set(schema.serving_columns)


def test_feedback_on_a_row_of_a_large_batch_counts_in_realised_quality(
        serving_registry, serving_models, schema, features, tmp_path):
    path = tmp_path / "log.sqlite"
    target = serving_models.params.data.target
    test = serving_models.test.sample(2 * SUMMARY_ROWS, replace=True, random_state=1)
    with _router(serving_registry, serving_models, schema, path) as router:
        result = router.predict_batch(test.drop(columns=[target]).reset_index(drop=True))
        router.flush()
        ids = batch_request_ids(result.attrs["batch_id"], len(test))
        truth = test[target].to_numpy()
        chosen = list(range(0, len(ids), 7))
        assert known_request_ids(path, [ids[i] for i in chosen] + [f"{ids[0]}9", "nope"]) == \
            {ids[i] for i in chosen}
        router.feedback({ids[i]: int(truth[i]) for i in chosen}, source="cli:test",
                        trusted=True)
        router.feedback({ids[1]: 1}, source="app:public")  # untrusted: shown, not evidence
    frame = read_predictions(path)
    stats = version_stats(frame, 1)
    assert stats.labelled == len(chosen) and stats.requests == len(test)
    correct = int((result["prediction"].to_numpy()[chosen] == truth[chosen]).sum())
    assert stats.correct == correct
    row = frame.set_index("request_id").loc[ids[1]]
    assert pd.isna(row["label"]) and row["feedback_label"] == 1 and not row["label_trusted"]
    assert row["label_source"] == "app:public"
    # They are not training rows (no inputs were logged), and retraining says so.
    from mlops.monitoring.live_data import merge_live_data

    live = merge_live_data(serving_models.params, path)
    assert (live.live_rows, live.labels_without_inputs) == (0, len(chosen))


def _drift_report(frame, summaries, params, reference, schema):
    cols = list(schema.serving_columns)
    return build_report(frame, params, reference=reference[cols],
                        numeric=[c for c in cols if schema.by_name[c].numeric],
                        categorical=[c for c in cols if not schema.by_name[c].numeric],
                        summaries=summaries)["input_drift"]


@pytest.mark.parametrize("shift", [False, True])
def test_drift_from_a_summary_equals_drift_from_the_same_rows_logged_per_row(
        serving_registry, serving_models, schema, train_features, tmp_path, shift):
    params, reference = serving_models.params, serving_models.train
    batch = _shifted(train_features, 3 * SUMMARY_ROWS, seed=3) if shift else \
        train_features.sample(3 * SUMMARY_ROWS, replace=True, random_state=3).reset_index(
            drop=True)
    summary_log, row_log = tmp_path / "summary.sqlite", tmp_path / "rows.sqlite"
    with _router(serving_registry, serving_models, schema, summary_log,
                 reference=reference) as router:
        router.predict_batch(batch)
    with _router(serving_registry, serving_models, schema, row_log) as router:
        for start in range(0, len(batch), SUMMARY_ROWS):  # at the threshold: row by row
            router.predict_batch(batch.iloc[start:start + SUMMARY_ROWS])
    assert _table(summary_log, "SELECT COUNT(*) FROM predictions")[0][0] == 0
    assert _table(row_log, "SELECT COUNT(*) FROM batches")[0][0] == 0
    got = _drift_report(read_predictions(summary_log), read_input_summaries(summary_log),
                        params, reference, schema)
    want = _drift_report(read_predictions(row_log), read_input_summaries(row_log), params,
                         reference, schema)
    assert got["dataset_drift"] == want["dataset_drift"]
    assert got["drifted_columns"] == want["drifted_columns"]
    assert bool(got["drifted_columns"]) == shift
    for g, w in zip(got["columns"], want["columns"], strict=True):
        assert (g["column"], g["drifted"], g["grade"]) == (w["column"], w["drifted"],
                                                           w["grade"])
        assert g["effect"] == pytest.approx(w["effect"], abs=1e-12)
        assert g["statistic"] == pytest.approx(w["statistic"], abs=1e-12)
    if shift:
        drifted = {c["column"] for c in got["columns"] if c["drifted"]}
        assert {"age", "duration"} <= drifted
    # The timeline's drift per window reads the same summaries.
    tl = timeline(read_predictions(summary_log), reference=reference[["age", "duration"]],
                  numeric=["age", "duration"], windows=1,
                  summaries=read_input_summaries(summary_log))
    assert set(tl.drift["column"]) == {"age", "duration"}
    assert tl.drift["drifted"].all() == shift


def test_without_a_reference_a_summary_keeps_its_own_quantiles_and_still_finds_drift(
        serving_registry, serving_models, schema, train_features, tmp_path):
    path = tmp_path / "log.sqlite"
    with _router(serving_registry, serving_models, schema, path) as router:
        router.predict_batch(_shifted(train_features, 3 * SUMMARY_ROWS, seed=4))
    got = _drift_report(read_predictions(path), read_input_summaries(path),
                        serving_models.params, serving_models.train, schema)
    assert {"age", "duration"} <= set(got["drifted_columns"])


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_multiclass_and_regression_batches_log_their_predictions_exactly(tmp_path, task):
    from sklearn.datasets import load_diabetes, load_wine

    data = (load_wine if task == "multiclass" else load_diabetes)(as_frame=True).frame
    schema = infer_schema(data, target="target")
    frame = data.drop(columns=["target"]).sample(3 * SUMMARY_ROWS, replace=True,
                                                 random_state=0).reset_index(drop=True)
    rng = np.random.default_rng(0)
    if task == "multiclass":
        proba, prediction = rng.random(len(frame)), rng.integers(0, 3, len(frame))
    else:
        proba, prediction = None, rng.normal(150, 50, len(frame))
    with PredictionLog(tmp_path / "log.sqlite") as log:
        log.log_batch(batch_id="b", ts=1.0, model="m", versions=[2] * len(frame), frame=frame,
                      proba=proba, prediction=prediction, latency_ms=5.0, schema=schema)
    read = read_predictions(tmp_path / "log.sqlite")
    np.testing.assert_array_equal(read["prediction"].to_numpy(dtype=float), prediction)
    if proba is None:
        assert read["proba"].isna().all()
    else:
        np.testing.assert_array_equal(read["proba"].to_numpy(dtype=float), proba)
    assert read["prediction"].dtype == ("Int64" if task == "multiclass" else "Float64")
    summary = read_input_summaries(tmp_path / "log.sqlite")["summary"][0]
    assert summary["rows"] == len(frame) and set(summary["columns"]) == set(frame.columns)


def test_an_old_log_without_batch_records_reads_and_is_migrated(tmp_path, schema, features):
    path = tmp_path / "old.sqlite"
    conn = connect(path)
    conn.execute("DROP TABLE batches")  # a log written before batch records existed
    conn.execute("INSERT INTO predictions (request_id, ts, model, version, role, inputs, "
                 "proba, prediction, latency_ms) VALUES ('r1', 1.0, 'm', 1, 'primary', "
                 "'{}', 0.7, 1, 2.0)")
    conn.execute("INSERT INTO feedback (request_id, label, ts, trusted) VALUES ('r1', 1, 2.0,"
                 " 1)")
    conn.commit()
    conn.close()
    assert list(read_predictions(path)["request_id"]) == ["r1"]
    assert read_input_summaries(path).empty
    assert known_request_ids(path, ["r1", "b-1"]) == {"r1"}
    batch = features.sample(SUMMARY_ROWS + 5, replace=True, random_state=0)
    with PredictionLog(path) as log:  # a writer adds the table; old rows stay
        log.log_batch(batch_id="b", ts=3.0, model="m", versions=[1] * len(batch), frame=batch,
                      proba=[0.5] * len(batch), prediction=[0] * len(batch), latency_ms=1.0,
                      schema=schema)
    frame = read_predictions(path)
    assert len(frame) == 1 + len(batch) and frame.loc[0, "label"] == 1
    assert known_request_ids(path, ["r1", "b-1", f"b-{len(batch)}"]) == {"r1", "b-1"}


def test_a_failed_batch_write_leaves_nothing_half_written(tmp_path, schema, features):
    path = tmp_path / "log.sqlite"
    conn = connect(path)
    conn.execute("CREATE TRIGGER full BEFORE INSERT ON batches "
                 "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    conn.commit()
    conn.close()
    batch = features.sample(2 * SUMMARY_ROWS, replace=True, random_state=0)
    with PredictionLog(path) as log:
        log.log(LogRecord("one", 1.0, "m", 1, "primary", None, "{}", 0.4, 0, 1.0))
        log.log_batch(batch_id="big", ts=1.0, model="m", versions=[1] * len(batch),
                      frame=batch, proba=[0.5] * len(batch), prediction=[1] * len(batch),
                      latency_ms=1.0, schema=schema)
        log.flush()
        # The transaction failed whole; retried record by record, only the batch is lost.
        assert log.failed_records == len(batch)
        assert "batch 'big'" in log.write_errors[-1] and "disk full" in log.write_errors[-1]
    assert list(read_predictions(path)["request_id"]) == ["one"]
    assert read_input_summaries(path).empty


@pytest.mark.slow
def test_a_killed_writer_leaves_only_whole_batch_records(tmp_path):
    path = tmp_path / "log.sqlite"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from sklearn.datasets import load_wine
        from mlops.core.schema import infer_schema
        from mlops.serving.predlog import PredictionLog
        data = load_wine(as_frame=True).frame
        schema = infer_schema(data, target="target")
        frame = data.drop(columns=["target"]).sample(20_000, replace=True, random_state=0)
        log = PredictionLog({str(path)!r})
        for i in range(10_000):
            log.log_batch(batch_id=f"b{{i}}", ts=float(i), model="m",
                          versions=[1] * len(frame), frame=frame, proba=[0.5] * len(frame),
                          prediction=list(range(len(frame))), latency_ms=1.0, schema=schema)
            if i == 2:
                print("writing", flush=True)
            time.sleep(0.01)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not path.is_file() or not _table(
                path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'batches'")[0][0]
                or _table(path, "SELECT COUNT(*) FROM batches")[0][0] < 2):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert _table(path, "PRAGMA integrity_check") == [("ok",)]
    records = _table(path, "SELECT n, length(prediction), length(proba), inputs FROM batches")
    assert len(records) >= 2
    for n, prediction, proba, inputs in records:
        assert n == 20_000 and prediction == proba == 8 * n
        assert json.loads(inputs)["rows"] == n
    frame = read_predictions(path)
    assert len(frame) == 20_000 * len(records)


def test_a_large_multiclass_batch_keeps_every_class_probability_for_cbpe(tmp_path):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops.core.modelio import save_model
    from mlops.monitoring import cbpe
    from mlops.monitoring.monitor import estimated_performance
    from mlops.registry.local import LocalRegistry

    data = load_wine(as_frame=True).frame
    X = data.drop(columns=["target"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        X, data["target"])
    save_model(model, tmp_path / "m.skops")
    registry = LocalRegistry(tmp_path / "registry")
    registry.register("wine", tmp_path / "m.skops", metadata={"gates_passed": True})
    registry.promote("wine", 1, "production", expected=None, reason="test")
    batch = X.sample(2 * SUMMARY_ROWS, replace=True, random_state=0).reset_index(drop=True)
    small = X.head(30)
    with Router(registry, "wine", infer_schema(data, target="target"),
                PredictionLog(tmp_path / "log.sqlite"), refresh_seconds=3600,
                reference=X) as router:
        router.predict_batch(batch)
        router.predict_batch(small)  # logged row by row: scored again from its inputs
    frame = read_predictions(tmp_path / "log.sqlite")
    assert frame["class_proba"].notna().sum() == len(batch)
    got = cbpe.log_probabilities(frame, model)
    want = np.concatenate([model.predict_proba(batch), model.predict_proba(small)])
    np.testing.assert_allclose(got, want, atol=1e-12)
    est = estimated_performance(frame, 1, model=model)
    assert est["n"] == len(batch) + len(small)
    assert est["accuracy"] == pytest.approx(cbpe.estimate(want).accuracy)


def test_a_canary_splits_a_large_batch_by_routing_key_and_logs_both_versions(
        serving_registry, serving_models, schema, features, tmp_path):
    from mlops.serving import deployment
    from mlops.serving.router import bucket

    path = tmp_path / "log.sqlite"
    n = 2 * SUMMARY_ROWS
    batch = features.sample(n, replace=True, random_state=5).reset_index(drop=True)
    keys = [f"user-{i % 200}" for i in range(n)]
    with _router(serving_registry, serving_models, schema, path) as router:
        deployment.start(serving_registry, router.name, serving_models.params.deployment,
                         candidate=2, strategy="canary", now=0.0)
        router.refresh()
        result = router.predict_batch(batch, routing_keys=keys)
        weight = router.status()["canary_weight"]
        # Sticky as for single requests: a key's bucket decides, row after row.
        want = [2 if bucket(k, 2) < weight else 1 for k in keys]
        assert list(result["version"]) == want and 1 in want and 2 in want
        single = router.predict(batch.iloc[0].to_dict(), keys[0])
        assert single.version == want[0]
    rows = read_predictions(path)
    batch_rows = rows[rows["request_id"].str.startswith(result.attrs["batch_id"])]
    assert list(batch_rows["version"]) == want
    assert version_stats(rows, 2).requests == want.count(2)


def test_a_summary_grades_many_categories_as_its_rows_and_stays_bounded():
    """Every reference category is kept (more than SUMMARY_CATEGORIES of them here) and an
    over-long unseen value is kept distinct under a digest: the same verdicts as the rows,
    in a summary of bounded size."""
    from sklearn.datasets import load_wine

    from mlops.serving.summary import (
        SUMMARY_CATEGORIES,
        input_drift,
        reference_profiles,
        summarize_inputs,
    )

    rng = np.random.default_rng(0)
    wine = load_wine(as_frame=True).frame
    ref = wine.sample(20_000, replace=True, random_state=1).reset_index(drop=True)
    ref["shop"] = [f"s{i}" for i in rng.integers(0, SUMMARY_CATEGORIES + 500, len(ref))]
    schema = infer_schema(ref, target="target")
    batch = wine.drop(columns="target").sample(5000, replace=True, random_state=2)
    batch = batch.reset_index(drop=True)
    batch["shop"] = [f"s{i}" for i in rng.integers(0, SUMMARY_CATEGORIES + 500, len(batch))]
    batch.loc[:99, "shop"] = [f"new-{i}-" + "x" * 5000 for i in range(100)]  # hostile keys
    summary = json.loads(json.dumps(summarize_inputs(batch, schema,
                                                     reference_profiles(ref, schema))))
    assert len(json.dumps(summary)) < 100_000
    by_rows = input_drift(ref.drop(columns="target"), batch).to_dict()
    by_summary = input_drift(ref.drop(columns="target"), None, [summary]).to_dict()
    assert by_rows == by_summary


def test_a_column_empty_in_a_batch_logged_without_reference_still_reads(tmp_path):
    from sklearn.datasets import load_wine

    from mlops.serving.summary import input_drift

    ref = load_wine(as_frame=True).frame
    ref.loc[::7, "magnesium"] = np.nan
    schema = infer_schema(ref, target="target")
    batch = ref.drop(columns="target").sample(1500, replace=True, random_state=0)
    batch = batch.reset_index(drop=True).assign(magnesium=np.nan)
    with PredictionLog(tmp_path / "log.sqlite") as log:  # no reference: own quantiles
        log.log_batch(batch_id="b", ts=1.0, model="m", versions=[1] * len(batch), frame=batch,
                      proba=[0.5] * len(batch), prediction=[0] * len(batch), latency_ms=1.0,
                      schema=schema)
    summaries = list(read_input_summaries(tmp_path / "log.sqlite")["summary"])
    result = input_drift(ref.drop(columns="target"), None, summaries)
    column = next(c for c in result.columns if c.column == "magnesium")
    assert not column.drifted


def test_request_ids_of_batch_rows_are_ascii_numbers(tmp_path, schema, features):
    big = features.sample(SUMMARY_ROWS + 1, replace=True, random_state=0)
    with PredictionLog(tmp_path / "log.sqlite") as log:
        log.log_batch(batch_id="b", ts=1.0, model="m", versions=[1] * len(big), frame=big,
                      proba=[0.5] * len(big), prediction=[0] * len(big), latency_ms=1.0,
                      schema=schema)
    ids = ["b-0", f"b-{SUMMARY_ROWS}", f"b-{SUMMARY_ROWS + 1}", "b-²", "b-01", "b-١"]
    assert known_request_ids(tmp_path / "log.sqlite", ids) == {"b-0", f"b-{SUMMARY_ROWS}"}
