"""The prediction log: every prediction, in embedded SQLite (WAL mode), written in batches.

Three concerns, one module each:

* :mod:`~mlops.serving.predlog.schema`: the tables, how a value is stored, and the
  migration of older logs;
* :mod:`~mlops.serving.predlog.writer`: :class:`PredictionLog`, whose one thread commits
  queued records in batches, so the request path never waits for the disk;
* :mod:`~mlops.serving.predlog.readers`: the log read back as frames (predictions joined
  with feedback, batch input summaries, feedback, events).

Everything is importable from here, as before the split.
"""

from mlops.serving.predlog.readers import (
    LogRead,
    inputs_frame,
    known_request_ids,
    labelled_inputs,
    read_events,
    read_feedback,
    read_input_summaries,
    read_log,
    read_predictions,
)
from mlops.serving.predlog.schema import (
    CLASS_PROBA,
    COLUMNS,
    LABEL_COLUMNS,
    LABELS_JSON,
    ROLES,
    connect,
)
from mlops.serving.predlog.writer import (
    MAX_WRITE_ERRORS_KEPT,
    WRITE_INTERVAL_S,
    LogRecord,
    PredictionLog,
)

__all__ = ["CLASS_PROBA", "COLUMNS", "LABELS_JSON", "LABEL_COLUMNS", "MAX_WRITE_ERRORS_KEPT",
           "ROLES", "WRITE_INTERVAL_S", "LogRead", "LogRecord", "PredictionLog", "connect",
           "inputs_frame", "known_request_ids", "labelled_inputs", "read_events",
           "read_feedback", "read_input_summaries", "read_log", "read_predictions"]
