"""The pull request against production: what changed besides the metrics.

The evaluate stage scores production on this run's held-out rows (``evaluate(...,
champion=...)``); :func:`production_comparison` adds what the report needs around those
numbers: where production came from, which parameters changed (production's recorded
``lineage.params`` against this run's), and how this run's training data drifted from
production's. Without a production version it reads the base branch's committed report
instead (``mlops run --base-report FILE``, copied into the run folder as
:data:`BASE_REPORT_FILE`), or says that this is the first release.

Everything here reads; nothing writes to a registry.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops.core.config import Params, to_dict
from mlops.core.params_diff import params_diff
from mlops.registry.champion import (
    CHAMPION_REGISTRY_ENV,
    champion_source,
    open_champion_registry,
)
from mlops.stages.gates import flat_metrics
from mlops.stages.pr_report import read_report_summary

__all__ = ["BASE_REPORT_FILE", "production_comparison"]

BASE_REPORT_FILE = "base-report.md"
def production_comparison(params: Params, champion_version: Any | None, *,
                          result: Mapping[str, Any] | None = None,
                          run_dir: str | Path | None = None,
                          base_report: str | Path | None = None) -> dict[str, Any]:
    """What the report says about production besides the metric deltas.

    ``champion_version`` is what :func:`~mlops.pipeline.registration.load_champion` returned;
    ``result`` this run's evaluation (for deltas against a base report). The base report is
    ``base_report`` or ``run_dir/base-report.md`` when it exists.
    """
    source, configured = champion_source(params)
    candidate = to_dict(params)
    out: dict[str, Any] = {"source": source, "configured": configured,
                           "variable": CHAMPION_REGISTRY_ENV, "production": None,
                           "params": None, "data": None, "base_report": None}
    if champion_version is not None:
        lineage = champion_version.metadata.get("lineage") or {}
        out["production"] = {
            "model": champion_version.name, "version": champion_version.version,
            "created": champion_version.created, "git_commit": lineage.get("git_commit"),
            "run_id": lineage.get("run_id"),
            # Its own evaluation at registration (its held-out rows, its code).
            "recorded_metrics": dict(champion_version.metadata.get("metrics") or {}),
        }
        recorded = lineage.get("params")
        out["params"] = params_diff(recorded, candidate) if isinstance(recorded, dict) else None
        out["data"] = data_comparison(params, lineage)
        return out
    if configured:  # say why there is no production: none yet, or unreadable
        registry = open_champion_registry(params)
        registry.aliases(params.model.name)
        out["error"] = registry.error
    if base_report is None and run_dir is not None and (Path(run_dir) / BASE_REPORT_FILE).is_file():
        base_report = Path(run_dir) / BASE_REPORT_FILE
    if base_report is not None:
        out["base_report"] = base_comparison(Path(base_report), candidate, result)
    return out


def base_comparison(path: Path, candidate: Mapping[str, Any],
                    result: Mapping[str, Any] | None) -> dict[str, Any]:
    """This run against the summary embedded in a committed report."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return {"path": str(path), "found": False, "reason": f"cannot be read: {exc}"}
    summary = read_report_summary(text)
    if summary is None:
        return {"path": str(path), "found": False,
                "reason": "it has no embedded summary (made by an older version?)"}
    out: dict[str, Any] = {"path": str(path), "found": True,
                           "run_id": summary.get("run_id"),
                           "git_commit": summary.get("git_commit"),
                           "passed": summary.get("passed"), "metrics": [], "params": None}
    if isinstance(summary.get("params"), dict):
        out["params"] = params_diff(summary["params"], candidate)
    base = summary.get("metrics") or {}
    ours = flat_metrics(result) if result is not None else {}
    for metric in sorted(set(base) | set(ours), key=lambda m: ("[" in m, m)):
        a, b = ours.get(metric), base.get(metric)
        out["metrics"].append({"metric": metric, "base": b, "candidate": a,
                               "difference": None if a is None or b is None else a - b})
    return out


# ------------------------------------------------------------------ data drift
def data_comparison(params: Params, lineage: Mapping[str, Any]) -> dict[str, Any]:
    """This run's training rows against production's, when production's data can be had.

    Production's data is the file it recorded (``lineage.data_sha256``): the same file as
    this run's, or that file as committed at production's ``git_commit`` (when this
    checkout has that commit). Each side is split with its own recorded seed and test size.
    """
    path = params.resolve(params.data.path)
    ours = _sha256(path.read_bytes()) if path.is_file() else None
    theirs = lineage.get("data_sha256")
    out: dict[str, Any] = {"candidate_sha256": ours, "production_sha256": theirs,
                           "status": "unavailable", "source": None, "drift": None}
    if not theirs:
        out["reason"] = "production recorded no data hash"
        return out
    prod_params = lineage.get("params") or {}
    raw: bytes | None = None
    if ours == theirs:
        raw, out["source"] = path.read_bytes(), "the same file as this run"
    else:
        raw = _git_file(params, lineage.get("git_commit"),
                        (prod_params.get("data") or {}).get("path"))
        if raw is not None and _sha256(raw) == theirs:
            out["source"] = f"git {str(lineage.get('git_commit'))[:12]}"
        else:
            raw = None
    if raw is None:
        out["reason"] = ("production's training data (sha256 recorded, file not kept in the "
                         "registry) is neither this run's file nor in this checkout's git "
                         "history")
        return out
    out["status"] = "compared"
    out["drift"] = _train_drift(params, raw, prod_params)
    return out


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _git_file(params: Params, commit: Any, rel: Any) -> bytes | None:
    """The bytes of ``rel`` (relative to the params folder) at ``commit``, or None."""
    if not commit or not rel:
        return None
    root = Path(params.root)
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, timeout=10,
                             capture_output=True, text=True, check=True).stdout.strip()
        target = (root / str(rel)).resolve().relative_to(Path(top).resolve()).as_posix()
        done = subprocess.run(["git", "show", f"{commit}:{target}"], cwd=root, timeout=30,
                              capture_output=True, check=True)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return done.stdout


def _train_drift(params: Params, raw: bytes, prod_params: Mapping[str, Any]) -> dict[str, Any]:
    import pandas as pd

    from mlops.core.data import PARQUET_MAGIC, load_split, split
    from mlops.core.schema import load_schema
    from mlops.stages.drift import DriftThresholds, detect_drift

    data = prod_params.get("data") or {}
    target = params.data.target
    theirs = (pd.read_parquet(io.BytesIO(raw)) if raw.startswith(PARQUET_MAGIC)
              else pd.read_csv(io.BytesIO(raw)))
    theirs.columns = [str(c).strip() for c in theirs.columns]
    prod_train, _ = split(theirs, data.get("target", target),
                          test_size=float(data.get("test_size", params.data.test_size)),
                          seed=int(prod_params.get("seed", params.seed)),
                          stratify=data.get("task", "classification") != "regression")
    ours = load_split(params).train
    schema = load_schema(params.resolve(params.data.schema))
    shared = [c for c in schema.serving_columns if c in prod_train and c in ours]
    drift = detect_drift(
        prod_train[shared], ours[shared],
        numeric=[c for c in shared if schema.by_name[c].numeric],
        categorical=[c for c in shared if schema.by_name[c].categorical],
        thresholds=DriftThresholds.from_config(params.validation))
    return {"rows": {"production": len(prod_train), "candidate": len(ours)},
            "identical": bool(prod_train.reset_index(drop=True).equals(
                ours.reset_index(drop=True))),
            **drift.to_dict()}
