"""The plots show as images in Jupyter and are freed like any object (no pyplot manager)."""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pandas as pd
import pytest

IPython = pytest.importorskip("IPython")


def _log(labelled: bool = True) -> pd.DataFrame:
    """A small prediction log of two versions, as read_predictions returns it."""
    rng = np.random.default_rng(0)
    n = 120
    proba = rng.uniform(size=n)
    return pd.DataFrame({
        "ts": np.arange(n, dtype=float), "version": np.repeat([1, 2], n // 2),
        "role": "primary", "error": None, "latency_ms": rng.lognormal(1, 0.5, n),
        "proba": proba, "prediction": (proba > 0.5).astype(int),
        "label": (rng.uniform(size=n) > 0.4).astype(float) if labelled else np.nan,
    })


def _figures():
    from sklearn.datasets import load_wine

    from mlops.monitoring.plots import plot_accuracy, plot_latency, plot_scores
    from mlops.stages.drift_plots import plot_drift

    wine = load_wine(as_frame=True).frame
    return {"latency": plot_latency(_log()), "accuracy": plot_accuracy(_log()),
            "scores": plot_scores(_log(), np.linspace(0, 1, 50)),
            "drift": plot_drift(wine.iloc[:90], wine.iloc[90:], ["alcohol", "hue", "proline"])}


def test_jupyter_displays_every_plot_as_a_png_image():
    from IPython.core.formatters import DisplayFormatter

    formatter = DisplayFormatter()
    for name, fig in _figures().items():
        data, _ = formatter.format(fig)
        png = data.get("image/png")
        assert png is not None and png.startswith(b"\x89PNG"), name
        width = int.from_bytes(png[16:20], "big")
        assert 400 <= width <= 1400, (name, width)  # readable at a notebook's width


def test_figures_are_not_kept_by_pyplot_and_are_freed():
    from matplotlib import _pylab_helpers

    figures = _figures()
    refs = [weakref.ref(f) for f in figures.values()]
    for fig in figures.values():
        fig._repr_png_()
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0
    del figures, fig
    gc.collect()
    assert all(r() is None for r in refs)


def test_plots_without_data_do_not_warn():
    from mlops.monitoring.plots import plot_accuracy

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_accuracy(_log(labelled=False))
        assert fig._repr_png_().startswith(b"\x89PNG")


def _outputs(path) -> list[tuple[str, list[dict]]]:
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [("".join(c["source"]), c.get("outputs", [])) for c in cells
            if c["cell_type"] == "code"]


def _assert_nothing_raw_or_red(cells) -> None:
    for source, outputs in cells:
        for out in outputs:
            assert out.get("name") != "stderr", (source, out)  # warnings, tracebacks
            data = out.get("data", {})
            if "Figure size" in "".join(data.get("text/plain", "")):
                assert "image/png" in data, source  # a figure shown as text only


@pytest.mark.slow
def test_the_monitoring_notebook_shows_its_plots(tmp_path, serving_registry, serving_models):
    """The dry run of 04_monitor.ipynb (no monitor.json yet) draws its plots from the log;
    papermill's executed notebook holds them as images."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from mlops.core.schema import load_schema
    from mlops.monitoring.simulation import send_traffic
    from mlops.serving.predlog import PredictionLog
    from mlops.serving.router import Router

    root = Path(__file__).resolve().parents[2]
    params, name = serving_models.params, serving_models.params.model.name
    log_path = tmp_path / "predictions.sqlite"
    router = Router(serving_registry, name, load_schema(params.resolve(params.data.schema)),
                    PredictionLog(log_path), positive_class=params.data.positive_class)
    try:
        send_traffic(router, serving_models.test, params.data.target, n=120, seed=1)
    finally:
        router.close()
    sets = [f"registry.path={serving_registry.root}", f"monitoring.log_path={log_path}"]
    executed = tmp_path / "04_monitor.ipynb"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "papermill"),
         str(root / "notebooks" / "04_monitor.ipynb"), str(executed),
         "--cwd", str(root / "notebooks"), "-p", "params_path",
         str(root / "params.yaml"), "-p", "run_dir", str(tmp_path / "run"),
         "-y", json.dumps({"overrides": sets})],
        capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    cells = _outputs(executed)
    plots = [(s, o) for s, o in cells if s.startswith("view.plot(")]
    assert len(plots) == 3
    for source, outputs in plots:
        assert any(o.get("data", {}).get("image/png") for o in outputs), source
    _assert_nothing_raw_or_red(cells)
