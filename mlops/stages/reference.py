"""What serving needs to know of the training data, without one training row.

The app's form starts from typical values, the router summarises large batches on the
training data's drift profiles, the operator's timeline tests drift against them, and
explanations need background rows. A public Space must not ship the training data for
that, so each registered version carries :data:`REFERENCE_FILE`, made from its training
rows at registration: per serving column,

- the typical value, as schema inference finds it (:func:`mlops.core.schema.infer_schema`:
  the median of a number, the most common category or boolean);
- the drift profile (:func:`mlops.stages.drift.profile_reference`): cumulative counts at up
  to :data:`~mlops.stages.drift.KS_POINTS` of its own quantiles, or the category counts.
  Drift graded on it is exactly drift graded on the rows, since the tests read nothing
  else of them.

It is a per-column summary: no row, and no link between two columns' values. Note that on
data of fewer than ``KS_POINTS`` rows the quantile sketch lists every value of a numeric
column but the smallest (see ``docs/app.md``). Explanations get background rows drawn
from these per-column distributions (:meth:`ReferenceSummary.background`), never real ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import DataError
from mlops.core.schema import Schema, infer_schema
from mlops.stages.drift import CategoricalProfile, NumericProfile, profile_reference

__all__ = ["REFERENCE_FILE", "REFERENCE_FORMAT", "ReferenceSummary", "read_reference",
           "serving_profiles", "summarize_reference", "write_reference"]

REFERENCE_FILE = "reference.json"  # stored with each registered version
REFERENCE_FORMAT = "mlops-reference/1"

Profile = NumericProfile | CategoricalProfile


def serving_profiles(frame: pd.DataFrame, schema: Schema) -> dict[str, Profile]:
    """The drift profiles of the serving columns of ``frame`` (numbers as the schema says)."""
    cols = [c for c in schema.serving_columns if c in frame.columns]
    return profile_reference(frame, numeric=[c for c in cols if schema.by_name[c].numeric],
                             categorical=[c for c in cols if schema.by_name[c].categorical])


@dataclass(frozen=True)
class ReferenceSummary:
    """The training data of a version reduced to what serving reads (module docstring)."""

    rows: int
    kinds: dict[str, str]  # column -> schema kind (int, float, bool, category)
    typical: dict[str, Any]  # column -> typical value (None when there is none)
    profiles: dict[str, Profile]

    @property
    def columns(self) -> tuple[str, ...]:
        """The summarised serving columns, in the profiles' order (drift reports keep it)."""
        return tuple(self.profiles)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: numbers and category names, never a row."""
        columns: list[dict[str, Any]] = []  # a list: JSON with sorted keys keeps its order
        for name, profile in self.profiles.items():
            if isinstance(profile, NumericProfile):
                shape: dict[str, Any] = {
                    "type": "numeric", "n": profile.n,
                    "edges": profile.edges.tolist(), "cum_counts": profile.cum_counts.tolist(),
                    "psi_edges": profile.psi_edges.tolist(),
                    "psi_counts": profile.psi_counts.tolist()}
            else:
                shape = {"type": "categorical", "n": profile.n,
                         "counts": [[_plain(k), int(v)] for k, v in profile.counts.items()]}
            columns.append({"name": name, "kind": self.kinds[name],
                            "typical": _plain(self.typical.get(name)), "profile": shape})
        return {"format": REFERENCE_FORMAT, "rows": self.rows, "columns": columns}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = REFERENCE_FILE
                  ) -> ReferenceSummary:
        """Read :meth:`to_dict`'s output; DataError naming ``where`` and the key when bad."""
        if not isinstance(data, Mapping) or data.get("format") != REFERENCE_FORMAT:
            raise DataError(f"{where}: not a reference summary (format must be "
                            f"{REFERENCE_FORMAT!r})", file=where, rule="format")
        kinds: dict[str, str] = {}
        typical: dict[str, Any] = {}
        profiles: dict[str, Profile] = {}
        for i, col in enumerate(data.get("columns") or []):
            name = col.get("name", f"#{i}") if isinstance(col, Mapping) else f"#{i}"
            try:
                shape = col["profile"]
                if shape["type"] == "numeric":
                    profiles[name] = NumericProfile(
                        name, int(shape["n"]), np.asarray(shape["edges"], dtype=np.float64),
                        np.asarray(shape["cum_counts"], dtype=np.int64),
                        np.asarray(shape["psi_edges"], dtype=np.float64),
                        np.asarray(shape["psi_counts"], dtype=np.int64))
                elif shape["type"] == "categorical":
                    pairs = [tuple(p) for p in shape["counts"]]
                    counts = pd.Series([int(v) for _, v in pairs],
                                       index=pd.Index([k for k, _ in pairs], dtype=object),
                                       dtype="int64")
                    profiles[name] = CategoricalProfile(name, int(shape["n"]), counts)
                else:
                    raise ValueError(f"unknown profile type {shape['type']!r}")
                kinds[name] = str(col["kind"])
                typical[name] = col.get("typical")
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{where}: column {name!r} is malformed ({exc})", file=where,
                                column=name, rule="reference") from None
        return cls(int(data.get("rows") or 0), kinds, typical, profiles)

    def background(self, rows: int, *, seed: int = 0) -> pd.DataFrame:
        """``rows`` synthetic rows for explanations: each column takes the values at evenly
        spaced quantiles of its own distribution, then is shuffled on its own (seeded), so
        no row is a training row and the columns are independent (an interventional
        background, as Shapley values with an independent masker assume)."""
        rng = np.random.default_rng(seed)
        ranks = (np.arange(rows) + 0.5) / rows
        out: dict[str, Any] = {}
        for name, profile in self.profiles.items():
            kind = self.kinds[name]
            if isinstance(profile, NumericProfile):
                if profile.n == 0 or not profile.edges.size:
                    values: Any = np.full(rows, np.nan)
                else:
                    at = np.searchsorted(profile.cum_counts, ranks * profile.n, side="left")
                    values = profile.edges[np.minimum(at, profile.edges.size - 1)]
                    if kind == "int":
                        values = values.astype(np.int64)
            else:
                counts = profile.counts.to_numpy(dtype=np.float64)
                if not counts.size:
                    values = np.full(rows, None, dtype=object)
                else:
                    at = np.searchsorted(np.cumsum(counts), ranks * counts.sum(), side="left")
                    values = profile.counts.index.to_numpy(dtype=object)[
                        np.minimum(at, counts.size - 1)]
                    if kind == "bool":
                        values = values.astype(bool)
            out[name] = rng.permutation(values)
        return pd.DataFrame(out)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def summarize_reference(frame: pd.DataFrame, schema: Schema) -> ReferenceSummary:
    """The :class:`ReferenceSummary` of ``frame`` (a version's training rows)."""
    cols = [c for c in schema.serving_columns if c in frame.columns]
    if not cols or frame.empty:
        raise DataError("no training rows with serving columns to summarise",
                        rule="reference")
    inferred = infer_schema(frame[cols], target=None)
    profiles = serving_profiles(frame, schema)
    return ReferenceSummary(
        rows=len(frame), kinds={c: schema.by_name[c].kind for c in profiles},
        typical={c: inferred.by_name[c].typical for c in profiles}, profiles=profiles)


def write_reference(summary: ReferenceSummary, path: str | Path) -> Path:
    """Write ``summary`` as JSON to ``path``; return the path."""
    path = Path(path)
    path.write_text(json.dumps(summary.to_dict(), indent=1, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


def read_reference(path: str | Path) -> ReferenceSummary:
    """The summary stored at ``path`` (DataError naming the file when it is not one)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the reference summary ({exc})", file=str(path),
                        rule="reference") from None
    return ReferenceSummary.from_dict(data, where=str(path))
