"""An evaluation's files in a run folder: ``evaluation.json``, the plots, ``report.md``, the
model card ``README.md`` and, for classifiers, ``calibration.json`` (the calibrator of the
estimate before labels, :mod:`mlops.stages.calibration`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.core.config import Params
from mlops.stages.calibration import CALIBRATION_FILE, calibration_result
from mlops.stages.evaluation import write_json
from mlops.stages.model_card import write_model_card
from mlops.stages.pr_report import report_summary, write_report

__all__ = ["write_outputs"]


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
    """Write ``evaluation.json``, ``plots/*.png``, ``report.md``, the model card
    ``README.md`` and (classifiers) ``calibration.json`` into ``folder``; return their paths
    by name.

    ``production`` (:func:`mlops.pipeline.compare.production_comparison`) adds the
    "Against production" section to the report, which also embeds its summary."""
    from mlops.stages.plots import evaluation_figures, save_figures

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = save_figures(evaluation_figures(model, frame, params, result), folder / "plots")
    calibration = None
    if not params.data.regression:  # fitted on the held-out rows; the estimate's only
        from mlops.stages.metrics import predict

        pred = predict(model, frame, params)
        calibration = calibration_result(pred.proba, pred.y_true, pred.classes,
                                         seed=params.seed)
    paths = {
        "evaluation": write_json(result, folder / "evaluation.json"),
        "report": write_report(result, folder / "report.md", images=images,
                               validation=validation, run_id=run_id, git_commit=git_commit,
                               model_name=params.model.name, production=production,
                               summary=report_summary(result, params, run_id=run_id,
                                                      git_commit=git_commit)),
        "model_card": write_model_card(result, params, folder / "README.md",
                                       validation=validation, calibration=calibration),
    }
    if calibration is not None:
        paths["calibration"] = write_json(calibration, folder / CALIBRATION_FILE)
    return {**paths, **{f"plot_{name}": Path(p) for name, p in images.items()}}
