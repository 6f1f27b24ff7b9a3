"""``publish`` under contention: every publisher's alias move is recorded, none gives up."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops.registry.local import LocalRegistry

WORKER = Path(__file__).with_name("registry_worker.py")
PASSED = [{"gate": "min_roc_auc", "value": 0.81, "threshold": 0.7, "passed": True}]


def _register(reg, model_dir: Path, name: str = "credit-risk"):
    return reg.register(name, model_dir / "model.skops",
                        metadata={"gates": PASSED, "gates_passed": True},
                        files={"README.md": model_dir / "README.md"})


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_eight_concurrent_publishers_each_get_their_alias_move(tmp_path, registry_model_dir):
    root = tmp_path / "registry"
    flag = tmp_path / "go"
    procs = [_spawn("publish", root, registry_model_dir / "model.skops", 10, flag)
             for _ in range(8)]
    time.sleep(0.5)
    flag.touch()
    reported: dict[int, tuple[str, str, str]] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        for line in out.splitlines():
            _, version, alias, before, after = line.split()
            reported[int(version)] = (alias, before, after)
    assert sorted(reported) == list(range(1, 81))
    reg = LocalRegistry(root)
    moves = {e.to_version: e for e in reg.history("m")}
    assert sorted(moves) == list(range(1, 81)), "every published version's move is recorded"
    for version, (alias, before, after) in reported.items():
        entry = moves[version]
        assert (entry.alias, str(entry.from_version), str(entry.to_version)) == (
            alias, before, after)
    assert [e.alias for e in reg.history("m")].count("production") == 1
    last = reg.history("m")[-1]
    assert reg.aliases("m")["candidate"] == last.to_version  # the last move wins


def test_publish_retries_a_lost_race_with_backoff(tmp_path, registry_model_dir, monkeypatch):
    """Someone else moves the alias between every read and write, a few times over."""
    from mlops.core.exceptions import ConflictError

    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    original = reg._append
    losses = []

    def lose_five_times(name, make):
        if len(losses) < 5:
            losses.append(1)
            raise ConflictError("someone moved it first")
        return original(name, make)

    monkeypatch.setattr(reg, "_append", lose_five_times)
    mv, move = reg.publish("credit-risk", registry_model_dir / "model.skops",
                           metadata={"gates": PASSED, "gates_passed": True})
    assert len(losses) == 5
    assert (move.alias, move.to_version) == ("candidate", mv.version)


