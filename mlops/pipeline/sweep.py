"""``mlops sweep``: N parameter sets as N full runs on Dask, the best one registered.

Each set is a complete ``mlops run`` (:func:`mlops.pipeline.runner.run_pipeline`, the same
code path) with its own run folder and evidence, run without registering. The runs go to
a Dask cluster: a ``LocalCluster`` of worker processes within the cores (``engine
"local"``) or the scheduler at an address (``tcp://host:8786``), through the same
``Client`` API. Dask does the scheduling; nothing here queues or retries work.

Only this process touches the registry for writing, once, after every run ended: the
best run by the primary metric (the baseline metric of ``evaluation.json``, lower-is-
better aware) among those that passed every gate becomes a ``candidate``, never
``production``. Workers only read it (the champion comparison), so runs cannot race on it.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops.core.config import load_params
from mlops.core.exceptions import ConfigError, GateFailedError, MLOpsError
from mlops.core.lineage import write_json_atomic
from mlops.core.threads import available_cores, kernel_thread_env

__all__ = ["SWEEP_FILE", "SweepResult", "load_grid", "primary_metric", "run_sweep"]

SWEEP_FILE = "sweep.json"  # the sweep's summary, in the sweep folder and with the best run


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: every run's outcome, the best one and what was registered."""

    sweep_id: str
    folder: Path
    runs: list[dict[str, Any]]
    best: dict[str, Any] | None
    registry: dict[str, Any] | None = None
    engine: str = "local"
    workers: int = 0


def load_grid(path: str | Path) -> list[list[str]]:
    """The parameter sets of a grid file, each as ``--set``-style ``KEY=VALUE`` strings.

    The file holds ``sets:``, a list whose items are either a list of ``KEY=VALUE``
    strings or a mapping ``KEY: VALUE``. Raises :class:`ConfigError` naming the file and
    the set when it is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep grid {path}: no such file", file=str(path))
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"sweep grid {path}: not valid YAML ({exc})", file=str(path)) from None
    sets = doc.get("sets") if isinstance(doc, dict) else None
    if not isinstance(sets, list) or not sets:
        raise ConfigError(f"sweep grid {path}: expected a non-empty list under 'sets:'",
                          file=str(path), rule="sets")
    grid: list[list[str]] = []
    for i, item in enumerate(sets, 1):
        if isinstance(item, dict):
            overrides = [f"{k}={json.dumps(v)}" for k, v in item.items()]
        elif isinstance(item, list) and all(isinstance(s, str) and "=" in s for s in item):
            overrides = list(item)
        else:
            raise ConfigError(
                f"sweep grid {path}: set {i} must be a list of KEY=VALUE strings or a "
                f"mapping of KEY: VALUE, not {item!r}", file=str(path), rule="sets")
        grid.append(overrides)
    return grid


def primary_metric(evaluation: dict[str, Any]) -> tuple[str, float | None, bool]:
    """``(name, value, lower_is_better)`` of a run's primary metric: the baseline metric."""
    from mlops.stages.metrics import LOWER_IS_BETTER

    baseline = evaluation.get("baseline") or {}
    name = str(baseline.get("metric") or "")
    value = baseline.get("model")
    return name, None if value is None else float(value), name in LOWER_IS_BETTER


def run_one(params_file: str, overrides: list[str], runs_dir: str, run_id: str,
            runs_per_host: int) -> dict[str, Any]:
    """One sweep run in a Dask worker: ``run_pipeline`` without registering; its outcome.

    The thread variables are set here, in the worker's own process, to this run's share
    of the machine's cores (a value the user set wins), so the kernels of several runs at
    once do not oversubscribe it.
    """
    from mlops.pipeline.runner import run_pipeline

    os.environ.update(kernel_thread_env(runs_per_host))  # a run is one kernel at a time
    outcome: dict[str, Any] = {"run_id": run_id, "overrides": overrides,
                               "run_dir": str(Path(runs_dir).resolve() / run_id)}
    try:
        params = load_params(params_file, overrides)
        run_pipeline(params, params_file=params_file, overrides=overrides, runs_dir=runs_dir,
                     register=False, run_id=run_id, progress=lambda line: None)
        outcome["status"] = "succeeded"
    except MLOpsError as exc:  # a failed gate included: the evaluation still says which
        outcome.update(status="failed", error=f"{type(exc).__name__}: {exc.message}")
    path = Path(outcome["run_dir"]) / "evaluation.json"
    evaluation = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    metric, value, lower = primary_metric(evaluation)
    return {**outcome,
            "passed": outcome["status"] == "succeeded" and bool(evaluation.get("passed")),
            "failed_gates": [g["gate"] for g in evaluation.get("gates", [])
                             if not g.get("passed")],
            "metric": metric, "value": value, "lower_is_better": lower}


def _best(runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The passing run with the best primary metric; the earlier set wins a tie."""
    passing = [r for r in runs if r["passed"] and r.get("value") is not None]
    if not passing:
        return None
    return min(passing, key=lambda r: (r["value"] if r["lower_is_better"] else -r["value"],
                                       runs.index(r)))


def _why_none(runs: Sequence[dict[str, Any]]) -> str:
    parts = []
    for r in runs:
        if r["failed_gates"]:
            parts.append(f"{r['run_id']} failed gates {r['failed_gates']}")
        else:
            parts.append(f"{r['run_id']} failed ({r.get('error', 'no primary metric')})")
    return "; ".join(parts)


def _runs_per_host(client: Any) -> int:
    """The most tasks one machine of the cluster runs at once (its worker threads)."""
    from urllib.parse import urlparse

    per_host: Counter[str] = Counter()
    for address, threads in client.nthreads().items():
        per_host[urlparse(address).hostname or address] += threads
    return max(per_host.values(), default=1)


def run_sweep(
    params_file: str | Path,
    grid: Sequence[Sequence[str]],
    *,
    overrides: Sequence[str] = (),
    runs_dir: str | Path = "runs",
    engine: str = "local",
    workers: int | None = None,
    register: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run every set of ``grid`` (after the common ``overrides``) on Dask; register the best.

    ``engine`` is ``"local"`` (a ``LocalCluster`` of ``workers`` processes, at most the
    cores and the number of sets, one thread each) or a scheduler address, whose workers
    must see the project and ``runs_dir`` at the same paths (a shared file system). Raises
    :class:`GateFailedError` when no run passed every gate; nothing is registered then.
    """
    from distributed import Client, LocalCluster, as_completed

    from mlops.pipeline.runner import new_run_id

    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    if not grid:
        raise ConfigError("sweep: the grid has no parameter sets", rule="sets")
    params_file = str(Path(params_file).resolve())
    runs_dir = Path(runs_dir).resolve()
    sets = [[*overrides, *s] for s in grid]
    for s in sets:  # a bad key fails here, before any cluster starts
        load_params(params_file, s)
    sweep_id = "sweep-" + new_run_id()
    folder = runs_dir / sweep_id
    folder.mkdir(parents=True)
    run_ids = [f"{sweep_id.removeprefix('sweep-')}-{i:02d}" for i in range(1, len(sets) + 1)]
    cluster = None
    if engine == "local":
        n = max(1, min(workers or available_cores(), available_cores(), len(sets)))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        address: Any = cluster
    elif "://" in engine:
        address = engine
    else:
        raise ConfigError(f"sweep: --engine {engine!r}: use 'local' or a Dask scheduler "
                          "address such as tcp://host:8786", key="engine")
    try:
        with Client(address) as client:
            per_host = _runs_per_host(client)
            n_workers = len(client.nthreads())
            say(f"sweep {sweep_id}: {len(sets)} runs on {engine} ({n_workers} worker(s), "
                f"{per_host} run(s) at once per machine) -> {folder}")
            futures = [client.submit(run_one, params_file, s, str(runs_dir), rid, per_host,
                                     key=rid, pure=False)
                       for s, rid in zip(sets, run_ids, strict=True)]
            by_id: dict[str, dict[str, Any]] = {}
            for future in as_completed(futures):
                outcome = future.result()
                by_id[outcome["run_id"]] = outcome
                verdict = (f"{outcome['metric']}={outcome['value']}, gates "
                           + ("passed" if outcome["passed"]
                              else f"FAILED {outcome['failed_gates']}")
                           if outcome["value"] is not None else outcome["error"])
                say(f"  {outcome['run_id']} {' '.join(outcome['overrides'][len(overrides):])}"
                    f": {verdict}")
    finally:
        if cluster is not None:
            cluster.close()
    runs = [by_id[rid] for rid in run_ids]
    best = _best(runs)
    result = SweepResult(sweep_id, folder, runs, best, engine=engine, workers=n_workers)
    summary = {"sweep_id": sweep_id, "engine": engine, "workers": n_workers,
               "params_file": params_file, "overrides": list(overrides), "runs": runs,
               "best": best and best["run_id"], "registry": None}
    if best is None:
        write_json_atomic(summary, folder / SWEEP_FILE)
        raise GateFailedError(
            f"sweep {sweep_id}: none of {len(runs)} runs passed every gate, nothing "
            f"registered: {_why_none(runs)} (summary: {folder / SWEEP_FILE})",
            rule="sweep")
    if register:
        summary["registry"] = _register_best(params_file, best, summary)
        result = SweepResult(sweep_id, folder, runs, best, summary["registry"], engine,
                             n_workers)
    write_json_atomic(summary, folder / SWEEP_FILE)
    return result


def _register_best(params_file: str, best: dict[str, Any], summary: dict[str, Any]
                   ) -> dict[str, Any]:
    """Register the best run as ``candidate`` with the sweep summary as evidence."""
    from mlops.pipeline.registration import find_by_fingerprint, register_run

    run_dir = Path(best["run_dir"])
    params = load_params(params_file, best["overrides"])
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    same = find_by_fingerprint(params, manifest["fingerprint"])
    if same is not None:  # the same inputs are registered already: reuse, as `mlops run` does
        return {"model": same.name, "version": same.version, "alias": None, "reused": True}
    write_json_atomic({**summary, "registry": None}, run_dir / SWEEP_FILE)
    done = register_run(params, run_dir, manifest, candidate_only=True,
                        extra_files={SWEEP_FILE: run_dir / SWEEP_FILE})
    manifest["registry"] = done
    write_json_atomic(manifest, manifest_path)
    return done
