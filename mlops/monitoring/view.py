"""What the monitoring notebook shows: the report that ``mlops monitor`` wrote, read-only.

``mlops monitor --apply`` (monitor.yml) decides, acts and writes ``monitor.json`` and its
plots into its ``--out`` folder. The notebook that runs after it must show that decision,
not a second one computed later (which could differ: the first one may have rolled
production back). :func:`monitor_view` reads the recorded report when the folder holds one;
run on its own, the notebook gets a dry run (``apply=False``) instead, and says so. Neither
path writes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops.core.config import Params

__all__ = ["MONITOR_FILE", "PLOT_FILES", "MonitorView", "monitor_view"]

MONITOR_FILE = "monitor.json"
# The plots `mlops monitor` saves next to monitor.json (mlops.monitoring.plots.save_plots).
PLOT_FILES = {"latency": "latency.png", "scores": "scores.png", "accuracy": "accuracy.png"}


@dataclass(frozen=True)
class MonitorView:
    """A monitoring report to display, and where it came from.

    ``recorded`` is True when ``report`` is the file ``mlops monitor`` wrote (``path``);
    False for a dry run computed by the view itself (nothing was applied).
    """

    report: dict[str, Any]
    recorded: bool
    run_dir: Path
    path: Path | None = None
    log_path: Path | None = None
    frame: pd.DataFrame | None = field(default=None, repr=False)
    reference_proba: np.ndarray | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        """One line for the reader: whose decision this is."""
        if self.recorded:
            return (f"the report that `mlops monitor` wrote and acted on: {self.path} "
                    "(read-only here)")
        return ("no monitor.json in the run folder: a dry run computed now (apply=False); "
                "nothing was applied and nothing is written")

    def plot(self, name: str) -> Any:
        """The ``latency``, ``scores`` or ``accuracy`` plot: the PNG that ``mlops monitor``
        saved with the report, else a figure drawn from the prediction log."""
        from mlops.monitoring import plots

        if name not in PLOT_FILES:
            raise ValueError(f"unknown plot {name!r}; one of {sorted(PLOT_FILES)}")
        png = self.run_dir / PLOT_FILES[name]
        if self.recorded and png.is_file():
            from IPython.display import Image

            return Image(filename=str(png))
        frame = self.frame
        if frame is None:
            from mlops.serving.predlog import read_predictions

            frame = read_predictions(self.log_path, missing_ok=True) if self.log_path else None
        if frame is None:
            raise FileNotFoundError(f"{png} is missing and no prediction log is known")
        if name == "latency":
            return plots.plot_latency(frame)
        if name == "accuracy":
            return plots.plot_accuracy(frame)
        return plots.plot_scores(frame, self.reference_proba)


def monitor_view(params: Params, run_dir: str | Path, *,
                 log_path: str | Path | None = None) -> MonitorView:
    """The report in ``run_dir/monitor.json`` when ``mlops monitor`` wrote one; else a dry
    run of the monitor on the prediction log. Reads only."""
    run_dir = Path(run_dir)
    log = Path(log_path) if log_path else params.resolve(params.monitoring.log_path)
    path = run_dir / MONITOR_FILE
    if path.is_file():
        report = json.loads(path.read_text(encoding="utf-8"))
        return MonitorView(report, True, run_dir, path, log)
    from mlops.monitoring.monitor import monitor_report

    report, frame, reference = monitor_report(params, log_path=log, apply=False)
    return MonitorView(report, False, run_dir, None, log, frame, reference)
