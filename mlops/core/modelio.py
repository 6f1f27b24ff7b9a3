"""Saving and safely loading model files with skops: no pickle, no arbitrary code.

A file is loaded only when its SHA-256 matches the recorded one (when given), it does not
inflate past the size caps (a zip bomb), and every type it holds is either trusted by skops
by default or in :data:`TRUSTED_TYPES`, the reviewed list committed in
``mlops/core/trusted_types.txt``. Whatever goes wrong while loading is an IntegrityError
naming the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from mlops.core.exceptions import ConfigError, IntegrityError
from mlops.core.feature_code import FEATURE_FILE, register_file, source_of, used_module

__all__ = ["MAX_INFLATION", "MAX_MEMBERS", "MAX_UNCOMPRESSED_BYTES", "TRUSTED_TYPES",
           "TRUSTED_TYPES_FILE", "read_trusted_types", "save_model", "load_model",
           "max_model_bytes", "sha256_bytes"]

# A model file is a zip: caps on what it may inflate to, checked before loading.
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024  # in all; MLOPS_MAX_MODEL_MB overrides it
MAX_INFLATION = 50  # uncompressed / compressed, for files that inflate past the floor
_INFLATION_FLOOR = 8 * 1024 * 1024  # small files are never refused for their ratio
MAX_MEMBERS = 10_000
_CHUNK = 1024 * 1024

# Types beyond skops' defaults that our estimators need: reviewed by hand, committed in this
# file, never taken from a model file itself.
TRUSTED_TYPES_FILE = Path(__file__).with_name("trusted_types.txt")


def read_trusted_types(path: str | Path = TRUSTED_TYPES_FILE) -> frozenset[str]:
    """The type names listed in ``path``, one a line; ``#`` starts a comment."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return frozenset(name for line in lines if (name := line.split("#", 1)[0].strip()))


TRUSTED_TYPES: frozenset[str] = read_trusted_types()
_TRUSTED_LIST = sorted(TRUSTED_TYPES)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def save_model(model: Any, path: str | Path) -> str:
    """Write ``model`` to ``path`` with skops and return the file's SHA-256.

    A pipeline that runs feature code gets that code written beside it as ``features.py``
    (see :mod:`mlops.core.feature_code`).
    """
    data = _normalise_zip(sio.dumps(model))
    Path(path).write_bytes(data)
    if (module := used_module(model)) is not None:
        Path(path).with_name(FEATURE_FILE).write_text(source_of(module), encoding="utf-8")
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


def max_model_bytes() -> int:
    """The cap on a model file's total uncompressed size: ``MLOPS_MAX_MODEL_MB`` or 512 MiB."""
    text = os.environ.get("MLOPS_MAX_MODEL_MB", "").strip()
    if not text:
        return MAX_UNCOMPRESSED_BYTES
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not 0 < megabytes < 1e7:
        raise ConfigError(f"MLOPS_MAX_MODEL_MB={text!r} is not a size in MiB (e.g. 1024)",
                          key="MLOPS_MAX_MODEL_MB")
    return int(megabytes * 1024 * 1024)


def load_model(path: str | Path, *, sha256: str | None = None, what: str = "",
               max_bytes: int | None = None, feature_code: str | Path | None = None) -> Any:
    """Load a skops file after checking its hash, its size and its types.

    ``feature_code``: the model's ``features.py``, registered so that the model can run it
    (:func:`mlops.core.feature_code.beside` finds it in a run folder); pass only a file
    checked like the model, never one merely found next to it. ``what``
    names the file in error messages (for example ``my-model v3``). The zip's
    members may inflate to at most ``max_bytes`` in total (default :func:`max_model_bytes`)
    and, past 8 MiB, to at most 50 times the file's size; both are checked from the zip's
    directory before anything is inflated, then while each member is read. Every failure,
    whatever the loader raised, is an IntegrityError naming the file.
    """
    label = what or str(path)
    try:
        data, digest = _read_hashed(Path(path))
    except OSError as exc:
        raise IntegrityError(f"{label}: cannot read model file: {exc}", file=str(path)) from None
    if sha256 is not None and digest != sha256:
        raise IntegrityError(
            f"{label}: model file hash {digest[:12]}… does not match the recorded "
            f"{sha256[:12]}…; the file was changed after registration, refusing to load",
            file=str(path), rule="sha256",
        )
    _check_archive(data, label, str(path), max_model_bytes() if max_bytes is None else max_bytes)
    if feature_code is not None:
        register_file(feature_code)
    try:
        # skops audits every type before it builds anything, so loading with the reviewed
        # list is the check: no separate pass to list the file's types first.
        return sio.loads(data, trusted=_TRUSTED_LIST)
    except UntrustedTypesFoundException:
        unexpected = sorted(set(sio.get_untrusted_types(data=data)) - TRUSTED_TYPES)
        raise IntegrityError(
            f"{label}: model file holds types that are not trusted: {', '.join(unexpected)}. "
            f"If they are genuine, review them and add them to {TRUSTED_TYPES_FILE}",
            file=str(path), rule="trusted_types",
        ) from None
    except Exception as exc:  # trusted names used in ways the loader does not expect
        raise IntegrityError(
            f"{label}: the model file cannot be loaded ({_short(exc)}); it was not written by "
            "mlops.core.modelio.save_model. Refusing to load",
            file=str(path), rule="format",
        ) from None


def _read_hashed(path: Path) -> tuple[bytes, str]:
    """The file's bytes and their SHA-256, in one pass over the file."""
    digest = hashlib.sha256()
    parts = []
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            parts.append(chunk)
    return b"".join(parts), digest.hexdigest()


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[:limit] + "…"
    return f"{type(exc).__name__}: {text}"


def _check_archive(data: bytes, label: str, path: str, max_bytes: int) -> None:
    """Refuse a zip that would inflate past the caps (a zip bomb), from its directory.

    Nothing is inflated here: the declared sizes are summed from the zip's directory. A
    member that lies about its size cannot inflate past it either: for the stored and
    deflated members skops writes (any other compression is refused), Python's zipfile
    inflates in bounded steps and stops at the declared size, and the CRC check then fails,
    which the loader reports as a file it cannot load.
    """
    limit = min(max_bytes, max(MAX_INFLATION * len(data), _INFLATION_FLOOR))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception as exc:  # not a zip, a truncated directory, ...
        raise IntegrityError(
            f"{label}: not a valid skops model file ({_short(exc)}); refusing to load",
            file=path, rule="format",
        ) from None
    declared = sum(info.file_size for info in members)
    if declared > limit:
        raise IntegrityError(
            f"{label}: model file would inflate to {declared:,} bytes, "
            f"{declared / max(len(data), 1):.0f} times its {len(data):,}; the limit is "
            f"{limit:,} ({MAX_INFLATION} times the file, at least "
            f"{_INFLATION_FLOOR // 2**20} MiB, at most {max_bytes // 2**20} MiB: "
            "MLOPS_MAX_MODEL_MB). Refusing to load a possible zip bomb",
            file=path, rule="size",
        )
    odd = [i.filename for i in members
           if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)]
    if odd:  # skops writes stored or deflated members; others would inflate unbounded
        raise IntegrityError(
            f"{label}: member {odd[0]!r} of the model file uses a compression skops never "
            "writes; refusing to load", file=path, rule="format",
        )
    if len(members) > MAX_MEMBERS:
        raise IntegrityError(
            f"{label}: model file has {len(members):,} members, more than the "
            f"{MAX_MEMBERS:,} a skops model needs; refusing to load",
            file=path, rule="size",
        )
