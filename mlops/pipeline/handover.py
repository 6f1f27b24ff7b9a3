"""The hand-over from a pipeline run to the registry: the champion in, the new version out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops.core.config import Params
from mlops.registry import ModelVersion, open_champion_registry, open_registry

__all__ = ["load_champion", "find_by_fingerprint", "register_run",
           "RUN_FILES"]

# Files of a run folder stored with each version (when the run produced them).
RUN_FILES = ("README.md", "evaluation.json", "validation.json", "training.json", "report.md")


def load_champion(params: Params) -> tuple[Any | None, ModelVersion | None]:
    """The production model of ``params.model.name`` and its version, or ``(None, None)``."""
    registry = open_champion_registry(params)  # read-only; MLOPS_CHAMPION_REGISTRY or params
    production = registry.aliases(params.model.name).get("production")
    if production is None:
        return None, None
    return (registry.load_model(params.model.name, production),
            registry.get(params.model.name, production))


def find_by_fingerprint(params: Params, fingerprint: str) -> ModelVersion | None:
    """The newest registered version trained from the same inputs, if any."""
    registry = open_registry(params.registry, params.root)
    for version in reversed(registry.versions(params.model.name)):
        if version.metadata.get("lineage", {}).get("fingerprint") == fingerprint:
            return version
    return None


def register_run(params: Params, run_dir: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Register the model of a successful run with its evidence and lineage.

    The first validated version becomes ``production``; later ones become ``candidate``, to
    be released by a deployment strategy (``Registry.publish``). Returns what was done.
    """
    run_dir = Path(run_dir)
    evaluation = _read_json(run_dir / "evaluation.json")
    validation = _read_json(run_dir / "validation.json")
    files = {name: run_dir / name for name in RUN_FILES if (run_dir / name).is_file()}
    files.update({f"plots/{p.name}": p for p in sorted((run_dir / "plots").glob("*.png"))})
    # The evidence travels with the version: the executed notebooks and the manifest as it
    # stands at registration, each stored with its hash (runs/ itself is not kept).
    for stage in manifest["stages"].values():
        if (run_dir / stage["notebook"]).is_file():
            files[stage["notebook"]] = run_dir / stage["notebook"]
    files["manifest.json"] = run_dir / "manifest.json"
    metadata = {
        "metrics": evaluation.get("metrics", {}),
        "gates": evaluation.get("gates", []),
        "gates_passed": bool(evaluation.get("passed")),
        "validation": {k: validation.get(k) for k in ("passed", "summary")},
        "lineage": {
            "run_id": manifest["run_id"],
            "data_sha256": manifest["data"]["sha256"],
            "git_commit": manifest["git"]["commit"],
            "git_dirty": manifest["git"]["dirty"],
            "git_dirty_files": manifest["git"].get("dirty_files", []),
            "params": manifest["params"],
            "packages": manifest["packages"],
            "python": manifest["python"],
            "seed": manifest["seed"],
            "notebooks": {s["notebook"]: s.get("sha256") for s in manifest["stages"].values()},
            "fingerprint": manifest.get("fingerprint"),
        },
    }
    registry = open_registry(params.registry, params.root)
    version, move = registry.publish(params.model.name, run_dir / "model.skops",
                                     metadata=metadata, files=files,
                                     reason=f"registered by run {manifest['run_id']}")
    return {"model": version.name, "version": version.version,
            "alias": move.alias if move else None, "backend": registry.backend}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
