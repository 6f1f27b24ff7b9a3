"""Benchmark: ``mlops run`` next to the same stages as plain scripts, and in one process.

All three run the same code: each notebook's code cells, with the same injected parameters.

- ``mlops run``: papermill's Python API, one kernel per notebook (what users run);
- scripts: each notebook's code written out as ``stage.py`` and run as ``python stage.py``,
  one process each (the peer; goal: mlops run <= 1.5x);
- one process: the three stages' code executed one after another in a single interpreter,
  imports paid once (the floor).

Usage: ``python bench/bench_pipeline.py [--reps 3]``. Prints medians and ratios.
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

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params.yaml"


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
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def time_scripts(tmp: Path, separate: bool) -> float:
    run_dir = tmp / ("scripts" if separate else "inproc")
    run_dir.mkdir(exist_ok=True)
    sources = stage_sources(run_dir, "bench")
    env = {**os.environ, "MPLBACKEND": "Agg"}
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
    print(f"  ratio mlops run / scripts     = {med['mlops run'] / med['scripts']:.2f}x "
          "(goal <= 1.5x)")
    print(f"  ratio mlops run / one process = {med['mlops run'] / med['one process']:.2f}x "
          "(the floor)")


if __name__ == "__main__":
    main()
