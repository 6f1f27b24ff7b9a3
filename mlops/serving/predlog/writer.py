"""The prediction log's writer: callers queue records, one thread commits them in batches.

Callers only put records on an in-memory queue (microseconds); one writer thread drains
the queue and inserts everything waiting in a single transaction. So the request path never
waits for the disk, and many threads can log at once without lock contention. ``flush``
waits until everything queued so far is committed; ``close`` flushes and stops the writer.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.queues import gather
from mlops.core.schema import Schema
from mlops.serving.predlog.readers import read_predictions
from mlops.serving.predlog.schema import (
    FEEDBACK,
    INSERT,
    INSERT_BATCH,
    LABELS_JSON,
    ROLES,
    connect,
    label_value,
)
from mlops.serving.summary import SUMMARY_ROWS, summarize_inputs

__all__ = ["MAX_WRITE_ERRORS_KEPT", "WRITE_INTERVAL_S", "LogRecord", "PredictionLog"]

log = logging.getLogger(__name__)

MAX_WRITE_ERRORS_KEPT = 100  # the newest messages; ``failed_records`` counts them all
WRITE_INTERVAL_S = 0.05  # the most a logged prediction waits before its transaction


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One prediction as it is logged; ``inputs`` is already JSON text."""

    request_id: str
    ts: float
    model: str
    version: int | None
    role: str
    routing_key: str | None
    inputs: str | None
    proba: float | None  # None for a regression model
    prediction: int | float | str | None  # the class, or the predicted value (regression)
    latency_ms: float | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Batch:
    """Many rows logged at once (batch scoring); turned into records by the writer thread."""

    batch_id: str  # row i gets request id f"{batch_id}-{i}"
    ts: float
    model: str
    role: str
    versions: Sequence[int]
    frame: pd.DataFrame
    proba: Sequence[float] | None  # None: a regression model
    prediction: Sequence[Any]
    latency_ms: float
    schema: Schema | None = None  # needed above SUMMARY_ROWS rows
    profiles: Callable[[], Mapping[str, Any] | None] | None = None  # the reference's
    class_proba: np.ndarray | None = None  # rows x classes, more than two classes



class PredictionLog:
    """Batched, thread-safe writer of the prediction log at ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._db_lock = threading.Lock()  # one connection, shared by writer and callers
        self._lock = threading.Lock()  # guards the counters below; never held during I/O
        self._queued = 0
        self._written = 0
        self._done = threading.Condition(self._lock)
        self._closed = False
        self.write_errors: list[str] = []  # the newest MAX_WRITE_ERRORS_KEPT messages
        self.failed_records = 0  # records that could not be written even one by one
        self._thread = threading.Thread(target=self._run, name="predlog-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ writing
    def log(self, record: LogRecord) -> None:
        """Queue one record; returns at once."""
        self._put(record, 1)

    def log_batch(self, *, batch_id: str, ts: float, model: str, versions: Sequence[int],
                  frame: pd.DataFrame, proba: Sequence[float] | None,
                  prediction: Sequence[Any], latency_ms: float,
                  role: str = "primary", schema: Schema | None = None,
                  profiles: Callable[[], Mapping[str, Any] | None] | None = None,
                  class_proba: np.ndarray | None = None) -> None:
        """Queue a scored batch; its records are made on the writer thread.

        Up to :data:`~mlops.serving.summary.SUMMARY_ROWS` rows are logged one row each;
        a larger batch as one record. A routed (``primary``) one summarises its inputs
        against ``schema`` and the reference's drift profiles (``profiles()``, called on the
        writer thread; None or unset: each numeric column is kept on its own quantiles).
        ``class_proba`` (rows x classes) is kept with a large batch of more than two
        classes, whose inputs cannot be scored again for CBPE.
        """
        if len(frame) > SUMMARY_ROWS and role == "primary" and schema is None:
            raise ValueError(f"batch {batch_id!r}: {len(frame)} rows are logged as a summary,"
                             " which needs the schema (log_batch(..., schema=...))")
        self._put(_Batch(batch_id, ts, model, role, versions, frame, proba, prediction,
                         latency_ms, schema, profiles, class_proba), 1)

    def event(self, model: str, version: int | None, kind: str, message: str,
              ts: float | None = None) -> None:
        """Record a non-prediction event (for example ``load_error``) synchronously."""
        with self._db_lock:
            self._conn.execute(
                "INSERT INTO events (ts, model, version, kind, message) VALUES (?, ?, ?, ?, ?)",
                (time.time() if ts is None else ts, model, version, kind, message))
            self._conn.commit()

    def add_feedback(self, labels: Mapping[str, Any] | Iterable[tuple[str, Any]],
                     ts: float | None = None, *, source: str = "unknown",
                     trusted: bool = False) -> int:
        """Store ground-truth labels by request id, with where they came from.

        ``source`` names the sender (``app:operator``, ``app:public``, ``cli:FILE``...);
        only ``trusted`` labels may feed automatic decisions (rollback, canary). A later
        label replaces an earlier one, except that an untrusted label never replaces a
        trusted one. A label is a class (text, an integer or a boolean) or a finite number
        (regression); the caller checks it against the task
        (:meth:`mlops.serving.router.Router.feedback`).
        """
        items = labels.items() if isinstance(labels, Mapping) else labels
        now = time.time() if ts is None else ts
        rows = [(str(rid), label_value(label), now, str(source), int(bool(trusted)))
                for rid, label in items]
        with self._db_lock:
            self._conn.executemany(FEEDBACK, rows)
            self._conn.commit()
        return len(rows)

    def flush(self, timeout: float = 60.0) -> None:
        """Block until every record queued before this call is committed."""
        with self._done:
            target = self._queued
            if not self._done.wait_for(lambda: self._written >= target, timeout=timeout):
                raise TimeoutError(f"prediction log: {target - self._written} batches unwritten")

    def close(self) -> None:
        """Flush, stop the writer thread and close the database."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._conn.close()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def frame(self, **kwargs: Any) -> pd.DataFrame:
        """Flush and read the log (see :func:`read_predictions`)."""
        self.flush()
        return read_predictions(self.path, **kwargs)

    # ------------------------------------------------------------------ internals
    def _put(self, item: Any, n: int) -> None:
        if self._closed:
            raise RuntimeError("prediction log is closed")
        with self._lock:
            self._queued += n
        self._queue.put(item)

    def _run(self) -> None:
        while True:
            # One transaction per interval instead of one per request, so the writer
            # seldom competes with scoring for the GIL and the disk.
            items = gather(self._queue, WRITE_INTERVAL_S)
            stop = any(i is None for i in items)
            self._write([i for i in items if i is not None])
            if stop:
                return

    def _write(self, items: list[Any]) -> None:
        """Insert ``items`` in one transaction; one bad record never costs the others.

        A record that cannot be turned into rows is set aside alone. If the transaction
        fails, it is retried (a busy database), then every record is written on its own
        (a batch summary is one statement, so it is written whole or not at all) so that
        only the records that still fail are lost; those are counted in
        ``failed_records``, logged, and their error kept in ``write_errors``.
        """
        rows: list[tuple[str, tuple[Any, ...], int]] = []  # (statement, values, requests)
        for item in items:
            try:
                rows.extend(_rows(item))
            except Exception as exc:  # a malformed record: skip it, keep the rest
                self._failed(_count(item), f"cannot log {_describe(item)}: "
                                           f"{type(exc).__name__}: {exc}")
        try:
            if rows:
                self._insert(rows)
        except Exception as exc:  # never kill the writer
            log.warning("prediction log: batch insert of %d records failed (%s: %s); "
                        "writing them one by one", len(rows), type(exc).__name__, exc)
            for row in rows:
                try:
                    self._insert([row])
                except Exception as row_exc:
                    what = (f"batch {row[1][0]!r} ({row[1][3]}, {row[2]} rows)"
                            if row[0] is INSERT_BATCH
                            else f"row {row[1][0]!r} ({row[1][4]}, v{row[1][3]})")
                    self._failed(row[2], f"{what} not logged: "
                                         f"{type(row_exc).__name__}: {row_exc}")
        with self._done:
            self._written += len(items)
            self._done.notify_all()

    def _insert(self, rows: list[tuple[str, tuple[Any, ...], int]], attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                with self._db_lock:
                    try:
                        for statement in (INSERT, INSERT_BATCH):
                            values = [r[1] for r in rows if r[0] is statement]
                            if values:
                                self._conn.executemany(statement, values)
                        self._conn.commit()
                    except BaseException:
                        self._conn.rollback()
                        raise
                return
            except sqlite3.OperationalError:  # locked or busy: worth another try
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _failed(self, n: int, message: str) -> None:
        log.error("prediction log: %s", message)
        with self._lock:
            self.failed_records += n
            self.write_errors.append(message)
            del self.write_errors[:-MAX_WRITE_ERRORS_KEPT]



def _rows(item: Any) -> list[tuple[str, tuple[Any, ...], int]]:
    """``(statement, values, requests)`` per record that ``item`` becomes."""
    # INSERT OR IGNORE (for a duplicate) would also skip a CHECK failure silently.
    if item.role not in ROLES:
        raise ValueError(f"role {item.role!r} is not one of {list(ROLES)}")
    if isinstance(item, _Batch):
        if len(item.frame) > SUMMARY_ROWS:
            return [(INSERT_BATCH, _batch_record(item), len(item.frame))]
        return [(INSERT, row, 1) for row in _batch_rows(item)]
    return [(INSERT, (item.request_id, item.ts, item.model, item.version, item.role,
                       item.routing_key, item.inputs, item.proba, item.prediction,
                       item.latency_ms, item.error), 1)]


def _count(item: Any) -> int:
    return len(item.frame) if isinstance(item, _Batch) else 1


def _describe(item: Any) -> str:
    if isinstance(item, _Batch):
        return f"batch {item.batch_id!r} ({len(item.frame)} rows)"
    return f"record {getattr(item, 'request_id', '?')!r}"


def _batch_rows(batch: _Batch) -> list[tuple[Any, ...]]:
    if len(batch.frame) == 0:
        return []
    # pandas' C JSON writer is far faster than json.dumps per row.
    lines = batch.frame.to_json(orient="records", lines=True).splitlines()
    per_row = batch.latency_ms / max(len(lines), 1)
    proba = [None] * len(lines) if batch.proba is None else [float(p) for p in batch.proba]
    return [(f"{batch.batch_id}-{i}", batch.ts, batch.model, int(v), batch.role, None, line,
             p, label_value(y), per_row, None)
            for i, (v, line, p, y) in enumerate(zip(batch.versions, lines, proba,
                                                    batch.prediction, strict=True))]


def _batch_record(batch: _Batch) -> tuple[Any, ...]:
    """The one ``batches`` record of a large batch: compact columns and an input summary."""
    n = len(batch.frame)
    versions = np.asarray(batch.versions, dtype=np.int64)
    prediction = np.asarray(batch.prediction)
    if len(versions) != n or len(prediction) != n or (
            batch.proba is not None and len(batch.proba) != n):
        raise ValueError(f"{n} rows but {len(versions)} versions, {len(prediction)} "
                         "predictions" + ("" if batch.proba is None else
                                          f", {len(batch.proba)} probabilities"))
    if prediction.dtype.kind in "biu":
        predicted, dtype = prediction.astype("<i8").tobytes(), "<i8"
    elif prediction.dtype.kind == "f":
        prediction = prediction.astype("<f8")
        if not np.isfinite(prediction).all():
            raise ValueError("a prediction is not a finite number")
        predicted, dtype = prediction.tobytes(), "<f8"
    else:  # text classes: a JSON list, as a numpy dtype cannot hold them compactly
        predicted = json.dumps([label_value(y) for y in prediction],
                               separators=(",", ":")).encode()
        dtype = LABELS_JSON
    one = bool(n) and bool((versions == versions[0]).all())
    if batch.role == "primary":
        profiles = batch.profiles() if batch.profiles is not None else None
        summary = summarize_inputs(batch.frame, batch.schema, profiles)
    else:  # only routed traffic feeds drift: a shadow or pinned batch keeps no inputs
        summary = {"rows": n, "columns": {}}
    proba = None if batch.proba is None else np.asarray(batch.proba, dtype="<f8").tobytes()
    classes = None
    if batch.class_proba is not None:
        matrix = np.asarray(batch.class_proba, dtype="<f8")
        if matrix.ndim != 2 or len(matrix) != n:
            raise ValueError(f"class probabilities of shape {matrix.shape} for {n} rows")
        classes = matrix.tobytes()
    return (batch.batch_id, batch.ts, batch.model, batch.role, n,
            int(versions[0]) if one else None, None if one else versions.astype("<i8").tobytes(),
            proba, classes, predicted, dtype, batch.latency_ms,
            json.dumps(summary, separators=(",", ":")))

