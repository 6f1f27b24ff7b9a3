"""The shadow worker: off the user's path, bounded, and drained by the shared loop."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops.serving.predlog import PredictionLog, read_predictions
from mlops.serving.scoring import LoadedModel
from mlops.serving.shadow import ShadowWorker


class _Constant:
    """A fitted-model stand-in: class 1 with probability 0.75 for every row."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.tile([0.25, 0.75], (len(frame), 1))


MODEL = LoadedModel(version=2, pipeline=_Constant(), positive=1, classes=(0, 1))


def test_rows_and_batches_are_scored_and_logged_as_shadow(tmp_path) -> None:
    log = PredictionLog(tmp_path / "log.sqlite")
    worker = ShadowWorker(log, "m", window_s=0.01)
    worker.start()
    for i in range(3):
        worker.submit_row(MODEL, f"r{i}", 100.0 + i, "key", '{"x": 1}', {"x": 1})
    worker.submit_batch(MODEL, "b", 200.0, pd.DataFrame({"x": [1, 2]}))
    worker.flush()
    worker.close()
    log.close()
    frame = read_predictions(tmp_path / "log.sqlite")
    assert sorted(frame["request_id"]) == ["b-0", "b-1", "r0", "r1", "r2"]
    assert set(frame["role"]) == {"shadow"} and set(frame["version"]) == {2}
    assert frame["proba"].tolist() == [0.75] * 5 and frame["prediction"].tolist() == [1] * 5


def test_a_worker_behind_by_its_capacity_drops_and_counts(tmp_path) -> None:
    worker = ShadowWorker(None, "m", capacity=2)  # not started: nothing is taken off
    for i in range(5):
        worker.submit_row(MODEL, f"r{i}", 0.0, None, "{}", {"x": i})
    assert worker.dropped == 3
    worker.start()
    worker.flush()  # the two it kept are scored; nothing else is waited for
    worker.close()
    worker.close()  # a second close is harmless
