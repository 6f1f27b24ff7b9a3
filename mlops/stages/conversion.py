"""A compiled twin of a fitted pipeline: ONNX with skl2onnx, kept only if it agrees.

:func:`convert` turns the whole fitted pipeline (its ``ColumnTransformer`` included) into an
ONNX graph with one ``[N, 1]`` input per column: numbers as doubles, everything else as
text. It then scores the held-out rows with both and keeps the graph only when every row
gets the same class and every probability is within :data:`PROBA_TOLERANCE` (a regressor:
every value within :data:`VALUE_RTOL`, relative). Otherwise, or when skl2onnx cannot convert
the estimator at all, the record says why and the model is served by scikit-learn. The
skops file stays the source of truth: the ONNX file is derived from it, and the serving
layer re-checks it against the skops model before using it.

Three gaps of skl2onnx 1.20 are bridged here, each without changing what the model computes:

- its ``SimpleImputer`` converter takes text columns only with a text ``missing_values``,
  so the twin's text imputers look for :data:`MISSING_TEXT`, which the feed puts where a
  value is missing (the fill values, learned in training, are unchanged);
- onnxruntime has no ``Imputer`` kernel for doubles, so numeric imputers on doubles are
  written as ``Where(IsNaN(x), fill, x)``;
- its HistGradientBoosting converter writes a Python ``False`` among integers for leaves,
  which onnx 1.23 refuses; the value is written as the integer it means.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.schema import is_number

__all__ = ["MISSING_TEXT", "ONNX_FILE", "PROBA_TOLERANCE", "VALUE_RTOL", "Conversion",
           "convert", "feed_frame", "make_session", "run_session"]

ONNX_FILE = "model.onnx"
# Where a text value is missing, the feed carries this (a NUL byte never comes from a form,
# a CSV cell or JSON text typed by someone); the twin's text imputers replace it.
MISSING_TEXT = "\x00missing"
PROBA_TOLERANCE = 1e-5  # largest probability difference allowed, absolute
# A regressor's value may differ by this share of max(1, |value|): the graph runs on doubles,
# so what differs is float32 rounding in tree thresholds and leaf sums (about 1e-7
# relative); 1e-5 leaves a margin of 100 while staying far below any unit worth reporting.
VALUE_RTOL = 1e-5


@dataclass(frozen=True)
class Conversion:
    """The ONNX bytes (None when the model stays on scikit-learn) and the version's record.

    ``record`` is plain JSON: ``engine`` (``onnxruntime`` or ``scikit-learn``), ``reason``
    (why not ONNX, else None), ``inputs`` (``[column, "number" | "text"]`` pairs in the
    graph's order), ``precision`` (of the estimator's input), ``parity``
    (rows compared, class disagreements, largest difference, tolerance) and the versions of
    the tools that made the file.
    """

    onnx: bytes | None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def compiled(self) -> bool:
        """True when the ONNX file passed parity and may serve."""
        return self.onnx is not None


def _tools() -> dict[str, str]:
    import onnx
    import onnxruntime
    import skl2onnx

    return {"skl2onnx": skl2onnx.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


def input_kinds(model: Any, frame: pd.DataFrame) -> dict[str, str]:
    """``column -> "number" | "text"`` for the columns ``model`` reads, in its order."""
    names = getattr(model, "feature_names_in_", None)
    columns = [str(c) for c in names] if names is not None else [str(c) for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the held-out rows lack the model's column(s) {missing}")
    return {c: "number" if is_number(frame[c]) else "text" for c in columns}


def feed_frame(frame: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The ONNX inputs for ``frame``: one ``[N, 1]`` array per column (missing: NaN or
    :data:`MISSING_TEXT`)."""
    feed: dict[str, np.ndarray] = {}
    for name, kind in kinds.items():
        col = frame[name]
        if kind == "number":
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        elif pd.api.types.is_string_dtype(col) and col.dtype != object:
            # Each distinct text once, then taken by its code: a batch repeats its
            # categories, and this makes no new string object per row.
            codes, uniques = pd.factorize(col)
            values = np.append(uniques.to_numpy(dtype=object), MISSING_TEXT)[codes]
        else:  # object or bool cells: text as the model's one-hot categories print them
            values = np.array([MISSING_TEXT if _missing(v) else str(v) for v in col.tolist()],
                              dtype=object)
        feed[name] = values.reshape(-1, 1)
    return feed


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def make_session(onnx: bytes) -> Any:
    """An onnxruntime session on one thread (serving runs many small calls side by side)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no per-session chatter on stderr
    return ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])


def run_session(session: Any, feed: Mapping[str, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(labels or values, probabilities or None)`` for ``feed``."""
    outputs = session.run(None, feed)
    first = np.asarray(outputs[0])
    if len(outputs) == 1:  # a regressor: one [N, 1] output
        return first.reshape(-1), None
    return first.reshape(-1), np.asarray(outputs[1])


def convert(model: Any, holdout: pd.DataFrame) -> Conversion:
    """Convert fitted ``model`` to ONNX and check it on ``holdout`` (feature columns).

    Never raises for a model that cannot be compiled: the record says why instead.
    """
    try:
        tools = _tools()
    except ImportError as exc:
        return _fallback(f"the ONNX tools are not installed ({exc})", {}, {})
    try:
        kinds = input_kinds(model, holdout)
    except ValueError as exc:
        return _fallback(str(exc), {}, tools)
    failures: list[str] = []
    parity: dict[str, Any] | None = None
    for precision in _precisions(model):
        try:
            onnx = _to_onnx(model, kinds, precision)
        except Exception as exc:  # skl2onnx raises many kinds; each means "not convertible"
            failures.append(f"skl2onnx cannot convert {_names(model)} ({precision}): "
                            f"{_short(exc)}")
            if type(exc).__name__.startswith("Missing"):  # no converter: no precision helps
                break
            continue
        try:
            parity = check_parity(model, make_session(onnx), holdout, kinds)
        except Exception as exc:  # a graph that does not even run fails parity
            failures.append(f"the ONNX graph ({precision}) fails on the held-out rows: "
                            f"{_short(exc)}")
            continue
        if parity["passed"]:
            return Conversion(onnx, {"engine": "onnxruntime", "reason": None,
                                     "file": ONNX_FILE, "inputs": _pairs(kinds),
                                     "precision": precision, "parity": parity,
                                     "tools": tools})
        failures.append(f"parity failed on the held-out rows ({precision}): "
                        f"{parity['summary']}")
    return _fallback("; ".join(failures), kinds, tools, parity)


def check_parity(model: Any, session: Any, frame: pd.DataFrame,
                 kinds: Mapping[str, str]) -> dict[str, Any]:
    """Compare ``session`` with ``model`` on ``frame``: the figures and the verdict."""
    columns = list(kinds)
    labels, proba = run_session(session, feed_frame(frame, kinds))
    rows = len(frame)
    if hasattr(model, "predict_proba"):
        expected = model.predict_proba(frame[columns])
        classes = np.asarray(model.classes_)
        predicted = classes[expected.argmax(axis=1)]
        if proba is None or proba.shape != expected.shape:
            raise ValueError(f"the graph gives probabilities of shape "
                             f"{None if proba is None else proba.shape}, scikit-learn "
                             f"{expected.shape}")
        diff = float(np.abs(proba.astype(np.float64) - expected).max()) if rows else 0.0
        ours = classes[proba.argmax(axis=1)]
        # skl2onnx emits boolean classes as the integers 0 and 1.
        named = predicted.astype(np.int64) if predicted.dtype == bool else predicted
        disagree = int(((ours != predicted) | (labels.astype(str) != named.astype(str)))
                       .sum()) if rows else 0
        passed = rows > 0 and disagree == 0 and diff <= PROBA_TOLERANCE
        return {"rows": rows, "class_disagreements": disagree, "max_proba_diff": diff,
                "tolerance": PROBA_TOLERANCE, "passed": passed,
                "summary": f"{disagree} of {rows} rows change class, largest probability "
                           f"difference {diff:.2e} (allowed {PROBA_TOLERANCE:g})"}
    expected = np.asarray(model.predict(frame[columns]), dtype=np.float64).reshape(-1)
    gap = np.abs(labels.astype(np.float64) - expected) / np.maximum(1.0, np.abs(expected))
    worst = float(gap.max()) if rows else 0.0
    passed = rows > 0 and bool(np.isfinite(gap).all()) and worst <= VALUE_RTOL
    return {"rows": rows, "max_value_rdiff": worst, "tolerance": VALUE_RTOL, "passed": passed,
            "summary": f"largest difference {worst:.2e} of max(1, |value|) over {rows} rows "
                       f"(allowed {VALUE_RTOL:g})"}


def _fallback(reason: str, kinds: Mapping[str, str], tools: Mapping[str, str],
              parity: Mapping[str, Any] | None = None) -> Conversion:
    return Conversion(None, {"engine": "scikit-learn", "reason": reason, "file": None,
                             "inputs": _pairs(kinds), "parity": dict(parity or {}) or None,
                             "tools": dict(tools)})


def _pairs(kinds: Mapping[str, str]) -> list[list[str]]:
    # A list, not an object: JSON records may sort keys, and the order is the graph's.
    return [[name, kind] for name, kind in kinds.items()]


def _names(model: Any) -> str:
    steps = getattr(model, "steps", None)
    last = steps[-1][1] if steps else model
    return type(last).__name__


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text if len(text) <= limit else text[:limit] + '…'}"


# ---------------------------------------------------------------- skl2onnx bridging
def _precisions(model: Any) -> tuple[str, ...]:
    """The estimator's input precisions to try, the likelier one first.

    scikit-learn's trees and forests compare float32 features with their thresholds, so
    their twin casts the features to float32 before the estimator, as scikit-learn does;
    everything else runs on doubles. Both are tried: parity decides.
    """
    module = type(_final(model)).__module__
    trees = module.startswith(("sklearn.tree", "sklearn.ensemble"))
    return ("float32", "double") if trees else ("double", "float32")


def _to_onnx(model: Any, kinds: Mapping[str, str], precision: str = "double") -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from skl2onnx.sklapi import CastTransformer
    from sklearn.pipeline import Pipeline

    twin = _text_imputers_on_sentinel(model)
    if precision == "float32":
        steps = list(twin.steps) if isinstance(twin, Pipeline) else [("model", twin)]
        twin = Pipeline(steps[:-1] + [("float32", CastTransformer(dtype=np.float32)),
                                      steps[-1]])
    inputs = [(name, DoubleTensorType([None, 1]) if kind == "number"
               else StringTensorType([None, 1])) for name, kind in kinds.items()]
    options = {id(_final(twin)): {"zipmap": False}} if hasattr(twin, "predict_proba") else None
    _bridge_once()
    graph = to_onnx(twin, initial_types=inputs, options=options)
    return graph.SerializeToString()


def _final(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _text_imputers_on_sentinel(model: Any) -> Any:
    """A copy of ``model`` whose fitted text imputers look for :data:`MISSING_TEXT`."""
    from sklearn.impute import SimpleImputer

    twin = copy.deepcopy(model)
    for part in _walk(twin):
        if isinstance(part, SimpleImputer) and getattr(part, "statistics_", None) is not None \
                and part.statistics_.dtype == object and _missing(part.missing_values):
            part.missing_values = MISSING_TEXT
    return twin


def _walk(obj: Any) -> list[Any]:
    """``obj`` and every estimator nested in it (pipelines, column transformers)."""
    found = [obj]
    for _, step in getattr(obj, "steps", []) or []:
        found += _walk(step)
    for entry in getattr(obj, "transformers_", []) or []:
        if not isinstance(entry[1], str):
            found += _walk(entry[1])
    return found


_BRIDGED = False


def _bridge_once() -> None:
    """Install the converter fixes once per process (skl2onnx keeps a global registry)."""
    global _BRIDGED
    if not _BRIDGED:
        _install_bridges()
        _BRIDGED = True


def _install_bridges() -> None:
    from skl2onnx import update_registered_converter
    from skl2onnx.common import tree_ensemble
    from skl2onnx.common._registration import get_converter
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.proto import onnx_proto
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
    from sklearn.impute import SimpleImputer

    original = get_converter("SklearnSimpleImputer")

    def imputer(scope: Any, operator: Any, container: Any) -> None:
        op = operator.raw_operator
        if not isinstance(operator.inputs[0].type, DoubleTensorType) or \
                getattr(op, "add_indicator", False):
            return original(scope, operator, container)
        from skl2onnx.operator_converters.common import concatenate_variables

        x = concatenate_variables(scope, operator.inputs, container)
        fill = scope.get_unique_variable_name("fill")
        container.add_initializer(fill, onnx_proto.TensorProto.DOUBLE,
                                  [1, op.statistics_.size],
                                  op.statistics_.astype(np.float64).tolist())
        missing = scope.get_unique_variable_name("missing")
        if _missing(op.missing_values):
            container.add_node("IsNaN", [x], [missing])
        else:
            value = scope.get_unique_variable_name("missing_value")
            container.add_initializer(value, onnx_proto.TensorProto.DOUBLE, [],
                                      [float(op.missing_values)])
            container.add_node("Equal", [x, value], [missing])
        container.add_node("Where", [missing, fill, x], [operator.outputs[0].full_name])

    update_registered_converter(SimpleImputer, "SklearnSimpleImputer",
                                calculate_sklearn_imputer_output_shapes, imputer)
    add_node = tree_ensemble.add_node

    def add_tree_node(*args: Any, nodes_missing_value_tracks_true: Any = 0,
                      **kwargs: Any) -> Any:
        return add_node(*args, nodes_missing_value_tracks_true=int(
            nodes_missing_value_tracks_true), **kwargs)

    tree_ensemble.add_node = add_tree_node
