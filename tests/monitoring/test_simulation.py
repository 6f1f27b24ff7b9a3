"""`mlops simulate` end to end, and `mlops feedback`."""

from __future__ import annotations

import json

import pytest

from mlops.cli.main import main
from mlops.serving.predlog import PredictionLog, read_predictions


@pytest.mark.slow  # about 2,300 real predictions
def test_simulate_shows_canary_promotion_shadow_and_automatic_rollback(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "--out", str(out), "--label-noise", "0.05"]) == 0
    summary = json.loads((out / "simulation.json").read_text())
    assert summary["phases"]["canary"]["production_after"] == 2
    assert summary["phases"]["shadow"]["pairs"] > 0
    assert summary["phases"]["shadow"]["agreement"] < 0.5  # v3 learned flipped labels
    assert summary["phases"]["rollback"]["production_after"] == 2
    last = summary["ledger"][-1]
    assert last["action"] == "rollback" and last["evidence"]["auto"] is True


def test_feedback_command_joins_labels(tmp_path):
    from mlops.serving.predlog import LogRecord

    log_path = tmp_path / "log.sqlite"
    with PredictionLog(log_path) as log:
        log.add_feedback({"seed": 0})  # a public label: untrusted
        for rid in ("abc", "def"):
            log.log(LogRecord(rid, 1.0, "credit-risk", 1, "primary", None, "{}", 0.5, 1, 3.0))
    (tmp_path / "fb.csv").write_text("request_id,label\nabc,1\ndef,0\n", encoding="utf-8")
    assert main(["feedback", str(tmp_path / "fb.csv"),
                 "--set", f"monitoring.log_path={log_path}"]) == 0
    import sqlite3

    rows = {r: (label, source, trusted) for r, label, source, trusted in sqlite3.connect(
        log_path).execute("SELECT request_id, label, source, trusted FROM feedback")}
    assert rows == {"seed": (0, "unknown", 0), "abc": (1, "cli:fb.csv", 1),
                    "def": (0, "cli:fb.csv", 1)}  # the command line is a trusted source
    assert read_predictions(log_path)["label"].tolist() == [1, 0]
    (tmp_path / "bad.csv").write_text("id,label\nabc,1\n", encoding="utf-8")
    assert main(["feedback", str(tmp_path / "bad.csv"),
                 "--set", f"monitoring.log_path={log_path}"]) == 2


@pytest.mark.parametrize("labels", [("north", "south", "west"), (3, 7, 11)])
def test_feedback_takes_the_schemas_own_labels_text_or_numbers(tmp_path, labels):
    """Text classes are labels too: the command checks them against the schema as written."""
    import pandas as pd

    from mlops.core.schema import infer_schema, save_schema
    from mlops.serving.predlog import LogRecord

    frame = pd.DataFrame({"x": range(9), "y": list(labels) * 3})
    save_schema(infer_schema(frame, target="y"), tmp_path / "schema.yaml")
    log_path = tmp_path / "log.sqlite"
    with PredictionLog(log_path) as log:
        for rid in ("a", "b"):
            log.log(LogRecord(rid, 1.0, "m", 1, "primary", None, "{}", 0.5, labels[0], 3.0))
    common = ["--set", f"monitoring.log_path={log_path}",
              "--set", f"data.schema={tmp_path / 'schema.yaml'}"]
    (tmp_path / "fb.csv").write_text(f"request_id,label\na,{labels[1]}\nb, {labels[2]}\n",
                                     encoding="utf-8")
    assert main(["feedback", str(tmp_path / "fb.csv"), *common]) == 0
    assert read_predictions(log_path)["label"].tolist() == list(labels[1:])
    # Parquet, with the labels typed as the data set has them.
    pd.DataFrame({"request_id": ["a"], "label": [labels[0]]}).to_parquet(tmp_path / "fb.pq")
    assert main(["feedback", str(tmp_path / "fb.pq"), *common]) == 0
    assert read_predictions(log_path)["label"].tolist() == [labels[0], labels[2]]
    (tmp_path / "bad.csv").write_text("request_id,label\na,east\n", encoding="utf-8")
    assert main(["feedback", str(tmp_path / "bad.csv"), *common]) == 2
    # An empty Parquet cell is an empty label, refused in words (it was a TypeError).
    pd.DataFrame({"request_id": ["a", None], "label": [None, labels[0]]}).to_parquet(
        tmp_path / "gaps.pq")
    assert main(["feedback", str(tmp_path / "gaps.pq"), *common]) == 2


def test_live_data_adds_labelled_primary_rows_to_the_training_data(tmp_path):
    from mlops.core.data import read_csv
    from mlops.serving.predlog import LogRecord

    data = read_csv("data/german.csv")
    rows = data.drop(columns="risk").head(3).to_dict("records")
    log_path = tmp_path / "log.sqlite"
    with PredictionLog(log_path) as log:
        for i, row in enumerate(rows):
            inputs = json.dumps({k: (v.item() if hasattr(v, "item") else v)
                                 for k, v in row.items()})
            log.log(LogRecord(f"r{i}", 1.0, "credit-risk", 1, "primary", None, inputs, 0.5, 1,
                              3.0))
            log.log(LogRecord(f"r{i}", 1.0, "credit-risk", 2, "shadow", None, inputs, 0.5, 1,
                              3.0))
        log.flush()
        log.add_feedback({"r0": 0, "r1": 1}, source="cli:labels.csv", trusted=True)  # r2: none
    out = tmp_path / "retrain.csv"
    assert main(["live-data", "--out", str(out), "--log", str(log_path)]) == 0
    merged = read_csv(out)
    assert len(merged) == len(data) + 2  # labelled primary rows only, shadow rows not twice
    assert list(merged.columns) == list(data.columns)
    assert merged["risk"].tail(2).tolist() == [0, 1]
    assert merged.drop(columns="risk").tail(2).reset_index(drop=True).equals(
        data.drop(columns="risk").head(2).reset_index(drop=True))


def test_live_data_is_validated_before_it_is_written(tmp_path):
    from mlops.core.config import load_params
    from mlops.core.data import read_csv
    from mlops.core.exceptions import DataValidationError
    from mlops.monitoring.live_data import merge_live_data, write_live_data
    from mlops.serving.predlog import LogRecord

    params = load_params("params.yaml")
    training = len(read_csv("data/german.csv"))
    empty = merge_live_data(params, tmp_path / "no-log.sqlite")  # no log yet: no live rows
    assert (empty.training_rows, empty.live_rows, len(empty.frame)) == (training, 0, training)
    row = read_csv("data/german.csv").drop(columns="risk").iloc[0]
    inputs = json.dumps({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    log_path = tmp_path / "log.sqlite"
    with PredictionLog(log_path) as log:
        log.log(LogRecord("r0", 1.0, "credit-risk", 1, "primary", None, inputs, 0.5, 1, 3.0))
        log.flush()
        log.add_feedback({"r0": 7}, source="cli:labels.csv", trusted=True)  # not a label here
    out = tmp_path / "retrain.csv"
    with pytest.raises(DataValidationError):
        write_live_data(params, out, log_path)
    assert not out.exists()


def test_deploy_start_releases_each_candidate_once(tmp_path, registry_model_dir, capsys):
    from mlops.registry.local import LocalRegistry
    from mlops.serving.deployment import read_deployment

    reg = LocalRegistry(tmp_path / "registry")
    for _ in range(2):  # v1 becomes production, v2 candidate, as after two `mlops run`
        reg.publish("credit-risk", registry_model_dir / "model.skops",
                    metadata={"gates_passed": True})
    cli = ["--set", f"registry.path={tmp_path / 'registry'}"]
    assert main(["deploy", "start", *cli]) == 0
    dep, _ = read_deployment(reg, "credit-risk")
    assert (dep.strategy, dep.candidate) == ("canary", 2)
    assert main(["deploy", "abort", *cli]) == 0
    capsys.readouterr()
    # CD runs on every push: an aborted (or rolled-back) candidate is not released again.
    assert main(["deploy", "start", *cli]) == 0
    assert "no new candidate" in capsys.readouterr().out
    assert read_deployment(reg, "credit-risk")[0].status == "aborted"
