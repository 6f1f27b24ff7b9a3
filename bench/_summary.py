"""The figures a benchmark reports, each with its goal, for ``bench/run_all.py`` to merge.

Every benchmark calls :func:`record` once per figure that has a goal (or is only reported).
The figures of one script go to one JSON file, ``bench/out/figures/<script>.json`` (or the
file named by ``BENCH_FIGURES``, which the runner sets), shaped like ``summary.json``::

    {name: {"value": float, "unit": str, "goal": str, "met": bool,
            "peer": str | None, "ratio": float | None}}

``goal`` is what the README's benchmark table promises, in words ("<= 1.15x", "< 3 s",
"reported"); ``met`` is whether this run kept it. ``peer`` names what the figure is compared
with and ``ratio`` is that comparison, in the direction the README quotes it: an overhead as
mlops / peer (router / raw ``predict_proba``), a speed-up as peer / mlops (Evidently / mlops).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
FIGURES = OUT / "figures"
ENV = "BENCH_FIGURES"


def figures_path() -> Path:
    """Where this process records: ``$BENCH_FIGURES`` or ``bench/out/figures/<script>.json``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    return FIGURES / f"{Path(sys.argv[0]).stem or 'bench'}.json"


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no NaN or infinity


def record(name: str, value: float, unit: str, goal: str, met: bool, peer: str | None = None,
           ratio: float | None = None) -> dict:
    """Add (or replace) figure ``name`` in this script's figures file; return the entry."""
    entry = {"value": _number(value), "unit": unit, "goal": goal, "met": bool(met),
             "peer": peer, "ratio": None if ratio is None else _number(round(float(ratio), 3))}
    path = figures_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    figures[name] = entry
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return entry


def read(path: str | Path) -> dict[str, dict]:
    """The figures recorded in ``path`` (empty when the script recorded none)."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
