"""The Hugging Face Hub registry's primitives (versions, tags, aliases and ledger): one model
repository holds the whole registry.

Layout in the repository (branch ``main``)::

    <name>/versions/<N>/version.json, model.skops, extra files
    <name>/refs.json      aliases, rollback stacks and state: the folded ledger
    <name>/ledger.jsonl   append-only, one JSON entry per line

and a tag ``<name>--v<N>`` per version. Data snapshots live apart, in the dataset
repository ``<repo_id>-data``: each snapshot is the file ``blobs/sha256/<hex>`` added by
one commit and tagged ``sha256-<hex>``, so the revision of a version's data is that tag's
commit and identical data is never uploaded twice. A version exists once its tag exists; reads of a
version download at the tag's commit, so a later commit can never change what a version
is. Aliases and ledger change together in one commit made with ``parent_commit`` set to the
commit they were read from: if ``main`` moved in between, the Hub refuses the commit (412)
and the move is re-checked against fresh refs and retried, or fails with ConflictError.

The HTTP side (errors, retries, the last state seen offline) is
:mod:`mlops.registry.hub_transport`; data snapshots are :mod:`mlops.registry.hub_blobs`.
A write whose reply is lost (the commit may have landed) is checked against fresh state
before it is retried or reported, so a commit that landed is reported as done, and never
made twice.

huggingface_hub is imported by these three modules only, and they only by ``open_registry``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huggingface_hub.errors import HfHubHTTPError

from mlops.core.exceptions import ConflictError, IntegrityError, RegistryError, UnavailableError
from mlops.registry.base import BLOB_PREFIX, Registry
from mlops.registry.hub_blobs import HubBlobStore
from mlops.registry.hub_transport import (
    NETWORK_RETRIES,
    RETRIES,
    TAG_SEP,
    HubTransport,
    Unsure,
    http_status,
    is_network,
)
from mlops.registry.records import (
    DEFAULT_ALIASES,
    MODEL_FILE,
    VERSION_FILE,
    Refs,
    validate_name,
    version_number,
)

__all__ = ["HubRegistry"]

log = logging.getLogger("mlops.registry")


class HubRegistry(Registry):
    """Registry in a Hugging Face Hub model repository ``repo_id``.

    ``endpoint`` defaults to ``HF_ENDPOINT`` (read now, not at import), ``token`` to
    ``HF_TOKEN`` or the stored login; downloads are cached in ``cache_dir``.
    """

    backend = "hub"

    def __init__(
        self, repo_id: str, *, cache_dir: str | Path | None = None,
        endpoint: str | None = None, token: str | None = None,
        aliases: tuple[str, ...] = DEFAULT_ALIASES,
    ) -> None:
        super().__init__(aliases)
        self._hub = HubTransport(repo_id, cache_dir=cache_dir, endpoint=endpoint, token=token)
        self._blobs = HubBlobStore(self._hub)
        self.repo_id = repo_id
        self.endpoint = self._hub.endpoint
        self.token = self._hub.token
        self.cache_dir = self._hub.cache_dir
        self.api = self._hub.api
        self.data_repo_id = self._hub.data_repo_id

    def __repr__(self) -> str:
        return f"HubRegistry({self.repo_id!r} at {self.endpoint})"

    def _ensure_repo(self) -> None:
        self._hub.ensure_repo()

    @staticmethod
    def _tag(name: str, version: int) -> str:
        return f"{name}{TAG_SEP}{version}"

    def _tagged_versions(self, tags: dict[str, str]) -> dict[str, dict[int, str]]:
        found: dict[str, dict[int, str]] = {}
        for tag, commit in tags.items():
            name, sep, text = tag.rpartition(TAG_SEP)
            if sep and name and (number := version_number(text)) is not None:
                found.setdefault(name, {})[number] = commit
        return found

    def _version_revision(self, name: str, version: int) -> str | None:
        # Version tags never move, so a tag seen once is not looked up again.
        tag = self._tag(name, version)
        if tag not in self._hub.tags:
            self._hub.refs()
        if tag not in self._hub.tags and self._hub.offline:
            raise UnavailableError(
                f"Hub registry {self.repo_id} at {self.endpoint} is unreachable and {name} "
                f"v{version} is not in the state last seen; it loads once the Hub answers "
                "again (check the network and HF_ENDPOINT)",
                repo=self.repo_id, endpoint=self.endpoint,
            )
        return self._hub.tags.get(tag)

    # --------------------------------------------------------------- versions
    def _model_names(self) -> list[str]:
        return list(self._tagged_versions(self._hub.refs()[1]))

    def _version_numbers(self, name: str) -> list[int]:
        validate_name(name)
        return list(self._tagged_versions(self._hub.refs()[1]).get(name, {}))

    def _read_version_doc(self, name: str, version: int) -> dict[str, Any] | None:
        commit = self._version_revision(validate_name(name), version)
        if commit is None:
            return None
        where = f"{name}/versions/{version}/{VERSION_FILE}"
        path = self._hub.download(where, commit)
        return None if path is None else self._hub.read_json(path, where)

    def _store_version(
        self, name: str, doc: dict[str, Any], model_path: Path, files: dict[str, Path],
    ) -> dict[str, Any]:
        self._ensure_repo()
        sent: list[dict[str, Any]] = []  # commits whose reply was lost
        unsure: Unsure | None = None
        for attempt in range(RETRIES):
            head, tags = self._check_refs(unsure)
            for full in sent:  # did a commit whose reply was lost land after all?
                if head and self._holds_version(name, full, head):
                    log.info("%s v%s: the Hub did not confirm the commit, but it landed",
                             name, full["version"])
                    return self._tag_version(name, full, head)
            if unsure is not None and len(sent) > NETWORK_RETRIES:
                raise self._hub.unavailable(f"register {name} ({len(sent)} commits failed, none "
                                        "was applied)", unsure.cause)
            number = max(self._tagged_versions(tags).get(name, {}), default=0) + 1
            # A writer that died between its commit and its tag left an untagged folder.
            while self._hub.download(f"{name}/versions/{number}/{VERSION_FILE}", head) is not None:
                number += 1
            full = {**doc, "version": number}
            prefix = f"{name}/versions/{number}/"
            payload: dict[str, bytes | Path] = {prefix + MODEL_FILE: model_path}
            payload.update({prefix + fname: src for fname, src in files.items()})
            payload[prefix + VERSION_FILE] = json.dumps(full, indent=1, sort_keys=True).encode()
            try:
                commit = self._hub.commit(payload, f"register {name} v{number}", head)
            except Unsure as exc:
                sent.append(full)
                unsure = exc
                self._hub.pause(attempt)
                continue
            if commit is not None:
                return self._tag_version(name, full, commit)
            self._hub.pause(attempt)
        raise ConflictError(
            f"{name}: could not register a new version on {self.repo_id}: main kept moving "
            f"({RETRIES} attempts); retry later", model=name,
        )

    def _check_refs(self, unsure: Unsure | None) -> tuple[str | None, dict[str, str]]:
        """Fresh refs for a write; after a lost reply, an unreachable Hub says so."""
        try:
            return self._hub.refs(fresh=True)
        except UnavailableError:
            if unsure is not None:
                raise unsure from None
            raise

    def _holds_version(self, name: str, full: dict[str, Any], head: str) -> bool:
        path = self._hub.download(f"{name}/versions/{full['version']}/{VERSION_FILE}", head)
        return path is not None and self._hub.read_json(path, VERSION_FILE) == full

    def _tag_version(self, name: str, full: dict[str, Any], commit: str) -> dict[str, Any]:
        """Tag the commit holding version ``full``: from then on the version exists."""
        number = full["version"]
        tag = self._tag(name, number)
        failure: Exception | None = None
        for attempt in range(NETWORK_RETRIES + 1):
            try:
                self._hub.api.create_tag(self.repo_id, tag=tag, revision=commit,
                                    tag_message=f"{name} v{number}")
                self._hub.tags[tag] = commit
                self._hub.remember(tags={tag: commit})
                return full
            except Exception as exc:
                exists = isinstance(exc, HfHubHTTPError) and http_status(exc) == 409
                if not exists and not is_network(exc):
                    raise self._hub.error(f"tag {name} v{number}", exc) from None
                failure = exc
            # The reply was lost, or the tag exists: look before trying again.
            try:
                _, tags = self._hub.refs(fresh=True)
            except UnavailableError:
                tags = {}
            if tag in tags:
                return full
            self._hub.pause(attempt)
        raise self._hub.unavailable(
            f"tag {name} v{number} (committed as {commit[:12]}, but a version exists only once "
            "it is tagged: register it again)", failure or RuntimeError("no answer"),
        )

    def _local_file(self, name: str, version: int, filename: str, sha256: str) -> Path:
        commit = self._version_revision(name, version)
        path = None if commit is None else self._hub.download(
            f"{name}/versions/{version}/{filename}", commit)
        if path is None:
            raise RegistryError(
                f"{name} v{version}: {filename} is missing on {self.repo_id}; the version is "
                "incomplete. Register the model again", model=name, version=version,
            )
        return path

    # ------------------------------------------------------------- data snapshots
    def _put_blob(self, sha: str, path: Path) -> None:
        self._blobs.put(sha, path)

    def _get_blob(self, sha: str) -> Path | None:
        if self._blobs.revision(sha) is not None:
            return self._blobs.get(sha)  # the revision is known now: no second refs read
        main, _ = self._hub.refs()  # kept in the model repository by earlier releases
        return None if main is None else self._hub.download(BLOB_PREFIX + sha, main)

    def version_url(self, name: str, version: int | str) -> str | None:
        """The Hub's file view of the version's folder at its tagged commit."""
        mv = self.resolve(name, version)
        commit = self.revision(name, mv.version)
        return None if commit is None else (
            f"{self.endpoint}/{self.repo_id}/blob/{commit}/{name}/versions/{mv.version}/")

    def blob_location(self, where: str) -> dict[str, Any]:
        """The dataset repository, revision and link of a stored snapshot."""
        return self._blobs.location(where)

    # --------------------------------------------------------- refs and ledger
    def _read_at(self, name: str, head: str | None) -> tuple[Refs, bytes]:
        if head is None:
            return Refs(), b""
        refs_path = self._hub.download(f"{name}/refs.json", head)
        ledger_path = self._hub.download(f"{name}/ledger.jsonl", head)
        refs = (Refs.from_dict(self._hub.read_json(refs_path, f"{name}/refs.json"),
                               where=f"{name}/refs.json") if refs_path else Refs())
        if not self._hub.offline:
            self._hub.remember(main=head)
        return refs, ledger_path.read_bytes() if ledger_path else b""

    def _read_refs(self, name: str) -> Refs:
        head, _ = self._hub.refs()
        if head is None:
            return Refs()
        where = f"{validate_name(name)}/refs.json"
        path = self._hub.download(where, head)
        refs = Refs.from_dict(self._hub.read_json(path, where), where=where) if path else Refs()
        if not self._hub.offline:
            self._hub.remember(main=head)  # its refs.json is in the cache now
        return refs

    def _ledger_lines(self, name: str, ledger: bytes) -> list[dict[str, Any]]:
        try:
            return [json.loads(line) for line in ledger.splitlines() if line.strip()]
        except ValueError:
            raise IntegrityError(
                f"{self.repo_id}: a line of {name}/ledger.jsonl is not valid JSON; the ledger "
                "was edited by hand. Restore it from its history", file=f"{name}/ledger.jsonl",
            ) from None

    def _read_ledger(self, name: str) -> list[dict[str, Any]]:
        head, _ = self._hub.refs()
        return self._ledger_lines(name, self._read_at(validate_name(name), head)[1])

    def _append(self, name: str, make: Callable[[Refs], dict[str, Any]]) -> dict[str, Any]:
        self._ensure_repo()
        where = f"{name}/ledger.jsonl"
        sent: list[dict[str, Any]] = []  # entries whose commit reply was lost
        unsure: Unsure | None = None
        for attempt in range(RETRIES):
            head, _ = self._check_refs(unsure)
            refs, ledger = self._read_at(name, head)
            if sent:  # did a commit whose reply was lost land after all?
                landed = [e for e in sent if e in self._ledger_lines(name, ledger)]
                if landed:
                    log.info("%s: the Hub did not confirm %s #%s, but it landed", name,
                             landed[0]["action"], landed[0]["seq"])
                    return landed[0]
                if unsure is not None and len(sent) > NETWORK_RETRIES:
                    raise self._hub.unavailable(f"update {where} ({len(sent)} commits failed, "
                                            "none was applied)", unsure.cause)
            entry = make(refs)  # raises ConflictError if the caller's expectation is stale
            refs.apply(entry, where)
            line = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode() + b"\n"
            files: dict[str, bytes | Path] = {
                where: ledger + line,
                f"{name}/refs.json": json.dumps(refs.to_dict(), indent=1, sort_keys=True).encode(),
            }
            what = entry.get("key") or entry.get("alias")
            try:
                if self._hub.commit(files, f"{entry['action']} {name} {what} (#{entry['seq']})",
                                head):
                    return entry
            except Unsure as exc:
                sent.append(entry)
                unsure = exc
            self._hub.pause(attempt)
        raise ConflictError(
            f"{name}: could not update aliases on {self.repo_id}: main kept moving "
            f"({RETRIES} attempts); retry later", model=name,
        )
