"""The shadow worker: scores shadow traffic off the user's path and logs it as ``shadow``.

The router hands over each shadowed request (or scored batch) and returns at once; a
caller never waits for the shadow, and when the worker falls behind by ``capacity`` jobs
new ones are dropped and counted rather than queued without bound. The worker gathers the
jobs of a short window (:func:`~mlops.core.queues.gather`) and scores them together: a
predict_proba on many rows costs about as much as on one, so the shadow seldom holds the
GIL while a user's request waits for it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.queues import gather
from mlops.serving.predlog import LogRecord, PredictionLog
from mlops.serving.scoring import LoadedModel, plain

__all__ = ["SHADOW_WINDOW_S", "ShadowWorker"]

log = logging.getLogger(__name__)
# How long the shadow worker gathers single requests before scoring them together.
SHADOW_WINDOW_S = 0.1


@dataclass(frozen=True, slots=True)
class _Row:
    """One routed request to score again in shadow."""

    model: LoadedModel
    request_id: str
    ts: float
    routing_key: str | None
    inputs: str  # the request as JSON, as the primary row logged it
    row: dict[str, Any]  # the validated request


@dataclass(frozen=True, slots=True)
class _Frame:
    """A routed batch to score again in shadow; its rows keep the batch's request ids."""

    model: LoadedModel
    batch_id: str
    ts: float
    frame: pd.DataFrame


class ShadowWorker:
    """One background thread that scores and logs the shadow jobs of a router."""

    def __init__(self, log: PredictionLog | None, name: str, *, capacity: int = 10_000,
                 window_s: float = SHADOW_WINDOW_S) -> None:
        self.log = log
        self.name = name
        self.capacity = capacity
        self.window_s = window_s
        self.dropped = 0  # jobs refused because the worker was ``capacity`` behind
        self._queue: queue.SimpleQueue[_Row | _Frame | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # handed over, not yet scored and logged
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once; a router starts it when a shadow first serves)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="router-shadow",
                                                daemon=True)
                self._thread.start()

    def submit_row(self, model: LoadedModel, request_id: str, ts: float,
                   routing_key: str | None, inputs: str, row: dict[str, Any]) -> None:
        """Hand over one validated request; returns at once."""
        self._submit(_Row(model, request_id, ts, routing_key, inputs, row))

    def submit_batch(self, model: LoadedModel, batch_id: str, ts: float,
                     frame: pd.DataFrame) -> None:
        """Hand over a validated batch; returns at once."""
        self._submit(_Frame(model, batch_id, ts, frame))

    def flush(self, timeout: float = 60.0) -> None:
        """Block until every job handed over so far is scored and logged."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout=timeout):
                raise TimeoutError(f"shadow: {self._pending} jobs not scored")

    def close(self) -> None:
        """Finish the jobs handed over, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _submit(self, job: _Row | _Frame) -> None:
        with self._lock:
            if self._pending >= self.capacity:  # the shadow never slows users: drop, count
                self.dropped += 1
                return
            self._pending += 1
        self._queue.put(job)

    def _run(self) -> None:
        while True:
            jobs = gather(self._queue, self.window_s)
            real = [j for j in jobs if j is not None]
            try:
                self._score(real)
            except Exception as exc:  # the shadow is off the user's path: log and go on
                log.warning("shadow scoring failed: %s", exc)
            finally:
                with self._idle:
                    self._pending -= len(real)
                    self._idle.notify_all()
            if len(real) < len(jobs):
                return

    def _score(self, jobs: list[_Row | _Frame]) -> None:
        rows: dict[int, list[_Row]] = {}
        for job in jobs:
            if isinstance(job, _Frame):  # a scored batch: its own call
                self._score_frame(job)
            else:
                rows.setdefault(job.model.version, []).append(job)
        for group in rows.values():
            self._score_rows(group)

    def _score_rows(self, jobs: list[_Row]) -> None:
        """Score single requests of one shadow model together and log one row each."""
        model = jobs[0].model
        start = time.perf_counter()
        try:
            if model.compiled is not None:  # row by row: short calls that release the GIL
                scored = [model.score_row(job.row) for job in jobs]
                labels = np.concatenate([y for _, y in scored])
                proba = None if scored[0][0] is None else np.concatenate(
                    [p for p, _ in scored])
            else:
                proba, labels = model.score(pd.DataFrame([job.row for job in jobs]))
            error = None
        except Exception as exc:
            proba = labels = None
            error = f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - start) * 1000.0 / len(jobs)  # per row, amortised
        if self.log is None:
            return
        for i, job in enumerate(jobs):
            if error is not None:
                record = LogRecord(job.request_id, job.ts, self.name, model.version, "shadow",
                                   job.routing_key, job.inputs, None, None, None, error)
            else:
                record = LogRecord(job.request_id, job.ts, self.name, model.version, "shadow",
                                   job.routing_key, job.inputs,
                                   None if proba is None else float(proba[i]),
                                   plain(labels[i]), latency)
            self.log.log(record)

    def _score_frame(self, job: _Frame) -> None:
        """Score a batch in shadow; its rows get ids derived from the batch id."""
        start = time.perf_counter()
        proba, labels = job.model.score(job.frame)
        if self.log is not None:
            self.log.log_batch(batch_id=job.batch_id, ts=job.ts, model=self.name,
                               versions=np.full(len(job.frame), job.model.version),
                               frame=job.frame, proba=proba, prediction=labels,
                               latency_ms=(time.perf_counter() - start) * 1000.0,
                               role="shadow")
