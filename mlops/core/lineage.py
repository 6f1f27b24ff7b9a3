"""Where an artifact came from: git state, package versions, file hashes, atomic JSON files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["git_state", "package_versions", "file_sha256", "write_json_atomic",
           "OUTSIDE_PROJECT", "TRACKED_PACKAGES", "portable_strings", "project_path"]

# The packages whose versions can change a model or its numbers.
TRACKED_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "skops", "fairlearn", "matplotlib",
    "papermill", "huggingface_hub",
)


# What a recorded path outside the project starts with: its name only, never the folders
# above it (an absolute path names the machine, its user and its folders, and run evidence
# is published with the version).
OUTSIDE_PROJECT = "<outside the project>"


def project_path(path: str | Path, root: str | Path) -> str:
    """``path`` as run evidence records it: POSIX and relative to the project ``root``.

    A path outside the project is recorded as ``<outside the project>/<its name>``, which no
    reader mistakes for a file of the project (``mlops reproduce`` then falls back to the
    recorded params, as for a file git does not hold).
    """
    path, root = Path(path).resolve(), Path(root).resolve()
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return f"{OUTSIDE_PROJECT}/{path.name}"


def portable_strings(value: Any, prefixes: dict[str, str]) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with every absolute path prefix of
    ``prefixes`` replaced by its label, at path boundaries only, longest prefix first.

    ``{"/home/me/proj": "."}`` turns ``/home/me/proj/params.yaml`` into ``params.yaml`` and
    ``/home/me/proj`` into ``.``, and leaves ``/home/me/project2`` alone.
    """
    pairs = sorted(((str(k).rstrip("/"), v) for k, v in prefixes.items() if str(k).strip("/")),
                   key=lambda kv: -len(kv[0]))
    if not pairs:
        return value
    labels = dict(pairs)
    # A prefix counts only where a path component ends: followed by "/" or by a character
    # that cannot continue a file name.
    pattern = re.compile("(?P<prefix>" + "|".join(re.escape(k) for k, _ in pairs)
                         + r")(?:(?P<slash>/)|(?![\w.\-]))")

    def swap(match: re.Match[str]) -> str:
        label = labels[match.group("prefix")]
        if not match.group("slash"):
            return label
        return "" if label == "." else label + "/"  # "./params.yaml" reads as "params.yaml"

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return pattern.sub(swap, item)
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


def git_state(root: str | Path, inputs: Iterable[str | Path] = ()) -> dict[str, Any]:
    """Commit SHA, dirty flag and the dirty inputs of the git work tree at ``root``.

    ``inputs`` are the files and folders a run reads (params, data, schema, notebooks,
    package code, lock). Any of them that is modified, staged, untracked or outside the
    repository makes the run dirty, and is listed in ``dirty_files``: a run whose inputs
    are not all committed cannot be rebuilt from the git history (one outside the
    repository is named as :func:`project_path` names it). With no ``inputs`` every
    tracked file counts. Outside git, ``commit`` and ``dirty`` are ``None``.
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout

    commit = (git("rev-parse", "HEAD") or "").strip() or None
    if commit is None:
        return {"commit": None, "dirty": None, "dirty_files": []}
    top = Path((git("rev-parse", "--show-toplevel") or str(root)).strip()).resolve()
    inside: list[str] = []
    outside: list[str] = []
    for item in inputs:
        path = Path(item).resolve()
        try:
            inside.append(path.relative_to(top).as_posix() or ".")
        except ValueError:  # dirty, and named without the folders above the project
            outside.append(project_path(path, top))
    if inputs and not inside:
        changed: list[str] = []
    else:
        # -z: names verbatim, whatever they contain; untracked inputs count (all of them).
        status = git("status", "--porcelain=v1", "-z",
                     "--untracked-files=all" if inputs else "--untracked-files=no",
                     "--", *inside) or ""
        entries = iter(status.split("\0"))
        found = set()
        for entry in entries:
            if len(entry) > 3:
                found.add(entry[3:])
                if entry[0] in "RC":  # a rename or copy is followed by its source path
                    next(entries, None)
        changed = sorted(found)
    dirty_files = changed + sorted(outside)
    return {"commit": commit, "dirty": bool(dirty_files), "dirty_files": dirty_files}


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, ``None`` when it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json_atomic(data: Any, path: str | Path) -> None:
    """Write ``data`` as sorted, indented JSON: temp file, fsync, rename.

    Readers see the old file or the new one, never half of one, even if the writer is killed.
    """
    path = Path(path)
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
