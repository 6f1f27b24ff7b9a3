"""Run every benchmark, print all figures, write ``bench/out/summary.json``; exit 1 on a miss.

Each ``bench/bench_*.py`` runs as a subprocess (its output streamed as it comes) with a
timeout, and records its figures through ``bench/_summary.py``. A benchmark that misses a
goal does not stop the others: the runner goes on, merges every figure into
``bench/out/summary.json`` and prints one table. It exits 1 at the end when any goal was
missed or any benchmark crashed, timed out or recorded nothing; 0 otherwise.

Usage::

    python bench/run_all.py [NAME ...] [--quick] [--timeout SECONDS]

``NAME`` picks benchmarks (``pipeline``, ``serving``, ...; default: all). ``--quick`` runs
each with fewer repetitions and rows and without the slow peers (Evidently, MLflow,
NannyML): a smoke run of the wiring, not figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _summary import FIGURES, OUT, read  # noqa: E402

# Fewer repetitions and no peer venvs: enough to show that every figure is wired.
QUICK_ARGS = {
    "pipeline": ["--reps", "1"],
    "serving": ["--batch-reps", "1"],  # 300 single-row requests: the shadow p50 needs them
    "drift": ["--rows", "100000", "--reps", "1", "--no-evidently"],
    "registry": ["--reps", "2", "--no-mlflow"],
    "app": ["--reps", "1"],
    "lineage": ["--reps", "1", "--versions", "3"],
    "cbpe": ["--reps", "20", "--seeds", "2", "--no-nannyml"],
    "chunked": ["--rows", "1000000", "--small", "200000"],
    "sweep": ["--sets", "2"],
    "categoricals": ["--rows", "20000"],
}


def scripts(names: list[str]) -> list[Path]:
    """``bench/bench_<name>.py`` for each name, or all of them, sorted."""
    found = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {sorted(found)}")
    return [found[n] for n in names] if names else list(found.values())


def run_one(script: Path, extra: list[str], timeout: float) -> tuple[str, dict[str, dict]]:
    """Run one benchmark; return its status (``ok``, ``missed``, ``crashed: ...``) and figures."""
    figures_file = FIGURES / f"{script.stem}.json"
    figures_file.unlink(missing_ok=True)  # never report a previous run's figures
    env = {**os.environ, "BENCH_FIGURES": str(figures_file), "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    # A session of its own, so a timeout also ends what the benchmark started (kernels,
    # servers, browsers), not just the script.
    proc = subprocess.Popen([sys.executable, str(script), *extra], cwd=HERE.parent, env=env,
                            start_new_session=True)
    try:
        code: int | str = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = f"timed out after {timeout:g} s"
    except KeyboardInterrupt:  # Ctrl-C reached only the runner: end the benchmark too
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    seconds = time.perf_counter() - started
    figures = read(figures_file)
    missed = [name for name, fig in figures.items() if not fig["met"]]
    if isinstance(code, str):
        status = f"crashed: {code}"
    elif not figures:
        status = f"crashed: exit code {code}, no figure recorded"
    elif code != 0 and not missed:  # a script may exit 1 for a missed goal, nothing else
        status = f"crashed: exit code {code}"
    else:
        status = "missed" if missed else "ok"
    print(f"== {script.name}: {status} ({seconds:.0f} s)", flush=True)
    return status, figures


def table(summary: dict[str, dict]) -> str:
    """The merged figures as a fixed-width text table."""
    rows = [("figure", "value", "unit", "goal", "met", "peer", "ratio")]
    for name, fig in summary.items():
        value = "-" if fig["value"] is None else f"{fig['value']:.4g}"
        ratio = "-" if fig["ratio"] is None else f"{fig['ratio']:.3g}x"
        rows.append((name, value, fig["unit"], fig["goal"], "yes" if fig["met"] else "NO",
                     fig["peer"] or "-", ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, write the summary, print the table; 1 on any miss/crash."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer reps and rows, no Evidently/MLflow/NannyML peers (smoke run)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds each benchmark may take (default 1800)")
    parser.add_argument("--out", type=Path, default=OUT / "summary.json")
    args = parser.parse_args(argv)
    chosen = scripts(args.names)
    summary: dict[str, dict] = {}
    statuses: dict[str, str] = {}
    for script in chosen:
        name = script.stem.removeprefix("bench_")
        print(f"== {script.name}", flush=True)
        extra = QUICK_ARGS.get(name, []) if args.quick else []
        statuses[script.name], figures = run_one(script, extra, args.timeout)
        summary.update(figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"\n{table(summary)}\n")
    failed = {s: st for s, st in statuses.items() if st != "ok"}
    for script, status in failed.items():
        print(f"{script}: {status}")
    missed = [n for n, fig in summary.items() if not fig["met"]]
    print(f"{len(summary)} figures from {len(chosen)} benchmarks written to {args.out}; "
          f"{len(missed)} goals missed, "
          f"{sum(st.startswith('crashed') for st in statuses.values())} benchmarks crashed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
