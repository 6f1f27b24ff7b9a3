"""Benchmark: ``mlops validate`` on a Parquet file of ``--rows`` rows x 20 columns, in chunks.

Data: ``mlops.stages.synthetic.synthetic_frame`` (14 numeric, 6 categorical columns). The
reference (50,000 rows) and its inferred schema, the large Parquet file and a smaller CSV
(``--small`` rows) are written to a temporary folder, never committed. Each measurement is
a child process running ``mlops validate`` through the CLI's ``main``; the child reports
its own peak RSS (``resource.getrusage``), so every figure is one process's.

- large: the chunked path on the large Parquet file: exit code (goal 0: the file is drawn
  like its reference), wall time and peak RSS (goal < 1 GB);
- per row: the chunked path on the large file against the in-memory path on the smaller
  CSV file (``mlops validate`` without ``--chunked``), CPU seconds per million rows (the
  machine is shared: wall time also counts waiting), and the chunked path on that same
  CSV (``--chunked``) for the like-for-like ratio.

Usage::

    python bench/bench_chunked.py [--rows 10000000] [--small 1000000]
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

RSS_GOAL_MB = 1024.0
PIECE = 1_000_000  # rows generated and written at a time: the bench's own memory stays small

CHILD = """
import json, resource, sys, time
from mlops.cli.main import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"code": code, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mb": usage.ru_maxrss / 1024}))
"""


def write_data(folder: Path, rows: int, small: int) -> tuple[Path, Path, list[str]]:
    """Reference CSV, schema, the large Parquet file and the small CSV; the --set options."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops.core.schema import infer_schema, save_schema
    from mlops.stages.synthetic import synthetic_frame

    reference = synthetic_frame(50_000, seed=1)
    reference.to_csv(folder / "reference.csv", index=False)
    save_schema(infer_schema(reference, target=None, source="reference.csv"),
                folder / "schema.yaml")
    large = folder / "large.parquet"
    writer = None
    for i, start in enumerate(range(0, rows, PIECE)):
        piece = synthetic_frame(min(PIECE, rows - start), seed=100 + i)
        table = pa.Table.from_pandas(piece, preserve_index=False)
        writer = writer or pq.ParquetWriter(large, table.schema)
        writer.write_table(table, row_group_size=256_000)
    assert writer is not None
    writer.close()
    synthetic_frame(small, seed=99).to_csv(folder / "small.csv", index=False)
    overrides = ["--set", f"data.path={folder / 'reference.csv'}",
                 "--set", f"data.schema={folder / 'schema.yaml'}",
                 "--set", "data.target=none_of_these_columns",
                 # the synthetic data has a column with 5 % missing values on purpose
                 "--set", "validation.thresholds.missing.block=0.1"]
    return large, folder / "small.csv", overrides


def measure(data: Path, overrides: list[str], *extra: str) -> dict:
    """``mlops validate --data DATA`` in a child process: exit code, seconds, peak RSS."""
    argv = ["validate", "--data", str(data), "--params", str(ROOT / "params.yaml"),
            *overrides, *extra]
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True,
                         text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"mlops validate crashed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    result = json.loads(lines[-1])
    result["wall"] = wall
    verdict = [line for line in out.stdout.splitlines() if line.startswith("validation ")]
    result["verdict"] = verdict[-1] if verdict else ""
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--small", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-chunked-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        large, small, overrides = write_data(folder, args.rows, args.small)
        size_mb = large.stat().st_size / 2**20
        print(f"data: {args.rows:,} x 20 Parquet ({size_mb:,.0f} MB) and {args.small:,} rows "
              f"CSV, written in {time.perf_counter() - t0:.1f} s")
        big = measure(large, overrides)
        memory = measure(small, overrides)
        chunked_small = measure(small, overrides, "--chunked")
    # Per row in CPU seconds of the process (imports included): on a shared machine the
    # wall time also counts waiting for a core.
    per_big = big["cpu"] / args.rows * 1e6
    per_memory = memory["cpu"] / args.small * 1e6
    per_chunked_small = chunked_small["cpu"] / args.small * 1e6
    for what, rows, m in ((f"chunked, {args.rows:,} rows Parquet", args.rows, big),
                          (f"in memory, {args.small:,} rows CSV", args.small, memory),
                          ("chunked, the same CSV", args.small, chunked_small)):
        print(f"{what}: {m['seconds']:.1f} s wall, {m['cpu']:.1f} s CPU "
              f"({m['cpu'] / rows * 1e6:.2f} CPU s per million rows), peak RSS "
              f"{m['rss_mb']:.0f} MB, exit {m['code']}\n  {m['verdict'][:300]}")
    ratio = per_big / per_memory
    same_file = per_chunked_small / per_memory
    print(f"per row: chunked Parquet / in-memory CSV = {ratio:.2f}x; chunked / in-memory on "
          f"the same CSV = {same_file:.2f}x")
    record("chunked_validate_seconds", big["seconds"], "s", "reported", True)
    # The batch is drawn like its reference: a blocking check here is a false alarm.
    record("chunked_validate_exit", big["code"], "", "0 (the batch passes)", big["code"] == 0)
    record("chunked_validate_peak_rss", big["rss_mb"], "MB", "< 1024 MB",
           big["rss_mb"] < RSS_GOAL_MB)
    record("chunked_per_row_vs_in_memory", ratio, "x", "<= 1.0x (per row)", ratio <= 1.0,
           peer="in-memory mlops validate on a smaller CSV", ratio=ratio)
    record("chunked_same_csv_vs_in_memory", same_file, "x", "reported", True,
           peer="in-memory mlops validate on the same CSV", ratio=same_file)
    return 0 if big["rss_mb"] < RSS_GOAL_MB and big["code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
