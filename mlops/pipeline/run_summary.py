"""What ``mlops run`` tells a person when a model's run ends: one block per model.

What was registered and under which alias, the gates passed out of the total, the headline
metric against production, where the report is, and the command to run next. Read from the
run folder's manifest and ``evaluation.json``, so it says what the run recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["run_summary"]

# What to do next, by the alias the version got.
NEXT = {
    "production": "make app (try it), or make pipeline after your next edit",
    "candidate": "mlops deploy start (release it: canary, blue-green or shadow), or compare "
                 "it with production in make app",
    None: "mlops registry list (see the versions)",
}


def run_summary(manifest: dict[str, Any], run_dir: str | Path) -> str:
    """The summary block of one finished run (succeeded or reused)."""
    run_dir = Path(run_dir)
    registry = manifest.get("registry") or {}
    name = registry.get("model") or manifest.get("params", {}).get("model", {}).get("name")
    if manifest.get("status") == "reused":
        return (f"{name}: inputs unchanged since v{registry.get('version')}, which is reused "
                "(no training; mlops run --force trains anyway)")
    evaluation = _read(run_dir / "evaluation.json")
    gates = evaluation.get("gates", [])
    passed = sum(bool(g.get("passed")) for g in gates)
    version, alias = registry.get("version"), registry.get("alias")
    head = (f"{name}: v{version} registered as {alias or 'a version with no alias'}"
            if version is not None else f"{name}: not registered (--no-register)")
    lines = [f"{head} (gates {passed}/{len(gates)} passed)"]
    metric = (manifest.get("params", {}).get("evaluation", {}).get("baseline", {})
              .get("metric"))
    value = evaluation.get("metrics", {}).get(metric)
    if value is not None:
        label = evaluation.get("metric_labels", {}).get(metric, metric)
        champion = (evaluation.get("champion") or {}).get("metrics", {}).get(metric)
        versus = "no production to compare with" if champion is None \
            else f"production: {champion:.3f}"
        lines.append(f"  {label} {value:.3f} ({versus})")
    if (run_dir / "report.md").is_file():
        lines.append(f"  report: {_shown(run_dir / 'report.md')}")
    lines.append(f"  next: {NEXT.get(alias, NEXT[None])}")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (shorter to paste)."""
    path = path.resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
