"""The release gates: one verdict per threshold, behavioural test and champion comparison."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from mlops.core.config import Params
from mlops.core.exceptions import ConfigError, GateFailedError
from mlops.stages.behaviour import check_directional_spec
from mlops.stages.fairness import FAIRNESS_METRICS
from mlops.stages.metrics import METRIC_NAMES

__all__ = [
    "check_config",
    "failed_gates",
    "flat_metrics",
    "gate_verdicts",
    "raise_on_failed_gates",
    "verdict_table",
]


def flat_metrics(result: Mapping[str, Any]) -> dict[str, float | None]:
    """Model metrics plus fairness summaries as ``metric[feature]``, in one flat dict."""
    flat = dict(result["metrics"])
    for feature, section in result.get("fairness", {}).items():
        for metric in FAIRNESS_METRICS:
            flat[f"{metric}[{feature}]"] = section[metric]
    return flat


def gate_verdicts(result: Mapping[str, Any], params: Params) -> list[dict[str, Any]]:
    """One verdict per gate: thresholds, behavioural tests and the champion comparison.

    Each verdict has ``gate``, ``metric``, ``value``, ``threshold``, ``direction``
    (``min``: value must be >= threshold, ``max``: <=), ``passed`` and ``key`` (the
    params key to change if the threshold itself is wrong).
    """
    rows: list[dict[str, Any]] = []
    for name, threshold in params.evaluation.gates.items():
        direction, metric = _parse_gate(name, params)
        key = f"evaluation.gates.{name}"
        if metric in FAIRNESS_METRICS:
            for feature, section in result["fairness"].items():
                rows.append(_verdict(f"{name}[{feature}]", metric, section[metric],
                                     threshold, direction, key))
        else:
            rows.append(_verdict(name, metric, result["metrics"][metric], threshold,
                                 direction, key))
    for test in result["behaviour"]:
        rows.append(_verdict(f"{test['kind']}[{test['column']}]", "failed_share",
                             test["failed_share"], 0.0, "max", f"evaluation.{test['kind']}"))
    if result.get("champion"):
        tolerance = params.evaluation.champion_tolerance
        for name in params.evaluation.gates:
            direction, metric = _parse_gate(name, params)
            base = result["champion"]["metrics"].get(metric)
            if metric in FAIRNESS_METRICS or base is None:
                continue
            threshold = base - tolerance if direction == "min" else base + tolerance
            rows.append(_verdict(f"champion_{metric}", metric, result["metrics"][metric],
                                 threshold, direction, "evaluation.champion_tolerance"))
    return rows


def verdict_table(result: Mapping[str, Any]) -> pd.DataFrame:
    """The gate verdicts as a table: gate, value, threshold, passed."""
    columns = ["gate", "value", "threshold", "passed"]
    return pd.DataFrame([{c: g[c] for c in columns} for g in result["gates"]], columns=columns)


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
        lines.append(f"  - {g['gate']}: {g['metric']} = {value}, must be {sign} "
                     f"{g['threshold']:.6g} (threshold from {g['key']})")
    names = ", ".join(g["gate"] for g in failed)
    raise GateFailedError(
        f"{len(failed)} evaluation gate(s) failed: {names}\n" + "\n".join(lines) + "\n"
        "The model must not be registered. Improve the model or the data; change a "
        "threshold in params.yaml only if the threshold itself is wrong.",
        gates=[g["gate"] for g in failed],
    )


def check_config(params: Params) -> None:
    """Fail before any work when a gate or behavioural spec in params is malformed."""
    for name in params.evaluation.gates:
        _parse_gate(name, params)
    for column, spec in params.evaluation.directional.items():
        check_directional_spec(column, spec)
    if params.evaluation.bootstrap_samples < 0:
        raise ConfigError("evaluation.bootstrap_samples must be >= 0 (0 turns intervals off)",
                          key="evaluation.bootstrap_samples")


def _parse_gate(name: str, params: Params) -> tuple[str, str]:
    """``("min", "roc_auc")`` for ``min_roc_auc``; ConfigError for an unknown gate."""
    key = f"evaluation.gates.{name}"
    direction, _, metric = name.partition("_")
    known = (*METRIC_NAMES, *FAIRNESS_METRICS)
    if direction not in ("min", "max") or metric not in known:
        raise ConfigError(
            f"{key}: a gate is min_<metric> or max_<metric> with <metric> one of "
            f"{list(known)}", key=key,
        )
    if metric in FAIRNESS_METRICS and not params.data.sensitive_features:
        raise ConfigError(f"{key}: fairness gates need data.sensitive_features; list them "
                          "or remove the gate", key=key)
    return direction, metric


def _verdict(gate: str, metric: str, value: float | None, threshold: float,
             direction: str, key: str) -> dict[str, Any]:
    if value is None:
        passed = False
    else:
        passed = value >= threshold if direction == "min" else value <= threshold
    return {"gate": gate, "metric": metric, "value": value, "threshold": float(threshold),
            "direction": direction, "passed": bool(passed), "key": key}
