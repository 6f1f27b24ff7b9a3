"""The drift checks of the validation gate: the reference profiled, and the tests of
:mod:`mlops.stages.drift` graded as checks (``drift_psi``, ``drift_js``, ``drifted_share``,
``label_drift``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

from mlops.core.config import ValidationConfig
from mlops.core.schema import Schema, is_number
from mlops.stages.colstats import FrameStats
from mlops.stages.column_checks import ColumnChecker, label_key
from mlops.stages.drift import (
    CategoricalProfile,
    DriftResult,
    DriftThresholds,
    NumericCounts,
    NumericProfile,
    compare_counts,
    current_counts,
    label_drift_counts,
    label_drift_numeric,
    profile_reference,
)

__all__ = ["drift_checks", "frame_counts", "numeric_target", "reference_profiles",
           "stats_counts"]


def reference_profiles(schema: Schema, cfg: ValidationConfig, reference: pd.DataFrame,
                       columns: Iterable[str]) -> dict[str, NumericProfile | CategoricalProfile]:
    """The reference's drift profiles of the serving columns that ``columns`` has."""
    present = set(columns)
    usable = [c for c in schema.serving_columns if c in present and c in reference.columns]
    numeric = [c for c in usable if schema.by_name[c].numeric and not cfg.limits("drift_psi").off]
    categorical = [c for c in usable if schema.by_name[c].categorical
                   and not cfg.limits("drift_js").off]
    target = schema.target
    if (numeric_target(schema) and target in present and target in reference.columns
            and cfg.on("label_drift")):
        numeric.append(target)  # summarize then keeps its histogram, not its values
    return profile_reference(reference, numeric=numeric, categorical=categorical)


def numeric_target(schema: Schema) -> bool:
    """A regression target: numeric and not a handful of class labels."""
    return (schema.target is not None and not schema.classification
            and schema.by_name[schema.target].numeric)


def stats_counts(stats: FrameStats, profiles: Mapping[str, NumericProfile | CategoricalProfile]
                 ) -> dict[str, NumericCounts | pd.Series]:
    """What the drift tests read of summarised data: per profiled column, its histogram on
    the profile's edges or its category counts. A numeric column stored as text is left
    out: the schema check reports it."""
    found = {c: stats.stats[c] for c in profiles if c in stats.stats}
    return {c: st.hist if isinstance(profiles[c], NumericProfile) else st.counts
            for c, st in found.items() if not st.text}


def frame_counts(frame: pd.DataFrame, profiles: Mapping[str, NumericProfile | CategoricalProfile]
                 ) -> dict[str, NumericCounts | pd.Series]:
    """:func:`stats_counts` read straight from ``frame``, without summarising anything
    else (:func:`mlops.stages.drift.current_counts`)."""
    measured = {c: p for c, p in profiles.items()
                if not (isinstance(p, NumericProfile) and not is_number(frame[c]))}
    return current_counts(measured, frame)


def drift_checks(checker: ColumnChecker, reference: pd.DataFrame,
                 profiles: dict[str, NumericProfile | CategoricalProfile],
                 current: Mapping[str, NumericCounts | pd.Series],
                 labels: pd.Series | None) -> DriftResult | None:
    """Grade the drift of the current data against ``reference`` (its ``profiles``): every
    tested column, the share that drifted, and the label.

    ``current`` is what the tests read of the current data (:func:`stats_counts` or
    :func:`frame_counts`); ``labels`` the target's value counts, None when the data has no
    target column.
    """
    cfg, schema = checker.cfg, checker.schema
    target = schema.target
    tested = {c: p for c, p in profiles.items() if c != target and c in current}
    result = compare_counts(tested, {c: current[c] for c in tested},
                            DriftThresholds.from_config(cfg, blocking=True))
    for col in result.columns:
        check = "drift_psi" if col.effect_name == "psi" else "drift_js"
        size = "strongly " if col.grade == "block" else ""
        checker.add(
            check, col.column, f"{col.test}+{col.effect_name}", col.effect,
            f"column {col.column!r} {size + 'drifted' if col.drifted else 'is stable'}: "
            f"{col.effect_name}={col.effect:.4f}, {col.test} Holm-adjusted "
            f"p={col.p_adjusted:.2g} (alpha {cfg.drift_alpha})", grade=col.grade)
    if result.columns:
        checker.add("drifted_share", None, "drifted_share", result.drifted_share,
                    f"{len(result.drifted_columns)} of {len(result.columns)} columns drifted"
                    + (f": {', '.join(result.drifted_columns)}" if result.drifted_columns
                       else ""))
    if (target and labels is not None and target in reference.columns
            and checker.on("label_drift")):
        _label_drift(checker, reference[target], profiles.get(target), current.get(target),
                     labels)
    return result


def _label_drift(checker: ColumnChecker, reference: pd.Series,
                 profile: NumericProfile | CategoricalProfile | None,
                 current: NumericCounts | pd.Series | None, counts: pd.Series) -> None:
    cfg, target = checker.cfg, str(reference.name)
    limits = cfg.limits("label_drift")
    floor, block = _first_set(limits.warn, limits.block), limits.block
    if numeric_target(checker.schema):
        # A regression target: KS and PSI as for numeric columns, on its histogram.
        if not isinstance(profile, NumericProfile) or not isinstance(current, NumericCounts):
            return  # stored as text: the schema check reports it
        lab = label_drift_numeric(profile, current, alpha=cfg.drift_alpha, min_psi=floor,
                                  block_psi=block)
    else:
        lab = label_drift_counts(target, reference.value_counts(dropna=True, sort=False),
                                 counts, alpha=cfg.drift_alpha, min_js=floor, block_js=block)
    checker.add("label_drift", target, "label_drift", lab.effect,
                f"label {target!r} {'drifted' if lab.drifted else 'is stable'}: "
                f"{lab.effect_name}={lab.effect:.4f}, {lab.test} p={lab.p_value:.2g}",
                grade=lab.grade)
    limits = cfg.limits("labels")
    if checker.purpose != "batch" or not checker.schema.classification or limits.off:
        return
    keys = counts[counts > 0].groupby(counts[counts > 0].index.map(label_key)).sum()
    shares = reference.dropna().map(label_key).value_counts(normalize=True)
    if len(keys) == 1 and len(shares) > 1:
        # (Training data gets the stricter training/min_classes check instead.)
        # One class in n labelled rows happens by chance with probability sum(p_c ** n).
        n = int(keys.sum())
        chance = float((shares.to_numpy() ** n).sum())
        if chance < cfg.drift_alpha:
            checker.record("labels", target, "min_classes", 1, None, 2, limits.flag(True),
                            f"target {target!r} has a single class "
                            f"({keys.index[0]}) in {n} labelled rows; by chance that "
                            f"happens with probability {chance:.2g}")


def _first_set(*values: float | None) -> float:
    return next((v for v in values if v is not None), math.inf)
