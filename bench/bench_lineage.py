"""Benchmark: what lineage costs. Registry growth per version, and `mlops reproduce` time.

On a committed copy of this project (package, notebooks, data, params, lock in a fresh git
repository, as a fork holds them), in one run:

- ``mlops run`` trains and registers v1 (the original run, timed);
- the same run folder is registered again and again (``register_run``, as ``mlops run``
  does) until there are ``--versions`` versions of the same data: the registry's growth per
  version, with the data snapshot stored once (``blobs/sha256/``), next to what it would be
  if every version kept its own copy of the data (the peer); the same on the Hub backend
  against the local Hub-protocol server, counting the dataset repository's commits;
- ``mlops reproduce NAME 1`` rebuilds v1 from git and the registry and compares every file
  (timed; goal: at most 1.2x the original run, timed just before it, in pairs). Also
  reported: reproduce's wall time over the pipeline run it makes itself, both timed in the
  same minutes, which is what reproduce adds (worktree, data restore, checks, comparison)
  free of a shared machine's drifting load.

Usage: ``python bench/bench_lineage.py [--reps 3] [--versions 10]``. Prints figures and
ratios and records them (``bench/_summary.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _summary import record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REPRODUCE_GOAL = 1.2  # mlops reproduce / the original mlops run
INNER: list[float] = []  # each reproduce's own pipeline run, seconds


def make_project(where: Path) -> Path:
    """A committed copy of this project in a fresh git repository."""
    proj = where / "project"
    for name in ("mlops", "notebooks", "data"):
        shutil.copytree(ROOT / name, proj / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("params.yaml", "requirements.lock", "pyproject.toml"):
        shutil.copy2(ROOT / name, proj / name)
    (proj / ".gitignore").write_text("registry/\nruns/\n")
    git = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "bench"]):
        subprocess.run([*git, *args], cwd=proj, check=True, capture_output=True)
    return proj


def mlops(proj: Path, *args: str) -> float:
    """Run the project's own CLI (its package first on the path); seconds taken.

    For ``reproduce``, also remembers (in :data:`INNER`) how long its pipeline run took,
    as the command prints it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(PYTHONPATH=str(proj), MPLBACKEND="Agg")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlops.cli", *args], cwd=proj, env=env,
                          capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    if args[0] == "reproduce":
        if "DIFFERS" in done.stdout or "missing" in done.stdout:
            raise SystemExit(f"mlops reproduce found differences:\n{done.stdout}")
        INNER.append(float(re.search(r"the pipeline run ([0-9.]+) s", done.stdout)[1]))
    return seconds


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and ".hub-cache" not in p.parts)


def growth(proj: Path, versions: int) -> dict[str, float]:
    """Register v1's run folder until there are ``versions`` versions; bytes per version."""
    from mlops.core.config import load_params
    from mlops.pipeline.registration import register_run

    params = load_params(proj / "params.yaml")
    (run_dir,) = [p for p in (proj / "runs").iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    registry = proj / "registry"
    sizes = [folder_bytes(registry)]
    for _ in range(versions - 1):
        register_run(params, run_dir, manifest)
        sizes.append(folder_bytes(registry))
    data = params.resolve(params.data.path).stat().st_size
    blobs = [p for p in (registry / "blobs").rglob("*") if p.is_file()]
    per_version = (sizes[-1] - sizes[0]) / (versions - 1)
    return {"first": sizes[0], "per_version": per_version, "total": sizes[-1],
            "data": data, "blobs": len(blobs), "without_dedup": sizes[-1] + data * (versions - 1)}


def hub_growth(proj: Path, versions: int) -> dict[str, int]:
    """The same registrations on the Hub backend (local Hub-protocol server)."""
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    from mlops.core.config import load_params
    from mlops.pipeline.registration import register_run
    from mlops.space.hubserver import HubServer

    (run_dir,) = [p for p in (proj / "runs").iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    with HubServer() as server:
        os.environ["HF_ENDPOINT"] = server.url
        params = load_params(proj / "params.yaml", ["registry.backend=hub",
                                                    "registry.hub_repo_id=bench/lineage",
                                                    f"registry.path={proj / 'hub-cache'}"])
        for _ in range(versions):
            register_run(params, run_dir, manifest)
        repo = server.state.repos["dataset/bench/lineage-data"]
        commits, sha = 0, repo.branches["main"]
        while repo.commits[sha][0] is not None:
            commits, sha = commits + 1, repo.commits[sha][0]
        head = repo.commits[repo.branches["main"]][1]
        return {"commits": commits, "tags": len(repo.tags),
                "data_bytes": sum(len(c) for p, c in head.items() if p.startswith("blobs/"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--versions", type=int, default=10)
    args = parser.parse_args()
    for var in [v for v in os.environ if v.startswith("MLOPS_")]:
        del os.environ[var]  # the project's own registry and runs, as a fork has them
    with tempfile.TemporaryDirectory(prefix="bench-lineage-") as tmp_name:
        proj = make_project(Path(tmp_name))
        runs, rebuilds = [], []
        for rep in range(args.reps):
            # Pairs, run then rebuild back to back: on a shared machine the load drifts
            # over minutes, and a ratio within a pair cancels most of it. The first run
            # registers v1; later ones train it again from scratch (no reuse).
            runs.append(mlops(proj, "run", "--require-clean") if rep == 0 else mlops(
                proj, "run", "--no-register", "--force", "--runs-dir",
                str(Path(tmp_name) / f"again{rep}")))
            rebuilds.append(mlops(proj, "reproduce", "credit-risk", "1"))
        size = growth(proj, args.versions)
        hub = hub_growth(proj, args.versions)
    run_s, rebuild_s = statistics.median(runs), statistics.median(rebuilds)
    paired = [b / a for a, b in zip(runs, rebuilds, strict=True)]
    # What reproduce adds to the run it makes (worktree, data restore, CLI start, checks,
    # comparison), both timed in the same minutes: the load of a shared machine cancels.
    own = [b / a for a, b in zip(INNER, rebuilds, strict=True)]
    ratio = statistics.median(own)
    dedup = size["total"] / size["without_dedup"]
    print(f"lineage on the bundled data ({args.reps} reps, {args.versions} versions)")
    print(f"  mlops run (original)        {run_s:6.2f} s")
    print(f"  mlops reproduce v1          {rebuild_s:6.2f} s")
    print(f"  its own pipeline run        {statistics.median(INNER):6.2f} s")
    print(f"  ratio reproduce / the original run = {statistics.median(paired):.2f}x "
          f"{[round(r, 2) for r in paired]} (goal <= {REPRODUCE_GOAL}x)")
    print(f"  ratio reproduce / its own pipeline run = {ratio:.2f}x "
          f"{[round(r, 2) for r in own]} (what reproduce adds; reported)")
    print(f"  registry: first version {size['first'] / 1e3:.1f} kB (data {size['data'] / 1e3:.1f}"
          f" kB), then {size['per_version'] / 1e3:.1f} kB per version of the same data")
    print(f"  data snapshots stored: {size['blobs']} for {args.versions} versions; registry "
          f"{size['total'] / 1e3:.1f} kB against {size['without_dedup'] / 1e3:.1f} kB with a "
          f"copy per version = {dedup:.2f}x")
    print(f"  hub: {hub['commits']} dataset commit(s), {hub['tags']} snapshot tag(s), "
          f"{hub['data_bytes'] / 1e3:.1f} kB of data for {args.versions} versions")
    original = statistics.median(paired)
    record("lineage.reproduce_vs_run", original, "x", f"<= {REPRODUCE_GOAL}x",
           original <= REPRODUCE_GOAL, peer="the original mlops run, just before (paired)",
           ratio=original)
    record("lineage.reproduce_vs_own_run", ratio, "x", "reported", True,
           peer="the same pipeline run, timed inside reproduce", ratio=ratio)
    record("lineage.bytes_per_version", size["per_version"], "B", "reported", True)
    record("lineage.snapshots_for_same_data", size["blobs"], "blobs", "1",
           size["blobs"] == 1 and hub["commits"] == 1 and hub["tags"] == 1)
    record("lineage.registry_vs_copy_per_version", dedup, "x", "reported", True,
           peer="a registry that copies the data into every version", ratio=dedup)


if __name__ == "__main__":
    main()
