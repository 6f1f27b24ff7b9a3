"""Markdown sections that the pull-request report and the model card share: gates, metrics,
baseline, validation, fairness, behavioural tests and top features, each a list of lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.stages.gates import flat_metrics
from mlops.stages.metrics import CI_LEVEL

__all__ = [
    "baseline_section",
    "behaviour_section",
    "cell",
    "fairness_section",
    "gate_table",
    "importance_section",
    "metric_table",
    "num",
    "positive_text",
    "validation_section",
]

_MAX_FAILURES = 20  # validation failures listed in the report; the rest are counted


def positive_text(result: Mapping[str, Any]) -> str:
    if result.get("task") == "regression":
        unit = result.get("unit")
        return f"a number{f' in {unit}' if unit else ''}: no classes"
    if result.get("positive_class") is None:
        return "no positive class: metrics are macro averages"
    return f"positive class `{result['positive_class']}`"


def gate_table(result: Mapping[str, Any]) -> list[str]:
    rows = ["| Gate | Measures | Value | Threshold | Result |", "|---|---|---:|---:|:---:|"]
    for g in result["gates"]:
        sign = "≥" if g["direction"] == "min" else "≤"
        verdict = ("⏭️ skipped" if g.get("note") else "✅ pass") if g["passed"] else "❌ fail"
        what = g.get("label", g["metric"]) + (f"; {g['note']}" if g.get("note") else "")
        rows.append(f"| `{cell(g['gate'])}` | {cell(what)} | {num(g['value'])} | {sign} "
                    f"{num(g['threshold'])} | {verdict} |")
    if not result["gates"]:
        rows.append("| _no gates configured_ | | | | |")
    return rows


def metric_table(result: Mapping[str, Any], *, unreadable: bool = False) -> list[str]:
    """The metrics against production; ``unreadable``: production's registry could not be
    read, so its absence says nothing about a first release."""
    champion = result.get("champion")
    intervals = result.get("confidence_intervals", {})
    labels = result.get("metric_labels", {})
    delta_intervals = (champion or {}).get("difference_intervals") or {}
    pct = f"{CI_LEVEL:.0%}"
    rows = [f"| Metric | Candidate | {pct} CI | Production | Δ vs production | Δ {pct} CI |",
            "|---|---:|---:|---:|---:|---:|"]
    for metric, value in flat_metrics(result).items():
        ci = intervals.get(metric)
        ci_text = f"{num(ci['low'])} – {num(ci['high'])}" if ci else ""
        base = champion["metrics"].get(metric) if champion else None
        delta = champion["difference"].get(metric) if champion else None
        dci = delta_intervals.get(metric)
        dci_text = (f"{num(dci['low'], signed=True)} – {num(dci['high'], signed=True)}"
                    if dci else "")
        rows.append(f"| {cell(labels.get(metric, metric))} | {num(value)} | {ci_text} | "
                    f"{num(base)} | {num(delta, signed=True)} | {dci_text} |")
    for metric, why in (result.get("metric_notes") or {}).items():
        rows += ["", f"_{cell(labels.get(metric, metric))}: {cell(why)}._"]
    if not champion and unreadable:
        rows += ["", "_No comparison with production: its registry could not be read (see "
                     "above), so this run cannot tell whether it is the first release._"]
    elif not champion:
        rows += ["", "_No production model to compare with: this is the first release._"]
    return rows


def baseline_section(result: Mapping[str, Any]) -> list[str]:
    b = result.get("baseline")
    if not b:
        return ["_No baseline comparison._"]
    label = result.get("metric_labels", {}).get(b["metric"], b["metric"])
    better = "lower" if b["direction"] == "max" else "higher"
    interval = b.get("interval")
    ci = (f" ({CI_LEVEL:.0%} paired bootstrap interval {num(interval['low'], signed=True)} "
          f"to {num(interval['high'], signed=True)})") if interval else ""
    return [f"The model must beat scikit-learn's `{b['estimator']}` (fitted on the "
            f"{b['fitted_on']}) on {cell(label)} by at least {num(b['margin'])} "
            f"({better} is better): model {num(b['model'])}, baseline {num(b['value'])}, "
            f"improvement {num(b['improvement'], signed=True)}{ci}."]


def fairness_section(result: Mapping[str, Any]) -> list[str]:
    fairness = result.get("fairness") or {}
    if not fairness:
        return ["_No sensitive features configured (data.sensitive_features)._", ""]
    if result.get("task") == "regression":
        return _group_error_section(result, fairness)
    outcome = result.get("positive_class")
    multiclass = result.get("task") == "multiclass"
    if outcome is None:
        header = ["| Group | n | Accuracy (all classes) |", "|---|---:|---:|"]
        intro = ("No positive class (data.positive_class is null): accuracy per group only; "
                 "parity needs a favourable outcome.")
    else:
        accuracy = (f"One-vs-rest accuracy (class `{outcome}`)" if multiclass
                    else "Accuracy")
        header = [f"| Group | n | Selection rate (predicted `{outcome}`) | TPR | FPR | "
                  f"{accuracy} |", "|---|---:|---:|---:|---:|---:|"]
        intro = (f"Outcome: predicting class `{outcome}`"
                 + (" against all other classes" if multiclass else "") + ". TPR and FPR: "
                 f"true and false positive rates of class `{outcome}`.")
    lines: list[str] = [intro, ""]
    for feature, section in fairness.items():
        skipped = section.get("skipped_groups") or []
        size = section.get("min_group_size")
        lines += [
            f"**{cell(feature)}**: demographic parity difference "
            f"{num(section['demographic_parity_difference'])}, ratio "
            f"{num(section['demographic_parity_ratio'])}; equalized odds difference "
            f"{num(section['equalized_odds_difference'])}"
            + (f" (over groups with at least {size} rows)." if outcome is not None else "."),
            "",
        ]
        if skipped:
            lines += [f"Groups with fewer than {size} rows, reported but left out of the "
                      f"parity numbers and the gates: "
                      f"{', '.join(f'`{cell(g)}`' for g in skipped)}.", ""]
        lines += header
        for group, m in section["groups"].items():
            mark = " (skipped)" if group in skipped else ""
            if outcome is None:
                lines.append(f"| {cell(group)}{mark} | {m['count']} | {num(m['accuracy'])} |")
                continue
            lines.append(f"| {cell(group)}{mark} | {m['count']} | "
                         f"{num(m['selection_rate'])} | {num(m['true_positive_rate'])} | "
                         f"{num(m['false_positive_rate'])} | {num(m['accuracy'])} |")
        lines.append("")
    return lines


def _group_error_section(result: Mapping[str, Any], fairness: Mapping[str, Any]
                         ) -> list[str]:
    """Regression fairness: the error of each group and the spread of group MAE."""
    unit = result.get("unit")
    of = f" ({cell(unit)})" if unit else ""
    lines = [f"Error by group: mean absolute error (MAE), root mean squared error (RMSE) and "
             f"mean error (predicted minus actual: above 0, the model over-predicts for the "
             f"group){of}.", ""]
    for feature, section in fairness.items():
        skipped = section.get("skipped_groups") or []
        size = section.get("min_group_size")
        lines += [f"**{cell(feature)}**: largest difference of group MAE "
                  f"{num(section.get('mae_difference'))}, largest ratio "
                  f"{num(section.get('mae_ratio'))} (over groups with at least {size} rows).",
                  ""]
        if skipped:
            lines += [f"Groups with fewer than {size} rows, reported but left out of the "
                      f"summaries and the gates: "
                      f"{', '.join(f'`{cell(g)}`' for g in skipped)}.", ""]
        lines += ["| Group | n | MAE | RMSE | Mean error |", "|---|---:|---:|---:|---:|"]
        for group, m in section["groups"].items():
            mark = " (skipped)" if group in skipped else ""
            lines.append(f"| {cell(group)}{mark} | {m['count']} | {num(m['mae'])} | "
                         f"{num(m['rmse'])} | {num(m['mean_error'], signed=True)} |")
        lines.append("")
    return lines


def behaviour_section(result: Mapping[str, Any]) -> list[str]:
    tests = result.get("behaviour") or []
    if not tests:
        return ["_None configured (evaluation.invariance, evaluation.directional)._"]
    rows = ["| Test | Column | Rows failed | Result |", "|---|---|---:|:---:|"]
    for t in tests:
        what = t["kind"] + (f" (expect {t['expect']})" if "expect" in t else "")
        rows.append(f"| {what} | `{cell(t['column'])}` | {t['n_failed']} of {t['n_rows']} | "
                    f"{'✅ pass' if t['passed'] else '❌ fail'} |")
    return rows


def importance_section(result: Mapping[str, Any]) -> list[str]:
    imp = result["importance"]
    rows = {r["feature"]: r for r in imp["features"]}
    lines = [f"{i}. `{cell(name)}`: {num(rows[name]['importance_mean'])} ± "
             f"{num(rows[name]['importance_std'])}" for i, name in enumerate(imp["top"], 1)]
    return [*lines, "", f"_Mean drop in {imp['scoring']} when the column is shuffled "
            f"({imp['n_repeats']} repeats, held-out data)._"]


def validation_section(validation: Mapping[str, Any] | None) -> list[str]:
    if validation is None:
        return ["_Data validation summary not provided._"]
    mark = "✅ passed" if validation.get("passed") else "❌ failed"
    lines = [f"Data validation {mark}: {cell(str(validation.get('summary', '')))}"]
    failures = validation.get("failures")
    if failures is None:  # ValidationReport.to_dict(): list the checks that did not pass
        failures = [c for c in validation.get("checks") or [] if not c.get("passed", True)]
    failures = list(failures)
    if failures:
        lines.append("")
        lines += [f"- {cell(_describe_failure(item))}" for item in failures[:_MAX_FAILURES]]
        if len(failures) > _MAX_FAILURES:
            lines.append(f"- … and {len(failures) - _MAX_FAILURES} more")
    return lines


def _describe_failure(item: Any) -> str:
    """A failure given as text, or as a check record ``{check, column, grade, message}``."""
    if not isinstance(item, Mapping):
        return str(item)
    where = str(item.get("check") or item.get("rule") or "")
    if item.get("column"):
        where += f"({item['column']})"
    grade = item.get("grade") or item.get("severity")
    if grade:
        where = f"{grade} {where}".strip()
    message = item.get("message") or ", ".join(f"{k}={v}" for k, v in item.items())
    return f"{where}: {message}" if where else str(message)


def cell(text: Any) -> str:
    """``text`` safe inside a Markdown table cell: pipes escaped, on one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
