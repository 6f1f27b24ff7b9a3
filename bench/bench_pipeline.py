"""Benchmark: ``mlops run`` next to the same stages as plain scripts, and in one process.

All three run the same code: each notebook's code cells, with the same injected parameters.

- ``mlops run``: papermill's Python API, one kernel per notebook (what users run);
- scripts: each notebook's code written out as ``stage.py`` and run as ``python stage.py``,
  one process each (the peer; goal: mlops run <= 1.5x);
- one process: the three stages' code executed one after another in a single interpreter,
  imports paid once (the floor).

``mlops run`` itself has a budget: under 15 s on the bundled data, CLI start included. All
three read and write a temporary registry and prediction log (``MLOPS_REGISTRY_PATH``,
``MLOPS_LOG_PATH``), never the working copy's, so a registered champion cannot change them.

Usage: ``python bench/bench_pipeline.py [--reps 3]``. Prints medians and ratios and records
them (``bench/_summary.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from _summary import record

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params.yaml"
BUDGET_S = 15.0  # mlops run on the bundled data
RATIO_GOAL = 1.5  # mlops run / plain scripts


def isolated_env(tmp: Path) -> dict[str, str]:
    """The environment for every variant: a temporary registry and log, plots off-screen."""
    return {**os.environ, "MPLBACKEND": "Agg", "MLOPS_REGISTRY_PATH": str(tmp / "registry"),
            "MLOPS_LOG_PATH": str(tmp / "logs" / "predictions.sqlite")}


def stage_sources(run_dir: Path, run_id: str) -> list[str]:
    """Each stage notebook's code with the runner's parameters injected after its own."""
    from mlops.pipeline.runner import STAGES

    injected = (f"params_path = {str(PARAMS)!r}\noverrides = []\n"
                f"run_dir = {str(run_dir)!r}\nrun_id = {run_id!r}\n")
    sources = []
    for _, name in STAGES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        cells = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cells.append(cell.source)
            if "parameters" in cell.metadata.get("tags", []):
                cells.append(injected)
        # IPython display lines (a bare expression at the end of a cell) are harmless here.
        sources.append("\n".join(cells) + "\n")
    return sources


def time_mlops_run(tmp: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "mlops"), "run", "--params", str(PARAMS),
                    "--no-register", "--runs-dir", str(tmp / "runs")],
                   check=True, capture_output=True, env=isolated_env(tmp))
    return time.perf_counter() - t0


def time_scripts(tmp: Path, separate: bool) -> float:
    run_dir = tmp / ("scripts" if separate else "inproc")
    run_dir.mkdir(exist_ok=True)
    sources = stage_sources(run_dir, "bench")
    env = isolated_env(tmp)
    if separate:
        paths = []
        for i, src in enumerate(sources):
            path = tmp / f"stage{i}.py"
            path.write_text(src)
            paths.append(path)
        t0 = time.perf_counter()
        for path in paths:
            subprocess.run([sys.executable, str(path)], check=True, cwd=NOTEBOOKS,
                           capture_output=True, env=env)
        return time.perf_counter() - t0
    path = tmp / "all_stages.py"
    path.write_text("\n".join(sources))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(path)], check=True, cwd=NOTEBOOKS, capture_output=True,
                   env=env)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"mlops run": [], "scripts": [], "one process": []}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for _ in range(args.reps):  # interleaved, so a noisy moment hits all three alike
            runs["mlops run"].append(time_mlops_run(tmp))
            runs["scripts"].append(time_scripts(tmp, separate=True))
            runs["one process"].append(time_scripts(tmp, separate=False))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"pipeline on the bundled data (median of {args.reps})")
    for key, value in med.items():
        print(f"  {key:<12} {value:6.2f} s")
    vs_scripts = med["mlops run"] / med["scripts"]
    vs_floor = med["mlops run"] / med["one process"]
    print(f"  ratio mlops run / scripts     = {vs_scripts:.2f}x (goal <= {RATIO_GOAL}x)")
    print(f"  ratio mlops run / one process = {vs_floor:.2f}x (the floor)")
    record("pipeline.mlops_run_s", med["mlops run"], "s", f"< {BUDGET_S:g} s",
           med["mlops run"] < BUDGET_S)
    record("pipeline.vs_scripts", vs_scripts, "x", f"<= {RATIO_GOAL}x",
           vs_scripts <= RATIO_GOAL, peer="the stages as plain scripts, one process each",
           ratio=vs_scripts)
    record("pipeline.vs_one_process", vs_floor, "x", "reported", True,
           peer="the stages in one process (the floor)", ratio=vs_floor)


if __name__ == "__main__":
    main()
