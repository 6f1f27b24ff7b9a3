"""The registry interface and the logic both backends share.

A backend only stores things: version folders, and per model a *refs* document (aliases,
deployment state) plus an append-only *ledger*. Everything with a rule in it lives here:
name checks, gate checks, compare-and-swap, rollback, ``latest_validated``. Backends
implement the small set of ``_``-prefixed primitives at the bottom of :class:`Registry`.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core.exceptions import ConflictError, IntegrityError, NotFoundError, RegistryError
from mlops.registry.records import (
    DEFAULT_ALIASES,
    ENVIRONMENTS,
    FORMAT,
    MODEL_FILE,
    PROTECTED_ALIAS,
    RESERVED_FILES,
    LedgerEntry,
    ModelVersion,
    Refs,
    check_ledger_entry,
    default_actor,
    file_sha256,
    is_version,
    json_ready,
    parse_version,
    utc_now,
    validate_filename,
    validate_name,
    version_from_record,
)

__all__ = [
    "DEFAULT_ALIASES",
    "ENVIRONMENTS",
    "MODEL_FILE",
    "LedgerEntry",
    "ModelVersion",
    "Refs",
    "Registry",
    "Unmoved",
    "default_actor",
    "file_sha256",
    "parse_version",
    "validate_filename",
    "validate_name",
]

log = logging.getLogger("mlops.registry")

BLOB_PREFIX = "blobs/sha256/"  # content-addressed files (data snapshots), once per hash
PUBLISH_TIMEOUT = 30.0  # seconds publish keeps retrying its alias move under contention


class _NoAlias(Exception):
    """publish: neither production nor candidate is a configured alias."""


class _NothingToMove(Exception):
    """promote_environment(if_new=True): the environment holds the version already, or
    the alias to move is not set; ``version`` and ``held`` say which."""

    def __init__(self, version: int | None, held: int | None) -> None:
        super().__init__()
        self.version, self.held = version, held


@dataclass(frozen=True)
class Unmoved:
    """What :meth:`Registry.promote_environment` found when there was nothing to move:
    ``version`` (None: the alias given is not set) and what ``environment`` holds."""

    name: str
    environment: str
    version: int | None
    held: int | None


class Registry(ABC):
    """A model registry: versions, aliases with compare-and-swap, a ledger and state.

    Use :func:`mlops.registry.open_registry` to get one.
    """

    backend = "abstract"

    def __init__(self, aliases: tuple[str, ...] = DEFAULT_ALIASES) -> None:
        self.allowed_aliases = tuple(aliases)

    # ----------------------------------------------------------------- versions
    def register(
        self, name: str, model_path: str | Path, *, metadata: Mapping[str, Any],
        files: Mapping[str, str | Path] | None = None,
    ) -> ModelVersion:
        """Store a new immutable version of ``name`` and return it.

        ``metadata`` holds metrics, gates, ``gates_passed``, the validation summary and
        lineage; ``files`` maps a stored file name (``README.md``, ``plots/roc.png``) to a
        local path. The model file's SHA-256 (and every extra file's) is recorded.
        """
        validate_name(name)
        model_path = Path(model_path)
        if not model_path.is_file():
            raise RegistryError(f"{name}: model file {model_path} does not exist; train first")
        extra: dict[str, Path] = {}
        for fname, src in (files or {}).items():
            validate_filename(fname)
            if fname in RESERVED_FILES:
                raise RegistryError(f"{name}: file name {fname!r} is reserved by the registry")
            if not Path(src).is_file():
                raise RegistryError(f"{name}: extra file {fname!r} -> {src} does not exist")
            extra[fname] = Path(src)
        meta = json_ready(dict(metadata), f"{name}: metadata")
        gates = meta.get("gates") or []
        failed = [g.get("gate") for g in gates if not g.get("passed")]
        gates_passed = meta.get("gates_passed")
        if gates_passed is None:  # derive it from the verdicts; no verdicts means not passed
            gates_passed = bool(gates) and not failed
        elif gates_passed and failed:
            raise RegistryError(
                f"{name}: metadata says gates_passed but these gates failed: {failed}; fix "
                "the evaluation output before registering", model=name,
            )
        doc = {
            "format": FORMAT, "name": name, "created": utc_now(), "sha256": file_sha256(model_path),
            "gates_passed": bool(gates_passed), "model_file": MODEL_FILE,
            "files": {fname: file_sha256(src) for fname, src in extra.items()},
            "metadata": meta,
        }
        return ModelVersion.from_dict(self._store_version(name, doc, model_path, extra))

    def publish(
        self, name: str, model_path: str | Path, *, metadata: Mapping[str, Any],
        files: Mapping[str, str | Path] | None = None, actor: str | None = None,
        reason: str = "", timeout: float = PUBLISH_TIMEOUT, candidate_only: bool = False,
    ) -> tuple[ModelVersion, LedgerEntry | None]:
        """Register, then (gates passed only) make it ``production`` if there is none yet,
        else ``candidate``. What ``mlops run`` does; returns the version and the move.
        ``candidate_only`` (a sweep's best run) never makes it ``production``.

        The alias is chosen and moved in one step, against the refs as they are when the
        move is written, so concurrent publishers never fail each other: each one's move is
        recorded (for ``candidate`` the last one wins; the returned entry says what it
        replaced). A move the backend could not write (the Hub's ``main`` kept moving) is
        retried with jittered backoff for up to ``timeout`` seconds.
        """
        mv = self.register(name, model_path, metadata=metadata, files=files)
        if not mv.gates_passed:
            return mv, None
        reason = reason or "registered by a run whose gates passed"
        evidence = {"gates": mv.metadata.get("gates", []), "gates_passed": mv.gates_passed}

        def make(refs: Refs) -> dict[str, Any]:
            alias = (PROTECTED_ALIAS if PROTECTED_ALIAS not in refs.aliases
                     and PROTECTED_ALIAS in self.allowed_aliases and not candidate_only
                     else "candidate")
            if alias not in self.allowed_aliases:
                raise _NoAlias
            return self._entry(refs, name, "promote", alias, refs.aliases.get(alias),
                               mv.version, actor, reason, evidence)

        deadline = time.monotonic() + timeout
        for attempt in itertools.count():
            try:
                entry = LedgerEntry.from_dict(self._append(name, make))
            except _NoAlias:
                return mv, None
            except ConflictError as exc:
                pause = random.uniform(0, min(2.0, 0.05 * 2 ** min(attempt, 6)))  # full jitter
                if time.monotonic() + pause > deadline:
                    raise ConflictError(
                        f"{mv.label}: registered, but its alias could not be written for "
                        f"{timeout:.0f} s ({exc.message}); it is not lost: `mlops promote "
                        f"{mv.version} --to candidate` moves it once the registry is quieter",
                        model=name, version=mv.version,
                    ) from None
                log.info("%s: alias move lost a race (%s); retrying in %.2f s", mv.label,
                         exc.message, pause)
                time.sleep(pause)
                continue
            if attempt:
                log.info("%s: %s -> v%s after %d retries", mv.label, entry.alias,
                         entry.to_version, attempt)
            return mv, entry
        raise AssertionError("unreachable")

    def models(self) -> list[str]:
        """Names of every model with at least one version or ledger entry."""
        return sorted(self._model_names())

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (empty if the model is unknown)."""
        validate_name(name)
        return [self.get(name, v) for v in sorted(self._version_numbers(name))]

    def get(self, name: str, version: int | str) -> ModelVersion:
        """Version ``version`` of ``name``; NotFoundError if it does not exist."""
        validate_name(name)
        number = parse_version(version)
        doc = self._read_version_doc(name, number)
        if doc is None:
            known = sorted(self._version_numbers(name))
            hint = f"known versions: {known}" if known else "the model has no versions yet"
            raise NotFoundError(
                f"{name} v{number}: no such version ({hint}); see `mlops registry list`",
                model=name, version=number,
            )
        # Checks that every file it names stays inside the version folder, among others.
        return version_from_record(doc, name, number)

    def aliases(self, name: str) -> dict[str, int]:
        """Current ``alias -> version`` of ``name``."""
        validate_name(name)
        return dict(self._read_refs(name).aliases)

    def resolve(self, name: str, alias_or_version: int | str | ModelVersion) -> ModelVersion:
        """The version an alias points to, or the version given by number.

        A :class:`ModelVersion` already read is returned as it is (versions never change),
        so a caller that holds the record reads ``version.json`` once for all its files.
        """
        validate_name(name)
        if isinstance(alias_or_version, ModelVersion):
            if alias_or_version.name != name:
                raise ValueError(f"{alias_or_version.label} is not a version of {name}")
            return alias_or_version
        if is_version(alias_or_version):
            return self.get(name, alias_or_version)
        alias = validate_name(str(alias_or_version), "alias")
        current = self.aliases(name)
        if alias not in current:
            raise NotFoundError(
                f"{name}: alias {alias!r} is not set (set: {current or 'none'}); promote a "
                f"version first: mlops promote VERSION --to {alias}", model=name, alias=alias,
            )
        return self.get(name, current[alias])

    def latest_validated(self, name: str) -> ModelVersion | None:
        """The newest version of ``name`` whose gates passed, or None."""
        for number in sorted(self._version_numbers(name), reverse=True):
            version = self.get(name, number)
            if version.gates_passed:
                return version
        return None

    def load_model(self, name: str, version: int | str | ModelVersion) -> Any:
        """The verified, safely loaded model of a version (hash and trusted types checked)."""
        from mlops.core.feature_code import FEATURE_FILE
        from mlops.core.modelio import load_model  # skops is imported only when a model is loaded

        mv = self.resolve(name, version)
        path = self._local_file(name, mv.version, mv.model_file, mv.sha256)
        # The feature code the version was trained with, checked against its recorded hash.
        code = self.file_path(name, mv, FEATURE_FILE) if FEATURE_FILE in mv.files \
            else None
        return load_model(path, sha256=mv.sha256, what=mv.label, feature_code=code)

    def revision(self, name: str, version: int | str) -> str | None:
        """The backend's immutable revision that holds version ``version`` of ``name``.

        On the Hub this is the commit the version's tag points at: what a deployment shows
        so that anyone can open exactly the files it serves. A local folder has no
        revisions (a version folder is never rewritten), so the local backend returns None;
        so does the Hub for a version that is not stored.
        """
        validate_name(name)
        return self._version_revision(name, parse_version(version))

    def version_url(self, name: str, version: int | str) -> str | None:
        """A browsable URL of the version's folder, ending in ``/`` (the Hub's file view at
        the version's revision); None when the backend has no web view (a local folder)."""
        return None

    def file_path(self, name: str, version: int | str | ModelVersion, filename: str) -> Path:
        """Local path of a stored file of a version, checked against its recorded hash."""
        mv, path, expected = self._stored_file(name, version, filename)
        self._check_hash(mv, filename, file_sha256(path), expected)
        return path

    def read_verified(self, name: str, version: int | str | ModelVersion, filename: str
                      ) -> bytes:
        """The bytes of a stored file of a version, read once and checked against its
        recorded hash: the bytes checked are the bytes returned, so the file cannot change
        between the check and its use, and it is not read a second time."""
        import hashlib

        mv, path, expected = self._stored_file(name, version, filename)
        data = path.read_bytes()
        self._check_hash(mv, filename, hashlib.sha256(data).hexdigest(), expected)
        return data

    def _stored_file(self, name: str, version: int | str | ModelVersion, filename: str
                     ) -> tuple[ModelVersion, Path, str]:
        mv = self.resolve(name, version)
        validate_filename(filename)
        expected = mv.sha256 if filename == mv.model_file else mv.files.get(filename)
        if expected is None:
            raise NotFoundError(
                f"{mv.label}: no stored file {filename!r} (stored: "
                f"{[mv.model_file, *sorted(mv.files)]})", model=name, version=mv.version,
            )
        return mv, self._local_file(name, mv.version, filename, expected), expected

    @staticmethod
    def _check_hash(mv: ModelVersion, filename: str, actual: str, expected: str) -> None:
        if actual != expected:
            raise IntegrityError(
                f"{mv.label}: file {filename!r} hash {actual[:12]}… does not match the recorded "
                f"{expected[:12]}…; it was changed after registration. Re-register the model "
                "or restore the file", model=mv.name, version=mv.version, file=filename,
            )

    # ------------------------------------------------------------ aliases, ledger
    def store_blob(self, path: str | Path) -> str:
        """Keep ``path`` once per content hash (a data snapshot); return where it lives.

        Identical content is never stored twice: a second call with the same bytes finds
        the blob and stores nothing. The answer (``blobs/sha256/<hex>``) goes in a record.
        """
        from mlops.core.lineage import file_sha256

        sha = file_sha256(path)
        self._put_blob(sha, Path(path))
        return BLOB_PREFIX + sha

    def blob_path(self, where: str) -> Path:
        """Local path of a stored blob, checked against the hash its name is."""
        from mlops.core.lineage import file_sha256

        sha = where.removeprefix(BLOB_PREFIX)
        if not where.startswith(BLOB_PREFIX) or len(sha) != 64 or not all(
                c in "0123456789abcdef" for c in sha):
            raise IntegrityError(f"{where!r} is not a blob name ({BLOB_PREFIX}<sha256>)",
                                 file=where)
        path = self._get_blob(sha)
        if path is None:
            raise NotFoundError(f"{self!r}: no stored blob {where}", file=where)
        actual = file_sha256(path)
        if actual != sha:
            raise IntegrityError(
                f"{self!r}: stored blob {where} hashes to {actual[:12]}…, not its name; it was "
                "changed after it was stored. Restore it or re-register", file=where)
        return path

    def blob_location(self, where: str) -> dict[str, Any]:
        """Where a stored blob lives beyond its name: the Hub's dataset repository, revision
        and link; empty for a local registry (the name is the path under its root)."""
        return {}

    def history(self, name: str) -> list[LedgerEntry]:
        """Every ledger entry of ``name``, oldest first."""
        validate_name(name)
        where = f"{name}/ledger.jsonl"
        return [LedgerEntry.from_dict(check_ledger_entry(e, where))
                for e in self._read_ledger(name)]

    def promote(
        self, name: str, version: int | str, alias: str, *, expected: int | None,
        actor: str | None = None, reason: str, evidence: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> LedgerEntry:
        """Point ``alias`` at ``version`` if it still points at ``expected`` (None: unset).

        ``production`` takes only versions whose gates passed, unless ``force`` with a
        reason; the move is recorded in the ledger. Raises ConflictError when the alias
        moved in the meantime.
        """
        validate_name(name)
        alias = self._check_alias(name, alias)
        mv = self.get(name, version)
        expected = None if expected is None else parse_version(expected)
        self._check_promotion(mv, alias, reason=reason, force=force)
        return LedgerEntry.from_dict(self._append(name, lambda refs: self._promotion(
            refs, mv, alias, expected=expected, actor=actor, reason=reason,
            evidence=evidence, force=force)))

    @staticmethod
    def _check_promotion(mv: ModelVersion, alias: str, *, reason: str, force: bool) -> None:
        """``production`` takes only versions whose gates passed, unless forced for a reason."""
        if force and not (reason or "").strip():
            raise RegistryError(f"{mv.label}: --force needs a --reason, which is recorded")
        if alias == PROTECTED_ALIAS and not mv.gates_passed and not force:
            failed = [g.get("gate") for g in mv.metadata.get("gates", []) if not g.get("passed")]
            raise RegistryError(
                f"{mv.label}: cannot become {alias!r}: its gates did not pass "
                f"(failed: {failed or 'no gate verdicts recorded'}). Promote a validated "
                "version (--latest-validated) or use --force with a --reason",
                model=mv.name, version=mv.version, alias=alias,
            )

    def _promotion(self, refs: Refs, mv: ModelVersion, alias: str, *, expected: int | None,
                   actor: str | None, reason: str, evidence: Mapping[str, Any] | None,
                   force: bool) -> dict[str, Any]:
        """The ledger entry that points ``alias`` at ``mv``, checked against ``refs`` (read
        by the write itself): compare-and-swap on ``expected``."""
        forced = force and alias == PROTECTED_ALIAS and not mv.gates_passed
        if evidence is None:
            evidence = {"gates": mv.metadata.get("gates", []), "gates_passed": mv.gates_passed}
        current = refs.aliases.get(alias)
        self._check_expected(mv.name, alias, current, expected)
        if current == mv.version:
            raise RegistryError(f"{mv.name}: alias {alias!r} already points to v{current}")
        return self._entry(
            refs, mv.name, "force-promote" if forced else "promote", alias, current,
            mv.version, actor, reason, evidence,
        )

    def promote_environment(
        self, name: str, version: int | str, environment: str, *, actor: str | None = None,
        reason: str, force: bool = False, if_new: bool = False,
    ) -> LedgerEntry | Unmoved:
        """Move ``version`` (a number or an alias) on to ``environment`` (:data:`ENVIRONMENTS`).

        A version reaches an environment only from the one before it: ``production`` takes
        the version ``staging`` holds now, unless ``force`` with a reason (a hotfix). The
        move is a compare-and-swap on the environment's current version, and its ledger
        entry records who, when, why and where the version came from. ``if_new``: when
        the environment holds the version already, or the alias given is not set, nothing
        is written and :class:`Unmoved` says so.

        The aliases are read once, by the write itself: the alias given is resolved and
        every rule checked against the refs that the compare-and-swap writes on.
        """
        validate_name(name)
        if environment not in ENVIRONMENTS:
            raise RegistryError(f"{name}: {environment!r} is not an environment; use one of "
                                f"{list(ENVIRONMENTS)}", alias=environment)
        alias = None if is_version(version) else validate_name(str(version), "alias")
        index = ENVIRONMENTS.index(environment)
        source = ENVIRONMENTS[index - 1] if index else "candidate"

        def make(refs: Refs) -> dict[str, Any]:
            current = refs.aliases
            number = parse_version(version) if alias is None else current.get(alias)
            if if_new and (number is None or current.get(environment) == number):
                raise _NothingToMove(number, current.get(environment))
            if number is None:
                raise NotFoundError(
                    f"{name}: alias {alias!r} is not set (set: {dict(current) or 'none'}); "
                    f"promote a version first: mlops promote VERSION --to {alias}",
                    model=name, alias=alias)
            mv = self.get(name, number)
            if index and current.get(source) != mv.version and not force:
                held = f"v{current[source]}" if source in current else "nothing"
                raise RegistryError(
                    f"{mv.label}: cannot move on to {environment!r}: {source!r} holds {held}. "
                    f"Release it to {source!r} first (mlops registry advance {name} "
                    f"{mv.version} --to {source}), or use --force with a --reason",
                    model=name, version=mv.version, alias=environment)
            self._check_alias(name, environment)
            self._check_promotion(mv, environment, reason=reason, force=force)
            evidence = {"from_environment": source, "from_version": current.get(source),
                        "gates": mv.metadata.get("gates", []), "gates_passed": mv.gates_passed}
            return self._promotion(refs, mv, environment, expected=current.get(environment),
                                   actor=actor, reason=reason, evidence=evidence, force=force)

        try:
            return LedgerEntry.from_dict(self._append(name, make))
        except _NothingToMove as nothing:
            return Unmoved(name, environment, nothing.version, nothing.held)

    def rollback(
        self, name: str, *, alias: str = PROTECTED_ALIAS, actor: str | None = None,
        reason: str, evidence: Mapping[str, Any] | None = None,
        expected: int | None = None,
    ) -> LedgerEntry:
        """Move ``alias`` back to the version it held before the current one.

        With ``expected``, a compare-and-swap: the rollback happens only if ``alias`` still
        points at that version, so a decision taken on v5 never rolls back a newer v6.
        """
        validate_name(name)
        alias = self._check_alias(name, alias)
        expected = None if expected is None else parse_version(expected)

        def make(refs: Refs) -> dict[str, Any]:
            stack = refs.stacks.get(alias, [])
            current = refs.aliases.get(alias)
            if expected is not None:
                self._check_expected(name, alias, current, expected)
            if current is None or len(stack) < 2:
                now = f"v{current}" if current else "unset"
                raise NotFoundError(
                    f"{name}: cannot roll back {alias!r} (now {now}): the ledger has no "
                    "earlier version; promote one explicitly",
                    model=name, alias=alias,
                )
            return self._entry(
                refs, name, "rollback", alias, current, stack[-2], actor, reason, evidence,
            )

        return LedgerEntry.from_dict(self._append(name, make))

    def get_state(self, name: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """``(value, token)`` of a state key of ``name``; ``(None, None)`` if never set.

        Pass the token back to :meth:`set_state` as ``expected_token`` (compare-and-swap).
        """
        validate_name(name)
        validate_name(key, "state key")
        slot = self._read_refs(name).state.get(key)
        return (None, None) if slot is None else (slot["value"], slot["token"])

    def set_state(
        self, name: str, key: str, value: Mapping[str, Any] | None, *,
        expected_token: str | None, actor: str | None = None, reason: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> LedgerEntry:
        """Set a state key of ``name`` if its token is still ``expected_token``.

        Every change is a ledger entry; ConflictError if someone changed it first.
        """
        validate_name(name)
        validate_name(key, "state key")
        value = None if value is None else json_ready(dict(value), f"{name}: state {key!r}")

        def make(refs: Refs) -> dict[str, Any]:
            token = refs.state.get(key, {}).get("token")
            if token != expected_token:
                raise ConflictError(
                    f"{name}: state {key!r} changed (token {token}, you expected "
                    f"{expected_token}); read it again with get_state and retry",
                    model=name, key=key,
                )
            entry = self._entry(refs, name, "set-state", None, None, None, actor, reason,
                                evidence)
            entry.update(key=key, value=value)
            return entry

        return LedgerEntry.from_dict(self._append(name, make))

    # ------------------------------------------------------------------ helpers
    def _check_alias(self, name: str, alias: str) -> str:
        validate_name(alias, "alias")
        if alias not in self.allowed_aliases:
            raise RegistryError(
                f"{name}: alias {alias!r} is not configured (registry.aliases: "
                f"{list(self.allowed_aliases)}); add it to params.yaml", alias=alias,
            )
        return alias

    @staticmethod
    def _check_expected(name: str, alias: str, current: int | None, expected: int | None) -> None:
        if current != expected:
            raise ConflictError(
                f"{name}: alias {alias!r} points to {f'v{current}' if current else 'nothing'}, "
                f"not the expected {f'v{expected}' if expected else 'nothing'}; someone moved it "
                "first. Check `mlops registry history` and retry with the right --expected",
                model=name, alias=alias, version=current,
            )

    @staticmethod
    def _entry(
        refs: Refs, name: str, action: str, alias: str | None, from_version: int | None,
        to_version: int | None, actor: str | None, reason: str,
        evidence: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return LedgerEntry(
            seq=refs.seq + 1, time=utc_now(), model=name, actor=actor or default_actor(),
            action=action, alias=alias, from_version=from_version, to_version=to_version,
            reason=reason or "",
            evidence=None if evidence is None else json_ready(dict(evidence), "evidence"),
        ).to_dict()

    # ------------------------------------------------- backend primitives
    @abstractmethod
    def _model_names(self) -> list[str]:
        """Names of stored models."""

    @abstractmethod
    def _version_numbers(self, name: str) -> list[int]:
        """Version numbers of ``name`` that are completely stored."""

    @abstractmethod
    def _read_version_doc(self, name: str, version: int) -> dict[str, Any] | None:
        """Content of ``version.json`` of a version, or None if absent."""

    @abstractmethod
    def _version_revision(self, name: str, version: int) -> str | None:
        """The backend's revision (Hub commit) of a stored version, or None."""

    @abstractmethod
    def _store_version(
        self, name: str, doc: dict[str, Any], model_path: Path, files: dict[str, Path],
    ) -> dict[str, Any]:
        """Store a new version atomically, numbering it; returns ``doc`` with ``version``."""

    @abstractmethod
    def _local_file(self, name: str, version: int, filename: str, sha256: str) -> Path:
        """A local path to a stored file (downloaded if need be; not yet verified)."""

    @abstractmethod
    def _put_blob(self, sha: str, path: Path) -> None:
        """Store ``path`` as blob ``sha`` unless it is already there."""

    @abstractmethod
    def _get_blob(self, sha: str) -> Path | None:
        """A local path of blob ``sha`` (downloaded if need be; not verified), or None."""

    @abstractmethod
    def _read_refs(self, name: str) -> Refs:
        """Current refs of ``name`` (a consistent snapshot)."""

    @abstractmethod
    def _read_ledger(self, name: str) -> list[dict[str, Any]]:
        """Every committed ledger entry of ``name``."""

    @abstractmethod
    def _append(self, name: str, make: Callable[[Refs], dict[str, Any]]) -> dict[str, Any]:
        """Atomically: read refs, ``entry = make(refs)``, append it to the ledger, update refs.

        ``make`` raises to abort (for example ConflictError); backends that detect a
        concurrent change after the fact call ``make`` again with fresh refs.
        """
