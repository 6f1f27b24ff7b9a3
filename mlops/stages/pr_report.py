"""The pull-request report (``report.md``), built from the result of
:func:`mlops.stages.evaluation.evaluate`.

The report is plain GitHub-flavoured Markdown that ``cml comment`` can post; images are
linked by paths relative to the report (:mod:`mlops.stages.markdown_links` rewrites them to
absolute URLs once the images are published). When the run was compared with production,
the report opens with what changed against it (``production``, built by
:mod:`mlops.pipeline.compare`). The report ends with an invisible summary (an HTML comment:
metrics, verdict, params) that a later run reads to compare with a committed report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops.core.config import Params
from mlops.stages.gates import failed_gates, flat_metrics
from mlops.stages.markdown_links import relative_link
from mlops.stages.metrics import CI_LEVEL
from mlops.stages.report_sections import (
    baseline_section,
    behaviour_section,
    cell,
    fairness_section,
    gate_table,
    importance_section,
    metric_table,
    num,
    positive_text,
    validation_section,
)

__all__ = [
    "IMAGE_TITLES",
    "SUMMARY_MARKER",
    "read_report_summary",
    "render_report",
    "report_summary",
    "write_report",
]

IMAGE_TITLES = {
    "confusion_matrix": "Confusion matrix",
    "roc": "ROC curve",
    "precision_recall": "Precision-recall curve",
    "calibration": "Calibration",
    "fairness": "Fairness by group",
    "importance": "Permutation importance",
    "predicted_vs_actual": "Predicted against actual",
    "residuals": "Residuals",
}
# report.md ends with this HTML comment (invisible on GitHub): the run's metrics, verdict and
# params as JSON, so that a later run can compare with a committed copy of the report.
SUMMARY_MARKER = "mlops-report-summary:"
_SUMMARY = re.compile(r"<!--\s*" + re.escape(SUMMARY_MARKER) + r"\s*(\{.*?\})\s*-->", re.S)


def render_report(
    result: Mapping[str, Any],
    *,
    images: Mapping[str, str] | None = None,
    validation: Mapping[str, Any] | None = None,
    run_id: str = "",
    git_commit: str = "",
    model_name: str = "",
    production: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
) -> str:
    """Markdown report of one evaluation, ready to post as a pull-request comment.

    ``images`` maps a plot name to a link (already relative to the report's folder);
    ``validation`` is the data validation summary ``{"passed", "summary", "failures"}``;
    ``production`` what :func:`mlops.pipeline.compare.production_comparison` found;
    ``summary`` is embedded as an HTML comment (see :func:`report_summary`).
    """
    failed = failed_gates(result)
    verdict = ("✅ All gates passed" if not failed else
               f"❌ {len(failed)} of {len(result['gates'])} gates failed")
    name = f" `{cell(model_name)}`" if model_name else ""
    lines = [
        f"## Model evaluation{name}: {verdict}",
        "",
        f"Run `{cell(run_id) or 'n/a'}` · commit `{cell(git_commit[:12]) or 'n/a'}` · "
        f"{result['n_samples']} held-out rows · {result['task']} target "
        f"`{result['target']}` ({positive_text(result)})",
        "",
        *_production_section(result, production),
        "### Gates",
        "",
        *gate_table(result),
        "",
        "### Metrics",
        "",
        *metric_table(result, unreadable=bool((production or {}).get("error"))),
        "",
        "### Baseline",
        "",
        *baseline_section(result),
        "",
        "### Data validation",
        "",
        *validation_section(validation),
        "",
        "### Fairness",
        "",
        *fairness_section(result),
        "### Behavioural tests",
        "",
        *behaviour_section(result),
        "",
        "### Top features",
        "",
        *importance_section(result),
        "",
    ]
    if images:
        lines += ["### Plots", ""]
        for key, link in images.items():
            lines += [f"![{IMAGE_TITLES.get(key, key)}]({link})", ""]
    if summary is not None:
        # "<" and ">" escaped: the JSON can never close the comment early.
        data = json.dumps(summary, sort_keys=True, default=str).replace("<", "\\u003c") \
            .replace(">", "\\u003e")
        lines += [f"<!-- {SUMMARY_MARKER} {data} -->", ""]
    return "\n".join(lines).rstrip() + "\n"


def report_summary(result: Mapping[str, Any], params: Params, *, run_id: str = "",
                   git_commit: str = "") -> dict[str, Any]:
    """What a report embeds for a later comparison: metrics, verdict and params.

    Where models and logs go (``registry``, ``monitoring.log_path``) is left out: it is no
    part of a result, and it differs between CI, CD and a rebuild of the same run.
    """
    from mlops.core.config import to_dict

    shown = to_dict(params)
    shown.pop("registry", None)
    shown.get("monitoring", {}).pop("log_path", None)
    return {"run_id": run_id, "git_commit": git_commit, "passed": bool(result.get("passed")),
            "metrics": flat_metrics(result), "params": shown}


def read_report_summary(text: str) -> dict[str, Any] | None:
    """The summary a report embeds (see :data:`SUMMARY_MARKER`), or None."""
    match = _SUMMARY.search(text)
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def write_report(
    result: Mapping[str, Any],
    path: str | Path,
    *,
    images: Mapping[str, str | Path] | None = None,
    validation: Mapping[str, Any] | None = None,
    run_id: str = "",
    git_commit: str = "",
    model_name: str = "",
    production: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``report.md`` to ``path``; image paths are rewritten relative to its folder."""
    path = Path(path)
    links = {key: relative_link(Path(image), path.parent)
             for key, image in (images or {}).items()}
    text = render_report(result, images=links, validation=validation, run_id=run_id,
                         git_commit=git_commit, model_name=model_name,
                         production=production, summary=summary)
    path.write_text(text, encoding="utf-8")
    return path


def _production_section(result: Mapping[str, Any],
                        production: Mapping[str, Any] | None) -> list[str]:
    """"Against production": where it came from, parameter, data and fairness changes."""
    if production is None:
        return []
    lines = ["### Against production", ""]
    found = production.get("production")
    source = f"`{cell(production.get('source', ''))}`"
    if found:
        commit = str(found.get("git_commit") or "")[:12] or "n/a"
        lines += [
            f"Production is **`{cell(found['model'])}` v{found['version']}** in the registry "
            f"{source} (registered {cell(found.get('created') or 'n/a')}, commit `{commit}`, "
            f"run `{cell(found.get('run_id') or 'n/a')}`), read-only. It was scored on this "
            f"run's held-out rows: every Δ below is this run minus production, with a paired "
            f"{CI_LEVEL:.0%} bootstrap interval (an interval that excludes 0 is a change "
            "beyond resampling noise).",
            *_recorded_line(found.get("recorded_metrics")),
            "",
            "**Parameters** (production's recorded `lineage.params` → this run):",
            "",
            *_params_table(production.get("params")),
            "",
            "**Training data** (this run's training rows against production's):",
            "",
            *_data_lines(production.get("data")),
            "",
            "**Fairness changes**:",
            "",
            *_fairness_changes(result),
            "",
        ]
        return lines
    if production.get("error"):
        lines.append(f"Production could not be read from the registry {source}: "
                     f"{cell(production['error'])}")
    elif production.get("configured"):
        lines.append(f"The registry {source} has no production version of this model yet "
                     "(or it is a private repository: CI reads it without a token).")
    else:
        lines.append(
            f"No production registry is configured for this comparison (set "
            f"`{production.get('variable', 'MLOPS_CHAMPION_REGISTRY')}` to `hub:owner/name` or "
            f"a folder; see docs/cicd.md), and the run's own registry {source} has no "
            "production version.")
    base = production.get("base_report")
    if base and base.get("found"):
        commit = str(base.get("git_commit") or "")[:12] or "n/a"
        lines += [
            "",
            f"Compared instead with the base branch's committed report "
            f"`{cell(Path(base['path']).name)}` (run `{cell(base.get('run_id') or 'n/a')}`, "
            f"commit `{commit}`). Its model is not at hand to score on these rows, so the "
            "deltas have no interval.",
            "",
            "| Metric | Base report | This run | Δ |",
            "|---|---:|---:|---:|",
            *[f"| {cell(r['metric'])} | {num(r['base'])} | {num(r['candidate'])} | "
              f"{num(r['difference'], signed=True)} |" for r in base.get("metrics", [])],
            "",
            "**Parameters** (base report → this run):",
            "",
            *_params_table(base.get("params")),
        ]
    elif production.get("error"):
        # Never "first release" when production could not be read: it may well exist.
        lines += ["", "Without production, this run is compared with nothing: it is **not** "
                      "known to be the first release."]
    elif base:
        lines += ["", f"The base report `{cell(Path(base['path']).name)}` could not be used: "
                      f"{cell(base.get('reason', ''))}. This is treated as the first release."]
    else:
        lines += ["", "No base report was given either (`mlops run --base-report FILE`): "
                      "**this is the first release**."]
    return [*lines, ""]


def _recorded_line(metrics: Mapping[str, Any] | None) -> list[str]:
    """Production's own evaluation, as recorded when it was registered."""
    shown = {k: v for k, v in (metrics or {}).items() if isinstance(v, int | float)}
    if not shown:
        return []
    return ["", "At its registration production scored "
            + ", ".join(f"{cell(k)} {num(v)}" for k, v in shown.items())
            + " on its own held-out rows (from its record in the registry)."]


def _params_table(rows: list[Mapping[str, Any]] | None) -> list[str]:
    if rows is None:
        return ["_Not recorded: the parameters of the other side are unknown._"]
    if not rows:
        return ["_No parameter changed._"]
    table = ["| Parameter | Production | This run |", "|---|---|---|"]
    for row in rows:
        table.append(f"| `{cell(row['key'])}` | {_value(row['production'])} | "
                     f"{_value(row['candidate'])} |")
    return table


def _value(value: Any) -> str:
    return "_absent_" if value is None else f"`{cell(json.dumps(value, default=str))}`"


def _data_lines(data: Mapping[str, Any] | None) -> list[str]:
    if not data:
        return ["_Not compared._"]
    ours, theirs = data.get("candidate_sha256") or "", data.get("production_sha256") or ""
    if data.get("status") != "compared":
        return [f"Production's training data is not available here, so its drift against "
                f"this run's is not computed: {cell(data.get('reason', ''))} (production "
                f"sha256 `{theirs[:12] or 'n/a'}`, this run `{ours[:12] or 'n/a'}`)."]
    drift = data["drift"]
    same = "the same data file" if ours == theirs else f"production's file from {data['source']}"
    head = (f"Production's data is {same} (sha256 `{theirs[:12]}`); "
            f"{drift['rows']['production']} production training rows against "
            f"{drift['rows']['candidate']} of this run.")
    if drift.get("identical"):
        return [head + " The training rows are identical: no drift."]
    drifted = [c for c in drift["columns"] if c["drifted"]]
    if not drifted:
        return [head + f" No column drifted ({len(drift['columns'])} tested, Holm-corrected "
                       f"α {drift['alpha']})."]
    table = ["| Column | Test | Effect | Adjusted p | Grade |", "|---|---|---:|---:|:---:|"]
    for c in drifted:
        table.append(f"| `{cell(c['column'])}` | {c['test']} | {c['effect_name']} "
                     f"{num(c['effect'])} | {c['p_adjusted']:.2g} | {c['grade']} |")
    return [head + f" {len(drifted)} of {len(drift['columns'])} columns drifted"
                   f"{' (the data set drifted)' if drift['dataset_drift'] else ''}:", "",
            *table]


def _fairness_changes(result: Mapping[str, Any]) -> list[str]:
    champion = result.get("champion") or {}
    ours = flat_metrics(result)
    keys = [k for k in ours if "[" in k]
    if not keys or not champion:
        return ["_No sensitive features configured (data.sensitive_features)._"]
    rows = ["| Fairness metric | Production | This run | Δ |", "|---|---:|---:|---:|"]
    for key in keys:
        rows.append(f"| {cell(key)} | {num(champion['metrics'].get(key))} | "
                    f"{num(ours[key])} | {num(champion['difference'].get(key), signed=True)} |")
    return rows
