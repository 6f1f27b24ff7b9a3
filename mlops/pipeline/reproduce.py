"""``mlops reproduce``: rebuild a registered version from the git history and compare bytes.

The recorded commit is checked out into a temporary git worktree; the data at that commit
must hash to the recorded data hash; the recorded params run the pipeline there, with the
code of that commit, against a scratch registry that holds only the version that was in
production when the version was registered (its champion). Every result file and the
model file are then compared byte for byte with the registered ones.

It refuses, saying why, when the version was registered from a dirty tree, when the
environment's package versions differ from the recorded ones (and prints how to build the
matching environment from the lock at that commit), or when the data no longer matches.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlops.core.exceptions import ConfigError, StageError
from mlops.core.lineage import file_sha256, package_versions
from mlops.stages.conversion import ONNX_FILE
from mlops.stages.reference import REFERENCE_FILE

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops.registry import ModelVersion, Registry

__all__ = ["FileVerdict", "Reproduction", "champion_at_registration", "reproduce"]

# Stored files that are evidence of a run, not its results: they hold run ids and times.
# The ONNX twin is derived from the model file at registration (which --no-register skips);
# the model file it comes from is compared. So is reference.json, from the training rows
# (mlops.stages.reference): the data they come from is checked by its hash.
_NOT_RESULTS = frozenset({"manifest.json", ONNX_FILE, REFERENCE_FILE})


@dataclass(frozen=True)
class FileVerdict:
    """One stored file compared with its rebuilt copy."""

    name: str
    recorded: str
    rebuilt: str | None  # None: the rebuilt run did not produce it

    @property
    def identical(self) -> bool:
        """True when the rebuilt bytes hash to the recorded hash."""
        return self.recorded == self.rebuilt


@dataclass(frozen=True)
class Reproduction:
    """The outcome of :func:`reproduce`."""

    label: str
    commit: str
    files: tuple[FileVerdict, ...]
    seconds: float
    run_seconds: float = 0.0  # of ``seconds``, the rebuilt pipeline run itself

    @property
    def identical(self) -> bool:
        """True when every compared file is byte for byte the registered one."""
        return all(f.identical for f in self.files)


def champion_at_registration(registry: Registry, mv: ModelVersion) -> int | None:
    """The production version just before ``mv`` first appeared in the ledger, if any."""
    production = None
    for entry in registry.history(mv.name):
        if entry.to_version == mv.version and entry.alias in ("production", "candidate"):
            return production
        if entry.alias == "production" and entry.to_version is not None:
            production = entry.to_version
    return production


def reproduce(registry: Registry, name: str, version: int | str, *, project: str | Path,
              keep: str | Path | None = None,
              progress: Callable[[str], None] | None = None) -> Reproduction:
    """Rebuild ``name`` ``version`` from its recorded commit, data hash and params.

    ``project`` is the git work tree the version was built from (any clone of it);
    ``keep`` keeps the rebuilt run there instead of a temporary folder.
    """
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    mv = registry.resolve(name, version)
    lineage = mv.metadata.get("lineage") or {}
    commit = lineage.get("git_commit")
    if not commit:
        raise ConfigError(f"{mv.label}: no git commit recorded; it cannot be rebuilt",
                          rule="reproduce")
    dirty = list(lineage.get("git_dirty_files") or (["(not listed)"]
                                                     if lineage.get("git_dirty") else []))
    if (lineage.get("data_snapshot") or {}).get("stored"):  # the registry holds the data
        dirty = [f for f in dirty if f != _data_file(lineage)]
    if dirty:
        raise ConfigError(
            f"{mv.label} was registered from uncommitted inputs ({', '.join(dirty[:5])}); "
            "the git history does not hold what it was trained on", rule="reproduce")
    _check_environment(mv.label, lineage, commit)
    started = time.perf_counter()
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mlops-reproduce-"))
    work.mkdir(parents=True, exist_ok=True)
    tree = work / "tree"
    try:
        _git(project, "worktree", "add", "--detach", "--force", str(tree), commit)
        say(f"{mv.label}: commit {commit[:12]} checked out in {tree}")
        scratch = _champion_registry(registry, mv, work / "registry", say)
        # Where models go is not what a model is: the rebuild reads its champion from the
        # scratch registry and registers nothing.
        redirect = ["registry.backend=local", f"registry.path={scratch}"]
        relative = lineage.get("params_file")
        if relative and not Path(relative).is_absolute() and (tree / relative).is_file():
            params_file = tree / relative  # the committed file, as it was, plus overrides
            overrides = [*lineage.get("overrides", []), *redirect]
        else:  # recorded before params files were: the effective params themselves
            params_file = tree / "params.reproduce.yaml"
            params_file.write_text(yaml.safe_dump(lineage["params"], sort_keys=False),
                                   encoding="utf-8")
            overrides = redirect
        data = (params_file.parent / lineage["params"]["data"]["path"]).resolve()
        snapshot = lineage.get("data_snapshot") or {}
        if snapshot.get("stored"):
            # The data as it was, from the registry (hash-checked), whatever git holds now.
            data.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(registry.blob_path(snapshot["where"]), data)
            say(f"{mv.label}: data restored from the registry ({snapshot['where'][:25]}…)")
        if not data.is_file() or file_sha256(data) != lineage.get("data_sha256"):
            recorded_hash = str(lineage.get("data_sha256"))[:12]
            raise ConfigError(
                f"{mv.label}: the data file {lineage['params']['data']['path']!r} at commit "
                f"{commit[:12]} does not hash to the recorded {recorded_hash}…; the data it "
                "was trained on is not in the git history", file=str(data), rule="data_sha256")
        say(f"{mv.label}: running the pipeline of {commit[:12]} with the recorded params")
        run_started = time.perf_counter()
        # The code of that commit, not this one: its package first on the path.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
        env["PYTHONPATH"] = str(tree)
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from mlops.cli import main; "
             "sys.exit(main(sys.argv[1:]))", "run", "--params", str(params_file),
             *(arg for o in overrides for arg in ("--set", o)),
             "--no-register", "--force", "--runs-dir", str(work / "runs"),
             "--run-id", str(lineage.get("run_id") or "reproduce")],
            cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
        run_seconds = time.perf_counter() - run_started
        if done.returncode != 0:
            raise StageError(f"{mv.label}: the rebuilt run failed (exit {done.returncode}): "
                             f"{done.stderr.strip().splitlines()[-1:] or ''}", rule="reproduce")
        (run_dir,) = [p for p in (work / "runs").iterdir() if p.is_dir()]
        verdicts = tuple(_compare(registry, mv, run_dir))
        return Reproduction(mv.label, commit, verdicts, time.perf_counter() - started,
                            run_seconds)
    finally:
        if tree.exists():
            _git(project, "worktree", "remove", "--force", str(tree), check=False)
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _data_file(lineage: dict[str, Any]) -> str | None:
    """The data file's path relative to the project, as git status names it."""
    params_file = lineage.get("params_file")
    if not params_file or Path(params_file).is_absolute():
        return None
    return posixpath.normpath(posixpath.join(posixpath.dirname(params_file),
                                             lineage["params"]["data"]["path"]))


def _check_environment(label: str, lineage: dict[str, Any], commit: str) -> None:
    recorded = lineage.get("packages") or {}
    current = package_versions(tuple(recorded))
    differ = {k: (v, current.get(k)) for k, v in recorded.items() if current.get(k) != v}
    python = ".".join(sys.version.split()[0].split(".")[:2])
    wanted = ".".join(str(lineage.get("python", python)).split(".")[:2])
    if differ or python != wanted:
        shown = ", ".join(f"{k} {old} (here {new})" for k, (old, new) in differ.items())
        raise ConfigError(
            f"{label} was built with other package versions: {shown or f'Python {wanted}'}; "
            "a rebuild here would not be comparable. Build the matching environment from "
            f"the lock at that commit:\n  git show {commit}:requirements.lock > /tmp/lock.txt"
            f" && python{wanted} -m venv .venv-{commit[:8]} && .venv-{commit[:8]}/bin/pip "
            "install -r /tmp/lock.txt", rule="packages")


def _champion_registry(registry: Registry, mv: ModelVersion, path: Path,
                       say: Callable[[str], None]) -> Path:
    """A scratch local registry whose production is the champion ``mv`` was compared with."""
    from mlops.registry.local import LocalRegistry

    scratch = LocalRegistry(path)
    champion = champion_at_registration(registry, mv)
    if champion is not None:
        source = registry.resolve(mv.name, champion)
        model = registry.file_path(mv.name, champion, source.model_file)
        copy, _ = scratch.publish(mv.name, model, metadata=dict(source.metadata),
                                  reason=f"champion of {mv.label} at its registration")
        # The report quotes when production was registered: the copy keeps that time.
        record = path / mv.name / "versions" / str(copy.version) / "version.json"
        doc = json.loads(record.read_text(encoding="utf-8"))
        doc["created"] = source.created
        record.chmod(0o644)
        record.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        say(f"{mv.label}: compared with v{champion}, production when it was registered")
    return path


def _compare(registry: Registry, mv: ModelVersion, run_dir: Path) -> list[FileVerdict]:
    recorded = {mv.model_file: mv.sha256, **mv.files}
    out = []
    for name in sorted(recorded):
        if name in _NOT_RESULTS or name.endswith(".ipynb"):
            continue
        local = run_dir / ("model.skops" if name == mv.model_file else name)
        rebuilt = file_sha256(local) if local.is_file() else None
        if name == "README.md" and rebuilt is not None:
            # The registered card gained its lineage section at registration; the rest
            # of it is the evaluation's output, compared byte for byte.
            from mlops.stages.model_card import without_lineage

            card = registry.file_path(mv.name, mv.version, name).read_text(encoding="utf-8")
            ours = local.read_text(encoding="utf-8")
            if without_lineage(card) == ours:
                rebuilt = recorded[name]
        out.append(FileVerdict(name, recorded[name], rebuilt))
    return out


def _git(cwd: str | Path, *args: str, check: bool = True) -> None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise ConfigError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()}",
                          rule="git")
