"""Run NannyML's CBPE on the chunks that bench/bench_cbpe.py wrote; print JSON.

Runs inside bench/.venv-nannyml (nannyml pins its own stack), called by bench/bench_cbpe.py
in a subprocess. Usage: python nannyml_cbpe.py ROWS CHUNKS.csv [CHUNKS.csv ...]

Each CSV holds the reference rows (``chunk`` -1) and the analysis chunks (``chunk`` 0, 1, ...,
each ``ROWS`` rows, in order) with ``y_true``, ``y_pred`` and ``p_<class>``. NannyML fits on
the reference and estimates accuracy per chunk of ``ROWS`` rows. Prints, on the last line,
{path: {"estimates": [{"chunk", "value", "lower", "upper"}], "seconds_per_chunk",
"fit_seconds"}}; the seconds are the estimate's alone (the fit on the reference apart).
"""

from __future__ import annotations

import json
import sys
import time

import nannyml as nml
import pandas as pd


def run(path: str, rows: int) -> dict:
    frame = pd.read_csv(path)
    proba = sorted(c for c in frame.columns if c.startswith("p_"))
    reference = frame[frame["chunk"] < 0].reset_index(drop=True)
    analysis = frame[frame["chunk"] >= 0].sort_values("chunk", kind="stable")
    analysis = analysis.reset_index(drop=True)
    binary = len(proba) == 2
    cbpe = nml.CBPE(
        y_pred_proba=proba[1] if binary else {int(c[2:]): c for c in proba},
        y_pred="y_pred", y_true="y_true", metrics=["accuracy"], chunk_size=rows,
        problem_type="classification_binary" if binary else "classification_multiclass")
    started = time.perf_counter()
    cbpe.fit(reference)
    fitted = time.perf_counter()
    result = cbpe.estimate(analysis).filter(period="analysis").to_df()
    seconds = time.perf_counter() - fitted
    chunks = analysis["chunk"].nunique()
    if len(result) != chunks:
        raise SystemExit(f"{path}: NannyML made {len(result)} chunks, expected {chunks}")
    acc = result["accuracy"]
    estimates = [{"chunk": int(c), "value": float(v), "lower": float(lo), "upper": float(hi)}
                 for c, v, lo, hi in zip(sorted(analysis["chunk"].unique()), acc["value"],
                                         acc["lower_confidence_boundary"],
                                         acc["upper_confidence_boundary"], strict=True)]
    return {"estimates": estimates, "seconds_per_chunk": seconds / chunks,
            "fit_seconds": fitted - started}


def main(rows: str, *paths: str) -> None:
    print(json.dumps({path: run(path, int(rows)) for path in paths}))


if __name__ == "__main__":
    main(*sys.argv[1:])
