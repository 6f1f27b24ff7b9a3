"""Serving parity, for every model of the repository: the router, given the raw serving
columns of the held-out rows, answers what the evaluation notebook computed on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlops.core.config import load_params
from mlops.core.data import load_split
from mlops.core.models import model_files
from mlops.pipeline.runner import run_pipeline
from mlops.serving.router import Router
from mlops.stages.metrics import predict
from mlops.stages.training import load_trained

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(model_files(ROOT)))
def test_serving_raw_rows_gives_the_evaluation_notebooks_predictions(name, tmp_path):
    params_file = model_files(ROOT)[name]
    overrides = [f"registry.path={tmp_path / 'registry'}"]
    params = load_params(params_file, overrides)
    result = run_pipeline(params, params_file=params_file, overrides=overrides,
                          runs_dir=tmp_path / "runs", progress=lambda _: None)
    # Every plot of the run is kept as evidence in its executed notebook.
    assert _images(result.run_dir / "02_train.ipynb") == 1  # the class balance
    assert _images(result.run_dir / "03_evaluate.ipynb") == \
        len(list((result.run_dir / "plots").glob("*.png"))) > 0
    held_out = load_split(params).test
    model, _ = load_trained(result.run_dir)
    evaluated = predict(model, held_out, params)  # what 03_evaluate.ipynb computes
    with Router.from_params(params, log_path=str(tmp_path / "log.sqlite")) as router:
        raw = held_out[list(router.validator.columns)]
        served = router.predict_batch(raw)
    if params.data.regression:
        np.testing.assert_allclose(served["prediction"].to_numpy(float), evaluated.y_pred,
                                   rtol=1e-6)
        return
    assert list(served["prediction"]) == list(evaluated.y_pred)
    positive = evaluated.proba[:, list(evaluated.classes).index(params.data.positive_class)] \
        if params.data.positive_class in evaluated.classes else evaluated.proba[:, -1]
    np.testing.assert_allclose(served["proba"].to_numpy(float), positive, atol=1e-5)


def _images(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum("image/png" in out.get("data", {}) for c in cells for out in c.get("outputs", []))
