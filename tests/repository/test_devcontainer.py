"""The dev container (GitHub Codespaces, VS Code): its set-up is `make install` and nothing
else, and it forwards the ports that `make lab` and `make app` listen on."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())


def _default_port(variable: str) -> int:
    makefile = (ROOT / "Makefile").read_text()
    return int(re.search(rf"\$\(or \$\({variable}\),(\d+)\)", makefile).group(1))


def test_the_forwarded_ports_are_the_makefile_defaults():
    assert CONFIG["postCreateCommand"] == "make install"
    assert sorted(CONFIG["forwardPorts"]) == sorted(
        [_default_port("LAB_PORT"), _default_port("PORT")])
    assert set(CONFIG["portsAttributes"]) == {str(p) for p in CONFIG["forwardPorts"]}


@pytest.mark.slow
def test_the_post_create_command_installs_a_fresh_clone(tmp_path):
    """What a Codespace does on creation, on a clone of the committed work."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    done = subprocess.run(CONFIG["postCreateCommand"], shell=True, cwd=clone, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    version = subprocess.run([str(clone / ".venv/bin/mlops"), "--help"], capture_output=True,
                             text=True, check=True)
    assert "mlops run" in version.stdout
