"""Scoring a loaded version through onnxruntime, when its compiled twin can be trusted.

A version registered with an ONNX twin (see :mod:`mlops.stages.conversion`) records the
file's SHA-256 among its files and ``metadata["compiled"]`` (engine, inputs, parity). The
router asks :func:`load_scorer` once per loaded version. The twin serves only when:

- the record says it passed parity at registration and lists the file with its hash;
- the bytes read match that hash (the same bytes are then given to onnxruntime);
- its inputs are exactly the columns the skops model reads, with the recorded kinds;
- on probe rows spread over the schema (every category, each number's reference range) it
  gives the skops model's classes and probabilities within the parity tolerance.

Otherwise the version is served by scikit-learn and the status says why. The skops file
stays the source of truth: a twin is never used on its own word.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.schema import Schema
from mlops.core.threads import thread_budget
from mlops.registry.records import ModelVersion
from mlops.stages.conversion import (
    MISSING_TEXT,
    ONNX_FILE,
    check_parity,
    feed_frame,
    make_session,
)

__all__ = ["CompiledScorer", "load_scorer", "probe_frame"]

PROBE_ROWS = 16  # at least; more when a column has more categories
PARALLEL_ROWS = 20_000  # batches from this size are scored in slices, shared with a pool
SLICE_ROWS = 8_192  # rows per slice: small enough that a late helper delays little
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """One shared pool per size (daemon-like: its idle threads never block an exit)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="onnx-batch")
    return _POOLS[workers]


@dataclass(frozen=True)
class CompiledScorer:
    """One verified ONNX session of a version; answers like ``_Model.score`` does."""

    session: Any
    kinds: tuple[tuple[str, bool], ...]  # (column, is a number), in the model's order
    classes: np.ndarray | None  # None for a regressor
    positive: int
    output: str  # the probabilities (classifier) or the values (regressor)

    def score_row(self, row: Mapping[str, Any]) -> tuple[np.ndarray | None, np.ndarray]:
        """One validated request (a plain dict), no DataFrame: ``(proba, label)`` arrays."""
        feed = {}
        for name, number in self.kinds:
            value = row[name]
            if number:
                feed[name] = np.array([[math.nan if value is None else value]], np.float64)
            else:
                text = MISSING_TEXT if value is None else value if type(value) is str \
                    else str(value)
                feed[name] = np.array([[text]], dtype=object)
        return self._answer(self.session.run([self.output], feed)[0])

    def score(self, frame: pd.DataFrame, *, all_classes: bool = False
              ) -> tuple[np.ndarray | None, np.ndarray]:
        """A batch: ``(probability of the positive class, class)`` per row, or
        ``(None, value)`` for a regressor; ``all_classes``: every class's probability
        (rows x classes) in place of the positive class's.

        A large batch is cut into slices of :data:`SLICE_ROWS` that the calling thread and
        the pool's helpers take from one counter (onnxruntime releases the GIL while it
        runs, and one session may run many calls). The caller never waits for a helper
        that has not started: on a busy machine it scores nearly every slice itself, at
        the single-thread speed; a free core only takes slices off its hands.
        """
        kinds = {name: "number" if number else "text" for name, number in self.kinds}
        feed = feed_frame(frame, kinds)
        n, workers = len(frame), thread_budget()
        if n < PARALLEL_ROWS or workers < 2:
            return self._answer(self.session.run([self.output], feed)[0], all_classes)
        bounds = list(range(0, n, SLICE_ROWS)) + [n]
        slices = list(zip(bounds[:-1], bounds[1:], strict=True))
        parts: list[np.ndarray | None] = [None] * len(slices)
        taken = itertools.count()  # next() on a count is atomic under the GIL

        def work() -> None:
            while (i := next(taken)) < len(slices):
                lo, hi = slices[i]
                parts[i] = self.session.run([self.output],
                                            {name: a[lo:hi] for name, a in feed.items()})[0]

        helpers = [_pool(workers - 1).submit(work) for _ in range(workers - 1)]
        work()
        for helper in helpers:  # one not started is dropped; one running ends its slice
            if not helper.cancel():
                helper.result()
        return self._answer(np.concatenate(parts), all_classes)

    def _answer(self, out: np.ndarray, all_classes: bool = False
                ) -> tuple[np.ndarray | None, np.ndarray]:
        if self.classes is None:
            return None, np.asarray(out, dtype=np.float64).reshape(-1)
        proba = np.asarray(out, dtype=np.float64)
        labels = self.classes[proba.argmax(axis=1)]
        return (proba if all_classes else proba[:, self.positive]), labels


def load_scorer(registry: Any, name: str, version: int | ModelVersion, model: Any, *,
                schema: Schema, positive: int) -> tuple[CompiledScorer | None, dict[str, Any]]:
    """``(scorer or None, status)`` for ``name`` v``version``, whose skops ``model`` is loaded.

    ``version`` may be the version's record, already read: then ``version.json`` is not
    read again, and the ONNX file is read and hashed once (``Registry.read_verified``).

    ``status`` is ``{"engine": "onnxruntime" | "scikit-learn", "reason": None | why}``, with
    ``refused: True`` when a registered twin is not trusted. A twin that is absent, tampered
    with, or disagrees with ``model`` gives None, never an exception: the version then
    serves through scikit-learn.
    """
    try:
        mv = registry.resolve(name, version)
        record = mv.metadata.get("compiled")
        if not isinstance(record, Mapping):
            return None, _fallback("registered without a compiled twin", refused=False)
        if record.get("engine") != "onnxruntime":
            return None, _fallback(f"not compiled at registration: {record.get('reason')}",
                                   refused=False)
        if mv.files.get(ONNX_FILE) is None:
            return None, _fallback(f"the record names no hash for {ONNX_FILE}; not trusted")
        data = registry.read_verified(name, mv, ONNX_FILE)  # the bytes checked are served
        kinds = _kinds(record.get("inputs"), model)
        session = make_session(data)
        _check_inputs(session, kinds)
        classes = np.asarray(model.classes_) if hasattr(model, "predict_proba") else None
        output = session.get_outputs()[-1 if classes is not None else 0].name
        probe = check_parity(model, session, probe_frame(schema, kinds), kinds)
    except Exception as exc:  # tampered file, broken graph, unknown kinds: scikit-learn serves
        return None, _fallback(f"{type(exc).__name__}: {getattr(exc, 'message', exc)}")
    if not probe["passed"]:
        return None, _fallback(f"disagrees with the skops model on probe rows: "
                               f"{probe['summary']}")
    scorer = CompiledScorer(session, tuple((c, k == "number") for c, k in kinds.items()),
                            classes, positive, output)
    return scorer, {"engine": "onnxruntime", "reason": None, "refused": False,
                    "parity": record.get("parity"), "probe": probe}


def _fallback(reason: str, *, refused: bool = True) -> dict[str, Any]:
    # refused: a twin was registered but is not trusted now (tampered, broken, disagreeing).
    return {"engine": "scikit-learn", "reason": reason, "refused": refused}


def _kinds(inputs: Any, model: Any) -> dict[str, str]:
    """The recorded input kinds, checked against the columns the skops model reads."""
    if not isinstance(inputs, list) or not all(
            isinstance(p, list) and len(p) == 2 and p[1] in ("number", "text") for p in inputs):
        raise ValueError("the record's inputs are not [column, number|text] pairs")
    kinds = {str(name): kind for name, kind in inputs}
    reads = [str(c) for c in getattr(model, "feature_names_in_", list(kinds))]
    if list(kinds) != reads:
        raise ValueError(f"the twin reads {list(kinds)}, the skops model {reads}")
    return kinds


def _check_inputs(session: Any, kinds: Mapping[str, str]) -> None:
    got = {i.name: i.type for i in session.get_inputs()}
    want = {c: "tensor(double)" if k == "number" else "tensor(string)" for c, k in kinds.items()}
    if got != want:
        raise ValueError(f"the graph's inputs {got} are not the recorded {want}")


def probe_frame(schema: Schema, kinds: Mapping[str, str], rows: int = PROBE_ROWS
                ) -> pd.DataFrame:
    """Rows that visit every category and span each number's reference range."""
    specs = {name: schema.by_name.get(name) for name in kinds}
    rows = max([rows] + [len(s.categories or s.allowed or ()) for s in specs.values() if s])
    columns: dict[str, list[Any]] = {}
    for name, kind in kinds.items():
        spec = specs[name]
        if kind == "number":
            low = spec.min if spec is not None and spec.min is not None else 0.0
            high = spec.max if spec is not None and spec.max is not None else low + 1.0
            values = np.linspace(float(low), float(high), rows)
            if spec is not None and spec.kind == "int":
                values = np.round(values)
            columns[name] = values.tolist()
        else:
            choices = sorted(spec.categories or spec.allowed or ()) if spec is not None else []
            if spec is not None and spec.kind == "bool":
                choices = [False, True]
            choices = choices or [""]
            columns[name] = [choices[i % len(choices)] for i in range(rows)]
    frame = pd.DataFrame(columns)
    for name, kind in kinds.items():
        if kind == "text" and frame[name].dtype != bool:
            frame[name] = frame[name].astype(object)
    return frame
