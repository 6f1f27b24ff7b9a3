"""Benchmark: mlops drift detection next to Evidently's default DataDriftPreset.

Same data file, same machine, same run. Data: ``mlops.stages.synthetic.synthetic_frame``, 20 columns
(14 numeric, 6 categorical), reference and current batch of ``--rows`` rows each; the
current batch carries five planted shifts (``mlops.stages.synthetic.PLANTED``).

- speed: ``mlops.stages.drift.detect_drift`` on 1M x 20 (data loading excluded; median of
  ``--reps``), next to a plain scipy baseline (exact ``ks_2samp`` + ``chi2_contingency``
  per column) and Evidently 0.7 ``Report([DataDriftPreset()])`` on the same parquet files in
  ``bench/.venv-evidently`` (a subprocess: Evidently needs pandas<3; create the venv with
  ``bench/setup_peer.sh``, which the bench runs when the venv is missing). Prints the
  ratios.
- detection: planted shifts found (of 5) and false alarms (on the other 15 columns, and on
  all 20 columns of clean batches) at 10k, 100k and 1M rows, for all three.

Goals, recorded with the figures (``bench/_summary.py``): detect_drift under 3 s on 1M rows,
at least 20x faster than Evidently, and at every size 5/5 planted shifts found with no false
alarm.

Usage::

    python bench/bench_drift.py [--rows 1000000] [--reps 3] [--no-evidently]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _summary import record  # noqa: E402
from scipy import stats  # noqa: E402

from mlops.stages.drift import DriftThresholds, detect_drift  # noqa: E402
from mlops.stages.synthetic import PLANTED, synthetic_frame  # noqa: E402

OUT = ROOT / "bench" / "out"
EVIDENTLY_VENV = ROOT / "bench" / ".venv-evidently"
EVIDENTLY_PY = EVIDENTLY_VENV / "bin" / "python"
SETUP = [str(ROOT / "bench" / "setup_peer.sh"), "evidently", "evidently",
         "evidently==0.7.*", "pandas<3", "pyarrow"]  # Evidently 0.7 cannot import with pandas 3
# params.yaml defaults
THRESHOLDS = DriftThresholds(alpha=0.01, min_psi=0.005, min_js=0.01)
# params.yaml: validation.thresholds block
BLOCKING = replace(THRESHOLDS, block_psi=0.25, block_js=0.2)
SIZES = (10_000, 100_000, 1_000_000)
SPEED_BUDGET_S = 3.0  # detect_drift on --rows rows (1M by default)
EVIDENTLY_GOAL = 20.0  # Evidently seconds / mlops seconds, at least


def ensure_evidently_venv() -> bool:
    """Create ``bench/.venv-evidently`` if needed (Makefile-friendly); True when usable."""
    if not EVIDENTLY_PY.exists():
        subprocess.run(["bash", *SETUP], check=True)
    return EVIDENTLY_PY.exists()


def scipy_baseline(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Plain per-column tests at p < 0.05, no correction, no effect floor."""
    drifted = []
    for column in reference.columns:
        ref, cur = reference[column], current[column]
        if pd.api.types.is_numeric_dtype(ref):
            p = stats.ks_2samp(ref.dropna().to_numpy(), cur.dropna().to_numpy()).pvalue
        else:
            table = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0)
            p = stats.chi2_contingency(table.to_numpy().T, correction=False).pvalue
        if p < 0.05:
            drifted.append(column)
    return drifted


def quality(drifted_shifted: list[str], drifted_clean: list[str]) -> dict[str, int]:
    """Planted found, false alarms on the shifted batch, false alarms on a clean batch."""
    return {"found": len(set(drifted_shifted) & set(PLANTED)),
            "false_alarms": len(set(drifted_shifted) - set(PLANTED)),
            "clean_false_alarms": len(drifted_clean)}


def graded(frames: dict) -> dict:
    """Grades with the block thresholds: each planted column, and non-pass counts."""
    reference = frames["clean"][0]
    resample = reference.sample(frac=1, replace=True, random_state=0)
    shifted = detect_drift(*frames["shifted"], thresholds=BLOCKING)
    planted = {c.column: c.grade for c in shifted.columns if c.column in PLANTED}
    return {"planted": planted,
            "other_not_pass": sum(c.grade != "pass" for c in shifted.columns
                                  if c.column not in PLANTED),
            "clean_not_pass": sum(c.grade != "pass" for c in detect_drift(
                *frames["clean"], thresholds=BLOCKING).columns),
            "resample_not_pass": sum(c.grade != "pass" for c in detect_drift(
                reference, resample, thresholds=BLOCKING).columns)}


def run_evidently(ref_path: Path, cur_path: Path) -> dict:
    env = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    proc = subprocess.run([str(EVIDENTLY_PY), str(ROOT / "bench" / "evidently_drift.py"),
                           str(ref_path), str(cur_path)], capture_output=True, text=True,
                          env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"evidently failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - start
    return result


def write_pair(n: int, seed: int, shifted: bool, tag: str) -> tuple[Path, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    ref_path = OUT / f"drift_{tag}_reference.parquet"
    cur_path = OUT / f"drift_{tag}_current.parquet"
    synthetic_frame(n, seed=seed).to_parquet(ref_path, index=False)
    synthetic_frame(n, seed=seed + 1, shifted=shifted).to_parquet(cur_path, index=False)
    return ref_path, cur_path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--out", default=str(OUT / "drift.json"))
    args = parser.parse_args(argv)
    use_evidently = not args.no_evidently and ensure_evidently_venv()
    sizes = sorted({s for s in SIZES if s < args.rows} | {args.rows})
    results: dict = {"rows": args.rows, "columns": 20, "quality": {}, "speed": {}}

    for n in sizes:
        pairs = {"shifted": write_pair(n, 0, True, f"{n}_shifted"),
                 "clean": write_pair(n, 10, False, f"{n}_clean")}
        frames = {k: (pd.read_parquet(r), pd.read_parquet(c)) for k, (r, c) in pairs.items()}
        row: dict = {}
        timings = []
        for _ in range(args.reps if n == args.rows else 1):
            start = time.perf_counter()
            ours = detect_drift(*frames["shifted"], thresholds=THRESHOLDS)
            timings.append(time.perf_counter() - start)
        clean = detect_drift(*frames["clean"], thresholds=THRESHOLDS)
        row["mlops"] = quality(list(ours.drifted_columns), list(clean.drifted_columns))
        results.setdefault("grades", {})[n] = graded(frames)
        start = time.perf_counter()
        base_shifted = scipy_baseline(*frames["shifted"])
        base_seconds = time.perf_counter() - start
        row["scipy_p05"] = quality(base_shifted, scipy_baseline(*frames["clean"]))
        if use_evidently:
            ev_shifted = run_evidently(*pairs["shifted"])
            ev_clean = run_evidently(*pairs["clean"])
            row["evidently"] = quality(ev_shifted["drifted"], ev_clean["drifted"])
        results["quality"][n] = row
        if n == args.rows:
            speed = {"mlops_median_s": statistics.median(timings),
                     "mlops_best_s": min(timings), "scipy_s": base_seconds}
            if use_evidently:
                speed["evidently_s"] = ev_shifted["seconds"]
                speed["evidently_wall_s"] = ev_shifted["wall_seconds"]
            results["speed"] = speed
        for path in (p for pair in pairs.values() for p in pair):
            if n != args.rows:
                path.unlink()  # keep only the full-size files for inspection

    _print(results, use_evidently)
    _record(results, use_evidently)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


def _record(results: dict, use_evidently: bool) -> None:
    speed, rows = results["speed"], results["rows"]
    ours = speed["mlops_median_s"]
    ratio = speed["evidently_s"] / ours if use_evidently else None
    record(f"drift.detect_{rows}_rows_s", ours, "s", f"< {SPEED_BUDGET_S:g} s",
           ours < SPEED_BUDGET_S, peer="Evidently DataDriftPreset" if use_evidently else None,
           ratio=ratio)
    if use_evidently:
        record("drift.vs_evidently", ratio, "x", f">= {EVIDENTLY_GOAL:g}x",
               ratio >= EVIDENTLY_GOAL, peer="Evidently DataDriftPreset", ratio=ratio)
    record("drift.vs_scipy", speed["scipy_s"] / ours, "x", "reported", True,
           peer="scipy ks_2samp + chi2_contingency", ratio=speed["scipy_s"] / ours)
    for size, row in results["quality"].items():
        q = row["mlops"]
        peer = row.get("evidently")
        record(f"drift.found_{size}_rows", q["found"], f"of {len(PLANTED)}",
               f"{len(PLANTED)}/{len(PLANTED)}, no false alarm",
               q["found"] == len(PLANTED) and q["false_alarms"] == 0
               and q["clean_false_alarms"] == 0,
               peer=(f"Evidently found {peer['found']}/{len(PLANTED)}, false alarms "
                     f"{peer['false_alarms']}+{peer['clean_false_alarms']}") if peer else None)


def _print(results: dict, use_evidently: bool) -> None:
    speed = results["speed"]
    n = results["rows"]
    print(f"drift: {n:,} rows x 20 columns (14 numeric, 6 categorical), reference vs current, "
          f"{os.cpu_count()} cores")
    print(f"  mlops.detect_drift     {speed['mlops_median_s']:7.2f} s  (median; best "
          f"{speed['mlops_best_s']:.2f} s; goal < 3 s)")
    print(f"  scipy ks_2samp + chi2  {speed['scipy_s']:7.2f} s  "
          f"ratio {speed['scipy_s'] / speed['mlops_median_s']:.1f}x")
    if use_evidently:
        print(f"  Evidently DataDrift    {speed['evidently_s']:7.2f} s  "
              f"ratio {speed['evidently_s'] / speed['mlops_median_s']:.1f}x  (goal >= 20x)")
    else:
        print("  Evidently: skipped (--no-evidently, or bench/setup_peer.sh failed)")
    print("  detection: planted found /5, false alarms (shifted batch, other 15 columns), "
          "false alarms (clean batch, 20 columns)")
    for size, row in results["quality"].items():
        cells = "  ".join(f"{name}: {q['found']}/5 fp {q['false_alarms']}+"
                          f"{q['clean_false_alarms']}" for name, q in row.items())
        print(f"    {int(size):>9,}  {cells}")
    print("  graded (block: psi > 0.25, js > 0.2): each planted shift; non-pass columns "
          "elsewhere in the shifted batch, in the clean batch, in a bootstrap resample")
    for size, g in results.get("grades", {}).items():
        shifts = ", ".join(f"{col} {grade}" for col, grade in g["planted"].items())
        print(f"    {int(size):>9,}  {shifts}; others {g['other_not_pass']}, clean "
              f"{g['clean_not_pass']}, resample {g['resample_not_pass']}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
