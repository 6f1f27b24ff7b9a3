"""A monitoring report reads each input once: the training data (read and split once) and
the log's ``batches`` table (one query for the rows and the input summaries), and the
registry's ledger and deployment (issue 28)."""

from __future__ import annotations

import re

from mlops.core import data as core_data
from mlops.core.schema import load_schema
from mlops.monitoring.monitor import monitor_report
from mlops.serving.predlog import PredictionLog, readers
from mlops.serving.router import Router
from mlops.serving.summary import SUMMARY_ROWS


def test_a_report_reads_the_data_and_the_batches_once(serving_registry, serving_models,
                                                      tmp_path, monkeypatch):
    params = serving_models.params
    target = params.data.target
    log_path = tmp_path / "log.sqlite"
    features = serving_models.test.drop(columns=[target])
    with Router(serving_registry, params.model.name,
                load_schema(params.resolve(params.data.schema)), PredictionLog(log_path),
                refresh_seconds=3600) as router:
        for row in features.head(20).to_dict("records"):
            router.predict(row, "u")
        big = features.sample(SUMMARY_ROWS + 1, replace=True, random_state=0)
        router.predict_batch(big.reset_index(drop=True))  # one summary record
        router.flush()

    calls = {"read_csv": 0, "load_split": 0, "history": 0, "get_state": 0}
    registry_type = type(serving_registry)
    for name in ("history", "get_state"):
        real = getattr(registry_type, name)

        def counted_read(self, *args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(registry_type, name, counted_read)
    statements: list[str] = []
    for name in ("read_csv", "load_split"):
        real = getattr(core_data, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)
        monkeypatch.setattr(core_data, name, counted)
    real_open = readers.open_read_only

    def traced(path):
        conn = real_open(path)
        conn.set_trace_callback(statements.append)
        return conn
    monkeypatch.setattr(readers, "open_read_only", traced)

    report, frame, _ = monitor_report(params, log_path=log_path, registry=serving_registry)
    assert calls == {"read_csv": 1, "load_split": 1, "history": 1, "get_state": 1}
    batch_reads = [s for s in statements if re.search(r"\bFROM batches\b", s)]
    assert len(batch_reads) == 1, batch_reads
    # ... and the report still has both: the batch's rows and its input summary.
    assert (frame["role"] == "primary").sum() == 20 + SUMMARY_ROWS + 1
    assert report["input_summaries"] == {"batches": 1, "rows": SUMMARY_ROWS + 1}
    assert report["estimated_performance"]["calibration"]["rows"] == len(serving_models.test)
