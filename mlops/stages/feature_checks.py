"""Feature validation: checks of a fitted pipeline's behaviour on real rows.

* ``finite``: the feature transformer gives only finite numbers;
* ``feature_names``: output names are unique, match the output width and, when given,
  equal the names recorded earlier (a changed list breaks a served model silently);
* ``save_load_parity``: a skops round trip through :mod:`mlops.core.modelio` (the registry's
  own save and load) gives exactly the same features and predictions (train/serve parity);
* ``handles_unseen`` / ``handles_missing``: a category never seen in training, or a
  missing value, still gives finite features and a prediction instead of an exception.

Results are :class:`mlops.stages.validation.CheckResult` records with check ``features``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.config import DEFAULT_THRESHOLDS, ValidationConfig
from mlops.stages.features import split_columns
from mlops.stages.validation_report import CheckResult

__all__ = ["UNSEEN", "check_features"]

UNSEEN = "__unseen_category__"
_SAMPLE = 50  # rows used for the parity check
_PROBE_ROWS = 10  # rows per column for the unseen/missing probes


def _split(pipeline: Any) -> tuple[Any, Any | None]:
    """(feature transformer, estimator or None) of a fitted pipeline."""
    steps = getattr(pipeline, "steps", None)
    if steps and hasattr(steps[-1][1], "predict"):
        return pipeline[:-1], pipeline
    return pipeline, None


def _outputs(transformer: Any, model: Any | None, frame: pd.DataFrame
             ) -> tuple[np.ndarray, np.ndarray | None]:
    features = transformer.transform(frame)
    if hasattr(features, "toarray"):  # a sparse matrix (e.g. a bare OneHotEncoder)
        features = features.toarray()
    features = np.asarray(features, dtype=np.float64)
    if model is None:
        return features, None
    predict = getattr(model, "predict_proba", None) or model.predict
    return features, np.asarray(predict(frame), dtype=np.float64)


def _perturbed(rows: pd.DataFrame, column: str, value: Any) -> pd.DataFrame:
    probe = rows.copy()
    if value is UNSEEN:
        probe[column] = probe[column].astype(object)
    probe[column] = value
    return probe


def _probe(transformer: Any, model: Any | None, rows: pd.DataFrame, columns: Sequence[str],
           value: Any) -> list[tuple[str, str | None, bool]]:
    """(column, error or None, output finite) with ``value`` written into each column.

    All probes go through the pipeline as one stacked frame (a transform costs ~30 ms of
    scikit-learn overhead whatever the size); only if that raises is each column tried
    alone, to name the one that fails.
    """
    if not columns:
        return []
    stacked = pd.concat([_perturbed(rows, c, value) for c in columns], ignore_index=True)
    try:
        outs = _outputs(transformer, model, stacked)
    except Exception:
        found = []
        for column in columns:
            try:
                outs = _outputs(transformer, model, _perturbed(rows, column, value))
            except Exception as exc:
                found.append((column, f"{type(exc).__name__}: {exc}", False))
                continue
            found.append((column, None, all(o is None or np.isfinite(o).all() for o in outs)))
        return found
    n = len(rows)
    return [(c, None, all(o is None or np.isfinite(o[i * n:(i + 1) * n]).all() for o in outs))
            for i, c in enumerate(columns)]


def _round_trip(pipeline: Any) -> Any:
    # Through the same code the registry uses, so parity covers the real serving path.
    from mlops.core.modelio import load_model, save_model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.skops"
        digest = save_model(pipeline, path)
        return load_model(path, sha256=digest, what="feature check round trip")


def check_features(
    pipeline: Any,
    frame: pd.DataFrame,
    cfg: ValidationConfig | None = None,
    *,
    target: str | None = None,
    expected_names: Sequence[str] | None = None,
) -> list[CheckResult]:
    """Check a fitted pipeline on ``frame`` (the target column, if named, is dropped).

    ``pipeline`` is a fitted feature transformer or a ``Pipeline`` whose last step is the
    estimator. A failed check is graded by ``validation.thresholds.features`` (it blocks by
    default; ``{warn: 0}`` only warns, ``off`` skips the checks).
    """
    limits = cfg.limits("features") if cfg is not None else DEFAULT_THRESHOLDS["features"]
    results: list[CheckResult] = []

    def add(rule: str, observed: Any, _expected: Any, passed: bool, message: str,
            column: str | None = None) -> None:
        if not limits.off:
            grade = limits.flag(not passed)
            results.append(CheckResult("features", column, rule, observed, limits.warn,
                                       limits.block, grade, message))

    features = frame.drop(columns=[target]) if target and target in frame else frame
    transformer, model = _split(pipeline)
    out, _ = _outputs(transformer, None, features)
    bad = int((~np.isfinite(out)).sum())
    add("finite", bad, 0, bad == 0,
        f"feature pipeline gives {bad} non-finite value(s) on {len(features)} rows")

    names = [str(n) for n in transformer.get_feature_names_out()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    ok = not dupes and len(names) == out.shape[1]
    add("feature_names", len(names), out.shape[1], ok,
        f"{len(names)} feature names for {out.shape[1]} output columns"
        + (f"; duplicated: {dupes[:5]}" if dupes else ""))
    if expected_names is not None:
        expected = [str(n) for n in expected_names]
        missing = [n for n in expected if n not in names]
        extra = [n for n in names if n not in expected]
        add("stable_feature_names", len(missing) + len(extra), 0, names == expected,
            "feature names match the recorded list" if names == expected else
            f"feature names changed: missing {missing[:5]}, new {extra[:5]}"
            + ("" if missing or extra else " (same names, different order)"))

    sample = features.head(_SAMPLE)
    try:
        loaded = _round_trip(pipeline)
        same = all(
            a is None or np.array_equal(a, b, equal_nan=True)
            for a, b in zip(_outputs(transformer, model, sample),
                            _outputs(*_split(loaded), sample), strict=True)
        )
        add("save_load_parity", same, True, same,
            "features and predictions are identical after a skops save/load round trip"
            if same else "features or predictions differ after a skops save/load round trip")
    except Exception as exc:  # an untrusted type or a broken estimator: report, not crash
        add("save_load_parity", False, True, False,
            f"save/load round trip failed: {type(exc).__name__}: {exc}")

    _, categorical = split_columns(features)
    for rule, columns, value in (("handles_unseen", categorical, UNSEEN),
                                 ("handles_missing", list(features.columns), np.nan)):
        for column, error, finite in _probe(transformer, model, sample.head(_PROBE_ROWS),
                                            columns, value):
            what = "an unseen category" if value is UNSEEN else "missing values"
            if error is not None:
                add(rule, False, True, False,
                    f"column {column!r} with {what} raises {error}", column)
            else:
                add(rule, finite, True, finite, f"column {column!r} with {what}: "
                    f"{'finite output' if finite else 'non-finite output'}", column)
    return results
