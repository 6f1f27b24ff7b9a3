"""Where an artifact came from: git state, package versions, file hashes, atomic JSON files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["git_state", "package_versions", "file_sha256", "write_json_atomic",
           "TRACKED_PACKAGES"]

# The packages whose versions can change a model or its numbers.
TRACKED_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "skops", "fairlearn", "matplotlib",
    "papermill", "huggingface_hub",
)


def git_state(root: str | Path) -> dict[str, Any]:
    """Commit SHA and dirty flag of the git work tree at ``root`` (``None`` outside git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


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
