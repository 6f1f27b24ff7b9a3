"""Large batches in the prediction log: one bounded record, not a row per request.

A batch of more than :data:`SUMMARY_ROWS` rows is logged as one record (see
:mod:`mlops.serving.predlog`): its predictions as compact numeric columns and its inputs
reduced to the counts the drift tests read (:func:`mlops.stages.drift.current_counts`,
:func:`summarize_inputs`). Monitoring reads drift from those counts and from the
inputs of requests logged row by row through one path (:func:`input_counts`, then
:func:`mlops.stages.drift.compare_counts`), so a batch gives the same verdicts whichever
way it was logged.

A numeric column is kept as its cumulative counts on the reference's own edges (the drift
profile's quantiles and deciles), so the KS statistic and PSI come out exactly as from the
rows. When the reference is not known where the batch is logged, or has changed since,
the column's counts are kept on its own 1,000 quantiles and read on the reference's edges
as counts at the nearest kept edge below (a conservative approximation, off by at most a
thousandth of the rows per edge). Every category the reference has is kept; unseen ones
are kept for at most :data:`SUMMARY_CATEGORIES` values per column (a value longer than
:data:`SUMMARY_KEY_CHARS` characters under a digest of itself, still distinct), and any
beyond that are pooled into :data:`~mlops.stages.colstats.OTHER` (the JS distance is the
same; the chi-square is then an approximation).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.schema import Schema, is_number
from mlops.stages.colstats import OTHER
from mlops.stages.drift import (
    CategoricalProfile,
    DriftResult,
    DriftThresholds,
    NumericCounts,
    NumericProfile,
    compare_counts,
    current_counts,
    profile_reference,
)
from mlops.stages.reference import ReferenceSummary, serving_profiles

__all__ = ["SUMMARY_CATEGORIES", "SUMMARY_ROWS", "input_counts", "input_drift",
           "reference_profiles", "summarize_inputs", "summary_rows"]

Profiles = Mapping[str, NumericProfile | CategoricalProfile]

# Batches above this many rows are logged as one summary record. Below it, per-row inputs
# cost about what the summary's histograms do (up to 21 kB per numeric column) and keep
# what only rows give: training rows from feedback (mlops.monitoring.live_data).
SUMMARY_ROWS = 1000
SUMMARY_CATEGORIES = 1000  # unseen categories kept per column; the rest pooled as OTHER
SUMMARY_KEY_CHARS = 100  # an unseen category longer than this is stored as a digest


def reference_profiles(reference: pd.DataFrame | ReferenceSummary, schema: Schema
                       ) -> dict[str, Any]:
    """The drift profiles of the serving columns of ``reference``: the training features, or
    a version's stored summary of them (the same profiles, made from those rows)."""
    if isinstance(reference, ReferenceSummary):
        return {c: reference.profiles[c] for c in reference.profiles
                if c in schema.serving_columns}
    return serving_profiles(reference, schema)


def _pack(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode()


def _unpack(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _short(value: Any) -> Any:
    """An unseen category as stored: itself, or a short digest of it when it is long."""
    value = _plain(value)
    if not isinstance(value, str) or len(value) <= SUMMARY_KEY_CHARS:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{value[:40]}…#{digest}"


def summarize_inputs(frame: pd.DataFrame, schema: Schema,
                     profiles: Profiles | None = None) -> dict[str, Any]:
    """The bounded, JSON-ready summary of a batch's inputs (see the module docstring).

    ``profiles`` are the reference's drift profiles (:func:`reference_profiles`); a numeric
    column without one is kept on its own quantiles.
    """
    profiles = dict(profiles or {})
    for spec in schema.columns:
        if spec.name in frame.columns and spec.name not in profiles:
            profiles[spec.name] = profile_reference(frame, numeric=[spec.name], categorical=[]
                                                    )[spec.name] if spec.numeric else \
                CategoricalProfile(spec.name, 0, pd.Series(dtype="int64"))
    # The counts the drift tests read of rows (drift.current_counts), so a summary grades as
    # the same rows would; the router has already checked the cells.
    wanted = {c.name: profiles[c.name] for c in schema.columns if c.name in frame.columns}
    columns: dict[str, Any] = {}
    for name, col in current_counts(wanted, frame).items():
        out: dict[str, Any] = {"rows": len(frame), "missing": int(frame[name].isna().sum())}
        profile = wanted[name]
        if isinstance(col, NumericCounts):
            # One sorted edge list: the KS edges and the PSI deciles (counts agree on both).
            edges, first = np.unique(np.concatenate([profile.edges, profile.psi_edges]),
                                     return_index=True)
            cum = np.concatenate([col.cum, col.psi_cum])[first]
            out.update(kind="numeric", m=col.m, edges=_pack(edges, "<f8"),
                       cum=_pack(cum, "<i8"))
        else:
            counts = col.sort_values(ascending=False, kind="stable")
            # Categories of the reference are kept whole, so a summary grades as its rows
            # would. Unseen ones stay distinct up to SUMMARY_CATEGORIES of them (a long one
            # under a short digest of itself), so the summary stays bounded; beyond that they
            # are pooled, which leaves the JS distance as it was but not the chi-square.
            seen = counts.index.isin(profile.counts.index) \
                if isinstance(profile, CategoricalProfile) else np.zeros(len(counts), bool)
            kept = [[_plain(k), int(v)] for k, v in counts[seen].items()]
            unseen = counts[~seen]
            kept += [[_short(k), int(v)] for k, v in unseen.iloc[:SUMMARY_CATEGORIES].items()]
            pooled = int(unseen.iloc[SUMMARY_CATEGORIES:].sum())
            if pooled:
                kept.append([OTHER, pooled])
            out.update(kind="categorical", counts=kept)
        columns[name] = out
    return {"rows": len(frame), "columns": columns}


def _on_edges(edges: np.ndarray, cum: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Counts <= each of ``wanted``, from counts <= each of ``edges`` (exact on shared
    edges; elsewhere the count at the nearest edge below)."""
    # A leading 0: "below the first kept edge", and all of it when no edge was kept (a
    # column with no value in the batch).
    at = np.searchsorted(edges, wanted, side="right")
    return np.concatenate(([0], cum)).astype(np.int64)[at]


def _empty(profile: NumericProfile | CategoricalProfile) -> NumericCounts | pd.Series:
    if isinstance(profile, NumericProfile):
        return NumericCounts(0, np.zeros(profile.edges.size, np.int64),
                             np.zeros(profile.psi_edges.size, np.int64))
    return pd.Series(dtype="int64")


def input_counts(profiles: Profiles, rows: pd.DataFrame | None = None,
                 summaries: Iterable[Mapping[str, Any]] = ()
                 ) -> dict[str, NumericCounts | pd.Series]:
    """What the drift tests read (see :func:`mlops.stages.drift.compare_counts`) of
    requests logged row by row (``rows``, their inputs) and of batch ``summaries``."""
    if rows is not None and len(rows):
        counts = current_counts(profiles, rows)
    else:
        counts = {c: _empty(p) for c, p in profiles.items()}
    for summary in summaries:
        for name, profile in profiles.items():
            col = summary["columns"].get(name)
            if col is None:
                continue
            if isinstance(profile, NumericProfile) and col.get("kind") == "numeric":
                edges, cum = _unpack(col["edges"], "<f8"), _unpack(col["cum"], "<i8")
                counts[name] = counts[name] + NumericCounts(
                    int(col["m"]), _on_edges(edges, cum, profile.edges),
                    _on_edges(edges, cum, profile.psi_edges))
            elif isinstance(profile, CategoricalProfile) and col.get("kind") == "categorical":
                extra = pd.Series({k: v for k, v in (tuple(p) for p in col["counts"])},
                                  dtype="int64")
                counts[name] = counts[name].add(extra, fill_value=0).astype("int64") \
                    if len(counts[name]) else extra
    return counts


def summary_rows(summaries: Iterable[Mapping[str, Any]]) -> int:
    """How many rows ``summaries`` describe."""
    return sum(int(s["rows"]) for s in summaries)


def input_drift(reference: pd.DataFrame, rows: pd.DataFrame | None,
                summaries: Iterable[Mapping[str, Any]] = (), *,
                numeric: Iterable[str] | None = None, categorical: Iterable[str] | None = None,
                thresholds: DriftThresholds | None = None) -> DriftResult:
    """Drift of live inputs against ``reference`` (training features): the requests
    logged row by row (``rows``, their inputs) and the batch ``summaries`` together.

    Without ``numeric``/``categorical``, the reference columns that the live inputs have
    are split by dtype, as :func:`mlops.stages.drift.detect_drift` does; ``thresholds``
    default to :class:`~mlops.stages.drift.DriftThresholds`' defaults.
    """
    summaries = list(summaries)
    if numeric is None or categorical is None:
        seen = set(rows.columns if rows is not None else ()) | {
            c for s in summaries for c in s["columns"]}
        shared = [c for c in reference.columns if c in seen]
        auto = [c for c in shared if is_number(reference[c])]
        numeric = auto if numeric is None else numeric
        categorical = [c for c in shared if c not in auto] if categorical is None \
            else categorical
    profiles = profile_reference(reference, numeric=list(numeric),
                                 categorical=list(categorical))
    return compare_counts(profiles, input_counts(profiles, rows, summaries),
                          thresholds or DriftThresholds())
