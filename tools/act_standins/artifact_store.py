"""Offline stand-in for actions/upload-artifact and actions/download-artifact (v4+ layout).

An artifact is a folder ``$MLOPS_ACT_ARTIFACTS/<name>/``; the act rehearsal gives each
workflow run a store of its own. Upload: the ``path`` lines (files, folders, globs; ``!``
lines exclude), stored relative to their least common ancestor, as upload-artifact does.
Download: one artifact by ``name`` into ``path``, or every artifact matching ``pattern``
into ``path/<name>/`` (``merge-multiple`` puts them all in ``path``).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
import sys
from pathlib import Path


def _expand(pattern: str) -> set[Path]:
    hits = set()
    for hit in glob.glob(pattern, recursive=True):
        p = Path(hit)
        hits |= {f for f in p.rglob("*") if f.is_file()} if p.is_dir() else {p}
    return hits


def _root(pattern: str) -> Path:
    """The part of a pattern before its first wildcard (a folder is its own root)."""
    parts = []
    for part in Path(pattern).parts:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    p = Path(*parts) if parts else Path(".")
    return p if p.is_dir() else p.parent


def upload(store: Path) -> int:
    name = os.environ["NAME"] or "artifact"
    lines = [ln.strip() for ln in os.environ["PATHS"].splitlines() if ln.strip()]
    include = [ln for ln in lines if not ln.startswith("!")]
    files: set[Path] = set()
    for pattern in include:
        files |= _expand(pattern)
    for pattern in (ln[1:] for ln in lines if ln.startswith("!")):
        files -= _expand(pattern)
    if not files:
        how = os.environ.get("IF_NO_FILES") or "warn"
        message = f"No files were found with the provided path: {' '.join(lines)}."
        if how == "error":
            print(f"::error::{message}")
            return 1
        if how == "warn":
            print(f"::warning::{message} No artifacts will be uploaded.")
        return 0
    root = Path(os.path.commonpath([str(_root(p).resolve()) for p in include]))
    target = store / name
    if target.exists():
        print(f"::error::an artifact named {name!r} exists in this run")
        return 1
    for f in sorted(files):
        dest = target / f.resolve().relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    print(f"Artifact {name} has been uploaded: {len(files)} file(s) (offline stand-in)")
    return 0


def download(store: Path) -> int:
    out = Path(os.environ.get("OUT") or ".")
    name, pattern = os.environ.get("NAME"), os.environ.get("PATTERN")
    merge = os.environ.get("MERGE") == "true"
    if name:
        if not (store / name).is_dir():
            print(f"::error::Unable to download artifact(s): Artifact not found for name: {name}")
            return 1
        shutil.copytree(store / name, out, dirs_exist_ok=True)
        print(f"Downloaded artifact {name} to {out}")
        return 0
    found = sorted(d.name for d in store.iterdir() if d.is_dir()) if store.is_dir() else []
    found = [n for n in found if fnmatch.fnmatchcase(n, pattern or "*")]
    print(f"Found {len(found)} artifact(s)")
    for n in found:
        shutil.copytree(store / n, out if merge else out / n, dirs_exist_ok=True)
    return 0


if __name__ == "__main__":
    store = Path(os.environ["MLOPS_ACT_ARTIFACTS"])
    store.mkdir(parents=True, exist_ok=True)
    sys.exit(upload(store) if sys.argv[1] == "upload" else download(store))
