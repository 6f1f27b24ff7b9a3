"""Saving and safely loading model files with skops: no pickle, no arbitrary code.

A file is loaded only when its SHA-256 matches the recorded one (when given) and every type
it holds is either trusted by skops by default or in :data:`TRUSTED_TYPES`, the reviewed
list committed in ``mlops/core/trusted_types.txt``.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio

from mlops.core.exceptions import IntegrityError

__all__ = ["TRUSTED_TYPES", "TRUSTED_TYPES_FILE", "read_trusted_types", "save_model",
           "load_model", "sha256_bytes"]

# Types beyond skops' defaults that our estimators need: reviewed by hand, committed in this
# file, never taken from a model file itself.
TRUSTED_TYPES_FILE = Path(__file__).with_name("trusted_types.txt")


def read_trusted_types(path: str | Path = TRUSTED_TYPES_FILE) -> frozenset[str]:
    """The type names listed in ``path``, one a line; ``#`` starts a comment."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return frozenset(name for line in lines if (name := line.split("#", 1)[0].strip()))


TRUSTED_TYPES: frozenset[str] = read_trusted_types()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def save_model(model: Any, path: str | Path) -> str:
    """Write ``model`` to ``path`` with skops and return the file's SHA-256."""
    data = _normalise_zip(sio.dumps(model))
    Path(path).write_bytes(data)
    return sha256_bytes(data)


def _normalise_zip(data: bytes) -> bytes:
    """Make a skops file depend only on the model, so equal models hash equal.

    skops names arrays and memo entries after ``id()`` of the objects (memory addresses) and
    stamps zip entries with the current time. Renumbering both by first appearance and fixing
    the timestamps gives byte-identical files for equal models.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        entries = {name: src.read(name) for name in src.namelist()}
    schema = entries.pop("schema.json").decode("utf-8")
    ids: dict[str, str] = {}
    files: dict[str, str] = {}

    def new_id(match: re.Match[str]) -> str:
        return f'"__id__": {ids.setdefault(match.group(1), str(len(ids)))}'

    def new_file(match: re.Match[str]) -> str:
        return f'"{files.setdefault(match.group(1), f"{len(files)}.npy")}"'

    schema = re.sub(r'"__id__": (\d+)', new_id, schema)
    schema = re.sub(r'"(\d+\.npy)"', new_file, schema)
    if set(files) != set(entries):  # an unexpected layout: keep skops' own names
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        renamed = {"schema.json": schema.encode("utf-8")}
        renamed.update({files[name]: content for name, content in entries.items()})
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, renamed[name])
    return out.getvalue()


def load_model(path: str | Path, *, sha256: str | None = None, what: str = "") -> Any:
    """Load a skops file after checking its hash and its types.

    ``what`` names the file in error messages (for example ``credit-risk v3``).
    """
    label = what or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{label}: cannot read model file: {exc}", file=str(path)) from None
    if sha256 is not None and sha256_bytes(data) != sha256:
        raise IntegrityError(
            f"{label}: model file hash {sha256_bytes(data)[:12]}… does not match the recorded "
            f"{sha256[:12]}…; the file was changed after registration, refusing to load",
            file=str(path), rule="sha256",
        )
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # a pickle or any non-skops file lands here
        raise IntegrityError(
            f"{label}: not a valid skops model file ({type(exc).__name__}: {exc}); refusing to "
            "load", file=str(path), rule="format",
        ) from None
    unexpected = sorted(untrusted - TRUSTED_TYPES)
    if unexpected:
        raise IntegrityError(
            f"{label}: model file holds types that are not trusted: {', '.join(unexpected)}. "
            f"If they are genuine, review them and add them to {TRUSTED_TYPES_FILE}",
            file=str(path), rule="trusted_types",
        )
    return sio.loads(data, trusted=sorted(untrusted))
