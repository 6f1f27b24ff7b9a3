"""The prediction log's storage: its SQLite tables, how a value is stored, and the
migration of logs written by older versions (see ``docs/serving.md``).

Tables:

* ``predictions``: one row per (request id, role, version); ``role`` is ``primary`` (routed:
  returned to the user by production or the canary), ``shadow`` (scored off the user's path,
  never returned) or ``pinned`` (a version the user chose to try: never routed traffic).
* ``feedback``: ground-truth labels that arrive later, joined by request id, each with its
  ``source`` and whether that source is ``trusted`` (the operator, ``mlops feedback``).
  Only trusted labels are evidence; an untrusted label never replaces a trusted one.
* ``batches``: a batch of more than :data:`~mlops.serving.summary.SUMMARY_ROWS` rows, as
  ONE record: its predictions as compact numeric columns (row ``i`` is request
  ``{batch_id}-{i}``, so feedback joins by request id as for any request) and its inputs as
  bounded column statistics (:mod:`mlops.serving.summary`).
* ``events``: things that are not predictions, such as a candidate that failed to load.

Logs written before ``pinned`` and the feedback trust columns existed are migrated when a
writer opens them (:func:`connect`); their labels count as untrusted (source unknown).
A log without a ``batches`` table gains it the same way and reads as one without batches.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["CLASS_PROBA", "COLUMNS", "FEEDBACK", "INSERT", "INSERT_BATCH", "LABELS_JSON",
           "LABEL_COLUMNS", "ROLES", "SCHEMA", "connect", "has_batches", "label_value",
           "open_read_only", "table_columns"]

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
SCHEMA = _PREDICTIONS + """
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
INSERT = ("INSERT OR IGNORE INTO predictions (request_id, ts, model, version, role, "
          "routing_key, inputs, proba, prediction, latency_ms, error) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_BATCH = ("INSERT OR IGNORE INTO batches (batch_id, ts, model, role, n, version, "
                "versions, proba, class_proba, prediction, prediction_dtype, latency_ms, "
                "inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# A trusted label replaces any label; an untrusted one replaces only an untrusted one.
FEEDBACK = ("INSERT INTO feedback (request_id, label, ts, source, trusted) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET "
            "label = excluded.label, ts = excluded.ts, source = excluded.source, "
            "trusted = excluded.trusted WHERE excluded.trusted >= feedback.trusted")
# prediction_dtype of a batch whose classes are text: the predictions are a JSON list.
LABELS_JSON = "json"


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the log database in WAL mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    # WAL: readers (monitoring, the app) never block the writer and vice versa.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    conn.commit()
    _migrate(conn)
    return conn


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table``."""
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

    if ({"source", "trusted"} <= table_columns(conn, "feedback")
            and "'pinned'" in predictions_sql()):
        return
    conn.execute("BEGIN IMMEDIATE")  # re-check under the write lock: another writer may race
    try:
        have = table_columns(conn, "feedback")
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


def has_batches(conn: sqlite3.Connection) -> bool:
    """True when the log has a ``batches`` table (logs from before batch records do not)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                        "AND name = 'batches'").fetchone() is not None


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the log at ``path`` (readers never create or migrate)."""
    return sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30)


def label_value(value: Any) -> int | float | str:
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

