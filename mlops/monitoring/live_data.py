"""Retraining data: the training data plus the live predictions whose true label came back.

The new rows pass the same validation gate as any data before they can reach training, so
a bad label or a broken request in the log stops the retraining with exit code 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops.core.config import Params
from mlops.core.data import read_table, write_table
from mlops.core.schema import load_schema
from mlops.serving.predlog import labelled_inputs, read_predictions
from mlops.stages.validation import validate

__all__ = ["LiveData", "merge_live_data", "write_live_data"]


@dataclass(frozen=True)
class LiveData:
    """The merged frame and where its rows came from."""

    frame: pd.DataFrame
    training_rows: int
    live_rows: int
    # Trusted labels of rows logged without inputs (large batches keep a summary): they
    # count in live quality but cannot become training rows.
    labels_without_inputs: int = 0


def merge_live_data(params: Params, log_path: str | Path | None = None, *,
                    source: str = "live data") -> LiveData:
    """``data.path`` plus the labelled primary predictions of the log, validated.

    ``log_path`` defaults to ``monitoring.log_path``; a missing log adds no rows. The live
    rows take the training data's columns, in its order. Raises
    :class:`~mlops.core.exceptions.DataValidationError` when a blocking check fails on the
    merged data (``source`` names it in the report).
    """
    data = read_table(params.resolve(params.data.path))
    log = read_predictions(log_path or params.resolve(params.monitoring.log_path),
                           model=params.model.name, missing_ok=True)
    live = labelled_inputs(log, params.data.target)
    labelled = int(((log["role"] == "primary") & log["label"].notna()).sum())
    merged = pd.concat([data, live[data.columns]] if len(live) else [data], ignore_index=True)
    report = validate(merged, load_schema(params.resolve(params.data.schema)),
                      params.validation, source=source)
    report.raise_for_failures()
    return LiveData(merged, len(data), len(live), labelled - len(live))


def write_live_data(params: Params, out: str | Path,
                    log_path: str | Path | None = None) -> LiveData:
    """:func:`merge_live_data` written to ``out``, CSV or Parquet by its name (only when it
    passed validation)."""
    result = merge_live_data(params, log_path, source=str(out))
    write_table(result.frame, out)
    return result
