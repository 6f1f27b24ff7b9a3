"""``mlops run``: execute the stage notebooks in order with papermill into ``runs/<run-id>/``.

Each notebook gets the same four parameters, derived from the command line and never a
copy of ``params.yaml``: the params file, the overrides, the run folder and the run id.

All stages run in one kernel, so the heavy imports are paid once, as in a single process.
Before each notebook the kernel is reset to what a fresh one shows a notebook: an empty
namespace, the execution counter at 1, no warning already shown, the notebooks' folder as
working folder (:data:`_RESET`); the module cache survives. The kernel starts first and
imports on the other core while this process checks the notebooks; the settings are
checked in the kernel. It gets the cores (:func:`mlops.core.threads.kernel_thread_env`;
a value the user set wins).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.config import Params, to_dict
from mlops.core.exceptions import ConfigError, MLOpsError, StageError, error_class
from mlops.core.lineage import (
    OUTSIDE_PROJECT,
    file_sha256,
    git_state,
    package_versions,
    project_path,
    write_json_atomic,
)
from mlops.core.models import stage_notebook
from mlops.core.threads import kernel_thread_env
from mlops.pipeline.fingerprint import MODEL_CODE, inputs_fingerprint
from mlops.pipeline.stages import NOTEBOOK_PARAMETERS, STAGES

__all__ = ["STAGES", "NOTEBOOK_PARAMETERS", "RUN_LOCK", "RunInterrupted", "RunResult",
           "mark_stale_runs", "run_pipeline", "new_run_id", "run_inputs"]

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
# In a run folder while its run lasts, flock'ed by the run's process: the OS lets go of it
# when that process ends, however it ends (kill -9 too).
RUN_LOCK = ".lock"


# Imported by the kernel as it starts, while this process checks the notebooks: a warm-up.
_WARM_UP = ("pandas", "sklearn.pipeline", "matplotlib.figure", "mlops.api")
# Run silently before each notebook: a fresh kernel's namespace, counter, warnings and
# working folder. The registries of warnings already shown are emptied by resetwarnings();
# the filters themselves are put back as they were. Other process-wide state a notebook
# changes (sys.path, matplotlib's rcParams, numpy's global seed) is not reset: the stage
# notebooks change none of it.
_RESET = ("get_ipython().reset(new_session=True)\n"
          "import os as _os, warnings as _w\n_os.chdir({cwd!r})\n"
          "_f = _w.filters[:]\n_w.resetwarnings()\n_w.filters[:] = _f\ndel _os, _w, _f\n")
# prctl(PR_SET_PDEATHSIG, SIGKILL) in the kernel, leaving no name in its namespace.
_DIE_WITH_PARENT = "__import__('ctypes').CDLL(None).prctl(1, 9)"
# Run once before the first notebook (a notebook gets the same two values).
_PREFLIGHT = ("from mlops.core.config import load_params\n"
              "from mlops.pipeline.runner import _preflight\n"
              "_preflight(load_params({params_path!r}, {overrides!r}))\n")



class RunInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT stopped a run: raised where the run was, like Ctrl-C, so that the
    kernel is shut down and the manifest says ``interrupted``."""


@dataclass(frozen=True)
class RunResult:
    """Outcome of a successful run."""

    run_id: str
    run_dir: Path
    status: str
    manifest: dict[str, Any]


def stage_sources(params_file: str | Path, notebooks_dir: str | Path,
                  stages: Sequence[tuple[str, str]] = STAGES) -> list[Path]:
    """The notebook of each stage for this model: its own copy in ``notebooks/`` beside its
    params file where it has one, else the shared one in ``notebooks_dir``."""
    return [stage_notebook(params_file, name, notebooks_dir) for _, name in stages]


def run_inputs(params: Params, params_file: str | Path, notebooks_dir: str | Path,
               stages: Sequence[tuple[str, str]] = STAGES) -> list[Path]:
    """The files a run reads: params, data, schema, stage notebooks, model code, lock."""
    root = Path(notebooks_dir).resolve().parent
    return [Path(params_file).resolve(), params.resolve(params.data.path),
            params.resolve(params.data.schema),
            *stage_sources(params_file, notebooks_dir, stages),
            *(root / rel for rel in MODEL_CODE), root / "requirements.lock"]


def _project_relative(path: str | Path, notebooks_dir: str | Path) -> str:
    """``path`` relative to the project folder (the notebooks' parent), never absolute: run
    evidence is published with the version (:func:`mlops.core.lineage.project_path`)."""
    return project_path(path, Path(notebooks_dir).resolve().parent)


def _portable_prefixes(notebooks_dir: Path, run_dir: Path, params_file: str | Path
                       ) -> dict[str, str]:
    """The absolute folders an executed notebook may name, and what it records instead."""
    project = notebooks_dir.resolve().parent
    prefixes = {str(Path.home()): "~", str(project): "."}
    for folder in (run_dir, Path(params_file).resolve().parent):
        prefixes[str(folder)] = (project_path(folder, project)
                                 if folder.is_relative_to(project) else
                                 f"{OUTSIDE_PROJECT}/{folder.name}")
    return prefixes


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus 6 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_pipeline(
    params: Params,
    *,
    params_file: str | Path,
    overrides: Sequence[str] = (),
    runs_dir: str | Path = "runs",
    register: bool = True,
    force: bool = False,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    stages: Sequence[tuple[str, str]] = STAGES,
    progress: Callable[[str], None] | None = None,
    require_clean: bool = False,
    run_id: str | None = None,
    base_report: str | Path | None = None,
) -> RunResult:
    """Run every stage notebook; raise the stage's own :class:`MLOpsError` when one fails.

    With ``register``, a run whose inputs fingerprint (data, code, params) matches a
    registered version reuses that version instead of training again, unless ``force``.

    The manifest is written before the first stage and after each one, so a stopped run
    never looks complete. SIGTERM and SIGINT (Ctrl-C) shut the kernel down and mark it
    ``interrupted``; a run killed outright (``kill -9``) stays ``running`` until the next run
    in ``runs_dir`` finds its process gone and marks it ``interrupted``
    (:func:`mark_stale_runs`).
    ``require_clean`` (CD) refuses a run whose inputs are not all committed. ``run_id``
    names the run (``mlops reproduce`` reuses the recorded one, which the report quotes).
    ``base_report`` (CI, with no production to compare with) is copied into the run folder
    as ``base-report.md``, where the evaluate stage compares with it.
    """
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    notebooks_dir = Path(notebooks_dir)
    if run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", run_id):
        raise ConfigError(f"run id {run_id!r}: use letters, digits, '.', '_' and '-' only",
                          rule="run_id")
    run_id = run_id or new_run_id()
    for stale in mark_stale_runs(runs_dir, by=run_id):
        say(f"run {stale} was left running by a process that is gone: marked interrupted")
    run_dir = Path(runs_dir).resolve() / run_id
    run_dir.mkdir(parents=True)
    with _held_while_running(run_dir), _interrupted_by_signals():
        return _run(params, params_file=params_file, overrides=overrides, run_dir=run_dir,
                    register=register, force=force, notebooks_dir=notebooks_dir,
                    stages=stages, say=say, require_clean=require_clean,
                    base_report=base_report)


def _run(params: Params, *, params_file: str | Path, overrides: Sequence[str], run_dir: Path,
         register: bool, force: bool, notebooks_dir: Path,
         stages: Sequence[tuple[str, str]], say: Callable[[str], None], require_clean: bool,
         base_report: str | Path | None) -> RunResult:
    """:func:`run_pipeline` in its new run folder, locked and stopped by signals."""
    run_id = run_dir.name
    data_path = params.resolve(params.data.path)
    sources = stage_sources(params_file, notebooks_dir, stages)
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "status": "running",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": to_dict(params),
        "params_file": _project_relative(params_file, notebooks_dir),
        "overrides": list(overrides),
        "seed": params.seed,
        "data": {"path": _project_relative(data_path, notebooks_dir),
                 "sha256": file_sha256(data_path) if data_path.is_file() else None},
        "git": git_state(params.root, run_inputs(params, params_file, notebooks_dir, stages)),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "fingerprint": inputs_fingerprint(params, notebooks_dir.parent, notebooks=sources),
        "stages": {},
    }
    manifest_path = run_dir / "manifest.json"
    if base_report is not None:
        from mlops.pipeline.compare import BASE_REPORT_FILE

        source = Path(base_report)
        if not source.is_file():
            shutil.rmtree(run_dir, ignore_errors=True)
            raise ConfigError(f"--base-report {source}: no such file", file=str(source))
        shutil.copyfile(source, run_dir / BASE_REPORT_FILE)
        manifest["base_report"] = {"path": _project_relative(source, notebooks_dir),
                                   "sha256": file_sha256(source)}
    write_json_atomic(manifest, manifest_path)
    notebook_params = {
        "params_path": str(Path(params_file).resolve()),
        "overrides": list(overrides),
        "run_dir": str(run_dir),
        "run_id": run_id,
    }
    say(f"{params.model.name}: run {run_id} -> {run_dir}")
    started = time.perf_counter()
    try:
        git = manifest["git"]
        if require_clean and params.registry.snapshot_data and git["dirty"]:
            # The data is kept in the registry with the version: git need not hold it.
            inputs = run_inputs(params, params_file, notebooks_dir, stages)
            git = git_state(params.root, [p for p in inputs if p != data_path])
        if require_clean and git["dirty"] is not False:
            files = git["dirty_files"] or ["(not a git work tree)"]
            raise ConfigError(
                f"refusing a dirty run: {len(files)} input(s) are not committed: "
                f"{', '.join(files[:10])}{' …' if len(files) > 10 else ''}. Commit them (a "
                "registered model must be rebuildable from the git history), or run without "
                "--require-clean", rule="dirty")
        if register and not force:
            from mlops.pipeline.registration import find_by_fingerprint

            same = find_by_fingerprint(params, manifest["fingerprint"])
            if same is not None:
                manifest.update(status="reused", registry={
                    "model": same.name, "version": same.version, "reused": True})
                write_json_atomic(manifest, manifest_path)
                say(f"inputs unchanged since {same.label} ({manifest['fingerprint'][:19]}…): "
                    "reusing it, nothing trained (--force trains anyway)")
                return RunResult(run_id, run_dir, "reused", manifest)
        # The kernel boots (a few seconds of imports) on the other core while this process
        # checks the notebooks; the settings are checked in the kernel, which has
        # scikit-learn imported anyway.
        km = _start_kernel(notebooks_dir, kernel_thread_env(1))
        try:
            _check_notebooks(sources)
            _run_in_kernel(km, _PREFLIGHT.format(**notebook_params))
            _execute_stages(notebooks_dir, stages, sources, notebook_params, run_dir, manifest,
                            manifest_path, say, km)
        finally:
            _stop_kernel(km)
        if register:
            from mlops.pipeline.registration import register_run

            manifest["registry"] = register_run(params, run_dir, manifest)
    except BaseException as exc:
        manifest["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        manifest["error"] = {"type": type(exc).__name__, "message": str(exc)}
        manifest["seconds"] = round(time.perf_counter() - started, 3)
        write_json_atomic(manifest, manifest_path)
        raise
    manifest["status"] = "succeeded"
    manifest["seconds"] = round(time.perf_counter() - started, 3)
    write_json_atomic(manifest, manifest_path)
    say(f"{params.model.name}: run {run_id} finished in {manifest['seconds']:.1f} s")
    return RunResult(run_id, run_dir, "succeeded", manifest)


def mark_stale_runs(runs_dir: str | Path, *, by: str) -> list[str]:
    """Mark ``interrupted`` each run in ``runs_dir`` left ``running`` by a process that is
    gone (killed outright, or its machine stopped); return their ids.

    A live run holds the lock of its folder (:data:`RUN_LOCK`), so a lock that can be taken
    is stale. The manifest is re-read under the lock: a run that has just finished wrote its
    final status before letting go. ``by`` (the run id that looked) is recorded.
    """
    marked = []
    for lock in sorted(Path(runs_dir).glob(f"*/{RUN_LOCK}")):
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:  # gone meanwhile: its run ended
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its run is alive
            manifest_path = lock.parent / "manifest.json"
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a run that is starting writes its manifest after the lock
            if manifest.get("status") == "running":
                manifest["status"] = "interrupted"
                for stage in manifest.get("stages", {}).values():
                    if stage.get("status") == "running":
                        stage["status"] = "interrupted"
                manifest["error"] = {
                    "type": "Interrupted",
                    "message": "the run's process ended before the run did (killed, or its "
                               f"machine stopped); found by run {by}"}
                write_json_atomic(manifest, manifest_path)
                marked.append(lock.parent.name)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return marked


@contextlib.contextmanager
def _held_while_running(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s :data:`RUN_LOCK` while the run lasts; remove it when it ends."""
    path = run_dir / RUN_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by the kernel
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks only while another run is looking at it
        yield
    finally:
        path.unlink(missing_ok=True)  # before letting go: see mark_stale_runs
        os.close(fd)


@contextlib.contextmanager
def _interrupted_by_signals() -> Iterator[None]:
    """Turn the first SIGTERM or SIGINT into :class:`RunInterrupted` in this thread.

    Python's default SIGTERM ends the process at once: no ``finally`` runs, the kernel is
    left behind and the manifest says ``running``. A second signal is ignored until the run
    has cleaned up (the kernel stops within a second). Signals reach the main thread only,
    so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watched = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in watched}

    def stop(signum: int, _frame: Any) -> None:
        for s in watched:
            signal.signal(s, signal.SIG_IGN)
        raise RunInterrupted(f"stopped by {signal.Signals(signum).name}")

    for s in watched:
        if previous[s] is not signal.SIG_IGN:  # a run started with the signal ignored
            signal.signal(s, stop)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def _preflight(params: Params) -> None:
    """Fail at once on settings that would otherwise fail stages later, after real work.

    Runs in the stages' kernel (:data:`_PREFLIGHT`), before the first notebook.
    """
    from mlops.stages.gates import check_config
    from mlops.stages.training import build_estimator

    if not 0 < params.data.test_size < 1:
        raise ConfigError(f"data.test_size is {params.data.test_size}; expected a share "
                          "between 0 and 1", key="data.test_size")
    check_config(params)
    build_estimator(params)  # importable, a classifier, takes its hyperparameters


def _check_notebooks(sources: Sequence[Path]) -> None:
    """Fail before running anything when a notebook is missing or its parameters differ."""
    papermill = _papermill()

    for path in sources:
        if not path.is_file():
            raise ConfigError(f"stage notebook {path} is missing", file=str(path))
        declared = set(papermill.inspect_notebook(str(path)))
        expected = set(NOTEBOOK_PARAMETERS)
        if declared != expected:
            raise ConfigError(
                f"{path}: the cell tagged 'parameters' must declare exactly "
                f"{sorted(expected)}; missing {sorted(expected - declared)}, "
                f"unknown {sorted(declared - expected)}",
                file=str(path), rule="parameters",
            )


def _execute_stages(
    notebooks_dir: Path,
    stages: Sequence[tuple[str, str]],
    sources: Sequence[Path],
    notebook_params: dict[str, Any],
    run_dir: Path,
    manifest: dict[str, Any],
    manifest_path: Path,
    say: Callable[[str], None],
    km: Any,
) -> None:
    """Run each stage in the kernel ``km``, reset before each; the caller stops it."""
    papermill = _papermill()
    from papermill.exceptions import PapermillExecutionError

    from mlops.pipeline.notebooks import portable_notebook  # nbformat: after papermill

    for i, ((stage, name), source) in enumerate(zip(stages, sources, strict=True)):
        own = "" if source.parent == notebooks_dir.resolve() else \
            f" (the model's own, {_project_relative(source, notebooks_dir)})"
        say(f"[{i + 1}/{len(stages)}] {stage}: {name}{own}")
        output = run_dir / name
        t0 = time.perf_counter()
        record: dict[str, Any] = {"notebook": name, "status": "running"}
        manifest["stages"][stage] = record
        write_json_atomic(manifest, manifest_path)
        try:
            _run_in_kernel(km, _RESET.format(cwd=str(source.parent)))
            papermill.execute_notebook(
                str(source), str(output), parameters=notebook_params,
                kernel_name="python3", progress_bar=False, km=km,
                # Written once when the notebook ends or fails, not twice a cell: each
                # write serialises and validates the whole notebook, images included.
                request_save_on_cell_execute=False,
            )
        except PapermillExecutionError as exc:
            record.update(status="failed", seconds=round(time.perf_counter() - t0, 3),
                          cell=exc.cell_index, error=f"{exc.ename}: {exc.evalue}")
            raise _stage_error(stage, source, output, exc) from None
        except BaseException as exc:  # a dead kernel, a timeout, Ctrl-C, SIGTERM
            record.update(status="interrupted" if isinstance(exc, KeyboardInterrupt)
                          else "failed", seconds=round(time.perf_counter() - t0, 3),
                          error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if output.is_file():
                # Published with the version: the project's paths relative, none absolute.
                portable_notebook(output, _portable_prefixes(
                    notebooks_dir, run_dir, notebook_params["params_path"]))
                record["sha256"] = hashlib.sha256(output.read_bytes()).hexdigest()
        record.update(status="succeeded", seconds=round(time.perf_counter() - t0, 3))
        write_json_atomic(manifest, manifest_path)
        say(f"      done in {record['seconds']:.1f} s")


def _stage_error(stage: str, source: Path, output: Path, exc: Any) -> MLOpsError:
    """Our own error type for what a notebook raised, naming the notebook and the cell."""
    cls = error_class(exc.ename)
    prefix = f"stage {stage!r} failed in {source.name}, cell {exc.cell_index}"
    if cls is StageError:
        message = f"{prefix}: {exc.ename}: {exc.evalue} (executed notebook: {output})"
    else:
        message = f"{prefix}: {exc.evalue}"
    return cls(message, notebook=str(source), cell=exc.cell_index, stage=stage)


def _papermill() -> Any:
    """papermill, imported without the optional IRI grammar of jsonschema's format checks.

    nbformat's schema never uses those formats, and building the grammar (rfc3987_syntax)
    costs about 2 s of CPU at import, more than the rest of papermill.
    """
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # ImportError
        try:
            import papermill
        finally:
            del sys.modules["rfc3987_syntax"]  # a later import gets the real module
    import papermill

    return papermill


def _start_kernel(cwd: Path, threads: dict[str, str] | None = None) -> Any:
    """Start a python3 kernel in ``cwd`` that imports the heavy modules as it starts.

    ``threads`` (:func:`mlops.core.threads.kernel_thread_env`) goes into its environment.
    """
    from jupyter_client.manager import KernelManager

    # IPC sockets: no TCP ports to pick, and no "running over TCP without encryption" noise.
    km = KernelManager(kernel_name="python3", transport="ipc",
                       ip=str(Path(tempfile.mkdtemp(prefix="mlops-kernel-")) / "kernel"))
    env = {**os.environ, **(threads or {}), "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "MPLBACKEND": "Agg"}
    # find_spec of a dotted name imports its parent: look up top-level names only.
    modules = [m for m in _WARM_UP if importlib.util.find_spec(m.partition(".")[0])]
    lines = [f"import {', '.join(modules)}",
             # gc.freeze(): the imported modules' objects leave the collector's view, so
             # the full collections of a run (IPython's reset does one before each
             # notebook) no longer walk them (0.2-0.5 s each, measured).
             "import gc; gc.freeze()"]
    if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
        # The kernel is killed the moment this process dies, even by kill -9 and even in
        # a cell that holds the GIL, where ipykernel's own check (a thread that polls its
        # parent each second) cannot run. Only from the main thread: the signal comes when
        # the thread that started the kernel ends, and a pool thread may end any time.
        lines.append(_DIE_WITH_PARENT)
    km.start_kernel(cwd=str(cwd), env=env,
                    extra_arguments=[f"--IPKernelApp.exec_lines={lines!r}"])
    return km


def _run_in_kernel(km: Any, code: str, timeout: float = 300) -> None:
    """Execute ``code`` silently in the kernel; raise what it raised as our own error type.

    Only the shell channel is used: its reply is all we need, and skipping the client's
    ``wait_for_ready`` (which waits for 0.2 s of quiet on IOPub) saves that much a call.
    The first call waits while the kernel starts and imports.
    """
    import queue

    kc = km.blocking_client()
    kc.start_channels(iopub=False, stdin=False, hb=False, control=False)
    try:
        msg_id = kc.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = kc.get_shell_msg(timeout=1)
            except queue.Empty:
                if not km.is_alive():
                    raise StageError("the notebook kernel died before running a notebook "
                                     "(is ipykernel installed in this environment?)") from None
                if time.monotonic() > deadline:
                    raise StageError(f"the notebook kernel did not answer in {timeout:g} s"
                                     ) from None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                break
    finally:
        kc.stop_channels()
    content = reply["content"]
    if content["status"] != "ok":
        raise error_class(content.get("ename", ""))(content.get("evalue", str(content)))


def _stop_kernel(km: Any) -> None:
    """Shut the kernel down, also after a notebook was interrupted midway.

    An interrupted notebook leaves nbclient's tasks pending on this thread's event loop,
    which ``shutdown_kernel`` runs too: one would resume and wait for the cell's reply
    forever. They are cancelled first.
    """
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    if km.has_kernel:
        km.shutdown_kernel(now=True)
    shutil.rmtree(Path(km.ip).parent, ignore_errors=True)
