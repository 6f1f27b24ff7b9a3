"""Benchmark: the local registry next to MLflow's model registry (SQLite store).

Same model (the credit-risk pipeline from params.yaml), same machine, same run:

- register (``mlops``) vs ``log_model`` with ``registered_model_name`` (MLflow, both with
  its default pip-requirements inference and with ``pip_requirements`` given);
- alias set (``promote`` with compare-and-swap and a ledger entry) vs
  ``set_registered_model_alias``; alias get (``resolve``) vs ``get_model_version_by_alias``;
- cold load of the production/champion model in a fresh process with one predict, next
  to a plain ``skops.io`` load in a fresh process.

Goals, recorded with the figures (``bench/_summary.py``): register within 0.1 s; alias set
and get no slower than MLflow's; cold load at most 1.05x a plain skops load.

MLflow runs in a venv of its own, ``bench/.venv-mlflow`` (created on first use with
``pip install mlflow==3.17.2``), through a subprocess. Usage::

    python bench/bench_registry.py [--reps 5] [--no-mlflow] [--out bench/out/registry.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _summary import record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MLFLOW_VENV = ROOT / "bench" / ".venv-mlflow"
MLFLOW_PIP = ["mlflow==3.17.2", "skops==0.16.0", "scikit-learn==1.9.1"]
NAME = "credit-risk"
REGISTER_BUDGET_S = 0.1
COLD_LOAD_GOAL = 1.05  # cold load of production / plain skops load, at most
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
             "PYTHONWARNINGS": "ignore", "GIT_PYTHON_REFRESH": "quiet"}

LOCAL_LOAD = """
import json, sys
import pandas as pd
from mlops.core.config import RegistryConfig
from mlops.registry import open_registry
cfg = RegistryConfig(backend="local", path=sys.argv[1], hub_repo_id="", aliases=("production",))
model = open_registry(cfg).load_model("credit-risk", "production")
print(model.predict(pd.DataFrame(json.load(open(sys.argv[2]))))[0])
"""

SKOPS_LOAD = """
import json, sys
import pandas as pd
import skops.io as sio
model = sio.load(sys.argv[1], trusted=json.loads(sys.argv[3]))
print(model.predict(pd.DataFrame(json.load(open(sys.argv[2]))))[0])
"""

MLFLOW_OPS = """
import json, sys, time, statistics
import mlflow, mlflow.sklearn, skops.io as sio
from mlflow import MlflowClient
work, model_path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
uri = f"sqlite:///{work}/mlflow.db"
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
mlflow.set_experiment("bench")
model = sio.load(model_path, trusted=json.loads(sys.argv[4]))
def log(**kw):
    with mlflow.start_run():
        t = time.perf_counter()
        mlflow.sklearn.log_model(model, name="model", registered_model_name="credit-risk",
                                 skops_trusted_types=json.loads(sys.argv[4]), **kw)
        return time.perf_counter() - t
log()  # warm-up: first run creates the tables
default = [log() for _ in range(reps)]
pinned = [log(pip_requirements=["scikit-learn==1.9.1", "skops==0.16.0"]) for _ in range(reps)]
client = MlflowClient()
latest = max(int(v.version) for v in client.search_model_versions("name='credit-risk'"))
sets, gets = [], []
for i in range(reps * 10):
    t = time.perf_counter()
    client.set_registered_model_alias("credit-risk", "champion", str(1 + i % latest))
    sets.append(time.perf_counter() - t)
for i in range(reps * 40):
    t = time.perf_counter()
    client.get_model_version_by_alias("credit-risk", "champion")
    gets.append(time.perf_counter() - t)
client.set_registered_model_alias("credit-risk", "champion", str(latest))
print(json.dumps({"log_model": statistics.median(default),
                  "log_model_pinned": statistics.median(pinned),
                  "alias_set": statistics.median(sets), "alias_get": statistics.median(gets)}))
"""

MLFLOW_LOAD = """
import json, sys
import pandas as pd
import mlflow, mlflow.sklearn
uri = f"sqlite:///{sys.argv[1]}/mlflow.db"
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
model = mlflow.sklearn.load_model("models:/credit-risk@champion")
print(model.predict(pd.DataFrame(json.load(open(sys.argv[2]))))[0])
"""


def _median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fresh_process(python: str | Path, code: str, *args: str, env: dict | None = None) -> float:
    start = time.perf_counter()
    _run([str(python), "-c", code, *args], cwd=ROOT, env={**os.environ, **QUIET_ENV, **(env or {})})
    return time.perf_counter() - start


def _run(cmd: list[str], **kwargs) -> str:
    """Run ``cmd``; on failure show the end of its stderr, which names the real problem."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def prepare(work: Path) -> tuple[Path, Path, list[str]]:
    """Train the params.yaml model; return the skops file, a one-row JSON, trusted types."""
    import skops.io as sio

    from mlops.core.config import load_params
    from mlops.core.data import read_csv
    from mlops.core.modelio import save_model
    from mlops.stages.training import train

    params = load_params(ROOT / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    model_path = work / "model.skops"
    save_model(train(params, frame), model_path)
    row = work / "row.json"
    row.write_text(frame.drop(columns=[params.data.target]).head(1).to_json(orient="records"))
    return model_path, row, sorted(sio.get_untrusted_types(file=model_path))


def bench_local(work: Path, model_path: Path, reps: int) -> dict[str, float]:
    """Register, alias set and get on the local backend (in this process)."""
    from mlops.registry.local import LocalRegistry

    reg = LocalRegistry(work / "registry", aliases=("production", "candidate"))
    card = work / "README.md"
    card.write_text("# card\n")
    meta = {"gates_passed": True, "gates": [], "metrics": {"roc_auc": 0.8}}
    register = _median_time(
        lambda: reg.register(NAME, model_path, metadata=meta, files={"README.md": card}),
        reps * 4)
    reg.promote(NAME, 1, "production", expected=None, reason="bench")
    state = {"current": None, "i": 0}

    def alias_set() -> None:
        target = 1 + state["i"] % 2
        state["i"] += 1
        reg.promote(NAME, target, "candidate", expected=state["current"], reason="bench")
        state["current"] = target

    alias_set_s = _median_time(alias_set, reps * 10)
    alias_get_s = _median_time(lambda: reg.resolve(NAME, "production"), reps * 40)
    return {"register": register, "alias_set": alias_set_s, "alias_get": alias_get_s}


def ensure_mlflow_venv() -> Path:
    """Python of bench/.venv-mlflow, creating it on first use (about 35 s, 850 MB)."""
    python = MLFLOW_VENV / "bin" / "python"
    if not (python.exists() and subprocess.run([str(python), "-c", "import mlflow"],
                                               capture_output=True).returncode == 0):
        print(f"creating {MLFLOW_VENV} with {' '.join(MLFLOW_PIP)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *MLFLOW_PIP], check=True)
    return python


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true", help="time mlops only")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "registry.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        work = Path(tmp)
        model_path, row, trusted = prepare(work)
        ours = bench_local(work, model_path, args.reps)
        local_root = str(work / "registry")
        loads, plain = [], []
        for _ in range(args.reps):  # interleaved, so drift in machine load hits both
            loads.append(_fresh_process(sys.executable, LOCAL_LOAD, local_root, str(row)))
            plain.append(_fresh_process(sys.executable, SKOPS_LOAD, str(model_path), str(row),
                                        json.dumps(trusted)))
        ours["cold_load"] = statistics.median(loads)
        ours["plain_skops_load"] = statistics.median(plain)
        theirs: dict[str, float] = {}
        if not args.no_mlflow:
            python = ensure_mlflow_venv()
            out = _run([str(python), "-c", MLFLOW_OPS, str(work), str(model_path),
                        str(args.reps), json.dumps(trusted)],
                       cwd=work, env={**os.environ, **QUIET_ENV})
            theirs = json.loads(out.strip().splitlines()[-1])
            theirs["cold_load"] = statistics.median(
                _fresh_process(python, MLFLOW_LOAD, str(work), str(row))
                for _ in range(args.reps))
    _report(ours, theirs)
    _record(ours, theirs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"mlops": ours, "mlflow": theirs}, indent=2))
    print(f"\nfigures written to {args.out}")
    return 0


def _record(ours: dict[str, float], theirs: dict[str, float]) -> None:
    mlflow = "MLflow 3.17 (SQLite store)" if theirs else None

    def vs(key: str, mine: str | None = None) -> float | None:
        """MLflow's time / ours: how many times faster mlops is."""
        return theirs[key] / ours[mine or key] if key in theirs else None

    record("registry.register_s", ours["register"], "s", f"<= {REGISTER_BUDGET_S:g} s",
           ours["register"] <= REGISTER_BUDGET_S, peer=mlflow and "MLflow log_model + register",
           ratio=vs("log_model", "register"))
    if theirs:  # these goals are relative to MLflow: measured only with it
        for key in ("alias_set", "alias_get"):
            record(f"registry.{key}_s", ours[key], "s", "<= MLflow", ours[key] <= theirs[key],
                   peer=mlflow, ratio=vs(key))
    cold = ours["cold_load"] / ours["plain_skops_load"]
    record("registry.cold_load", cold, "x", f"<= {COLD_LOAD_GOAL}x", cold <= COLD_LOAD_GOAL,
           peer="plain skops.io load + 1 predict, fresh process", ratio=cold)
    record("registry.cold_load_s", ours["cold_load"], "s", "reported", True, peer=mlflow,
           ratio=vs("cold_load"))


def _report(ours: dict[str, float], theirs: dict[str, float]) -> None:
    def fmt(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"

    rows = [
        ("register / log_model+register", "register", "log_model", "<= 0.1 s"),
        ("  MLflow with pip_requirements given", "register", "log_model_pinned", ""),
        ("alias set (CAS + ledger)", "alias_set", "alias_set", "<= MLflow"),
        ("alias get", "alias_get", "alias_get", "<= MLflow"),
        ("cold load + 1 predict, fresh process", "cold_load", "cold_load", ""),
    ]
    print(textwrap.dedent(f"""
        {'operation':40} {'mlops':>10} {'MLflow':>10} {'MLflow/mlops':>13}  goal"""))
    for label, mine, other, goal in rows:
        a, b = ours.get(mine), theirs.get(other)
        ratio = f"{b / a:.1f}x" if a and b else "-"
        print(f"{label:40} {fmt(a):>10} {fmt(b):>10} {ratio:>13}  {goal}")
    ratio = ours["cold_load"] / ours["plain_skops_load"]
    print(f"{'plain skops.io load + 1 predict':40} {fmt(ours['plain_skops_load']):>10}")
    print(f"cold load / plain skops load = {ratio:.2f} (goal <= {COLD_LOAD_GOAL})")


if __name__ == "__main__":
    sys.exit(main())
