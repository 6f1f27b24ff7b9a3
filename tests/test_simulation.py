"""`mlops simulate` end to end, and `mlops feedback`."""

from __future__ import annotations

import json

import pytest

from mlops.cli import main
from mlops.predlog import PredictionLog, read_predictions


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
    log_path = tmp_path / "log.sqlite"
    with PredictionLog(log_path) as log:
        log.add_feedback({"seed": 0})  # creates the database
    (tmp_path / "fb.csv").write_text("request_id,label\nabc,1\ndef,0\n", encoding="utf-8")
    assert main(["feedback", str(tmp_path / "fb.csv"),
                 "--set", f"monitoring.log_path={log_path}"]) == 0
    import sqlite3

    rows = dict(sqlite3.connect(log_path).execute("SELECT request_id, label FROM feedback"))
    assert rows == {"seed": 0, "abc": 1, "def": 0}
    assert read_predictions(log_path).empty
    (tmp_path / "bad.csv").write_text("id,label\nabc,1\n", encoding="utf-8")
    assert main(["feedback", str(tmp_path / "bad.csv"),
                 "--set", f"monitoring.log_path={log_path}"]) == 2
