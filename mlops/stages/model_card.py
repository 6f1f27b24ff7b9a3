"""The model card: a Hugging Face README whose front matter carries the metrics as
``model-index`` metadata, and its lineage section, added at registration.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops.core.config import Params
from mlops.stages.gates import failed_gates
from mlops.stages.metrics import CI_LEVEL
from mlops.stages.report_sections import (
    baseline_section,
    cell,
    fairness_section,
    gate_table,
    importance_section,
    metric_table,
    positive_text,
    validation_section,
)

if TYPE_CHECKING:  # huggingface_hub is imported only when a card is built
    from huggingface_hub import ModelCard

__all__ = [
    "DEFAULT_INTENDED_USE",
    "HF_REGRESSION_METRICS",
    "LINEAGE_END",
    "LINEAGE_START",
    "build_model_card",
    "calibration_section",
    "lineage_section",
    "with_lineage",
    "without_lineage",
    "write_model_card",
]

# Regression metrics as Hugging Face metric ids (the `evaluate` metrics), with the config
# that makes the id mean our number: RMSE is the "mse" metric with squared=False.
HF_REGRESSION_METRICS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "mae": ("mae", "MAE", None),
    "rmse": ("mse", "RMSE", {"squared": False}),
    "r2": ("r_squared", "R²", None),
    "mape": ("mape", "MAPE", None),
}
DEFAULT_INTENDED_USE = (
    "Decision support: the model scores new rows that look like its training data and a "
    "person reviews the score before acting. It is a template model, not for automated "
    "decisions about people."
)


def build_model_card(
    result: Mapping[str, Any],
    params: Params,
    *,
    validation: Mapping[str, Any] | None = None,
    intended_use: str = DEFAULT_INTENDED_USE,
    limitations: Iterable[str] = (),
    license: str | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> ModelCard:
    """Hugging Face model card with ``model-index`` eval results, fairness and limitations;
    ``calibration`` (:func:`mlops.stages.calibration.calibration_result`) adds how calibrated
    the probabilities are, before and after the estimate's calibrator."""
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
    what = (f"regression, {positive_text(result)}" if regression else
            f"{result['task']}, classes {result['classes']}, {positive_text(result)}")
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
        *validation_section(validation),
        "",
        "## Metrics",
        "",
        *metric_table(result),
        "",
        "## Baseline",
        "",
        *baseline_section(result),
        "",
        "## Gates",
        "",
        *gate_table(result),
        "",
        "## Fairness",
        "",
        *fairness_section(result),
        "## Top features",
        "",
        *importance_section(result),
        "",
        *calibration_section(calibration),
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


def calibration_section(calibration: Mapping[str, Any] | None) -> list[str]:
    """The "Calibration" section (none without a calibration result)."""
    if calibration is None:
        return []
    before, after = calibration["before"], calibration["after"]
    lines = ["## Calibration", "",
             "How far the probabilities are from how often the model is right, on the "
             f"{calibration['rows']} held-out rows (lower is better). The estimate of accuracy "
             "before outcomes are known uses a calibrator fitted on these rows"
             + (f" ({calibration['method']}; *after* is cross-fitted)" if after else "")
             + "; served predictions do not.", "",
             "| | Brier score | expected calibration error |", "|---|---|---|",
             f"| before | {before['brier']:.4f} | {before['ece']:.4f} |"]
    if after:
        lines.append(f"| after | {after['brier']:.4f} | {after['ece']:.4f} |")
    verdict = "shown" if calibration["trusted"] else "**not shown**"
    lines += ["", f"Estimate before outcomes: {verdict}: {calibration['reason']}.", ""]
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
        lines.append(f"| {cell(row.item)} | {cell(row.value)} | {cell(where)} |")
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
