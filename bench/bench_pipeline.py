"""Benchmark: ``mlops run`` next to the same stages in one process, and as plain scripts.

All three run the same code: each notebook's code cells, with the same injected parameters.

- ``mlops run``: papermill's Python API, all notebooks in one kernel (what users run);
- one process: the three stages' code executed one after another in a single interpreter,
  imports paid once (the floor; goal: mlops run <= 1.5x);
- scripts: each notebook's code written out as ``stage.py`` and run as ``python stage.py``,
  one process each (reported).

``mlops run`` itself has a budget: under 10 s on the bundled data, CLI start included. The
machine may be shared, so each variant's CPU time (user + system of its whole process tree)
is printed and recorded beside the wall time, and the variants are interleaved so that a
noisy minute hits all three alike. All three read and write a temporary registry and
prediction log (``MLOPS_REGISTRY_PATH``, ``MLOPS_LOG_PATH``), never the working copy's, so
a registered champion cannot change them, and import ``mlops`` from this checkout.

Usage: ``python bench/bench_pipeline.py [--reps 3]``. Prints medians and ratios and records
them (``bench/_summary.py``).
"""

from __future__ import annotations

import argparse
import os
import resource
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
BUDGET_S = 10.0  # mlops run on the bundled data, CLI start included
RATIO_GOAL = 1.5  # mlops run / the stages in one process


def isolated_env(tmp: Path) -> dict[str, str]:
    """The environment for every variant: a temporary registry and log, plots off-screen."""
    return {**os.environ, "MPLBACKEND": "Agg", "MLOPS_REGISTRY_PATH": str(tmp / "registry"),
            "MLOPS_LOG_PATH": str(tmp / "logs" / "predictions.sqlite"), "PYTHONPATH": str(ROOT)}


def timed(cmd: list[str], **kwargs) -> tuple[float, float]:
    """Run ``cmd``; return its wall time and the CPU time of its process tree, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kwargs)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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


def time_mlops_run(tmp: Path) -> tuple[float, float]:
    return timed([sys.executable, "-m", "mlops.cli", "run", "--params", str(PARAMS),
                  "--no-register", "--runs-dir", str(tmp / "runs")], cwd=ROOT,
                 env=isolated_env(tmp))


def time_scripts(tmp: Path, separate: bool) -> tuple[float, float]:
    run_dir = tmp / ("scripts" if separate else "inproc")
    run_dir.mkdir(exist_ok=True)
    sources = stage_sources(run_dir, "bench")
    env = isolated_env(tmp)
    if not separate:
        sources = ["\n".join(sources)]
    wall = cpu = 0.0
    for i, src in enumerate(sources):
        path = tmp / f"stage{i}.py"
        path.write_text(src)
        w, c = timed([sys.executable, str(path)], cwd=NOTEBOOKS, env=env)
        wall, cpu = wall + w, cpu + c
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    keys = ("mlops run", "one process", "scripts")
    wall: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for _ in range(args.reps):  # interleaved, so a noisy moment hits all three alike
            for key, measure in (("mlops run", lambda: time_mlops_run(tmp)),
                                 ("one process", lambda: time_scripts(tmp, separate=False)),
                                 ("scripts", lambda: time_scripts(tmp, separate=True))):
                w, c = measure()
                wall[key].append(w)
                cpu[key].append(c)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    # Each repetition's own ratio (same minute), then their median.
    def ratio(times: dict[str, list[float]], peer: str) -> float:
        return statistics.median(r / p for r, p in zip(times["mlops run"], times[peer],
                                                       strict=True))

    vs_floor, vs_floor_cpu = ratio(wall, "one process"), ratio(cpu, "one process")
    vs_scripts = ratio(wall, "scripts")
    print(f"pipeline on the bundled data (median of {args.reps}; CPU = user + system)")
    for key in keys:
        print(f"  {key:<12} {med[key]:6.2f} s wall  {med_cpu[key]:6.2f} s CPU")
    print(f"  mlops run        {med['mlops run']:6.2f} s (budget < {BUDGET_S:g} s)")
    print(f"  ratio mlops run / one process = {vs_floor:.2f}x wall, {vs_floor_cpu:.2f}x CPU "
          f"(goal <= {RATIO_GOAL}x, the floor)")
    print(f"  ratio mlops run / scripts     = {vs_scripts:.2f}x wall (reported)")
    record("pipeline.mlops_run_s", med["mlops run"], "s", f"< {BUDGET_S:g} s",
           med["mlops run"] < BUDGET_S)
    record("pipeline.vs_one_process", vs_floor, "x", f"<= {RATIO_GOAL}x",
           vs_floor <= RATIO_GOAL, peer="the stages in one process (the floor)", ratio=vs_floor)
    record("pipeline.vs_one_process_cpu", vs_floor_cpu, "x", "reported", True,
           peer="the stages in one process (the floor), CPU time", ratio=vs_floor_cpu)
    record("pipeline.vs_scripts", vs_scripts, "x", "reported", True,
           peer="the stages as plain scripts, one process each", ratio=vs_scripts)


if __name__ == "__main__":
    main()
