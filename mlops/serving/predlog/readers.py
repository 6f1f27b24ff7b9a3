"""Reading the prediction log: predictions joined with feedback, batch input summaries,
feedback, events, and the request inputs as frames.

Readers open the log read-only, so they never create, lock or migrate it; a log written
before the trust columns or the ``batches`` table reads as all-untrusted and batch-free.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import DataError
from mlops.serving.predlog.schema import (
    CLASS_PROBA,
    COLUMNS,
    LABEL_COLUMNS,
    LABELS_JSON,
    has_batches,
    open_read_only,
    table_columns,
)

__all__ = ["SUMMARY_COLUMNS", "LogRead", "inputs_frame", "known_request_ids",
           "labelled_inputs", "read_events", "read_feedback", "read_input_summaries",
           "read_log", "read_predictions"]

_CHUNK = 500  # bound variables per statement, well under SQLite's limit


SUMMARY_COLUMNS = ["batch_id", "ts", "model", "role", "rows", "summary"]


@dataclass(frozen=True)
class LogRead:
    """One read of the log for a report: its predictions and its batch input summaries."""

    predictions: pd.DataFrame  # as read_predictions gives it
    summaries: pd.DataFrame  # as read_input_summaries gives it


def read_log(path: str | Path, *, model: str | None = None, since: float | None = None,
             until: float | None = None, inputs: bool = True,
             missing_ok: bool = False) -> LogRead:
    """The predictions joined with feedback (:func:`read_predictions`) and the routed
    batches' input summaries (:func:`read_input_summaries`), from one connection and one
    query of the ``batches`` table: what a monitoring report or a timeline reads."""
    path = Path(path)
    cols = [c for c in COLUMNS if inputs or c != "inputs"]
    if not path.is_file() and missing_ok:
        return LogRead(_empty_predictions(cols), pd.DataFrame(columns=SUMMARY_COLUMNS))
    if not path.is_file():
        raise DataError(f"{path}: no prediction log yet; serve some predictions first",
                        file=str(path), rule="exists")
    conn = open_read_only(path)
    try:
        # Read-only: a log written before the trust columns is read as all-untrusted.
        trusted = {"source", "trusted"} <= table_columns(conn, "feedback")
        trust = ("f.source", "f.trusted") if trusted else ("NULL", "0")
        where, args = _where("p", model, since, until)
        sql = (f"SELECT {', '.join('p.' + c for c in cols)}, "
               f"CASE WHEN {trust[1]} = 1 THEN f.label END AS label, "
               f"f.label AS feedback_label, {trust[0]} AS label_source, "
               f"COALESCE({trust[1]}, 0) AS label_trusted "
               "FROM predictions p LEFT JOIN feedback f ON f.request_id = p.request_id"
               + where + " ORDER BY p.id")
        frame = pd.read_sql_query(sql, conn, params=args)
        records = _batch_records(conn, model, since, until, summaries=True)
        batches = _batch_rows_read(conn, records, cols, trust)
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
    summaries = pd.DataFrame([(r[0], r[1], r[2], r[3], r[4], json.loads(r[12]))
                              for r in records if r[3] == "primary"], columns=SUMMARY_COLUMNS)
    return LogRead(frame, summaries)


def read_predictions(path: str | Path, *, model: str | None = None, since: float | None = None,
                     until: float | None = None, inputs: bool = True,
                     missing_ok: bool = False) -> pd.DataFrame:
    """The log as a frame, joined with feedback.

    ``label`` is the *trusted* label (NaN where none arrived from a trusted source): the only
    label that is evidence for the rules. ``feedback_label``, ``label_source`` and
    ``label_trusted`` describe whatever label arrived, trusted or not, for display.
    A missing log is a DataError, or an empty frame with ``missing_ok`` (nothing served yet).
    A caller that also needs the batches' input summaries reads both with :func:`read_log`.
    """
    return read_log(path, model=model, since=since, until=until, inputs=inputs,
                    missing_ok=missing_ok).predictions


def _empty_predictions(cols: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in [*cols, *LABEL_COLUMNS]})
    for col in ("version", "prediction", "label", "feedback_label"):
        frame[col] = frame[col].astype("Int64")
    frame["label_trusted"] = frame["label_trusted"].astype(bool)
    return frame


def _where(alias: str, model: str | None, since: float | None, until: float | None
           ) -> tuple[str, list[Any]]:
    where, args = [], []
    for cond, value in (("model = ?", model), ("ts >= ?", since), ("ts < ?", until)):
        if value is not None:
            where.append(f"{alias}.{cond}")
            args.append(value)
    return (f" WHERE {' AND '.join(where)}" if where else ""), args


def _batch_records(conn: sqlite3.Connection, model: str | None, since: float | None,
                   until: float | None, *, summaries: bool) -> list[tuple[Any, ...]]:
    """The ``batches`` records in the window, in one query (none in a log from before
    batch records). Each is ``batch_id, ts, model, role, n, version, versions, proba,
    prediction, prediction_dtype, latency_ms, class_proba`` and, with ``summaries``, the
    input summary of a routed batch (JSON text; NULL for other roles)."""
    if not has_batches(conn):
        return []
    where, args = _where("b", model, since, until)
    summary = ", CASE WHEN b.role = 'primary' THEN b.inputs END" if summaries else ""
    return conn.execute(
        "SELECT batch_id, ts, model, role, n, version, versions, proba, prediction, "
        f"prediction_dtype, latency_ms, class_proba{summary} FROM batches b" + where
        + " ORDER BY b.id", args).fetchall()


def _batch_rows_read(conn: sqlite3.Connection, records: list[tuple[Any, ...]],
                     cols: list[str], trust: tuple[str, str]) -> pd.DataFrame | None:
    """The rows of the batch ``records``, with their feedback, shaped like ``predictions``
    rows (``inputs`` empty: see :func:`read_input_summaries`)."""
    if not records:
        return None
    parts = []
    for (bid, ts, name, role, n, version, versions, proba, prediction, dtype, latency,
         classes) in (r[:12] for r in records):
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
    labels = _batch_labels(conn, sorted({r[0] for r in records}), trust)
    rows = rows.merge(labels, on="request_id", how="left")
    trusted = rows["label_trusted"].fillna(0).astype(int) == 1
    rows.insert(len(cols) + int(keep), "label", rows["feedback_label"].where(trusted))
    rows["label_trusted"] = trusted.astype(int)
    return rows


def _batch_labels(conn: sqlite3.Connection, batch_ids: list[str], trust: tuple[str, str]
                  ) -> pd.DataFrame:
    """The feedback on the rows of ``batch_ids``, without reading ``batches`` again.

    A batch's rows are a key range of the feedback table: "{id}-..." sorts between
    "{id}-" and "{id}." ('-' and '.' are neighbours in ASCII).
    """
    parts = []
    for start in range(0, len(batch_ids), _CHUNK):
        chunk = batch_ids[start:start + _CHUNK]
        ids = ", ".join(["(?)"] * len(chunk))
        parts.append(pd.read_sql_query(
            f"WITH ids (batch_id) AS (VALUES {ids}) "
            f"SELECT f.request_id, f.label AS feedback_label, {trust[0]} AS label_source, "
            f"COALESCE({trust[1]}, 0) AS label_trusted FROM ids JOIN feedback f "
            "ON f.request_id > ids.batch_id || '-' AND f.request_id < ids.batch_id || '.'",
            conn, params=chunk))
    return pd.concat(parts, ignore_index=True).drop_duplicates("request_id")


def read_input_summaries(path: str | Path, *, model: str | None = None,
                         since: float | None = None, until: float | None = None
                         ) -> pd.DataFrame:
    """The input summaries of the routed (``primary``) batches logged as one record:
    ``batch_id, ts, model, role, rows, summary`` (a dict,
    :func:`mlops.serving.summary.summarize_inputs`); other roles keep none. A caller that
    also needs the predictions reads both with :func:`read_log`."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    conn = open_read_only(path)
    try:
        if not has_batches(conn):
            return pd.DataFrame(columns=SUMMARY_COLUMNS)
        where, args = _where("b", model, since, until)
        where += (" AND " if where else " WHERE ") + "b.role = 'primary'"
        records = conn.execute("SELECT batch_id, ts, model, role, n, inputs FROM batches b"
                               + where + " ORDER BY b.id", args).fetchall()
    finally:
        conn.close()
    return pd.DataFrame([(*r[:5], json.loads(r[5])) for r in records],
                        columns=SUMMARY_COLUMNS)


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
    conn = open_read_only(path)
    try:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
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
        if rest and has_batches(conn):
            heads = sorted(rest)
            for start in range(0, len(heads), _CHUNK):
                chunk = heads[start:start + _CHUNK]
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
    conn = open_read_only(path)
    try:
        trust = "source, trusted" if {"source", "trusted"} <= table_columns(conn, "feedback") \
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
    conn = open_read_only(path)
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
