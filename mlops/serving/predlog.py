"""The prediction log: every prediction, in embedded SQLite (WAL mode), written in batches.

Callers only put records on an in-memory queue (microseconds); one writer thread drains
the queue and inserts everything waiting in a single transaction. So the request path never
waits for the disk, and many threads can log at once without lock contention. ``flush``
waits until everything queued so far is committed; ``close`` flushes and stops the writer.

Tables (see ``docs/serving.md``):

* ``predictions``: one row per (request id, role, version); ``role`` is ``primary`` (routed:
  returned to the user by production or the canary), ``shadow`` (scored off the user's path,
  never returned) or ``pinned`` (a version the user chose to try: never routed traffic).
* ``feedback``: ground-truth labels that arrive later, joined by request id, each with its
  ``source`` and whether that source is ``trusted`` (the operator, ``mlops feedback``).
  Only trusted labels are evidence (the ``label`` column of :func:`read_predictions`); an
  untrusted label never replaces a trusted one.
* ``batches``: a batch of more than :data:`~mlops.serving.summary.SUMMARY_ROWS` rows, as
  ONE record: its predictions as compact numeric columns (row ``i`` is request
  ``{batch_id}-{i}``, so feedback joins by request id as for any request) and its inputs as
  bounded column statistics (:mod:`mlops.serving.summary`). :func:`read_predictions`
  gives its rows like any others (their ``inputs`` are empty); drift reads the statistics
  (:func:`read_input_summaries`).
* ``events``: things that are not predictions, such as a candidate that failed to load.

Logs written before ``pinned`` and the feedback trust columns existed are migrated when a
writer opens them (:func:`connect`); their labels count as untrusted (source unknown).
A log without a ``batches`` table gains it the same way and reads as one without batches.
"""

from __future__ import annotations

import json
import logging
import math
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

from mlops.core.exceptions import DataError
from mlops.core.schema import Schema
from mlops.serving.summary import SUMMARY_ROWS, summarize_inputs

__all__ = ["COLUMNS", "ROLES", "LogRecord", "PredictionLog", "connect", "inputs_frame",
           "known_request_ids", "read_events", "read_feedback", "read_input_summaries",
           "read_predictions"]

log = logging.getLogger(__name__)

COLUMNS = ("request_id", "ts", "model", "version", "role", "routing_key", "inputs", "proba",
           "prediction", "latency_ms", "error")
ROLES = ("primary", "shadow", "pinned")
# Added by read_predictions when a large batch of more than two classes was logged:
# every class's probability per row (an array; None for other rows).
CLASS_PROBA = "class_proba"
# Added by read_predictions from the feedback table.
LABEL_COLUMNS = ("label", "feedback_label", "label_source", "label_trusted")

_PREDICTIONS = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,            -- unix seconds (the router's clock)
    model TEXT NOT NULL,
    version INTEGER,             -- NULL when the request was refused before routing
    role TEXT NOT NULL CHECK (role IN ('primary', 'shadow', 'pinned')),
    routing_key TEXT,
    inputs TEXT,                 -- the request as JSON (a bounded summary when refused)
    proba REAL,                  -- probability of the positive class (NULL: regression)
    prediction NUMERIC,          -- the class, or the predicted value (regression)
    latency_ms REAL,
    error TEXT,                  -- NULL on success
    UNIQUE (request_id, role, version)
);
CREATE INDEX IF NOT EXISTS predictions_version_ts ON predictions (version, ts);
"""
_SCHEMA = _PREDICTIONS + """
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    label NUMERIC NOT NULL,      -- a class, or the true value (regression)
    ts REAL NOT NULL,
    source TEXT,                 -- who sent it: app:operator, app:public, cli:FILE, ...
    trusted INTEGER NOT NULL DEFAULT 0  -- 1: may feed automatic decisions
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,      -- row i is request f"{batch_id}-{i}"
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('primary', 'shadow', 'pinned')),
    n INTEGER NOT NULL,          -- rows
    version INTEGER,             -- the version of every row, or NULL: see versions
    versions BLOB,               -- int64 per row when versions differ (a canary split)
    proba BLOB,                  -- float64 per row; NULL for regression
    class_proba BLOB,            -- float64 rows x classes, for more than two classes
    prediction BLOB NOT NULL,    -- per row: int64 classes, float64 values, or JSON text
    prediction_dtype TEXT NOT NULL,  -- numpy dtype of prediction (<i8, <f8) or "json"
    latency_ms REAL,             -- the whole batch
    inputs TEXT NOT NULL,        -- JSON: bounded column statistics (mlops.serving.summary)
    UNIQUE (batch_id, role)
);
CREATE INDEX IF NOT EXISTS batches_ts ON batches (ts);
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
_INSERT_BATCH = ("INSERT OR IGNORE INTO batches (batch_id, ts, model, role, n, version, "
                 "versions, proba, class_proba, prediction, prediction_dtype, latency_ms, "
                 "inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# A trusted label replaces any label; an untrusted one replaces only an untrusted one.
_FEEDBACK = ("INSERT INTO feedback (request_id, label, ts, source, trusted) "
             "VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET "
             "label = excluded.label, ts = excluded.ts, source = excluded.source, "
             "trusted = excluded.trusted WHERE excluded.trusted >= feedback.trusted")
# prediction_dtype of a batch whose classes are text: the predictions are a JSON list.
LABELS_JSON = "json"
MAX_WRITE_ERRORS_KEPT = 100  # the newest messages; ``failed_records`` counts them all


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
    _migrate(conn)
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a log written by an older version up to this schema, in one transaction.

    * ``feedback`` gains ``source`` and ``trusted``: older labels have no known source, so
      they stay untrusted (re-ingest them with ``mlops feedback FILE`` to make them evidence).
    * ``predictions`` accepts the role ``pinned``: SQLite cannot alter a CHECK constraint,
      so the table is rebuilt (rows, ids and the index are kept).

    The ``batches`` table is new, not changed, so ``CREATE TABLE IF NOT EXISTS`` in
    :func:`connect` adds it; readers treat a log without it as one without batches.
    """
    def predictions_sql() -> str:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' "
                           "AND name = 'predictions'").fetchone()
        return row[0] if row else ""

    if {"source", "trusted"} <= _columns(conn, "feedback") and "'pinned'" in predictions_sql():
        return
    conn.execute("BEGIN IMMEDIATE")  # re-check under the write lock: another writer may race
    try:
        have = _columns(conn, "feedback")
        if "source" not in have:
            conn.execute("ALTER TABLE feedback ADD COLUMN source TEXT")
        if "trusted" not in have:
            conn.execute("ALTER TABLE feedback ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0")
        if "'pinned'" not in predictions_sql():
            cols = ", ".join(("id", *COLUMNS))
            conn.execute("ALTER TABLE predictions RENAME TO predictions_before_pinned")
            conn.execute("DROP INDEX IF EXISTS predictions_version_ts")
            for statement in _PREDICTIONS.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"INSERT INTO predictions ({cols}) SELECT {cols} "
                         "FROM predictions_before_pinned")
            conn.execute("DROP TABLE predictions_before_pinned")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


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
        rows = [(str(rid), _label_value(label), now, str(source), int(bool(trusted)))
                for rid, label in items]
        with self._db_lock:
            self._conn.executemany(_FEEDBACK, rows)
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
                            if row[0] is _INSERT_BATCH
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
                        for statement in (_INSERT, _INSERT_BATCH):
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
            return [(_INSERT_BATCH, _batch_record(item), len(item.frame))]
        return [(_INSERT, row, 1) for row in _batch_rows(item)]
    return [(_INSERT, (item.request_id, item.ts, item.model, item.version, item.role,
                       item.routing_key, item.inputs, item.proba, item.prediction,
                       item.latency_ms, item.error), 1)]


def _label_value(value: Any) -> int | float | str:
    """A label or prediction as SQLite stores it: an int when whole (a boolean class is
    0 or 1), a finite float, or the text of a text class."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int | float):
        raise ValueError(f"{value!r} is neither a class nor a number")
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


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
             p, _label_value(y), per_row, None)
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
        predicted = json.dumps([_label_value(y) for y in prediction],
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


def read_predictions(path: str | Path, *, model: str | None = None, since: float | None = None,
                     until: float | None = None, inputs: bool = True,
                     missing_ok: bool = False) -> pd.DataFrame:
    """The log as a frame, joined with feedback.

    ``label`` is the *trusted* label (NaN where none arrived from a trusted source): the only
    label that is evidence for the rules. ``feedback_label``, ``label_source`` and
    ``label_trusted`` describe whatever label arrived, trusted or not, for display.
    A missing log is a DataError, or an empty frame with ``missing_ok`` (nothing served yet).
    """
    path = Path(path)
    cols = [c for c in COLUMNS if inputs or c != "inputs"]
    if not path.is_file() and missing_ok:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in [*cols, *LABEL_COLUMNS]})
        for col in ("version", "prediction", "label", "feedback_label"):
            frame[col] = frame[col].astype("Int64")
        frame["label_trusted"] = frame["label_trusted"].astype(bool)
        return frame
    if not path.is_file():
        raise DataError(f"{path}: no prediction log yet; serve some predictions first",
                        file=str(path), rule="exists")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        # Read-only: a log written before the trust columns is read as all-untrusted.
        trust = ("f.source", "f.trusted") if {"source", "trusted"} <= _columns(conn, "feedback") \
            else ("NULL", "0")
        where, args = _where("p", model, since, until)
        sql = (f"SELECT {', '.join('p.' + c for c in cols)}, "
               f"CASE WHEN {trust[1]} = 1 THEN f.label END AS label, "
               f"f.label AS feedback_label, {trust[0]} AS label_source, "
               f"COALESCE({trust[1]}, 0) AS label_trusted "
               "FROM predictions p LEFT JOIN feedback f ON f.request_id = p.request_id"
               + where + " ORDER BY p.id")
        frame = pd.read_sql_query(sql, conn, params=args)
        batches = _batch_rows_read(conn, cols, trust, model, since, until)
    finally:
        conn.close()
    if batches is not None:
        frame = pd.concat([frame.astype({"label_trusted": int}), batches],
                          ignore_index=True).sort_values("ts", kind="stable",
                                                         ignore_index=True)
        frame = frame.astype({"ts": float, "proba": float, "latency_ms": float})
    frame["version"] = frame["version"].astype("Float64").astype("Int64")
    for col in ("prediction", "label", "feedback_label"):
        frame[col] = _numbers(frame[col])
    frame["label_trusted"] = frame["label_trusted"].astype(bool)
    frame.loc[frame["feedback_label"].notna() & frame["label_source"].isna(),
              "label_source"] = "unknown"
    return frame


def _where(alias: str, model: str | None, since: float | None, until: float | None
           ) -> tuple[str, list[Any]]:
    where, args = [], []
    for cond, value in (("model = ?", model), ("ts >= ?", since), ("ts < ?", until)):
        if value is not None:
            where.append(f"{alias}.{cond}")
            args.append(value)
    return (f" WHERE {' AND '.join(where)}" if where else ""), args


def _has_batches(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'batches'").fetchone() is not None


def _batch_rows_read(conn: sqlite3.Connection, cols: list[str], trust: tuple[str, str],
                     model: str | None, since: float | None, until: float | None
                     ) -> pd.DataFrame | None:
    """The rows of the batches logged as one record, with their feedback, shaped like
    ``predictions`` rows (``inputs`` empty: see :func:`read_input_summaries`)."""
    if not _has_batches(conn):  # a log from before batch records
        return None
    where, args = _where("b", model, since, until)
    records = conn.execute(
        "SELECT batch_id, ts, model, role, n, version, versions, proba, prediction, "
        "prediction_dtype, latency_ms, class_proba FROM batches b" + where + " ORDER BY b.id",
        args).fetchall()
    if not records:
        return None
    parts = []
    for (bid, ts, name, role, n, version, versions, proba, prediction, dtype, latency,
         classes) in records:
        parts.append(pd.DataFrame({
            "request_id": [f"{bid}-{i}" for i in range(n)], "ts": np.full(n, ts),
            "model": name, "version": np.full(n, version, dtype=np.int64) if versions is None
            else np.frombuffer(versions, dtype="<i8"), "role": role, "routing_key": None,
            "inputs": None,
            "proba": np.full(n, np.nan) if proba is None else np.frombuffer(proba, "<f8"),
            "prediction": json.loads(prediction) if dtype == LABELS_JSON
            else np.frombuffer(prediction, dtype=dtype),
            "latency_ms": np.nan if latency is None else latency / max(n, 1), "error": None,
            CLASS_PROBA: None if classes is None
            else list(np.frombuffer(classes, "<f8").reshape(n, -1))}))
    rows = pd.concat(parts, ignore_index=True)
    keep = rows[CLASS_PROBA].notna().any()
    rows = rows[[*cols, CLASS_PROBA] if keep else cols]
    # A batch's rows are a key range of the feedback table: "{id}-..." sorts between
    # "{id}-" and "{id}." ('-' and '.' are neighbours in ASCII).
    labels = pd.read_sql_query(
        f"SELECT f.request_id, f.label AS feedback_label, {trust[0]} AS label_source, "
        f"COALESCE({trust[1]}, 0) AS label_trusted FROM batches b JOIN feedback f "
        "ON f.request_id > b.batch_id || '-' AND f.request_id < b.batch_id || '.'" + where,
        conn, params=args).drop_duplicates("request_id")
    rows = rows.merge(labels, on="request_id", how="left")
    trusted = rows["label_trusted"].fillna(0).astype(int) == 1
    rows.insert(len(cols) + int(keep), "label", rows["feedback_label"].where(trusted))
    rows["label_trusted"] = trusted.astype(int)
    return rows


def read_input_summaries(path: str | Path, *, model: str | None = None,
                         since: float | None = None, until: float | None = None
                         ) -> pd.DataFrame:
    """The input summaries of the routed (``primary``) batches logged as one record:
    ``batch_id, ts, model, role, rows, summary`` (a dict,
    :func:`mlops.serving.summary.summarize_inputs`); other roles keep none."""
    columns = ["batch_id", "ts", "model", "role", "rows", "summary"]
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        if not _has_batches(conn):
            return pd.DataFrame(columns=columns)
        where, args = _where("b", model, since, until)
        where += (" AND " if where else " WHERE ") + "b.role = 'primary'"
        records = conn.execute("SELECT batch_id, ts, model, role, n, inputs FROM batches b"
                               + where + " ORDER BY b.id", args).fetchall()
    finally:
        conn.close()
    return pd.DataFrame([(*r[:5], json.loads(r[5])) for r in records], columns=columns)


def _numbers(column: pd.Series) -> pd.Series:
    """Classes as ``Int64`` (or as text when a class is text); predicted or true values
    (regression) as ``Float64``."""
    if column.map(lambda v: isinstance(v, str)).any():
        return column.astype(object).where(column.notna(), None)
    values = column.astype("Float64")
    whole = values.dropna()
    return values.astype("Int64") if bool((whole == whole.round()).all()) else values


def known_request_ids(path: str | Path, ids: Iterable[str]) -> set[str]:
    """The ``ids`` that are request ids of logged predictions (any role)."""
    wanted = sorted({str(i) for i in ids})
    found: set[str] = set()
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30)
    try:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(r[0] for r in conn.execute(
                f"SELECT DISTINCT request_id FROM predictions WHERE request_id IN ({marks})",
                chunk))
        # Rows of batches logged as one record: "{batch_id}-{i}" with i below its size.
        rest: dict[str, list[tuple[str, int]]] = {}
        for rid in wanted:
            head, _, number = rid.rpartition("-")
            if (rid not in found and head and number.isascii() and number.isdigit()
                    and number == str(int(number))):
                rest.setdefault(head, []).append((rid, int(number)))
        if rest and _has_batches(conn):
            heads = sorted(rest)
            for start in range(0, len(heads), 500):
                chunk = heads[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                for bid, n in conn.execute(f"SELECT batch_id, MAX(n) FROM batches WHERE "
                                           f"batch_id IN ({marks}) GROUP BY batch_id", chunk):
                    found.update(rid for rid, i in rest[bid] if i < n)
    finally:
        conn.close()
    return found


def read_feedback(path: str | Path) -> pd.DataFrame:
    """The ``feedback`` table (``request_id, label, ts, source, trusted``), newest first."""
    path = Path(path)
    columns = ["request_id", "label", "ts", "source", "trusted"]
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        trust = "source, trusted" if {"source", "trusted"} <= _columns(conn, "feedback") \
            else "'unknown' AS source, 0 AS trusted"
        frame = pd.read_sql_query(
            f"SELECT request_id, label, ts, {trust} FROM feedback ORDER BY ts DESC", conn)
    finally:
        conn.close()
    frame["source"] = frame["source"].fillna("unknown")
    frame["trusted"] = frame["trusted"].astype(bool)
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
    """Primary predictions whose trusted label came back, as training rows (inputs + target).

    ``frame`` is :func:`read_predictions` output; shadow and pinned rows are left out so that
    a request counts once, and untrusted labels never reach training data (``label`` holds
    trusted labels only). Rows of a batch logged as one record have no inputs here (the
    caller holds them), so they are left out too.
    """
    rows = frame[(frame["role"] == "primary") & frame["label"].notna()]
    inputs = inputs_frame(rows)
    if inputs.empty:
        return inputs
    labels = rows.loc[inputs.index, "label"]
    inputs[target] = labels.astype("int64" if labels.dtype == "Int64" else "float64")
    return inputs.reset_index(drop=True)
