"""`make loop` (`mlops loop`): the whole CI/CD loop, offline, in one command."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops.cli.loop import edit_param

ROOT = Path(__file__).resolve().parents[2]


def test_edit_param_keeps_the_file_and_its_comments() -> None:
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    edited = edit_param(text, "model.hyperparameters.logistic_regression.C", 0.3)
    changed = [(a, b) for a, b in zip(text.splitlines(), edited.splitlines(), strict=True)
               if a != b]
    assert changed == [("    logistic_regression: {C: 1.0, max_iter: 1000}",
                        "    logistic_regression: {C: 0.3, max_iter: 1000}")]
    edited = edit_param(text, "seed", 7)
    assert yaml.safe_load(edited)["seed"] == 7 and "# The single source of truth" in edited
    edited = edit_param(text, "deployment.strategy", "blue_green")
    assert re.search(r"(?m)^  strategy: blue_green +# direct, blue_green", edited)
    assert yaml.safe_load(edited)["deployment"]["strategy"] == "blue_green"
    assert edit_param(text, "model.nothing.here", 1) is None


def _closed(url: str) -> bool:
    host, port = re.match(r"http://([\d.]+):(\d+)", url).groups()
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) != 0


@pytest.mark.slow
def test_make_loop_rehearses_ci_cd_and_monitoring_offline(tmp_path: Path) -> None:
    work = tmp_path / "loop"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "HF_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "mlops.cli", "loop", "--project", str(ROOT),
                           "--workdir", str(work)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    # Each step, in order, with its evidence.
    steps = ["Setup", "CD on main: the release before this story",
             "A pull request changes a parameter", "CI on the pull request", "Merge into main",
             "CD on main after the merge", "CD starts the release", "CD builds the Space",
             "Live traffic, round 1", "Monitor, round 1", "The monitoring notebook",
             "The registry's history"]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "registered credit-risk v1 on the Hub as production" in out
    assert "model.hyperparameters.logistic_regression.C 1.0 -> 0.3" in out
    # The pull request's report, against production read from the Hub without a token.
    assert "### Against production" in out
    assert "Production is **`credit-risk` v1** in the registry `hub:loop/" in out
    assert "| `model.hyperparameters.logistic_regression.C` | `1.0` | `0.3` |" in out
    assert "The training rows are identical: no drift." in out
    assert re.search(r"\| accuracy \| [\d.]+ \| [\d.]+ – [\d.]+ \| [\d.]+ \| [+-][\d.]+ \| "
                     r"[+-][\d.]+ – [+-][\d.]+ \|", out)
    assert "registered credit-risk v2 on the Hub as candidate" in out
    assert "canary of v2 at 25.0 %" in out
    assert "GET /_stcore/health: 200 'ok'" in out
    assert re.search(r"served v1: \d+, v2: \d+", out)
    assert "canary: promote" in out
    assert "unchanged, the notebook showed the decision that acted" in out
    history = out[out.index("The registry's history"):]
    assert re.search(r"promote\s+production: v1 -> v2\s+canary complete", history)
    assert "production is now v2" in out
    # Everything it started is gone: the Hub server, the Space, the work folder.
    hub = re.search(r"Hub\s+(http://127\.0\.0\.1:\d+)", out).group(1)
    assert _closed(hub)
    pid = int(re.search(r"stopped \(pid (\d+)", out).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not work.exists()
    assert "huggingface.co" not in out + done.stderr
