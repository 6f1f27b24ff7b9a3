"""What the notebooks use: one import path for the stages, their inputs and their outputs.

A notebook imports from here only (``from mlops.api import ...``), so moving code between
modules never touches a notebook. Nothing in ``mlops`` imports this module.
"""

from __future__ import annotations

from mlops.core.config import Params, load_params
from mlops.core.data import DataSplit, load_split, target_summary
from mlops.core.lineage import git_state, write_json_atomic
from mlops.core.modelio import load_model, save_model
from mlops.core.schema import load_schema
from mlops.monitoring.monitor import monitor_report, versions_table
from mlops.monitoring.plots import plot_accuracy, plot_latency, plot_scores
from mlops.monitoring.timeline import Timeline, timeline
from mlops.monitoring.view import MonitorView, monitor_view
from mlops.pipeline.compare import production_comparison
from mlops.pipeline.registration import load_champion
from mlops.stages.derived import date_parts, feature_table
from mlops.stages.drift_plots import plot_drift
from mlops.stages.evaluation import evaluate
from mlops.stages.feature_checks import check_features
from mlops.stages.gates import metrics_table, raise_on_failed_gates, verdict_table
from mlops.stages.outputs import write_outputs
from mlops.stages.plots import plot_target_balance
from mlops.stages.training import describe, load_trained, train
from mlops.stages.validation import check_drift, validate
from mlops.stages.validation_report import ValidationReport

__all__ = [
    "DataSplit", "MonitorView", "Params", "ValidationReport", "check_drift", "check_features",
    "date_parts", "describe", "evaluate", "feature_table", "git_state", "load_champion",
    "load_model", "load_params", "load_schema", "load_split", "load_trained", "metrics_table",
    "monitor_report", "monitor_view", "plot_accuracy", "plot_drift", "plot_latency",
    "plot_scores", "plot_target_balance", "production_comparison", "raise_on_failed_gates",
    "save_model", "target_summary", "timeline", "Timeline", "train", "validate",
    "verdict_table", "versions_table", "write_json_atomic", "write_outputs",
]
