"""Run Evidently's default DataDriftPreset on two parquet files and print JSON timings.

Runs inside bench/.venv-evidently (Evidently 0.7 needs pandas<3), called by
bench/bench_drift.py in a subprocess. Usage: python evidently_drift.py REF.parquet CUR.parquet
Prints {"seconds", "drifted" (columns), "evidently_count" (its own DriftedColumnsCount,
a cross-check of "drifted"), "n_columns"} as JSON on the last line.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def _drifted(result: dict) -> list[str]:
    """Columns Evidently flags: ValueDrift metrics whose value crosses its threshold."""
    drifted = []
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = metric.get("value"), config.get("threshold")
            method = str(config.get("method", "")).lower()
            # p-value tests drift below the threshold, distances above it.
            is_p = "p_value" in method or "test" in method or method in ("ks", "chisquare",
                                                                         "z")
            if value is not None and threshold is not None and (
                    value < threshold if is_p else value >= threshold):
                drifted.append(config.get("column"))
    return drifted


def main(ref_path: str, cur_path: str) -> None:
    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    counted = next((m["value"]["count"] for m in result.get("metrics", [])
                    if "DriftedColumnsCount" in m.get("config", {}).get("type", "")), None)
    print(json.dumps({"seconds": seconds, "drifted": _drifted(result),
                      "evidently_count": counted, "n_columns": reference.shape[1]}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
