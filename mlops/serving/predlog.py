"""The prediction log: every prediction, in embedded SQLite (WAL mode), written in batches.

Callers only put records on an in-memory queue (microseconds); one writer thread drains
the queue and inserts everything waiting in a single transaction. So the request path never
waits for the disk, and many threads can log at once without lock contention. ``flush``
waits until everything queued so far is committed; ``close`` flushes and stops the writer.

Tables (see ``docs/serving.md``):

* ``predictions``: one row per (request id, role, version); ``role`` is ``primary`` (returned to the
  user) or ``shadow`` (scored off the user's path, never returned).
* ``feedback``: ground-truth labels that arrive later, joined by request id.
* ``events``: things that are not predictions, such as a candidate that failed to load.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.core.exceptions import DataError

__all__ = ["COLUMNS", "LogRecord", "PredictionLog", "connect", "inputs_frame", "read_events",
           "read_predictions"]

COLUMNS = ("request_id", "ts", "model", "version", "role", "routing_key", "inputs", "proba",
           "prediction", "latency_ms", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,            -- unix seconds (the router's clock)
    model TEXT NOT NULL,
    version INTEGER,             -- NULL when the request was refused before routing
    role TEXT NOT NULL CHECK (role IN ('primary', 'shadow')),
    routing_key TEXT,
    inputs TEXT,                 -- the request as JSON
    proba REAL,                  -- probability of the positive class
    prediction INTEGER,
    latency_ms REAL,
    error TEXT,                  -- NULL on success
    UNIQUE (request_id, role, version)
);
CREATE INDEX IF NOT EXISTS predictions_version_ts ON predictions (version, ts);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    label INTEGER NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version INTEGER,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
"""
_INSERT = ("INSERT OR IGNORE INTO predictions (request_id, ts, model, version, role, "
           "routing_key, inputs, proba, prediction, latency_ms, error) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


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
    proba: float | None
    prediction: int | None
    latency_ms: float | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Batch:
    """Many rows logged at once (batch scoring); turned into rows by the writer thread."""

    batch_id: str  # row i gets request id f"{batch_id}-{i}"
    ts: float
    model: str
    role: str
    versions: Sequence[int]
    frame: pd.DataFrame
    proba: Sequence[float]
    prediction: Sequence[int]
    latency_ms: float


WRITE_INTERVAL_S = 0.05  # the most a logged prediction waits before its transaction


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the log database in WAL mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    # WAL: readers (monitoring, the app) never block the writer and vice versa.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    conn.commit()
    return conn


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
        self.write_errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="predlog-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ writing
    def log(self, record: LogRecord) -> None:
        """Queue one record; returns at once."""
        self._put(record, 1)

    def log_batch(self, *, batch_id: str, ts: float, model: str, versions: Sequence[int],
                  frame: pd.DataFrame, proba: Sequence[float], prediction: Sequence[int],
                  latency_ms: float, role: str = "primary") -> None:
        """Queue a scored batch; ids and JSON inputs are made on the writer thread."""
        self._put(_Batch(batch_id, ts, model, role, versions, frame, proba, prediction,
                         latency_ms), 1)

    def event(self, model: str, version: int | None, kind: str, message: str,
              ts: float | None = None) -> None:
        """Record a non-prediction event (for example ``load_error``) synchronously."""
        with self._db_lock:
            self._conn.execute(
                "INSERT INTO events (ts, model, version, kind, message) VALUES (?, ?, ?, ?, ?)",
                (time.time() if ts is None else ts, model, version, kind, message))
            self._conn.commit()

    def add_feedback(self, labels: Mapping[str, int] | Iterable[tuple[str, int]],
                     ts: float | None = None) -> int:
        """Store ground-truth labels by request id (a later label replaces an earlier one)."""
        items = labels.items() if isinstance(labels, Mapping) else labels
        now = time.time() if ts is None else ts
        rows = [(str(rid), int(label), now) for rid, label in items]
        with self._db_lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO feedback (request_id, label, ts) VALUES (?, ?, ?)", rows)
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
            items = [self._queue.get()]
            if items[0] is not None:
                # Let a batch gather: one transaction per interval instead of one per request,
                # so the writer seldom competes with scoring for the GIL and the disk.
                time.sleep(WRITE_INTERVAL_S)
            # Drain whatever else is waiting: one transaction for all of it.
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(i is None for i in items)
            items = [i for i in items if i is not None]
            self._write(items)
            if stop:
                return

    def _write(self, items: list[Any]) -> None:
        try:
            rows: list[tuple[Any, ...]] = []
            for item in items:
                if isinstance(item, _Batch):
                    rows.extend(_batch_rows(item))
                else:
                    rows.append((item.request_id, item.ts, item.model, item.version, item.role,
                                 item.routing_key, item.inputs, item.proba, item.prediction,
                                 item.latency_ms, item.error))
            with self._db_lock:
                self._conn.executemany(_INSERT, rows)
                self._conn.commit()
        except Exception as exc:  # never kill the writer: keep the error for monitoring
            self.write_errors.append(f"{type(exc).__name__}: {exc}")
        with self._done:
            self._written += len(items)
            self._done.notify_all()


def _batch_rows(batch: _Batch) -> list[tuple[Any, ...]]:
    # pandas' C JSON writer is far faster than json.dumps per row.
    lines = batch.frame.to_json(orient="records", lines=True).splitlines()
    per_row = batch.latency_ms / max(len(lines), 1)
    return [(f"{batch.batch_id}-{i}", batch.ts, batch.model, int(v), batch.role, None, line,
             float(p), int(y), per_row, None)
            for i, (v, line, p, y) in enumerate(zip(batch.versions, lines, batch.proba,
                                                    batch.prediction, strict=True))]


def read_predictions(path: str | Path, *, model: str | None = None, since: float | None = None,
                     until: float | None = None, inputs: bool = True,
                     missing_ok: bool = False) -> pd.DataFrame:
    """The log as a frame, joined with feedback (``label``, NaN where none arrived).

    A missing log is a DataError, or an empty frame with ``missing_ok`` (nothing served yet).
    """
    path = Path(path)
    cols = [c for c in COLUMNS if inputs or c != "inputs"]
    if not path.is_file() and missing_ok:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in [*cols, "label"]})
        for col in ("version", "prediction", "label"):
            frame[col] = frame[col].astype("Int64")
        return frame
    if not path.is_file():
        raise DataError(f"{path}: no prediction log yet; serve some predictions first",
                        file=str(path), rule="exists")
    where, args = [], []
    for cond, value in (("p.model = ?", model), ("p.ts >= ?", since), ("p.ts < ?", until)):
        if value is not None:
            where.append(cond)
            args.append(value)
    sql = (f"SELECT {', '.join('p.' + c for c in cols)}, f.label AS label "
           "FROM predictions p LEFT JOIN feedback f ON f.request_id = p.request_id"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY p.id")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        frame = pd.read_sql_query(sql, conn, params=args)
    finally:
        conn.close()
    for col in ("version", "prediction", "label"):
        frame[col] = frame[col].astype("Float64").astype("Int64")
    return frame


def read_events(path: str | Path) -> pd.DataFrame:
    """The ``events`` table as a frame."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30)
    try:
        return pd.read_sql_query("SELECT * FROM events ORDER BY id", conn)
    finally:
        conn.close()


def inputs_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The logged request inputs of ``frame`` (successful rows) as their own frame."""
    ok = frame[frame["error"].isna() & frame["inputs"].notna()]
    if ok.empty:
        return pd.DataFrame()
    return pd.DataFrame([json.loads(s) for s in ok["inputs"]], index=ok.index)


def labelled_inputs(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Primary predictions whose true label came back, as training rows (inputs + target).

    ``frame`` is :func:`read_predictions` output; shadow rows are left out so that a request
    counts once.
    """
    rows = frame[(frame["role"] == "primary") & frame["label"].notna()]
    inputs = inputs_frame(rows)
    if inputs.empty:
        return inputs
    inputs[target] = rows.loc[inputs.index, "label"].astype("int64")
    return inputs.reset_index(drop=True)
