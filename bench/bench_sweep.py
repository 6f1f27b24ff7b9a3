"""Benchmark: ``mlops sweep`` of ``--sets`` parameter sets on the bundled data.

Three ways to run the same sets, each a full ``run_pipeline`` (the stage notebooks) with its
own run folder, in a temporary folder with a registry of its own:

- one after another: a child process calls ``run_pipeline`` for each set in turn;
- locally in parallel: ``run_sweep(engine="local")``, a Dask ``LocalCluster`` of worker
  processes within the cores, started and stopped by the sweep (its start-up included);
- on a local cluster: a ``LocalCluster`` started here beforehand, given to the sweep by its
  scheduler address, the path a remote cluster takes.

Prints the wall times and the ratios against one after another (a speed-up: sequential /
sweep). The best run is registered as a candidate in the sweep runs.

Usage::

    python bench/bench_sweep.py [--sets 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _summary import record  # noqa: E402

PARAMS = ROOT / "params.yaml"
GRID = [
    ["model.hyperparameters.logistic_regression.C=0.1"],
    ["model.hyperparameters.logistic_regression.C=1.0"],
    ["model.hyperparameters.logistic_regression.C=10.0"],
    ["model.estimator=random_forest", "model.hyperparameters.random_forest.n_estimators=100"],
    ["model.estimator=random_forest", "model.hyperparameters.random_forest.max_depth=4"],
    ["model.estimator=hist_gradient_boosting"],
    ["model.estimator=hist_gradient_boosting",
     "model.hyperparameters.hist_gradient_boosting.learning_rate=0.1"],
    ["model.hyperparameters.logistic_regression.C=0.01"],
]

SEQUENTIAL = """
import json, sys, time
from mlops.core.config import load_params
from mlops.pipeline.runner import run_pipeline
params_file, runs_dir, common, grid = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:])
t0 = time.perf_counter()
for overrides in grid:
    overrides = [*common, *overrides]
    try:
        run_pipeline(load_params(params_file, overrides), params_file=params_file,
                     overrides=overrides, runs_dir=runs_dir, register=False,
                     progress=lambda line: None)
    except Exception as exc:  # a failed gate is a finished run here too
        print(type(exc).__name__, file=sys.stderr)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=8, help="parameter sets (at most 8)")
    args = parser.parse_args()
    grid = GRID[: max(1, min(args.sets, len(GRID)))]
    from distributed import LocalCluster

    from mlops.core.threads import available_cores
    from mlops.pipeline.sweep import run_sweep

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        folder = Path(tmp)
        common = [f"registry.path={folder / 'registry'}"]
        out = subprocess.run(
            [sys.executable, "-c", SEQUENTIAL, str(PARAMS), str(folder / "runs-sequential"),
             json.dumps(common), json.dumps(grid)],
            capture_output=True, text=True, cwd=ROOT, check=True)
        sequential = json.loads(out.stdout.splitlines()[-1])["seconds"]
        print(f"{len(grid)} runs one after another: {sequential:.1f} s")

        t0 = time.perf_counter()
        local = run_sweep(PARAMS, grid, overrides=common, runs_dir=folder / "runs-local",
                          engine="local", register=False, progress=lambda line: None)
        parallel = time.perf_counter() - t0
        print(f"locally in parallel ({local.workers} workers): {parallel:.1f} s, best "
              f"{local.best and local.best['overrides'][len(common):]}")

        n = max(1, min(available_cores(), len(grid)))
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=40) as cluster:
            t0 = time.perf_counter()
            on_cluster = run_sweep(PARAMS, grid, overrides=common,
                                   runs_dir=folder / "runs-cluster",
                                   engine=cluster.scheduler_address,
                                   progress=lambda line: None)
            clustered = time.perf_counter() - t0
        print(f"on a local cluster at its address ({on_cluster.workers} workers): "
              f"{clustered:.1f} s, registered {on_cluster.registry}")
    local_ratio, cluster_ratio = sequential / parallel, sequential / clustered
    print(f"speed-up against one after another: local {local_ratio:.2f}x, cluster "
          f"{cluster_ratio:.2f}x (on {available_cores()} cores)")
    record("sweep_sequential_seconds", sequential, "s", "reported", True)
    record("sweep_local_seconds", parallel, "s", "reported", True,
           peer="the same runs one after another", ratio=local_ratio)
    record("sweep_cluster_seconds", clustered, "s", "reported", True,
           peer="the same runs one after another", ratio=cluster_ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
