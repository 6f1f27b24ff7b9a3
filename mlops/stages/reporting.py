"""The pull-request report (``report.md``) and the model card, both built from the result
of :func:`mlops.stages.evaluation.evaluate`.

The report is plain GitHub-flavoured Markdown that ``cml comment`` can post; images are
linked by paths relative to the report, and :func:`absolute_image_links` rewrites them to
absolute URLs once the images are published (a pull-request comment cannot show a relative
image). When the run was compared with production, the report opens with what changed
against it (``production``, built by :mod:`mlops.pipeline.compare`). The report ends with
an invisible summary (an HTML comment: metrics, verdict, params) that a later run reads to
compare with a committed report. The model card is a Hugging Face README whose front
matter carries the metrics as ``model-index`` metadata.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

import pandas as pd

from mlops.core.config import Params
from mlops.stages.evaluation import write_json
from mlops.stages.gates import failed_gates, flat_metrics
from mlops.stages.metrics import CI_LEVEL

if TYPE_CHECKING:  # huggingface_hub is imported only when a card is built
    from huggingface_hub import ModelCard

__all__ = [
    "SUMMARY_MARKER",
    "absolute_image_links",
    "image_links",
    "read_report_summary",
    "report_summary",
    "render_report",
    "write_report",
    "build_model_card",
    "write_model_card",
    "write_outputs",
    "DEFAULT_INTENDED_USE",
    "LINEAGE_START",
    "lineage_section",
    "with_lineage",
    "without_lineage",
]

_MAX_FAILURES = 20  # validation failures listed in the report; the rest are counted
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
# Regression metrics as Hugging Face metric ids (the `evaluate` metrics), with the config
# that makes the id mean our number: RMSE is the "mse" metric with squared=False.
HF_REGRESSION_METRICS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "mae": ("mae", "MAE", None),
    "rmse": ("mse", "RMSE", {"squared": False}),
    "r2": ("r_squared", "R²", None),
    "mape": ("mape", "MAPE", None),
}
# report.md ends with this HTML comment (invisible on GitHub): the run's metrics, verdict and
# params as JSON, so that a later run can compare with a committed copy of the report.
SUMMARY_MARKER = "mlops-report-summary:"
_SUMMARY = re.compile(r"<!--\s*" + re.escape(SUMMARY_MARKER) + r"\s*(\{.*?\})\s*-->", re.S)
# A Markdown image, ![alt](link) or ![alt](link "title"), and an HTML <img src="...">.
_IMAGE = re.compile(r"(!\[[^\]]*\]\()\s*<?([^)\s>]+)>?((?:\s+\"[^\"]*\")?\s*\))")
_IMG_TAG = re.compile(r"(<img\b[^>]*?\bsrc\s*=\s*[\"'])([^\"']+)([\"'])", re.I)
_ABSOLUTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
DEFAULT_INTENDED_USE = (
    "Decision support: the model scores new rows that look like its training data and a "
    "person reviews the score before acting. It is a template model, not for automated "
    "decisions about people."
)


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
    name = f" `{_cell(model_name)}`" if model_name else ""
    lines = [
        f"## Model evaluation{name}: {verdict}",
        "",
        f"Run `{_cell(run_id) or 'n/a'}` · commit `{_cell(git_commit[:12]) or 'n/a'}` · "
        f"{result['n_samples']} held-out rows · {result['task']} target "
        f"`{result['target']}` ({_positive_text(result)})",
        "",
        *_production_section(result, production),
        "### Gates",
        "",
        *_gate_table(result),
        "",
        "### Metrics",
        "",
        *_metric_table(result, unreadable=bool((production or {}).get("error"))),
        "",
        "### Baseline",
        "",
        *_baseline_section(result),
        "",
        "### Data validation",
        "",
        *_validation_section(validation),
        "",
        "### Fairness",
        "",
        *_fairness_section(result),
        "### Behavioural tests",
        "",
        *_behaviour_section(result),
        "",
        "### Top features",
        "",
        *_importance_section(result),
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


def image_links(markdown: str) -> list[str]:
    """Every image link of ``markdown``: ``![alt](link)`` and ``<img src="link">``."""
    return [m.group(2) for m in _IMAGE.finditer(markdown)] + \
        [m.group(2) for m in _IMG_TAG.finditer(markdown)]


def absolute_image_links(markdown: str, base_url: str) -> str:
    """``markdown`` with every relative image link made absolute against ``base_url``.

    ``base_url`` is where the report's folder was published (``https://…/run-id/``): a link
    ``plots/roc.png`` becomes ``https://…/run-id/plots/roc.png``. Links that are already
    absolute are kept; a link that climbs out of the folder (``../x.png``), or a root-
    relative one, is refused, since it would point outside what was published.
    """
    if not re.match(r"^https?://[^/\s]+", base_url):
        raise ValueError(f"base URL {base_url!r} must be an absolute http(s) URL")
    base = base_url if base_url.endswith("/") else base_url + "/"

    def absolute(link: str) -> str:
        if _ABSOLUTE.match(link):
            return link
        parts = link.split("?", 1)[0].split("#", 1)[0].split("/")
        if link.startswith("/") or ".." in parts:
            raise ValueError(f"image link {link!r} points outside the published folder")
        return urljoin(base, link[2:] if link.startswith("./") else link)

    markdown = _IMAGE.sub(lambda m: m.group(1) + absolute(m.group(2)) + m.group(3), markdown)
    return _IMG_TAG.sub(lambda m: m.group(1) + absolute(m.group(2)) + m.group(3), markdown)


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
    links = {key: _relative_link(Path(image), path.parent)
             for key, image in (images or {}).items()}
    text = render_report(result, images=links, validation=validation, run_id=run_id,
                         git_commit=git_commit, model_name=model_name,
                         production=production, summary=summary)
    path.write_text(text, encoding="utf-8")
    return path


def build_model_card(
    result: Mapping[str, Any],
    params: Params,
    *,
    validation: Mapping[str, Any] | None = None,
    intended_use: str = DEFAULT_INTENDED_USE,
    limitations: Iterable[str] = (),
    license: str | None = None,
) -> ModelCard:
    """Hugging Face model card with ``model-index`` eval results, fairness and limitations."""
    with warnings.catch_warnings():
        # huggingface_hub imports tqdm.auto, which warns in a notebook kernel without
        # ipywidgets (a red TqdmWarning in 03_evaluate); the card shows no progress bar.
        warnings.filterwarnings("ignore", message="IProgress not found")
        from huggingface_hub import EvalResult, ModelCard, ModelCardData

    dataset = Path(params.data.path).stem
    regression = result.get("task") == "regression"
    task = "tabular-regression" if regression else "tabular-classification"
    eval_results = []
    for metric, value in result["metrics"].items():
        if value is None:
            continue
        kind, name, config = (HF_REGRESSION_METRICS.get(metric, (metric, metric, None))
                              if regression else (metric, metric, None))
        eval_results.append(EvalResult(
            task_type=task, task_name=task.replace("-", " ").capitalize(),
            dataset_type=dataset, dataset_name=dataset, dataset_split="test",
            metric_type=kind, metric_name=name, metric_value=value, metric_config=config))
    data = ModelCardData(
        model_name=params.model.name,
        library_name="sklearn",
        license=license,
        pipeline_tag=task,
        tags=["sklearn", task, "mlops-template"],
        metrics=sorted({r.metric_type for r in eval_results}),
        eval_results=eval_results,
    )
    what = (f"regression, {_positive_text(result)}" if regression else
            f"{result['task']}, classes {result['classes']}, {_positive_text(result)}")
    body = "\n".join([
        f"# {params.model.name}",
        "",
        f"A scikit-learn `{params.model.estimator}` pipeline that predicts "
        f"`{params.data.target}` ({what}).",
        "",
        "## Intended use",
        "",
        intended_use,
        "",
        "## Data",
        "",
        f"Trained and evaluated on `{params.data.path}`, split with seed {params.seed}; "
        f"{result['n_samples']} held-out rows ({params.data.test_size:.0%}"
        f"{'' if regression else ', stratified by target'}). Sensitive features: "
        f"{', '.join(f'`{c}`' for c in params.data.sensitive_features) or 'none'}.",
        "",
        *_validation_section(validation),
        "",
        "## Metrics",
        "",
        *_metric_table(result),
        "",
        "## Baseline",
        "",
        *_baseline_section(result),
        "",
        "## Gates",
        "",
        *_gate_table(result),
        "",
        "## Fairness",
        "",
        *_fairness_section(result),
        "## Top features",
        "",
        *_importance_section(result),
        "",
        "## Limitations",
        "",
        *[f"- {item}" for item in [*_limitations(result), *limitations]],
        "",
    ])
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def write_model_card(result: Mapping[str, Any], params: Params, path: str | Path,
                     **options: Any) -> Path:
    """Build the model card (options as in :func:`build_model_card`) and save it."""
    path = Path(path)
    build_model_card(result, params, **options).save(path)
    return path


def _positive_text(result: Mapping[str, Any]) -> str:
    if result.get("task") == "regression":
        unit = result.get("unit")
        return f"a number{f' in {unit}' if unit else ''}: no classes"
    if result.get("positive_class") is None:
        return "no positive class: metrics are macro averages"
    return f"positive class `{result['positive_class']}`"


def _gate_table(result: Mapping[str, Any]) -> list[str]:
    rows = ["| Gate | Measures | Value | Threshold | Result |", "|---|---|---:|---:|:---:|"]
    for g in result["gates"]:
        sign = "≥" if g["direction"] == "min" else "≤"
        verdict = ("⏭️ skipped" if g.get("note") else "✅ pass") if g["passed"] else "❌ fail"
        what = g.get("label", g["metric"]) + (f"; {g['note']}" if g.get("note") else "")
        rows.append(f"| `{_cell(g['gate'])}` | {_cell(what)} | {_num(g['value'])} | {sign} "
                    f"{_num(g['threshold'])} | {verdict} |")
    if not result["gates"]:
        rows.append("| _no gates configured_ | | | | |")
    return rows


def _metric_table(result: Mapping[str, Any], *, unreadable: bool = False) -> list[str]:
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
        ci_text = f"{_num(ci['low'])} – {_num(ci['high'])}" if ci else ""
        base = champion["metrics"].get(metric) if champion else None
        delta = champion["difference"].get(metric) if champion else None
        dci = delta_intervals.get(metric)
        dci_text = (f"{_num(dci['low'], signed=True)} – {_num(dci['high'], signed=True)}"
                    if dci else "")
        rows.append(f"| {_cell(labels.get(metric, metric))} | {_num(value)} | {ci_text} | "
                    f"{_num(base)} | {_num(delta, signed=True)} | {dci_text} |")
    for metric, why in (result.get("metric_notes") or {}).items():
        rows += ["", f"_{_cell(labels.get(metric, metric))}: {_cell(why)}._"]
    if not champion and unreadable:
        rows += ["", "_No comparison with production: its registry could not be read (see "
                     "above), so this run cannot tell whether it is the first release._"]
    elif not champion:
        rows += ["", "_No production model to compare with: this is the first release._"]
    return rows


def _baseline_section(result: Mapping[str, Any]) -> list[str]:
    b = result.get("baseline")
    if not b:
        return ["_No baseline comparison._"]
    label = result.get("metric_labels", {}).get(b["metric"], b["metric"])
    better = "lower" if b["direction"] == "max" else "higher"
    interval = b.get("interval")
    ci = (f" ({CI_LEVEL:.0%} paired bootstrap interval {_num(interval['low'], signed=True)} "
          f"to {_num(interval['high'], signed=True)})") if interval else ""
    return [f"The model must beat scikit-learn's `{b['estimator']}` (fitted on the "
            f"{b['fitted_on']}) on {_cell(label)} by at least {_num(b['margin'])} "
            f"({better} is better): model {_num(b['model'])}, baseline {_num(b['value'])}, "
            f"improvement {_num(b['improvement'], signed=True)}{ci}."]


def _production_section(result: Mapping[str, Any],
                        production: Mapping[str, Any] | None) -> list[str]:
    """"Against production": where it came from, parameter, data and fairness changes."""
    if production is None:
        return []
    lines = ["### Against production", ""]
    found = production.get("production")
    source = f"`{_cell(production.get('source', ''))}`"
    if found:
        commit = str(found.get("git_commit") or "")[:12] or "n/a"
        lines += [
            f"Production is **`{_cell(found['model'])}` v{found['version']}** in the registry "
            f"{source} (registered {_cell(found.get('created') or 'n/a')}, commit `{commit}`, "
            f"run `{_cell(found.get('run_id') or 'n/a')}`), read-only. It was scored on this "
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
                     f"{_cell(production['error'])}")
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
            f"`{_cell(Path(base['path']).name)}` (run `{_cell(base.get('run_id') or 'n/a')}`, "
            f"commit `{commit}`). Its model is not at hand to score on these rows, so the "
            "deltas have no interval.",
            "",
            "| Metric | Base report | This run | Δ |",
            "|---|---:|---:|---:|",
            *[f"| {_cell(r['metric'])} | {_num(r['base'])} | {_num(r['candidate'])} | "
              f"{_num(r['difference'], signed=True)} |" for r in base.get("metrics", [])],
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
        lines += ["", f"The base report `{_cell(Path(base['path']).name)}` could not be used: "
                      f"{_cell(base.get('reason', ''))}. This is treated as the first release."]
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
            + ", ".join(f"{_cell(k)} {_num(v)}" for k, v in shown.items())
            + " on its own held-out rows (from its record in the registry)."]


def _params_table(rows: list[Mapping[str, Any]] | None) -> list[str]:
    if rows is None:
        return ["_Not recorded: the parameters of the other side are unknown._"]
    if not rows:
        return ["_No parameter changed._"]
    table = ["| Parameter | Production | This run |", "|---|---|---|"]
    for row in rows:
        table.append(f"| `{_cell(row['key'])}` | {_value(row['production'])} | "
                     f"{_value(row['candidate'])} |")
    return table


def _value(value: Any) -> str:
    return "_absent_" if value is None else f"`{_cell(json.dumps(value, default=str))}`"


def _data_lines(data: Mapping[str, Any] | None) -> list[str]:
    if not data:
        return ["_Not compared._"]
    ours, theirs = data.get("candidate_sha256") or "", data.get("production_sha256") or ""
    if data.get("status") != "compared":
        return [f"Production's training data is not available here, so its drift against "
                f"this run's is not computed: {_cell(data.get('reason', ''))} (production "
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
        table.append(f"| `{_cell(c['column'])}` | {c['test']} | {c['effect_name']} "
                     f"{_num(c['effect'])} | {c['p_adjusted']:.2g} | {c['grade']} |")
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
        rows.append(f"| {_cell(key)} | {_num(champion['metrics'].get(key))} | "
                    f"{_num(ours[key])} | {_num(champion['difference'].get(key), signed=True)} |")
    return rows


def _fairness_section(result: Mapping[str, Any]) -> list[str]:
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
            f"**{_cell(feature)}**: demographic parity difference "
            f"{_num(section['demographic_parity_difference'])}, ratio "
            f"{_num(section['demographic_parity_ratio'])}; equalized odds difference "
            f"{_num(section['equalized_odds_difference'])}"
            + (f" (over groups with at least {size} rows)." if outcome is not None else "."),
            "",
        ]
        if skipped:
            lines += [f"Groups with fewer than {size} rows, reported but left out of the "
                      f"parity numbers and the gates: "
                      f"{', '.join(f'`{_cell(g)}`' for g in skipped)}.", ""]
        lines += header
        for group, m in section["groups"].items():
            mark = " (skipped)" if group in skipped else ""
            if outcome is None:
                lines.append(f"| {_cell(group)}{mark} | {m['count']} | {_num(m['accuracy'])} |")
                continue
            lines.append(f"| {_cell(group)}{mark} | {m['count']} | "
                         f"{_num(m['selection_rate'])} | {_num(m['true_positive_rate'])} | "
                         f"{_num(m['false_positive_rate'])} | {_num(m['accuracy'])} |")
        lines.append("")
    return lines


def _group_error_section(result: Mapping[str, Any], fairness: Mapping[str, Any]
                         ) -> list[str]:
    """Regression fairness: the error of each group and the spread of group MAE."""
    unit = result.get("unit")
    of = f" ({_cell(unit)})" if unit else ""
    lines = [f"Error by group: mean absolute error (MAE), root mean squared error (RMSE) and "
             f"mean error (predicted minus actual: above 0, the model over-predicts for the "
             f"group){of}.", ""]
    for feature, section in fairness.items():
        skipped = section.get("skipped_groups") or []
        size = section.get("min_group_size")
        lines += [f"**{_cell(feature)}**: largest difference of group MAE "
                  f"{_num(section.get('mae_difference'))}, largest ratio "
                  f"{_num(section.get('mae_ratio'))} (over groups with at least {size} rows).",
                  ""]
        if skipped:
            lines += [f"Groups with fewer than {size} rows, reported but left out of the "
                      f"summaries and the gates: "
                      f"{', '.join(f'`{_cell(g)}`' for g in skipped)}.", ""]
        lines += ["| Group | n | MAE | RMSE | Mean error |", "|---|---:|---:|---:|---:|"]
        for group, m in section["groups"].items():
            mark = " (skipped)" if group in skipped else ""
            lines.append(f"| {_cell(group)}{mark} | {m['count']} | {_num(m['mae'])} | "
                         f"{_num(m['rmse'])} | {_num(m['mean_error'], signed=True)} |")
        lines.append("")
    return lines


def _behaviour_section(result: Mapping[str, Any]) -> list[str]:
    tests = result.get("behaviour") or []
    if not tests:
        return ["_None configured (evaluation.invariance, evaluation.directional)._"]
    rows = ["| Test | Column | Rows failed | Result |", "|---|---|---:|:---:|"]
    for t in tests:
        what = t["kind"] + (f" (expect {t['expect']})" if "expect" in t else "")
        rows.append(f"| {what} | `{_cell(t['column'])}` | {t['n_failed']} of {t['n_rows']} | "
                    f"{'✅ pass' if t['passed'] else '❌ fail'} |")
    return rows


def _importance_section(result: Mapping[str, Any]) -> list[str]:
    imp = result["importance"]
    rows = {r["feature"]: r for r in imp["features"]}
    lines = [f"{i}. `{_cell(name)}`: {_num(rows[name]['importance_mean'])} ± "
             f"{_num(rows[name]['importance_std'])}" for i, name in enumerate(imp["top"], 1)]
    return [*lines, "", f"_Mean drop in {imp['scoring']} when the column is shuffled "
            f"({imp['n_repeats']} repeats, held-out data)._"]


def _validation_section(validation: Mapping[str, Any] | None) -> list[str]:
    if validation is None:
        return ["_Data validation summary not provided._"]
    mark = "✅ passed" if validation.get("passed") else "❌ failed"
    lines = [f"Data validation {mark}: {_cell(str(validation.get('summary', '')))}"]
    failures = validation.get("failures")
    if failures is None:  # ValidationReport.to_dict(): list the checks that did not pass
        failures = [c for c in validation.get("checks") or [] if not c.get("passed", True)]
    failures = list(failures)
    if failures:
        lines.append("")
        lines += [f"- {_cell(_describe_failure(item))}" for item in failures[:_MAX_FAILURES]]
        if len(failures) > _MAX_FAILURES:
            lines.append(f"- … and {len(failures) - _MAX_FAILURES} more")
    return lines


def _limitations(result: Mapping[str, Any]) -> list[str]:
    items = [f"Evaluated once on {result['n_samples']} held-out rows; see the "
             f"{CI_LEVEL:.0%} bootstrap intervals for how much the metrics may move."]
    for feature, section in (result.get("fairness") or {}).items():
        small = [f"{g} (n={section['groups'][g]['count']})"
                 for g in section.get("skipped_groups") or []]
        if small:
            items.append(f"Fairness for `{feature}` groups {', '.join(small)} rests on fewer "
                         f"than {section['min_group_size']} rows: reported, but not part of "
                         "the parity numbers or the gates.")
    failed = failed_gates(result)
    if failed:
        items.append("Gates failed at evaluation: "
                     + ", ".join(f"`{g['gate']}`" for g in failed) + ".")
    if not result.get("behaviour"):
        items.append("No behavioural (invariance or directional) tests were configured.")
    return items


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


def _relative_link(image: Path, folder: Path) -> str:
    """URL-quoted POSIX path of ``image`` relative to ``folder``."""
    relative = os.path.relpath(image.resolve(), folder.resolve())
    return quote(Path(relative).as_posix())


def _cell(text: Any) -> str:
    """``text`` safe inside a Markdown table cell: pipes escaped, on one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def write_outputs(
    result: Mapping[str, Any],
    model: Any,
    frame: pd.DataFrame,
    params: Params,
    folder: str | Path,
    *,
    validation: Mapping[str, Any] | None = None,
    run_id: str = "",
    git_commit: str = "",
    production: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``evaluation.json``, ``plots/*.png``, ``report.md`` and the model card
    ``README.md`` into ``folder``; return their paths by name.

    ``production`` (:func:`mlops.pipeline.compare.production_comparison`) adds the
    "Against production" section to the report, which also embeds its summary."""
    from mlops.stages.plots import evaluation_figures, save_figures

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = save_figures(evaluation_figures(model, frame, params, result), folder / "plots")
    paths = {
        "evaluation": write_json(result, folder / "evaluation.json"),
        "report": write_report(result, folder / "report.md", images=images,
                               validation=validation, run_id=run_id, git_commit=git_commit,
                               model_name=params.model.name, production=production,
                               summary=report_summary(result, params, run_id=run_id,
                                                      git_commit=git_commit)),
        "model_card": write_model_card(result, params, folder / "README.md",
                                       validation=validation),
    }
    return {**paths, **{f"plot_{name}": Path(p) for name, p in images.items()}}


# ----------------------------------------------------------------------------- lineage
# The card's lineage section is added at registration (only then are the data snapshot's
# location and the evidence hashes known), between these markers, so that `mlops reproduce`
# can compare the rest of the card byte for byte with a rebuilt one.
LINEAGE_START = "<!-- mlops-lineage -->"
LINEAGE_END = "<!-- /mlops-lineage -->"


def lineage_section(rows: Iterable[Any]) -> str:
    """The card's "Lineage" section from rows with ``item``, ``value``, ``where``, ``link``
    (:func:`mlops.registry.records.lineage_rows`)."""
    lines = [LINEAGE_START, "## Lineage", "",
             "Where each input and output of this version lives; every hash is SHA-256.", "",
             "| | Value | Where |", "|---|---|---|"]
    for row in rows:
        where = f"[{row.where}]({quote(row.link, safe=':/#?=&%')})" if row.link else row.where
        lines.append(f"| {_cell(row.item)} | {_cell(row.value)} | {_cell(where)} |")
    return "\n".join([*lines, "", LINEAGE_END, ""])


def with_lineage(card: str, rows: Iterable[Any]) -> str:
    """``card`` with its lineage section (replaced if it has one) at the end."""
    return without_lineage(card) + "\n" + lineage_section(rows)


def without_lineage(card: str) -> str:
    """``card`` as the evaluation wrote it, byte for byte: its lineage section removed."""
    start = card.find("\n" + LINEAGE_START)
    end = card.find(LINEAGE_END + "\n", start)
    if start < 0 or end < 0:
        return card
    return card[:start] + card[end + len(LINEAGE_END) + 1:]
