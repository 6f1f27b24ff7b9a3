"""A registry writer run as a separate process by the registry tests.

Usage: ``python tests/registry/registry_worker.py MODE ROOT MODEL_FILE [ARGS...]``

- ``register N``: register N versions of ``m``, printing each version number.
- ``loop``: register versions and move aliases forever, printing each finished step
  (the SIGKILL test kills it at random points).
- ``promote VERSION EXPECTED START_FLAG``: wait for START_FLAG to exist, then promote
  ``VERSION`` to ``candidate`` expecting ``EXPECTED``; print ``won`` or ``conflict``.
- ``publish N START_FLAG``: wait for START_FLAG, then publish N versions of ``m`` (what
  ``mlops run`` does), printing ``published VERSION ALIAS FROM TO`` for each.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mlops.core.exceptions import ConflictError  # noqa: E402
from mlops.registry.local import LocalRegistry  # noqa: E402

GATES = [{"gate": "min_roc_auc", "value": 0.8, "threshold": 0.7, "passed": True}]


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(mode: str, root: str, model_file: str, *args: str) -> None:
    reg = LocalRegistry(root)
    card = Path(model_file).with_name("README.md")
    meta = {"gates": GATES, "gates_passed": True, "lineage": {"seed": 1}}
    if mode == "register":
        for _ in range(int(args[0])):
            mv = reg.register("m", model_file, metadata=meta, files={"README.md": card})
            _say(f"registered {mv.version}")
    elif mode == "loop":
        _say("ready")
        while True:
            mv = reg.register("m", model_file, metadata=meta, files={"README.md": card})
            _say(f"registered {mv.version}")
            current = reg.aliases("m").get("production")
            entry = reg.promote("m", mv.version, "production", expected=current, reason="loop")
            _say(f"promoted {entry.seq}")
            value, token = reg.get_state("m", "deployment")
            entry = reg.set_state("m", "deployment", {"version": mv.version},
                                  expected_token=token, reason="loop")
            _say(f"state {entry.seq}")
    elif mode == "promote":
        version, expected, flag = int(args[0]), int(args[1]), Path(args[2])
        while not flag.exists():
            time.sleep(0.001)
        try:
            reg.promote("m", version, "candidate", expected=expected, reason=f"race {version}")
            _say("won")
        except ConflictError:
            _say("conflict")
    elif mode == "publish":
        count, flag = int(args[0]), Path(args[1])
        while not flag.exists():
            time.sleep(0.001)
        for _ in range(count):
            mv, move = reg.publish("m", model_file, metadata=meta, files={"README.md": card})
            _say(f"published {mv.version} {move.alias} {move.from_version} {move.to_version}")
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
