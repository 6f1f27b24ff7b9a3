"""Registration of a pipeline run: the champion read from the registry before it, the run
registered (and compiled to ONNX) after it."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops.core.config import Params
from mlops.core.exceptions import ModelMismatchError
from mlops.core.feature_code import FEATURE_FILE
from mlops.registry import ModelVersion, Registry, open_champion_registry, open_registry
from mlops.stages.calibration import CALIBRATION_FILE
from mlops.stages.conversion import ONNX_FILE, Conversion, convert
from mlops.stages.reference import REFERENCE_FILE, summarize_reference, write_reference

__all__ = ["load_champion", "champion_mismatch", "compile_model", "find_by_fingerprint",
           "register_run", "RUN_FILES"]

# Files of a run folder stored with each version (when the run produced them).
# FEATURE_FILE: the model's own feature code (mlops.core.feature_code), when it has some.
# CALIBRATION_FILE: the calibrator of the estimate before labels (classifiers).
RUN_FILES = ("README.md", "evaluation.json", "validation.json", "training.json", "report.md",
             FEATURE_FILE, CALIBRATION_FILE)


def load_champion(params: Params) -> tuple[Any | None, ModelVersion | None]:
    """The production model of ``params.model.name`` and its version, or ``(None, None)``.

    Raises :class:`ModelMismatchError` when that model is another model than this run's
    (:func:`champion_mismatch`): comparing with it would mean nothing, and registering this
    run under the same name would put two different models behind one name.
    """
    from mlops.core.schema import load_schema

    registry = open_champion_registry(params)  # read-only; MLOPS_CHAMPION_REGISTRY or params
    production = registry.aliases(params.model.name).get("production")
    if production is None:
        return None, None
    model = registry.load_model(params.model.name, production)
    version = registry.get(params.model.name, production)
    schema = load_schema(params.resolve(params.data.schema))
    problems = champion_mismatch(model, version.metadata, target=params.data.target,
                                 labels=schema.labels, columns=schema.serving_columns,
                                 task=params.data.task)
    if problems:
        raise ModelMismatchError(
            f"the production model {version.label} registered under model.name "
            f"{params.model.name!r} is another model: {'; '.join(problems)}. It cannot be "
            "compared with this run, and this run must not become a version of it. Set "
            "model.name in your params file to a name of its own (mlops init names it after "
            "the data file), or retire the old model first",
            model=params.model.name, version=version.version, rule="champion_mismatch",
        )
    return model, version


def champion_mismatch(model: Any, metadata: dict[str, Any], *, target: str,
                      labels: Sequence[Any], columns: Sequence[str],
                      task: str = "classification") -> list[str]:
    """Why the registered ``model`` is not a version of this run's model; empty if it is.

    It must predict the same ``target`` (from its registered lineage, when recorded) for
    the same ``task`` (classification or regression) with the same classes (``labels``,
    the schema's), and every column it reads must be one of this run's serving
    ``columns``; new columns in this run are fine.
    """
    problems = []
    params = metadata.get("lineage", {}).get("params", {})
    data = (params.get("data") or {}) if isinstance(params, dict) else {}
    theirs = data.get("target")
    if theirs is not None and theirs != target:
        problems.append(f"it predicts {theirs!r}, this run predicts {target!r}")
    # Versions registered before data.task existed are classifiers.
    their_task = data.get("task", "classification") if data else None
    if their_task is not None and their_task != task:
        problems.append(f"it is a {their_task} model, this run is {task}")
    classes = getattr(model, "classes_", None)
    if classes is not None and labels:
        old, new = sorted(map(str, classes)), sorted(map(str, labels))
        if old != new:
            problems.append(f"its classes are {old}, this run's are {new}")
    inputs = getattr(model, "feature_names_in_", None)
    if inputs is not None:
        missing = [str(c) for c in inputs if str(c) not in set(columns)]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more"
                                              if len(missing) > 5 else "")
            problems.append(f"it reads columns this data does not have: {shown}")
    return problems


def find_by_fingerprint(params: Params, fingerprint: str) -> ModelVersion | None:
    """The newest registered version trained from the same inputs, if any."""
    registry = open_registry(params.registry, params.root)
    for version in reversed(registry.versions(params.model.name)):
        if version.metadata.get("lineage", {}).get("fingerprint") == fingerprint:
            return version
    return None


def register_run(params: Params, run_dir: str | Path, manifest: dict[str, Any], *,
                 candidate_only: bool = False,
                 extra_files: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Register the model of a successful run with its evidence and lineage.

    The first validated version becomes ``production`` (``candidate`` when
    ``registry.first_alias`` says so: ``mlops init`` found something a person must review);
    later ones become ``candidate``, to be released by a deployment strategy
    (``Registry.publish``). ``candidate_only`` (a sweep) never makes it production;
    ``extra_files`` are stored with it as evidence. Returns what was done.
    """
    reason = f"registered by run {manifest['run_id']}"
    if params.registry.first_alias == "candidate" and not candidate_only:
        candidate_only = True
        reason += ("; registry.first_alias is candidate: the warnings of mlops init in the "
                   "params file need a review before production")
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
    # What serving needs of the training rows, without one of them (the public Space reads
    # it from the registry instead of shipping the data).
    reference = _reference_summary(params, run_dir)
    if reference is not None:
        files[REFERENCE_FILE] = reference
    files.update(extra_files or {})
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
            "params_file": manifest.get("params_file"),
            "overrides": manifest.get("overrides", []),
            "packages": manifest["packages"],
            "python": manifest["python"],
            "seed": manifest["seed"],
            "notebooks": {s["notebook"]: s.get("sha256") for s in manifest["stages"].values()},
            "fingerprint": manifest.get("fingerprint"),
        },
    }
    compiled = compile_model(params, run_dir)
    metadata["compiled"] = compiled.record
    if compiled.onnx is not None:
        (run_dir / ONNX_FILE).write_bytes(compiled.onnx)
        files[ONNX_FILE] = run_dir / ONNX_FILE
    registry = open_registry(params.registry, params.root)
    metadata["lineage"]["data_snapshot"] = _snapshot(registry, params)
    with tempfile.TemporaryDirectory(prefix="mlops-card-") as scratch:
        if "README.md" in files:
            files["README.md"] = _card_with_lineage(files, run_dir, metadata, Path(scratch))
        version, move = registry.publish(params.model.name, run_dir / "model.skops",
                                         metadata=metadata, files=files,
                                         reason=reason, candidate_only=candidate_only)
    return {"model": version.name, "version": version.version,
            "alias": move.alias if move else None, "backend": registry.backend}


def _card_with_lineage(files: dict[str, Path], run_dir: Path, metadata: dict[str, Any],
                       scratch: Path) -> Path:
    """The model card as registered: the run's card plus where its lineage lives.

    Links to the evidence are relative, so they work in the local version folder and in
    the Hub's file view alike; the card itself is not listed (its hash would include it).
    """
    from mlops.core.lineage import file_sha256
    from mlops.registry.records import ModelVersion, lineage_rows
    from mlops.stages.model_card import with_lineage

    model = run_dir / "model.skops"
    draft = ModelVersion(name="", version=0, created="", sha256=file_sha256(model),
                         gates_passed=bool(metadata.get("gates_passed")),
                         files={n: file_sha256(p) for n, p in files.items() if n != "README.md"},
                         metadata=metadata)
    card = with_lineage(files["README.md"].read_text(encoding="utf-8"),
                        lineage_rows(draft, file_base=""))
    target = scratch / "README.md"
    target.write_text(card, encoding="utf-8")
    return target

def _reference_summary(params: Params, run_dir: Path) -> Path | None:
    """Write the run's :data:`~mlops.stages.reference.REFERENCE_FILE` from its training rows.

    None, with a warning, when they cannot be summarised (the stages checked the data, so
    only a run folder made by hand gets here): the version is registered without it, and
    an app serving it needs the data next to it for typical values and drift.
    """
    from mlops.core.data import load_split
    from mlops.core.exceptions import MLOpsError
    from mlops.core.schema import load_schema

    try:
        schema = load_schema(params.resolve(params.data.schema))
        summary = summarize_reference(load_split(params).train, schema)
    except (OSError, MLOpsError) as exc:
        import logging

        logging.getLogger(__name__).warning("no %s for this version: %s", REFERENCE_FILE, exc)
        return None
    return write_reference(summary, run_dir / REFERENCE_FILE)


def compile_model(params: Params, run_dir: str | Path) -> Conversion:
    """The ONNX twin of the run's model, checked on the held-out rows, or why there is none.

    Never fails a run: a model that cannot be compiled is served by scikit-learn, and the
    version's record says why.
    """
    from mlops.core.data import load_split
    from mlops.core.feature_code import beside
    from mlops.core.modelio import load_model

    try:
        path = Path(run_dir) / "model.skops"
        model = load_model(path, what="the run's model", feature_code=beside(path))
        holdout = load_split(params).test
        return convert(model, holdout)
    except Exception as exc:  # a compiled path is an optimisation, never a reason to fail
        return Conversion(None, {"engine": "scikit-learn", "file": None,
                                 "reason": f"not compiled: {type(exc).__name__}: {exc}"})


def _snapshot(registry: Registry, params: Params) -> dict[str, Any]:
    """Keep the training data in the registry (once per content hash), or say why not."""
    if not params.registry.snapshot_data:
        return {"stored": False,
                "reason": params.registry.no_snapshot_reason or "registry.snapshot_data is off"}
    where = registry.store_blob(params.resolve(params.data.path))
    return {"stored": True, "where": where, "backend": registry.backend,
            **registry.blob_location(where)}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
