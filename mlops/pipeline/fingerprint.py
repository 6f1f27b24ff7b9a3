"""A content hash of everything that decides what training produces.

``inputs_fingerprint`` lets CD skip training on an unchanged commit and reuse the version
registered with the same fingerprint. It hashes, in a fixed order:

- the data file (and the schema file next to it, which decides what validation accepts);
- the params that shape the model: ``to_dict(params)`` without ``registry``,
  ``deployment``, ``monitoring`` and ``space``, which say where a model goes, not what it is;
- the package code that the stage notebooks run (:data:`MODEL_CODE`: ``mlops/core``,
  ``mlops/stages`` and the notebooks' surface ``mlops/api.py``), and ``requirements.lock``
  (library versions). The app, the CLI, serving and the rest do not shape a model, so a
  changed button label never makes CD train again;
- the stage notebooks' cell types and sources, so outputs and metadata do not count.

Text is hashed with ``\\n`` line endings and paths as sorted POSIX relative paths, so the
same inputs give the same fingerprint on any machine and any checkout path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.core.config import Params

from mlops.pipeline.stages import STAGES

__all__ = ["MODEL_CODE", "NOT_MODEL_SECTIONS", "inputs_fingerprint"]

NOT_MODEL_SECTIONS = ("registry", "deployment", "monitoring", "space")

# Package code the stage notebooks run: files and folders relative to the project root.
MODEL_CODE = ("mlops/__init__.py", "mlops/api.py", "mlops/core", "mlops/stages")


def _text(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _notebook_source(path: Path) -> bytes:
    """Cell types and sources only: what runs, not what it printed last time."""
    nb = json.loads(path.read_bytes())
    cells = [[c.get("cell_type"), "".join(c.get("source", []))
              if isinstance(c.get("source"), list) else c.get("source", "")]
             for c in nb.get("cells", [])]
    return _text(json.dumps(cells, ensure_ascii=False, sort_keys=True).encode())


def _part(digest: hashlib._Hash, name: str, data: bytes) -> None:
    # Length-prefixed so that moving bytes between two parts changes the hash.
    digest.update(f"{name}\0{len(data)}\0".encode())
    digest.update(data)


def inputs_fingerprint(params: Params, root: str | Path = ".", *,
                       notebooks: Sequence[str | Path] | None = None) -> str:
    """``sha256:<hex>`` over data, model-shaping params, code and stage notebooks.

    ``root`` is the project folder holding ``mlops/``, ``notebooks/`` and
    ``requirements.lock``; ``notebooks`` are the stage notebooks the model runs (paths, or
    names in ``notebooks/``), by default the shared ones.
    """
    from mlops.core.config import to_dict

    root = Path(root).resolve()
    if notebooks is None:
        notebooks = tuple(name for _, name in STAGES)
    digest = hashlib.sha256()
    for label, rel in (("data", params.data.path), ("schema", params.data.schema)):
        path = params.resolve(rel)
        _part(digest, label, path.read_bytes() if path.is_file() else b"<missing>")
    shaping = {k: v for k, v in to_dict(params).items() if k not in NOT_MODEL_SECTIONS}
    _part(digest, "params", json.dumps(shaping, sort_keys=True, default=str).encode())
    for path in sorted(_model_code(root), key=lambda p: p.relative_to(root).as_posix()):
        _part(digest, path.relative_to(root).as_posix(), _text(path.read_bytes()))
    lock = root / "requirements.lock"
    _part(digest, "requirements.lock", _text(lock.read_bytes()) if lock.is_file() else b"")
    # A model's own copy (models/<folder>/notebooks/) is named by its own path.
    paths = {_label(root, p): p for p in (root / "notebooks" / n for n in notebooks)}
    for label in sorted(paths):
        path = paths[label]
        _part(digest, label, _notebook_source(path) if path.is_file() else b"<missing>")
    return "sha256:" + digest.hexdigest()


def _label(root: Path, path: Path) -> str:
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def _model_code(root: Path) -> list[Path]:
    files = []
    for rel in MODEL_CODE:
        path = root / rel
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
    return files
