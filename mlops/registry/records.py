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

from mlops.core.exceptions import RegistryError
from mlops.core.lineage import file_sha256

__all__ = [
    "DEFAULT_ALIASES",
    "FORMAT",
    "MODEL_FILE",
    "PROTECTED_ALIAS",
    "RESERVED_FILES",
    "VERSION_FILE",
    "LedgerEntry",
    "ModelVersion",
    "Refs",
    "default_actor",
    "file_sha256",
    "is_version",
    "json_ready",
    "parse_version",
    "utc_now",
    "validate_filename",
    "validate_name",
]

DEFAULT_ALIASES: tuple[str, ...] = ("production", "candidate")
MODEL_FILE = "model.skops"
VERSION_FILE = "version.json"
PROTECTED_ALIAS = "production"  # only versions whose gates passed may get it (unless forced)
FORMAT = 1

# One path component: starts with a letter or digit, so "." and ".." can never match.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_VERSION = re.compile(r"v?([0-9]{1,9})")
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
    """``3``, ``"3"`` or ``"v3"`` -> 3; anything else raises RegistryError."""
    if isinstance(version, bool):
        raise RegistryError(f"invalid version {version!r}: expected a positive integer")
    if isinstance(version, int):
        number = version
    elif isinstance(version, str) and (m := _VERSION.fullmatch(version.strip())):
        number = int(m.group(1))
    else:
        raise RegistryError(
            f"invalid version {version!r}: expected a positive integer such as 3 or 'v3'",
            version=str(version),
        )
    if number < 1:
        raise RegistryError(f"invalid version {version!r}: versions start at 1")
    return number


def default_actor() -> str:
    """Who is acting: the CI job (``GITHUB_ACTOR``/``GITHUB_JOB``) or the local user."""
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

    def apply(self, entry: Mapping[str, Any]) -> None:
        """Fold one ledger entry (as a dict) into the refs."""
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
    def from_dict(cls, data: Mapping[str, Any]) -> Refs:
        """Inverse of :meth:`to_dict`."""
        return cls(
            seq=int(data.get("seq", 0)), aliases=dict(data.get("aliases", {})),
            stacks={k: list(v) for k, v in data.get("stacks", {}).items()},
            state=dict(data.get("state", {})),
        )

    @classmethod
    def fold(cls, entries: list[dict[str, Any]]) -> Refs:
        """Refs after applying ``entries`` in order."""
        refs = cls()
        for entry in entries:
            refs.apply(entry)
        return refs


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
