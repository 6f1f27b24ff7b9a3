"""The README's "Your first ten minutes", run as a newcomer pastes it: every ```bash block of
that section, in order, in one shell, on a fresh clone of the project.

Step 2's *Run All Cells* is run with nbclient on the clone's training notebook, and step 5's
browser column through Streamlit's AppTest on the clone's app.

How the two commands that never return are run: `make lab` and `make app` are started in
the background (on free ports, the README's line plus `LAB_PORT=` or `PORT=`), and the test
waits until each answers on its port: JupyterLab's `/api`, Streamlit's `/_stcore/health`.
JupyterLab is then stopped, as a reader does with Ctrl-C; the app keeps running while the
section's command-line steps run beside it, as in a second terminal, and is stopped at the
end. Each is stopped by its own process group, started with `setsid`.

The clone reuses this checkout's `.venv` through a symlink instead of installing again (the
venv's stamp must match the clone's lock, else the test is skipped), and gets the working
tree's uncommitted changes copied over it, so the test checks what you are about to commit.
The session's own state folders (tests/conftest.py) are not passed on: the commands use the
clone's `registry/` and `runs/`, as a newcomer's would.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from mlops.app.auth import token_weakness
from mlops.core.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Your first ten minutes"
# The README lines that never return: how to tell that each one works instead.
SERVERS = {"make lab": ("LAB_PORT", "/api"), "make app": ("PORT", "/_stcore/health")}
STOP_AFTER_CHECK = {"make lab"}
PREAMBLE = r"""
set -euo pipefail
answers() {  # poll a URL until it answers 200, for up to 120 s
  for _ in $(seq 1 240); do
    if .venv/bin/python -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' \
         "$1" 2>/dev/null; then
      echo "answers: $1"; return 0
    fi
    sleep 0.5
  done
  echo "no answer from $1" >&2; return 1
}
"""


def section(readme: str) -> str:
    """The text of the README's first-ten-minutes section."""
    start = readme.index(HEADING + "\n")
    end = readme.find("\n## ", start + len(HEADING))
    return readme[start:end if end != -1 else None]


def commands(text: str) -> list[str]:
    """Every line of every ```bash block of ``text``, in order."""
    blocks = re.findall(r"(?ms)^```bash\n(.*?)^```", text)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def bare(line: str) -> str:
    """``line`` without its trailing shell comment (a ``#`` that starts a word)."""
    return re.sub(r"(?:^|\s+)#(?:\s.*)?$", "", line).strip()


def script(lines: list[str], workdir: Path) -> str:
    """The README's lines as one bash script, servers started in the background."""
    out = [PREAMBLE]
    for line in lines:
        command = bare(line)
        if command in SERVERS:
            variable, path = SERVERS[command]
            port = free_port()
            log = workdir / f"{command.split()[1]}.log"
            pids = workdir / "pids"
            out.append(f"setsid {command} {variable}={port} > {log} 2>&1 & echo $! >> {pids}")
            out.append(f"answers http://127.0.0.1:{port}{path}")
            if command in STOP_AFTER_CHECK:
                out.append('kill -- "-$(tail -1 ' + str(pids) + ')"')
        else:
            out.append(line)
    out.append(f'printf %s "${{MLOPS_ADMIN_TOKEN:-}}" > {workdir / "token"}')
    return "\n".join(out) + "\n"


def _venv_key(folder: Path) -> str:
    data = (folder / "requirements.lock").read_bytes() + (folder / "pyproject.toml").read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _clone(dest: Path) -> None:
    """A clone of this checkout, with its uncommitted changes, sharing its venv."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    changed = subprocess.run(
        ["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, changed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
        elif not source.exists():
            (dest / name).unlink(missing_ok=True)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    with open(dest / ".git" / "info" / "exclude", "a", encoding="utf-8") as f:
        f.write(".venv\n")


def test_the_section_has_the_steps_the_issue_asks_for() -> None:
    text = section((ROOT / "README.md").read_text(encoding="utf-8"))
    lines = commands(text)
    shown = [bare(line) for line in lines]
    assert shown[0] == "make pipeline"
    assert "make lab" in shown and "make app" in shown
    assert any(line.startswith(".venv/bin/mlops run --set model.estimator=") for line in shown)
    assert any("MLOPS_ADMIN_TOKEN=" in line and line.startswith("export ") for line in shown)
    assert shown.index("make app") > next(i for i, line in enumerate(shown)
                                          if "MLOPS_ADMIN_TOKEN=" in line)
    for line in lines:
        shlex.split(line, comments=True)  # each one parses as a shell line
    # Every command shown in the table beside the app's steps is one the test runs.
    for command in re.findall(r"`(\.venv/bin/mlops [^`]+)`", text):
        assert command in shown, f"{command!r} is in the table but in no bash block"


@pytest.mark.slow
def test_the_first_ten_minutes_work_when_pasted(tmp_path: Path, monkeypatch) -> None:
    if not (ROOT / ".venv" / f".installed-{_venv_key(ROOT)}").exists():
        pytest.skip("the venv does not match requirements.lock: run make install first")
    clone = tmp_path / "clone"
    _clone(clone)
    readme = (clone / "README.md").read_text(encoding="utf-8")
    text = section(readme)
    work = tmp_path / "work"
    work.mkdir()
    (work / "steps.sh").write_text(script(commands(text), work))
    state = {"MLOPS_REGISTRY_PATH", "MLOPS_LOG_PATH", "MLOPS_RUNS_DIR", "MLOPS_PARAMS",
             "MLOPS_ADMIN_TOKEN", "MLOPS_CHAMPION_REGISTRY", "VIRTUAL_ENV", "MAKEFLAGS",
             "MAKELEVEL", "MFLAGS"}
    env = {k: v for k, v in os.environ.items() if k not in state}
    try:
        done = subprocess.run(["bash", str(work / "steps.sh")], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=900)
    finally:
        pids = work / "pids"
        for pid in (pids.read_text().split() if pids.exists() else []):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGTERM)
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])

    # What the README says each step does is what it did.
    assert "credit-risk: v1 registered as production" in out
    assert "credit-risk: v2 registered as candidate" in out
    produced = re.search(r"ROC-AUC (\d\.\d+) \(production: (\d\.\d+)\)", out)
    assert produced, out[-3000:]
    prose = " ".join(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).split())  # links as text
    assert f"ROC-AUC {produced[1]} against production's {produced[2]}" in prose
    assert "### Against production" in out  # the comparison, read on the command line
    assert "credit-risk: production v1 -> v2" in out
    assert "credit-risk: production v2 -> v1" in out
    assert re.search(r"rollback\tproduction: v2 -> v1", out)  # the ledger shows both moves
    assert out.count("answers: http://127.0.0.1:") == 2
    # The token the README makes unlocks the operator screen: the app accepts it.
    token = (work / "token").read_text()
    assert token and token_weakness(token) is None

    # Step 5 in the app, as the table's left column says, on what the commands left:
    # production v1, candidate v2.
    for var in state:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLOPS_ADMIN_TOKEN", token)
    run_all_cells(clone / "notebooks" / "02_train.ipynb")
    the_app_steps(clone / "app.py", token)


def run_all_cells(path: Path) -> None:
    """Step 2's *Run All Cells*: the training notebook, top to bottom, with its defaults,
    on the project's kernel (results in runs/notebook/)."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    assert (path.parent.parent / "runs" / "notebook" / "model.skops").is_file()


def the_app_steps(app: Path, token: str) -> None:
    """Compare v1 and v2, promote v2, roll back, read the ledger: in the app (AppTest)."""
    from streamlit.testing.v1 import AppTest

    from mlops.app.config import load_app_params
    from mlops.cli.registry import registry_for

    registry = registry_for(load_app_params(app.parent))
    at = AppTest.from_file(str(app), default_timeout=60)
    at.run()

    def screen(name: str) -> None:
        at.radio(key="screen").set_value(name)
        at.run()
        assert not at.exception, at.exception

    def button(label: str):
        return next(b for b in at.button if b.label == label)

    def confirm(label: str, reason: str) -> None:
        button(label).click()
        at.run()
        next(t for t in at.text_input if t.key and t.key.startswith("op_reason_")).set_value(
            reason)
        at.run()
        button("Confirm").click()
        at.run()
        assert not at.exception, at.exception

    screen("Compare")
    assert (at.selectbox(key="cmp_a").value, at.selectbox(key="cmp_b").value) == (1, 2)
    at.text_input(key="admin_token").set_value(token)
    screen("Operator")
    next(s for s in at.selectbox if s.label == "Version").set_value(2)
    at.selectbox(key="op_alias").set_value("production")
    at.run()
    confirm("Promote v2 to production", "closer to demographic parity")
    assert registry.aliases("credit-risk")["production"] == 2
    confirm("Roll back production (now v2)", "we keep the higher ROC-AUC")
    assert registry.aliases("credit-risk")["production"] == 1
    assert [e.action for e in registry.history("credit-risk")][-2:] == ["promote", "rollback"]
