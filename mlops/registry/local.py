"""The local folder backend: embedded, offline, safe against kills and concurrent writers.

Layout (one folder per model)::

    <root>/<name>/versions/<N>/version.json, model.skops, extra files
    <root>/<name>/ledger.jsonl    append-only, one JSON entry per line: the source of truth
    <root>/<name>/refs.json       snapshot of the folded ledger, with the ledger size it saw
    <root>/<name>/.lock           fcntl.flock'ed by writers
    <root>/<name>/.staging/       versions being written

A version is written into ``.staging`` and renamed into ``versions/<N>`` under the lock, so
it is complete or absent. A ledger line is appended and fsynced before ``refs.json`` is
replaced (temp file, fsync, rename); readers that find the ledger longer than the snapshot
fold the missing lines themselves, so a writer killed in between loses nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mlops.core.exceptions import IntegrityError, RegistryError
from mlops.registry.base import BLOB_PREFIX, Registry
from mlops.registry.records import (
    DEFAULT_ALIASES,
    MODEL_FILE,
    VERSION_FILE,
    Refs,
    validate_name,
    version_number,
)

__all__ = ["LocalRegistry"]

_READ_ONLY = 0o444
LEDGER_FILE = "ledger.jsonl"
REFS_FILE = "refs.json"


class LocalRegistry(Registry):
    """Registry in a local folder (``registry.path`` in params.yaml)."""

    backend = "local"

    def __init__(self, root: str | Path, aliases: tuple[str, ...] = DEFAULT_ALIASES) -> None:
        super().__init__(aliases)
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalRegistry({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    def _model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _version_dir(self, name: str, version: int) -> Path:
        return self._model_dir(name) / "versions" / str(int(version))

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[Path]:
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(model_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if we are killed
            yield model_dir
        finally:
            os.close(fd)

    # --------------------------------------------------------------- versions
    def _model_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [
            p.name for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".")
            and ((p / "versions").is_dir() or (p / "ledger.jsonl").is_file())
        ]

    def _version_numbers(self, name: str) -> list[int]:
        folder = self._model_dir(name) / "versions"
        try:
            entries = os.listdir(folder)
        except FileNotFoundError:
            return []
        # A stored version always has its version.json (it is renamed in whole); anything
        # else in versions/ was put there by hand and is not a version.
        return [n for e in entries if (n := version_number(e)) is not None
                and os.path.isfile(folder / e / VERSION_FILE)]

    def _read_version_doc(self, name: str, version: int) -> dict[str, Any] | None:
        path = self._version_dir(name, version) / VERSION_FILE
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise IntegrityError(
                f"{name} v{version}: {path} is not valid JSON ({exc}); the folder was edited "
                "by hand", model=name, version=version,
            ) from None

    def _version_revision(self, name: str, version: int) -> str | None:
        return None  # a version folder is never rewritten: its number is its revision

    def _store_version(
        self, name: str, doc: dict[str, Any], model_path: Path, files: dict[str, Path],
    ) -> dict[str, Any]:
        staging_root = self._model_dir(name) / ".staging"
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = staging_root / f"{os.getpid()}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            # Copy outside the lock: only numbering and the rename need it.
            _copy(model_path, staging / MODEL_FILE)
            for fname, src in files.items():
                _copy(src, staging / fname)
            with self._lock(name) as model_dir:
                _clean_staging(staging_root, keep=staging)
                versions = model_dir / "versions"
                versions.mkdir(exist_ok=True)
                number = max(self._version_numbers(name), default=0) + 1
                doc = {**doc, "version": number}
                _write_file(staging / VERSION_FILE, _dumps(doc), fsync=True)
                _fsync_tree(staging)
                os.rename(staging, versions / str(number))  # the commit point
                _fsync_dir(versions)
            return doc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _local_file(self, name: str, version: int, filename: str, sha256: str) -> Path:
        folder = self._version_dir(name, version)
        path = folder / filename
        # The name was checked (no "..", no "/" at the start); a symlink could still lead out.
        real = path.resolve()
        if not real.is_relative_to(folder.resolve()):
            raise IntegrityError(
                f"{name} v{version}: stored file {filename!r} leads outside its version folder "
                f"(to {real}); refusing it. Re-register the model",
                model=name, version=version, file=filename,
            )
        return path

    def _put_blob(self, sha: str, path: Path) -> None:
        target = self.root / BLOB_PREFIX / sha
        if target.is_file():
            return  # content-addressed: the same bytes are already here
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{sha}.{os.getpid()}-{uuid.uuid4().hex}.tmp"
        try:
            _copy(path, tmp)
            os.replace(tmp, target)  # readers see the whole blob or none
            _fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)

    def _get_blob(self, sha: str) -> Path | None:
        path = self.root / BLOB_PREFIX / sha
        return path if path.is_file() else None

    def stored_files(self) -> list[str]:
        """Every file that makes up this registry, as POSIX paths relative to its root.

        Per model ``ledger.jsonl`` and ``refs.json``; per version ``version.json``, its model
        file and the extra files it lists, each checked against its recorded hash. This is
        an allow-list: locks, staging folders and whatever else sits in the folder (a
        prediction log with its ``-wal`` and ``-shm`` files, say) are not the registry.
        """
        found: list[str] = []
        for name in self.models():
            model_dir = self._model_dir(name)
            found += [f"{name}/{f}" for f in (LEDGER_FILE, REFS_FILE) if (model_dir / f).is_file()]
            for mv in self.versions(name):  # each record checked (names inside its folder)
                folder = f"{name}/versions/{mv.version}"
                found.append(f"{folder}/{VERSION_FILE}")
                for fname in (mv.model_file, *sorted(mv.files)):
                    self.file_path(name, mv.version, fname)  # present, inside, hash matches
                    found.append(f"{folder}/{fname}")
        return found

    # --------------------------------------------------------- refs and ledger
    def _read_refs(self, name: str) -> Refs:
        return _load_refs(self._model_dir(name), name)[0]

    def _read_ledger(self, name: str) -> list[dict[str, Any]]:
        return _read_lines(self._model_dir(name) / "ledger.jsonl")[0]

    def _append(self, name: str, make: Callable[[Refs], dict[str, Any]]) -> dict[str, Any]:
        with self._lock(name) as model_dir:
            ledger = model_dir / "ledger.jsonl"
            refs, good_bytes = _load_refs(model_dir, name)
            entry = make(refs)
            line = _dumps(entry, indent=None) + b"\n"
            fd = os.open(ledger, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, good_bytes)  # drop a torn line left by a killed writer
                os.lseek(fd, good_bytes, os.SEEK_SET)
                os.write(fd, line)
                os.fsync(fd)  # the commit point: the entry is durable from here on
            finally:
                os.close(fd)
            if good_bytes == 0:
                _fsync_dir(model_dir)  # a new ledger file: make its name durable too
            refs.apply(entry)
            # The snapshot is only a cache of the ledger, so it is not fsynced: after a
            # crash a stale or damaged one is caught up from (or rebuilt from) the ledger.
            snapshot = {**refs.to_dict(), "ledger_bytes": good_bytes + len(line)}
            _atomic_write(model_dir / "refs.json", _dumps(snapshot), durable=False)
            return entry


def _load_refs(model_dir: Path, name: str) -> tuple[Refs, int]:
    """Refs of a model and the ledger size they cover (complete lines only).

    Starts from the snapshot ``refs.json`` and folds the ledger lines written after it; a
    missing, damaged or inconsistent snapshot means folding the whole ledger. A malformed
    ledger line is an IntegrityError naming the field.
    """
    ledger = model_dir / "ledger.jsonl"
    try:
        size = os.stat(ledger).st_size
    except FileNotFoundError:
        size = 0
    try:
        snapshot = json.loads((model_dir / "refs.json").read_bytes())
        offset = int(snapshot["ledger_bytes"])
        refs = Refs.from_dict(snapshot, where=f"{name}/refs.json")
    except (FileNotFoundError, ValueError, KeyError, TypeError, IntegrityError):
        snapshot, offset, refs = {}, 0, Refs()
    if offset > size:  # the ledger is shorter than the snapshot claims: trust the ledger
        offset, refs = 0, Refs()
    if offset == size:
        return refs, size
    entries, good_bytes = _read_lines(ledger, offset=offset)
    for entry in entries:
        refs.apply(entry, f"{name}/ledger.jsonl")
    return refs, good_bytes


def _dumps(data: Any, indent: int | None = 1) -> bytes:
    return json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False).encode()


def _read_lines(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete ledger lines from ``offset`` on, and the byte size they cover."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1  # a trailing line without newline is torn: ignore it
    entries = []
    for raw in data[:end].splitlines():
        try:
            entries.append(json.loads(raw))
        except ValueError:
            raise RegistryError(
                f"{path}: a ledger line is not valid JSON; the ledger was edited by hand. "
                "Restore it from a backup", file=str(path),
            ) from None
    return entries, offset + end


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())


def _write_file(path: Path, data: bytes, *, fsync: bool) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())


def _atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the folder.

    Readers see the old or the new content, never a mix; ``durable=False`` skips the
    fsyncs for files that can be rebuilt after a crash.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        _write_file(tmp, data, fsync=durable)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Make stored files read-only (versions are immutable) and fsync every folder."""
    for dirpath, _, filenames in os.walk(root):
        for fname in filenames:
            os.chmod(os.path.join(dirpath, fname), _READ_ONLY)
        _fsync_dir(Path(dirpath))


def _clean_staging(staging_root: Path, keep: Path) -> None:
    """Remove staging folders of writers that died (their pid no longer exists)."""
    for entry in staging_root.iterdir():
        if entry == keep:
            continue
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
