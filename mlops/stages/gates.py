"""The release gates: one verdict per threshold, the baseline, behavioural tests and the
champion comparison.

Multiclass and imbalanced binary targets also get a floor on balanced accuracy (recall
averaged over classes): it must beat ``DummyClassifier``'s (any constant prediction scores
1 / classes) by ``evaluation.baseline.margin``. ROC-AUC and Brier judge probabilities; a
model that predicts only the frequent classes can pass both, and this floor catches it.
It is left out when the gates name ``min_balanced_accuracy`` themselves.

A fairness gate is decided only on groups with at least ``evaluation.min_group_size``
rows; with fewer than two such groups it is reported as skipped (it passes, and the
report says why) rather than decided by a handful of rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from mlops.core.config import Params
from mlops.core.exceptions import ConfigError, GateFailedError
from mlops.stages.baseline import STRATEGIES
from mlops.stages.behaviour import check_directional_spec
from mlops.stages.fairness import ALL_FAIRNESS_METRICS, fairness_metric_names
from mlops.stages.metrics import CI_LEVEL, LOWER_IS_BETTER, metric_names

__all__ = [
    "IMBALANCED_SHARE",
    "REPLACE_PRODUCTION",
    "check_config",
    "failed_gates",
    "flat_metrics",
    "gate_verdicts",
    "metrics_table",
    "raise_on_failed_gates",
    "verdict_table",
]


# Appended to a failed champion gate: when production is the model that is wrong (it
# learned from a leak), loosening the gates for good is not the fix; replacing it is.
REPLACE_PRODUCTION = (
    "\nIf production is the model that is wrong (for example it learned from a column known "
    "only after the outcome), replace it instead: register this model without the "
    "comparison, `mlops run --set evaluation.champion_tolerance=1` (the override is "
    "recorded in the version's lineage), then `mlops promote VERSION --to production "
    "--force --reason \"production vN was wrong: ...\"`. The reason is kept in the "
    "registry's ledger (`mlops registry history`). See docs/registry.md, \"Replacing a "
    "wrong production model\".")
# A binary target whose rarer class is under this share of the held-out rows is imbalanced.
IMBALANCED_SHARE = 0.25


def flat_metrics(result: Mapping[str, Any]) -> dict[str, float | None]:
    """Model metrics plus fairness summaries as ``metric[feature]``, in one flat dict."""
    flat = dict(result["metrics"])
    for feature, section in result.get("fairness", {}).items():
        for metric in ALL_FAIRNESS_METRICS:
            if metric in section:
                flat[f"{metric}[{feature}]"] = section[metric]
    return flat


def gate_verdicts(result: Mapping[str, Any], params: Params) -> list[dict[str, Any]]:
    """One verdict per gate: thresholds, behavioural tests and the champion comparison.

    Each verdict has ``gate``, ``metric``, ``label`` (what it measures, averages named),
    ``value``, ``threshold``, ``direction`` (``min``: value must be >= threshold, ``max``:
    <=), ``passed``, ``key`` (the params key to change if the threshold itself is wrong)
    and ``note`` (why a gate was skipped, else empty).
    """
    rows: list[dict[str, Any]] = []
    labels = result.get("metric_labels", {})
    for name, threshold in params.evaluation.gates.items():
        direction, metric = _parse_gate(name, params)
        key = f"evaluation.gates.{name}"
        if metric in ALL_FAIRNESS_METRICS:
            for feature, section in result["fairness"].items():
                rows.append(_fairness_verdict(name, metric, feature, section, threshold,
                                              direction, key, result))
        else:
            rows.append(_verdict(name, metric, result["metrics"][metric], threshold,
                                 direction, key, labels.get(metric, metric)))
    baseline = result.get("baseline")
    if baseline:
        margin, base = params.evaluation.baseline.margin, baseline["value"]
        threshold = None if base is None else (
            base + margin if baseline["direction"] == "min" else base - margin)
        rows.append(_verdict(
            f"baseline_{baseline['metric']}", baseline["metric"], baseline["model"],
            threshold, baseline["direction"], "evaluation.baseline.margin",
            f"{labels.get(baseline['metric'], baseline['metric'])} vs "
            f"{baseline['estimator']}"))
    floor = _balanced_accuracy_floor(result, params, labels)
    if floor is not None:
        rows.append(floor)
    for test in result["behaviour"]:
        rows.append(_verdict(f"{test['kind']}[{test['column']}]", "failed_share",
                             test["failed_share"], 0.0, "max", f"evaluation.{test['kind']}"))
    if result.get("champion"):
        rows += _champion_verdicts(result, params, labels)
    return rows


def _balanced_accuracy_floor(result: Mapping[str, Any], params: Params,
                             labels: Mapping[str, str]) -> dict[str, Any] | None:
    """Balanced accuracy against the dummy's (1 / classes) plus the baseline margin, for a
    multiclass or imbalanced binary target (module docstring); None where it does not
    apply."""
    value = result.get("metrics", {}).get("balanced_accuracy", "absent")
    matrix = (result.get("confusion_matrix") or {}).get("matrix")
    if value == "absent" or not matrix or "min_balanced_accuracy" in params.evaluation.gates:
        return None
    counts = [sum(row) for row in matrix if sum(row) > 0]
    if len(counts) < 2 or (len(counts) == 2 and min(counts) / sum(counts) >= IMBALANCED_SHARE):
        return None
    chance = 1.0 / len(counts)
    what = "classes" if len(counts) > 2 else f"classes, the rarer {min(counts) / sum(counts):.0%}"
    return _verdict("baseline_balanced_accuracy", "balanced_accuracy", value,
                    chance + params.evaluation.baseline.margin, "min",
                    "evaluation.baseline.margin",
                    f"{labels.get('balanced_accuracy', 'balanced accuracy')} vs "
                    f"DummyClassifier (1/{len(counts)}: {len(counts)} {what})")


def _champion_verdicts(result: Mapping[str, Any], params: Params,
                       labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The candidate against production, within ``evaluation.champion_tolerance``.

    Classification: on every gated model metric. Regression: on the primary metric (the
    baseline's, R² by default); an error metric (MAE, RMSE, MAPE) is in the target's
    unit, so there the tolerance is a share of production's error (0.02: 2 % worse).
    """
    tolerance = params.evaluation.champion_tolerance
    if params.data.regression:
        primary = params.evaluation.baseline.metric_for(True)
        gates = [("max" if primary in LOWER_IS_BETTER else "min", primary)]
    else:
        gates = [_parse_gate(name, params) for name in params.evaluation.gates]
    rows = []
    for direction, metric in gates:
        base = result["champion"]["metrics"].get(metric)
        if metric in ALL_FAIRNESS_METRICS or base is None:
            continue
        margin = tolerance * abs(base) if params.data.regression and direction == "max" \
            else tolerance
        threshold = base - margin if direction == "min" else base + margin
        rows.append(_verdict(f"champion_{metric}", metric, result["metrics"][metric],
                             threshold, direction, "evaluation.champion_tolerance",
                             f"{labels.get(metric, metric)} vs production"))
    return rows


def metrics_table(result: Mapping[str, Any], *, decimals: int = 4) -> pd.DataFrame:
    """The model metrics as a table for people: what each measures, its value and its
    bootstrap interval (blank where none is computed), and why a metric is missing when
    the data leaves it undefined."""
    intervals = result.get("confidence_intervals", {})
    labels = result.get("metric_labels", {})
    notes = result.get("metric_notes", {})

    def interval(name: str) -> str:
        ci = intervals.get(name) or {}
        if ci.get("low") is None or ci.get("high") is None:
            return ""
        return f"{ci['low']:.{decimals}f} – {ci['high']:.{decimals}f}"

    rows = [{"metric": labels.get(name, name),
             "value": None if value is None else round(value, decimals),
             f"{CI_LEVEL:.0%} CI": interval(name), "note": notes.get(name, "")}
            for name, value in result["metrics"].items()]
    table = pd.DataFrame(rows).set_index("metric")
    return table if table["note"].astype(bool).any() else table.drop(columns="note")


def verdict_table(result: Mapping[str, Any]) -> pd.DataFrame:
    """The gate verdicts as a table: gate, what it measures, value, threshold, passed."""
    columns = ["gate", "measures", "value", "threshold", "passed"]
    rows = [{"measures": g.get("label", g["metric"]) + (f" ({g['note']})" if g.get("note")
                                                        else ""),
             **{c: g[c] for c in columns if c != "measures"}} for g in result["gates"]]
    return pd.DataFrame(rows, columns=columns)


def failed_gates(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The verdicts that did not pass."""
    return [g for g in result["gates"] if not g["passed"]]


def raise_on_failed_gates(result: Mapping[str, Any]) -> None:
    """Raise :class:`GateFailedError` naming every failed gate; return if all passed."""
    failed = failed_gates(result)
    if not failed:
        return
    lines = []
    for g in failed:
        sign = ">=" if g["direction"] == "min" else "<="
        value = "not computable" if g["value"] is None else f"{g['value']:.6g}"
        threshold = "a computable value" if g["threshold"] is None else \
            f"{sign} {g['threshold']:.6g}"
        lines.append(f"  - {g['gate']}: {g.get('label', g['metric'])} = {value}, must be "
                     f"{threshold} (threshold from {g['key']})")
    names = ", ".join(g["gate"] for g in failed)
    raise GateFailedError(
        f"{len(failed)} evaluation gate(s) failed: {names}\n" + "\n".join(lines) + "\n"
        "The model must not be registered. Improve the model or the data; change a "
        "threshold in params.yaml only if the threshold itself is wrong."
        + (REPLACE_PRODUCTION if any(g["gate"].startswith("champion_") for g in failed)
           else ""),
        gates=[g["gate"] for g in failed],
    )


def check_config(params: Params) -> None:
    """Fail before any work when a gate or behavioural spec in params is malformed."""
    for name in params.evaluation.gates:
        _parse_gate(name, params)
    for column, spec in params.evaluation.directional.items():
        check_directional_spec(column, spec)
    cfg = params.evaluation
    if cfg.bootstrap_samples < 0:
        raise ConfigError("evaluation.bootstrap_samples must be >= 0 (0 turns intervals off)",
                          key="evaluation.bootstrap_samples")
    if cfg.min_group_size < 1:
        raise ConfigError("evaluation.min_group_size must be >= 1",
                          key="evaluation.min_group_size")
    if cfg.baseline.margin < 0:
        raise ConfigError("evaluation.baseline.margin must be >= 0: the model must be at "
                          "least as good as the trivial baseline",
                          key="evaluation.baseline.margin")
    for column, edges in cfg.group_bins.items():
        key = f"evaluation.group_bins.{column}"
        if len(edges) < 2 or list(edges) != sorted(set(edges)):
            raise ConfigError(f"{key}: expected at least two increasing band edges, got "
                              f"{list(edges)}", key=key)
    regression = params.data.regression
    baseline = cfg.baseline.metric_for(regression)
    if baseline not in metric_names(regression):
        task = "regression" if regression else "classification"
        raise ConfigError(
            f"evaluation.baseline.metric is {baseline!r}, a metric the {task} target in "
            f"data.task does not have; use one of "
            f"{[m for m in metric_names(regression) if m in STRATEGIES]} (or null for the "
            "default)", key="evaluation.baseline.metric")
    if params.data.positive_class is None and cfg.directional and not regression:
        raise ConfigError("evaluation.directional tests move the probability of "
                          "data.positive_class, which is null; set it or remove the tests",
                          key="evaluation.directional")


def _parse_gate(name: str, params: Params) -> tuple[str, str]:
    """``("min", "roc_auc")`` for ``min_roc_auc``; ConfigError for an unknown gate."""
    key = f"evaluation.gates.{name}"
    direction, _, metric = name.partition("_")
    regression = params.data.regression
    known = (*metric_names(regression), *fairness_metric_names(regression))
    other = (*metric_names(not regression), *fairness_metric_names(not regression))
    if direction in ("min", "max") and metric in other and metric not in known:
        task, theirs = ("regression", "classification") if regression else \
            ("classification", "regression")
        raise ConfigError(
            f"{key}: {metric!r} is a {theirs} metric, but data.task is {task}; remove the "
            f"gate or use one of {list(known)}", key=key)
    if direction not in ("min", "max") or metric not in known:
        raise ConfigError(
            f"{key}: a gate is min_<metric> or max_<metric> with <metric> one of "
            f"{list(known)}", key=key,
        )
    if metric in ALL_FAIRNESS_METRICS and not params.data.sensitive_features:
        raise ConfigError(f"{key}: fairness gates need data.sensitive_features; list them "
                          "or remove the gate", key=key)
    if metric in ALL_FAIRNESS_METRICS and not regression and params.data.positive_class is None:
        raise ConfigError(f"{key}: fairness gates measure the favourable outcome "
                          "data.positive_class, which is null; set it or remove the gate",
                          key=key)
    return direction, metric


def _fairness_verdict(name: str, metric: str, feature: str, section: Mapping[str, Any],
                      threshold: float, direction: str, key: str,
                      result: Mapping[str, Any]) -> dict[str, Any]:
    """A fairness gate on one feature, skipped when fewer than two groups are big enough."""
    outcome = result.get("positive_class")
    what = " (one-vs-rest)" if result.get("task") == "multiclass" else ""
    if result.get("task") == "regression":
        label = f"{result.get('metric_labels', {}).get(metric, metric)} by {feature}"
    else:
        label = f"{metric.replace('_', ' ')} by {feature}, outcome class {outcome}{what}"
    row = _verdict(f"{name}[{feature}]", metric, section[metric], threshold, direction, key,
                   label)
    if not section.get("gated", True):
        kept = len(section["groups"]) - len(section.get("skipped_groups", []))
        row.update(passed=True, note=f"skipped: {kept} group(s) with at least "
                   f"{section.get('min_group_size')} rows, two are needed")
    return row


def _verdict(gate: str, metric: str, value: float | None, threshold: float | None,
             direction: str, key: str, label: str = "") -> dict[str, Any]:
    if value is None or threshold is None:
        passed = False
    else:
        passed = value >= threshold if direction == "min" else value <= threshold
    return {"gate": gate, "metric": metric, "label": label or metric, "value": value,
            "threshold": None if threshold is None else float(threshold),
            "direction": direction, "passed": bool(passed), "key": key, "note": ""}
