"""Benchmark: ``mlops init`` then ``mlops run`` on a table with two long-tail text columns.

The generated data set has the shape that once cost 5.7 GB and 107 s (docs/scale.md):
60,000 rows, 13 columns, two text columns with about 3,700 and 6,500 distinct values
(Zipf-like, as aircraft tail numbers or timestamps are), a binary target. ``mlops run``
(the four stage notebooks, evaluation and registration) is measured beside a plain
scikit-learn script that makes the same fit: the same split, the same grouped one-hot
encoding, the same estimator, then ``predict_proba`` on the held-out rows.

Figures: wall time and peak RSS (the largest process of each command's tree: the CLI or a
notebook kernel) of both. The goals are absolute (<= 1 GB, <= 30 s for ``mlops run``); the
script is the named peer, reported as a ratio.

Usage::

    python bench/bench_categoricals.py [--rows 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _summary import record  # noqa: E402

MAX_RSS_MB = 1024
MAX_SECONDS = 30.0

PLAIN = """
import json, sys, time
import pandas as pd
from sklearn.model_selection import train_test_split
from mlops.core.config import load_params
from mlops.stages.features import build_preprocessor, accepts_sparse
from mlops.stages.training import build_estimator
from sklearn.pipeline import Pipeline
t0 = time.perf_counter()
params = load_params(sys.argv[1])
frame = pd.read_csv(sys.argv[2])
y = frame.pop(params.data.target)
train, test, y_train, _ = train_test_split(frame, y, test_size=params.data.test_size,
                                           stratify=y, random_state=params.seed)
model = build_estimator(params)
pipe = Pipeline([("features", build_preprocessor(train, sparse=accepts_sparse(model))),
                 ("model", model)]).fit(train, y_train)
pipe.predict_proba(test)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def long_tail_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows, 12 features and a binary target; two text columns of 3,700 and
    6,500 values, each value seen at least once, frequencies falling as 1/sqrt(rank)."""
    rng = np.random.default_rng(seed)

    def skewed(values: int) -> np.ndarray:
        weights = 1.0 / np.sqrt(np.arange(1, values + 1))
        index = np.concatenate([np.arange(values),
                                rng.choice(values, rows - values, p=weights / weights.sum())])
        rng.shuffle(index)
        return index

    tail, code = skewed(3700), skewed(6500)
    hour = rng.integers(5, 24, rows)
    carrier = rng.integers(0, 16, rows)
    dest = rng.integers(0, 100, rows)
    distance = rng.gamma(4, 250, rows).round()
    logit = (-1.2 + 0.3 * (hour - 14) + rng.normal(0, .5, 16)[carrier]
             + rng.normal(0, .3, 100)[dest] + rng.normal(0, .5, 3700)[tail]
             + rng.normal(0, .5, 6500)[code] + 0.0004 * (distance - 1000))
    return pd.DataFrame({
        "month": rng.integers(1, 13, rows), "day": rng.integers(1, 29, rows),
        "sched_time": hour * 100 + rng.integers(0, 60, rows), "hour": hour,
        "number": rng.integers(1, 6000, rows), "distance": distance,
        "duration": (distance / 8 + rng.normal(0, 10, rows)).round().clip(20),
        "carrier": [f"C{i:02d}" for i in carrier],
        "origin": np.array(["north", "east", "south"])[rng.integers(0, 3, rows)],
        "dest": [f"D{i:02d}" for i in dest],
        "unit": [f"N{i:04d}X" for i in tail], "code": [f"F{i:05d}" for i in code],
        "late": np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no"),
    })


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Run ``argv`` alone in a fresh process; its wall seconds, the peak RSS (MB) of the
    largest process of its tree, and its stdout."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stderr[-3000:]); print(r.stdout); "
             "print(time.perf_counter() - t, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.returncode)")
    out = subprocess.run([sys.executable, "-c", probe, *argv], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    *stdout, last = out.stdout.strip().splitlines()
    seconds, rss, code = last.split()
    if code != "0":
        raise SystemExit(f"{' '.join(argv[:3])} failed ({code}):\n{out.stderr}")
    return float(seconds), float(rss), "\n".join(stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-categoricals-") as tmp:
        folder = Path(tmp)
        data = folder / "long_tail.csv"
        long_tail_table(args.rows).to_csv(data, index=False)
        env = {**os.environ, "MLOPS_RUNS_DIR": str(folder / "runs"),
               "MLOPS_LOG_PATH": str(folder / "predictions.sqlite"),
               "MLOPS_REGISTRY_PATH": str(folder / "registry")}
        params = folder / "params-long-tail.yaml"
        mlops = [sys.executable, "-m", "mlops.cli"]
        subprocess.run([*mlops, "init", "--data", str(data), "--target", "late", "--out",
                        str(params)], env=env, cwd=ROOT, check=True, capture_output=True)
        run_s, run_mb, _ = timed([*mlops, "run", "--params", str(params)], env, ROOT)
        plain_s, plain_mb, out = timed([sys.executable, "-c", PLAIN, str(params), str(data)],
                                       env, ROOT)
        fit_s = json.loads(out.splitlines()[-1])["seconds"]
    print(f"{args.rows:,} rows, two text columns of 3,700 and 6,500 values")
    print(f"  mlops run (4 notebooks, gates, registry): {run_s:6.1f} s, peak {run_mb:6.0f} MB")
    print(f"  plain scikit-learn script (same fit):      {plain_s:6.1f} s, peak {plain_mb:6.0f} MB"
          f" (fit and predict {fit_s:.1f} s)")
    record("categoricals_run_seconds", run_s, "s", f"<= {MAX_SECONDS:.0f} s",
           run_s <= MAX_SECONDS, peer="plain scikit-learn script", ratio=run_s / plain_s)
    record("categoricals_run_peak_rss", run_mb, "MB", f"<= {MAX_RSS_MB} MB",
           run_mb <= MAX_RSS_MB, peer="plain scikit-learn script", ratio=run_mb / plain_mb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
