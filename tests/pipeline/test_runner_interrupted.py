"""A run stopped by SIGTERM or Ctrl-C shuts its kernel down and says ``interrupted``; a run
killed outright is marked ``interrupted`` by the next run.

Each test runs a real ``run_pipeline`` in a subprocess, on one notebook that records its
kernel's PID and then waits, and stops that subprocess as an operator or a CI runner would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mlops.core.config import load_params
from mlops.pipeline.runner import RUN_LOCK, mark_stale_runs, run_pipeline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"
DRIVER = """
import sys
from pathlib import Path
from mlops.core.config import load_params
from mlops.pipeline.runner import run_pipeline
params_file, notebooks, runs = map(Path, sys.argv[1:])
run_pipeline(load_params(params_file), params_file=params_file, runs_dir=runs,
             register=False, notebooks_dir=notebooks, stages=[("wait", "wait.ipynb")])
"""


def _notebooks(tmp_path: Path, *, busy: bool) -> Path:
    """A stage notebook that writes its kernel's PID to ``kernel.pid``, then waits: asleep,
    or ``busy`` in one long C call that holds the GIL (as a heavy fit can)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    parameters = new_code_cell("params_path = ''\noverrides = []\nrun_dir = ''\nrun_id = ''")
    parameters.metadata["tags"] = ["parameters"]
    wait = new_code_cell(f"import os, pathlib, time\n"
                         f"pathlib.Path({str(tmp_path / 'kernel.pid')!r})"
                         ".write_text(str(os.getpid()))\n"
                         + ("sum(range(10**14))" if busy else "time.sleep(300)"))
    nbformat.write(new_notebook(cells=[parameters, wait], metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}),
        folder / "wait.ipynb")
    return folder


def _start_waiting_run(tmp_path: Path, *, busy: bool = False
                       ) -> tuple[subprocess.Popen, int]:
    """A subprocess whose run is inside its notebook, and that notebook's kernel PID."""
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(PARAMS),
                             str(_notebooks(tmp_path, busy=busy)), str(tmp_path / "runs")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pid_file = tmp_path / "kernel.pid"
    deadline = time.monotonic() + 180
    while not (pid_file.is_file() and pid_file.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never reached its notebook: {proc.communicate()[1]}")
        time.sleep(0.2)
    return proc, int(pid_file.read_text())


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie no longer does)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _manifest(tmp_path: Path) -> tuple[Path, dict]:
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir, json.loads((run_dir / "manifest.json").read_text())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_shuts_the_kernel_down_and_marks_the_run_interrupted(tmp_path, signum):
    proc, kernel = _start_waiting_run(tmp_path)
    assert _alive(kernel)
    assert mark_stale_runs(tmp_path / "runs", by="another") == []  # a live run is no stale one
    assert _manifest(tmp_path)[1]["status"] == "running"
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop on the signal")
    assert proc.returncode != 0 and "RunInterrupted" in err
    assert not _alive(kernel), "the notebook kernel outlived its run"
    run_dir, manifest = _manifest(tmp_path)
    assert manifest["status"] == "interrupted"
    assert manifest["stages"]["wait"]["status"] == "interrupted"
    assert signum.name in manifest["error"]["message"]
    assert not (run_dir / RUN_LOCK).exists()


def test_a_run_killed_outright_takes_its_busy_kernel_along_and_the_next_run_marks_it(
        tmp_path):
    proc, kernel = _start_waiting_run(tmp_path, busy=True)
    proc.kill()  # kill -9: nothing of the run can clean up
    proc.communicate()
    deadline = time.monotonic() + 60  # a wait for an event, never a measured time
    while _alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(kernel):
        os.kill(kernel, signal.SIGKILL)  # ours: never leave it burning a core
        pytest.fail("the kernel outlived a run killed outright")
    killed_dir, manifest = _manifest(tmp_path)
    assert manifest["status"] == "running"  # what it says until someone looks

    quick = tmp_path / "quick"
    quick.mkdir()
    parameters = new_code_cell("params_path = ''\noverrides = []\nrun_dir = ''\nrun_id = ''")
    parameters.metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=[parameters, new_code_cell("1 + 1")], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
        quick / "quick.ipynb")
    said: list[str] = []
    result = run_pipeline(load_params(PARAMS), params_file=PARAMS, runs_dir=tmp_path / "runs",
                          register=False, notebooks_dir=quick, stages=[("quick", "quick.ipynb")],
                          progress=said.append)
    assert result.status == "succeeded"
    manifest = json.loads((killed_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["stages"]["wait"]["status"] == "interrupted"
    assert result.run_id in manifest["error"]["message"]
    assert any(killed_dir.name in line and "interrupted" in line for line in said)
    assert not (killed_dir / RUN_LOCK).exists() and not (result.run_dir / RUN_LOCK).exists()

