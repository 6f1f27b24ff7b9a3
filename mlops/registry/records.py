"""The registry's records and rules on names: versions, ledger entries, folded refs.

Plain data and pure functions, shared by the interface (``base.py``) and the backends.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.exceptions import IntegrityError, RegistryError
from mlops.core.lineage import file_sha256
from mlops.core.names import SAFE_NAME

__all__ = [
    "DEFAULT_ALIASES",
    "ENVIRONMENTS",
    "FORMAT",
    "MODEL_FILE",
    "PROTECTED_ALIAS",
    "RESERVED_FILES",
    "VERSION_FILE",
    "MAX_VERSION",
    "LedgerEntry",
    "LineageRow",
    "ModelVersion",
    "Refs",
    "check_ledger_entry",
    "default_actor",
    "describe",
    "file_sha256",
    "is_version",
    "json_ready",
    "lineage_rows",
    "parse_version",
    "utc_now",
    "validate_filename",
    "validate_name",
    "version_from_record",
    "version_number",
]

DEFAULT_ALIASES: tuple[str, ...] = ("production", "candidate", "staging")
# Deployment environments, in the order a version moves through them: CD releases to the
# first, an operator (or a rule) moves a version on to the next. Each is an alias.
ENVIRONMENTS: tuple[str, ...] = ("staging", "production")
MODEL_FILE = "model.skops"
VERSION_FILE = "version.json"
PROTECTED_ALIAS = "production"  # only versions whose gates passed may get it (unless forced)
FORMAT = 1

MAX_VERSION = 999_999_999  # nine digits: a version number always fits in a folder name

_NAME = SAFE_NAME  # one path component; params check model.name by the same rule
_VERSION = re.compile(r"v?([0-9]+)")  # ASCII digits only: str.isdigit also takes "²"
_FOLDER_NUMBER = re.compile(r"[1-9][0-9]{0,8}")  # a stored version's folder or tag suffix
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ACTIONS = frozenset({"promote", "force-promote", "rollback", "set-state"})
RESERVED_FILES = frozenset({VERSION_FILE, MODEL_FILE})


def validate_name(name: str, what: str = "model name") -> str:
    """Return ``name`` if it is a safe single path component, else raise RegistryError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RegistryError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no '/', no '..', at most 100 characters)", name=str(name),
        )
    return name


def validate_filename(filename: str) -> str:
    """Return ``filename`` (``a/b.png`` allowed) if every part is a safe name."""
    if not isinstance(filename, str) or not filename:
        raise RegistryError(f"invalid file name {filename!r}", file=str(filename))
    for part in filename.split("/"):
        validate_name(part, what=f"file name part in {filename!r}:")
    return filename


def parse_version(version: int | str) -> int:
    """``3``, ``"3"`` or ``"v3"`` -> 3; anything else raises RegistryError.

    Numbers above :data:`MAX_VERSION` are refused before they are converted, so a number
    with thousands of digits is an error naming the value, never a bare ValueError.
    """
    shown = describe(version)
    if isinstance(version, bool):
        raise RegistryError(f"invalid version {shown}: expected a positive integer",
                            version=shown)
    if isinstance(version, int):
        number = version
    elif isinstance(version, str) and (m := _VERSION.fullmatch(version.strip())):
        digits = m.group(1).lstrip("0") or "0"
        if len(digits) > len(str(MAX_VERSION)):
            raise RegistryError(f"invalid version {shown}: versions are at most {MAX_VERSION}",
                                version=shown)
        number = int(digits)
    else:
        raise RegistryError(
            f"invalid version {shown}: expected a positive integer such as 3 or 'v3'",
            version=shown,
        )
    if number < 1:
        raise RegistryError(f"invalid version {shown}: versions start at 1", version=shown)
    if number > MAX_VERSION:
        raise RegistryError(f"invalid version {shown}: versions are at most {MAX_VERSION}",
                            version=shown)
    return number


def version_number(text: str) -> int | None:
    """The number of a stored version's folder name or tag suffix (``"3"``), else None.

    Stray names (``"03"``, ``"²"``, a 5,000-digit number) are not versions.
    """
    return int(text) if _FOLDER_NUMBER.fullmatch(text) else None


def describe(value: Any, limit: int = 60) -> str:
    """A short ``repr`` of ``value`` for messages; safe for ints of any size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def default_actor() -> str:
    """Who is acting, for the ledger: ``MLOPS_ACTOR`` (an operator's name, set by the app
    or the CLI's ``--actor``), else the CI job (``GITHUB_ACTOR``/``GITHUB_JOB``), else the
    OS user."""
    named = os.environ.get("MLOPS_ACTOR", "").strip()
    if named:
        return named[:100]  # a name, not a payload: the ledger is read by people
    actor, job = os.environ.get("GITHUB_ACTOR"), os.environ.get("GITHUB_JOB")
    if actor or job:
        return f"{actor or 'ci'} (CI job {job})" if job else str(actor)
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def is_version(text: int | str) -> bool:
    """True for ``3``, ``"3"`` and ``"v3"`` (a version, not an alias)."""
    return isinstance(text, int) or bool(_VERSION.fullmatch(str(text)))


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ModelVersion:
    """One immutable registered version: file hashes, gate verdict and metadata."""

    name: str
    version: int
    created: str
    sha256: str
    gates_passed: bool
    files: Mapping[str, str] = field(default_factory=dict)  # extra file -> sha256
    metadata: Mapping[str, Any] = field(default_factory=dict)
    model_file: str = MODEL_FILE

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the content of ``version.json``)."""
        data = asdict(self)
        data["format"] = FORMAT
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            name=data["name"], version=int(data["version"]), created=data["created"],
            sha256=data["sha256"], gates_passed=bool(data["gates_passed"]),
            files=dict(data.get("files", {})), metadata=dict(data.get("metadata", {})),
            model_file=data.get("model_file", MODEL_FILE),
        )

    @property
    def label(self) -> str:
        """``name vN``, for messages."""
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class LedgerEntry:
    """One line of the append-only promotion ledger.

    ``action`` is ``promote``, ``force-promote``, ``rollback`` or ``set-state``; for
    ``set-state`` the entry names ``key`` and carries the new ``value`` instead of versions.
    """

    seq: int
    time: str
    model: str
    actor: str
    action: str
    alias: str | None
    from_version: int | None
    to_version: int | None
    reason: str
    evidence: Mapping[str, Any] | None = None
    key: str | None = None
    value: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (one ledger line)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerEntry:
        """Inverse of :meth:`to_dict`."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Refs:
    """Current aliases and state of one model: the ledger folded up to entry ``seq``.

    ``stacks`` keeps, per alias, the versions it held with rollbacks popped, so that a
    rollback after a rollback keeps going back instead of flip-flopping.
    """

    seq: int = 0
    aliases: dict[str, int] = field(default_factory=dict)
    stacks: dict[str, list[int]] = field(default_factory=dict)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {value, token}

    def apply(self, entry: Mapping[str, Any], where: str = "ledger.jsonl") -> None:
        """Fold one ledger entry (as a dict) into the refs.

        IntegrityError (naming ``where`` and the field) if the entry is malformed.
        """
        check_ledger_entry(entry, where)
        self.seq = int(entry["seq"])
        action, alias = entry["action"], entry.get("alias")
        if action == "set-state":
            self.state[entry["key"]] = {"value": entry.get("value"), "token": str(entry["seq"])}
            return
        stack = self.stacks.setdefault(alias, [])
        if action == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(entry["to_version"])
        if entry["to_version"] is None:
            self.aliases.pop(alias, None)
        else:
            self.aliases[alias] = int(entry["to_version"])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "refs.json") -> Refs:
        """Inverse of :meth:`to_dict`; IntegrityError naming ``where`` if it is malformed."""
        file = {"file": where}
        if not isinstance(data, Mapping):
            raise IntegrityError(f"{where} is not a JSON object; it was edited by hand", **file)
        seq = data.get("seq", 0)
        if type(seq) is not int or not 0 <= seq <= 2**53:
            _bad_field(where, "seq", seq, "is not a ledger sequence number", **file)
        aliases, stacks, state = (data.get(k, {}) for k in ("aliases", "stacks", "state"))
        for key, value in (("aliases", aliases), ("stacks", stacks), ("state", state)):
            if not isinstance(value, Mapping):
                _bad_field(where, key, value, "is not a JSON object", **file)
        for alias, version in aliases.items():
            _check_field_name(where, "aliases", alias, "alias", **file)
            _check_field_version(where, "aliases", version, **file)
        for alias, held in stacks.items():
            _check_field_name(where, "stacks", alias, "alias", **file)
            if not isinstance(held, list):
                _bad_field(where, "stacks", held, "is not a list of versions", **file)
            for version in held:
                _check_field_version(where, "stacks", version, **file)
        for key, slot in state.items():
            _check_field_name(where, "state", key, "state key", **file)
            if not isinstance(slot, Mapping) or "token" not in slot:
                _bad_field(where, "state", slot, "is not a {value, token} object", **file)
        return cls(
            seq=seq, aliases=dict(aliases), stacks={k: list(v) for k, v in stacks.items()},
            state={k: dict(v) for k, v in state.items()},
        )

    @classmethod
    def fold(cls, entries: list[dict[str, Any]], where: str = "ledger.jsonl") -> Refs:
        """Refs after applying ``entries`` in order."""
        refs = cls()
        for entry in entries:
            refs.apply(entry, where)
        return refs


# ------------------------------------------------------------------ record checks
# Everything read back from storage (version.json, ledger lines, refs.json) can have been
# edited by hand, or by anyone with write access to a Hub repository. Every name that ends
# up in a path is checked to be a plain name inside its folder, and every number to be a
# version number, before anything uses it.


def _bad_field(where: str, field_name: str, value: Any, why: str, **fields: Any) -> None:
    """Raise IntegrityError: ``where`` names the file, ``fields`` hold ``file`` and ids."""
    raise IntegrityError(
        f"{where}: field {field_name!r} {why} (it holds {describe(value)}); the registry was "
        "edited by hand or is damaged, refusing it. Restore it from a backup or re-register",
        field=field_name, **fields,
    )


def _check_field_name(where: str, field_name: str, value: Any, what: str, **fields: Any
                      ) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        _bad_field(where, field_name, value, f"is not a valid {what}", **fields)


def _check_field_version(where: str, field_name: str, value: Any, **fields: Any) -> None:
    if type(value) is not int or not 1 <= value <= MAX_VERSION:
        _bad_field(where, field_name, value, f"is not a version number (1 to {MAX_VERSION})",
                   **fields)


def _check_field_file(where: str, field_name: str, value: Any, *, plain: bool,
                      **fields: Any) -> None:
    """``value`` must stay inside the version folder: one safe name, or (``plain=False``)
    safe names joined by ``/`` (``plots/roc.png``)."""
    parts = value.split("/") if isinstance(value, str) and not plain else [value]
    if not isinstance(value, str) or not all(isinstance(p, str) and _NAME.fullmatch(p)
                                             for p in parts):
        how = "a plain file name" if plain else "a file name inside the version folder"
        _bad_field(where, field_name, value, f"is not {how}", **fields)


def version_from_record(doc: Any, name: str, number: int) -> ModelVersion:
    """The version described by ``doc`` (``version.json`` of ``name`` v``number``).

    Raises IntegrityError naming the file and the field when the record describes another
    version, names a file outside its folder, or holds values of the wrong kind.
    """
    where = f"{name} v{number}: {VERSION_FILE}"
    if not isinstance(doc, Mapping):
        raise IntegrityError(f"{where} is not a JSON object; the folder was edited by hand",
                             model=name, version=number, file=VERSION_FILE)
    ids = {"model": name, "version": number, "file": VERSION_FILE}
    recorded = doc.get("version")
    if doc.get("name") != name or type(recorded) is not int or recorded != number:
        raise IntegrityError(
            f"{name} v{number}: version.json describes {describe(doc.get('name'))} "
            f"v{describe(recorded)}; the registry folder was edited by hand",
            field="name" if doc.get("name") != name else "version", **ids,
        )
    model_file = doc.get("model_file", MODEL_FILE)
    _check_field_file(where, "model_file", model_file, plain=True, **ids)
    if model_file == VERSION_FILE:
        _bad_field(where, "model_file", model_file, "names the record itself", **ids)
    sha = doc.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        _bad_field(where, "sha256", sha, "is not a SHA-256 hex digest", **ids)
    files = doc.get("files", {})
    if not isinstance(files, Mapping):
        _bad_field(where, "files", files, "is not a JSON object", **ids)
    for fname, digest in files.items():
        _check_field_file(where, "files", fname, plain=False, **ids)
        if fname in (VERSION_FILE, model_file):
            _bad_field(where, "files", fname, "names a file the registry reserves", **ids)
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            _bad_field(where, "files", digest, f"has no SHA-256 for {fname!r}", **ids)
    if not isinstance(doc.get("gates_passed"), bool):
        _bad_field(where, "gates_passed", doc.get("gates_passed"), "is not true or false", **ids)
    if not isinstance(doc.get("created"), str):
        _bad_field(where, "created", doc.get("created"), "is not a time stamp", **ids)
    if not isinstance(doc.get("metadata", {}), Mapping):
        _bad_field(where, "metadata", doc.get("metadata"), "is not a JSON object", **ids)
    return ModelVersion.from_dict(doc)


def check_ledger_entry(entry: Any, where: str = "ledger.jsonl") -> Mapping[str, Any]:
    """``entry`` if it is a well-formed ledger line; IntegrityError naming the field if not.

    Alias and state key names must be valid names and versions valid version numbers.
    """
    file = {"file": where}
    if not isinstance(entry, Mapping):
        raise IntegrityError(f"{where}: a line is not a JSON object; the ledger was edited by "
                             "hand. Restore it from a backup", **file)
    seq = entry.get("seq")
    if type(seq) is not int or not 1 <= seq <= 2**53:
        _bad_field(where, "seq", seq, "is not a ledger sequence number", **file)
    label = f"{where} entry #{seq}"
    action = entry.get("action")
    if action not in _ACTIONS:
        _bad_field(label, "action", action, f"is not one of {sorted(_ACTIONS)}", **file)
    if action == "set-state":
        _check_field_name(label, "key", entry.get("key"), "state key", **file)
        return entry
    _check_field_name(label, "alias", entry.get("alias"), "alias", **file)
    for field_name in ("from_version", "to_version"):
        if entry.get(field_name) is not None:
            _check_field_version(label, field_name, entry.get(field_name), **file)
    return entry


def json_ready(value: Any, what: str) -> Any:
    """``value`` as plain JSON data (numpy scalars and paths converted), else RegistryError."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{what} is not JSON-serialisable: {exc}") from None


def _json_default(value: Any) -> Any:
    # numpy scalars and paths show up in metric dicts; store them as plain values.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


@dataclass(frozen=True)
class LineageRow:
    """One piece of a version's lineage: what it is, its value, where it lives, a link."""

    item: str
    value: str
    where: str
    link: str | None = None


def lineage_rows(mv: ModelVersion, *, file_base: str | None = None) -> list[LineageRow]:
    """Where each piece of ``mv``'s lineage lives, for the model card and the app.

    ``file_base`` prefixes the links to the version's stored files: ``""`` gives links
    relative to the version folder (the card, stored in it), a URL gives absolute links
    (the Hub's file view at the version's revision), None gives no file links. The data
    snapshot's link is the one recorded at registration (the Hub's dataset revision).
    """
    lineage = mv.metadata.get("lineage") or {}
    params = lineage.get("params") if isinstance(lineage.get("params"), Mapping) else {}
    data_path = (params.get("data") or {}).get("path", "?")

    def link(filename: str) -> str | None:
        return None if file_base is None else file_base + filename

    def short(sha: Any) -> str:
        return f"sha256 {str(sha)[:12]}…" if sha else "not recorded"

    rows = [LineageRow("Data", short(lineage.get("data_sha256")),
                       f"`{data_path}` when the run read it")]
    snapshot = lineage.get("data_snapshot") or {}
    if snapshot.get("stored") and snapshot.get("repo"):
        rows.append(LineageRow(
            "Data snapshot", "kept", f"{snapshot['repo']} at revision "
            f"{str(snapshot.get('revision', '?'))[:12]}, `{snapshot['where']}`",
            snapshot.get("url")))
    elif snapshot.get("stored"):
        rows.append(LineageRow("Data snapshot", "kept",
                               f"the registry's blob store, `{snapshot['where']}`"))
    elif snapshot:
        rows.append(LineageRow("Data snapshot", "not kept", snapshot.get("reason") or "no reason"))
    else:
        rows.append(LineageRow("Data snapshot", "not kept", "recorded before snapshots existed"))
    commit = lineage.get("git_commit")
    dirty = lineage.get("git_dirty")
    state = ("dirty: " + ", ".join(f"`{f}`" for f in lineage.get("git_dirty_files") or [])
             if dirty else "clean" if dirty is False else "unknown")
    rows.append(LineageRow("Code", f"commit {str(commit)[:12]} ({state})" if commit
                           else "not in git", "the git history"))
    overrides = lineage.get("overrides") or []
    rows.append(LineageRow(
        "Params", f"`{lineage.get('params_file') or 'params'}`"
        + (f" with {', '.join(f'`{o}`' for o in overrides)}" if overrides else ""),
        f"{VERSION_FILE} (`lineage.params`), fingerprint "
        f"{str(lineage.get('fingerprint') or '?').removeprefix('sha256:')[:12]}",
        link(VERSION_FILE)))
    packages = lineage.get("packages") or {}
    rows.append(LineageRow(
        "Packages", f"Python {lineage.get('python', '?')}; " + ", ".join(
            f"{k} {v}" for k, v in sorted(packages.items()) if v), f"{VERSION_FILE} "
        "(`lineage.packages`)", link(VERSION_FILE)))
    rows.append(LineageRow("Model", short(mv.sha256), f"`{mv.model_file}`", link(mv.model_file)))
    rows.extend(LineageRow("Evidence", short(sha), f"`{name}`", link(name))
                for name, sha in sorted(mv.files.items()))
    return rows
