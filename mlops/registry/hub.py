"""The Hugging Face Hub backend: one model repository holds the whole registry.

Layout in the repository (branch ``main``)::

    <name>/versions/<N>/version.json, model.skops, extra files
    <name>/refs.json      aliases, rollback stacks and state: the folded ledger
    <name>/ledger.jsonl   append-only, one JSON entry per line

and a tag ``<name>--v<N>`` per version. A version exists once its tag exists; reads of a
version download at the tag's commit, so a later commit can never change what a version
is. Aliases and ledger change together in one commit made with ``parent_commit`` set to the
commit they were read from: if ``main`` moved in between, the Hub refuses the commit (412)
and the move is re-checked against fresh refs and retried, or fails with ConflictError.

huggingface_hub is imported here only, and this module only by ``open_registry``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from mlops.core.exceptions import ConflictError, RegistryError
from mlops.registry.base import Registry
from mlops.registry.records import (
    DEFAULT_ALIASES,
    MODEL_FILE,
    VERSION_FILE,
    Refs,
    validate_name,
)

__all__ = ["HubRegistry"]

_TAG_SEP = "--v"
_RETRIES = 20  # commits lost to unrelated concurrent commits before giving up


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
        self.repo_id = repo_id
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
        self.endpoint = self.endpoint.rstrip("/")
        self.token = token or os.environ.get("HF_TOKEN") or None
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.api = HfApi(endpoint=self.endpoint, token=self.token, library_name="mlops")
        self._repo_ready = False
        self._tags: dict[str, str] = {}  # version tag -> commit, filled by _refs()

    def __repr__(self) -> str:
        return f"HubRegistry({self.repo_id!r} at {self.endpoint})"

    # ------------------------------------------------------------ hub access
    def _refs(self) -> tuple[str | None, dict[str, str]]:
        """``(main's commit, {tag: commit})``; ``(None, {})`` if the repo does not exist."""
        try:
            refs = self.api.list_repo_refs(self.repo_id)
        except RepositoryNotFoundError:
            return None, {}
        except HfHubHTTPError as exc:
            raise self._http_error("list refs", exc) from None
        main = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        tags = {t.name: t.target_commit for t in refs.tags}
        self._tags.update(tags)
        return main, tags

    def _download(self, path: str, revision: str) -> Path | None:
        """Local path of ``path`` at commit ``revision``, or None if it does not exist."""
        try:
            return Path(hf_hub_download(
                self.repo_id, path, revision=revision, cache_dir=self.cache_dir,
                endpoint=self.endpoint, token=self.token,
            ))
        except (EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError):
            return None
        except HfHubHTTPError as exc:
            raise self._http_error(f"download {path}@{revision[:12]}", exc) from None

    def _ensure_repo(self) -> None:
        if not self._repo_ready:
            try:
                self.api.create_repo(self.repo_id, exist_ok=True, private=True)
            except HfHubHTTPError as exc:
                raise self._http_error("create the repository", exc) from None
            self._repo_ready = True

    def _commit(self, files: dict[str, bytes | Path], message: str, parent: str) -> str | None:
        """Commit ``files`` on main if main is still ``parent``; the new commit or None."""
        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=c if isinstance(c, bytes)
                                  else str(c)) for p, c in files.items()]
        try:
            info = self.api.create_commit(
                self.repo_id, operations=ops, commit_message=message, parent_commit=parent,
            )
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code in (409, 412):
                return None  # main moved since we read it: the caller re-reads and retries
            raise self._http_error("commit", exc) from None
        return info.oid

    def _http_error(self, what: str, exc: HfHubHTTPError) -> RegistryError:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = " Set HF_TOKEN to a token with write access." if status in (401, 403) else ""
        return RegistryError(
            f"Hub registry {self.repo_id}: cannot {what} (HTTP {status}: {exc}).{hint}",
            repo=self.repo_id,
        )

    @staticmethod
    def _tag(name: str, version: int) -> str:
        return f"{name}{_TAG_SEP}{version}"

    def _tagged_versions(self, tags: dict[str, str]) -> dict[str, dict[int, str]]:
        found: dict[str, dict[int, str]] = {}
        for tag, commit in tags.items():
            name, sep, number = tag.rpartition(_TAG_SEP)
            if sep and number.isdigit() and name:
                found.setdefault(name, {})[int(number)] = commit
        return found

    def _version_revision(self, name: str, version: int) -> str | None:
        # Version tags never move, so a tag seen once is not looked up again.
        tag = self._tag(name, version)
        if tag not in self._tags:
            self._refs()
        return self._tags.get(tag)

    # --------------------------------------------------------------- versions
    def _model_names(self) -> list[str]:
        return list(self._tagged_versions(self._refs()[1]))

    def _version_numbers(self, name: str) -> list[int]:
        validate_name(name)
        return list(self._tagged_versions(self._refs()[1]).get(name, {}))

    def _read_version_doc(self, name: str, version: int) -> dict[str, Any] | None:
        commit = self._version_revision(validate_name(name), version)
        if commit is None:
            return None
        path = self._download(f"{name}/versions/{version}/{VERSION_FILE}", commit)
        return None if path is None else json.loads(path.read_bytes())

    def _store_version(
        self, name: str, doc: dict[str, Any], model_path: Path, files: dict[str, Path],
    ) -> dict[str, Any]:
        self._ensure_repo()
        for _ in range(_RETRIES):
            head, tags = self._refs()
            number = max(self._tagged_versions(tags).get(name, {}), default=0) + 1
            # A writer that died between its commit and its tag left an untagged folder.
            while self._download(f"{name}/versions/{number}/{VERSION_FILE}", head) is not None:
                number += 1
            full = {**doc, "version": number}
            prefix = f"{name}/versions/{number}/"
            payload: dict[str, bytes | Path] = {prefix + MODEL_FILE: model_path}
            payload.update({prefix + fname: src for fname, src in files.items()})
            payload[prefix + VERSION_FILE] = json.dumps(full, indent=1, sort_keys=True).encode()
            commit = self._commit(payload, f"register {name} v{number}", head)
            if commit is None:
                continue
            try:
                self.api.create_tag(self.repo_id, tag=self._tag(name, number), revision=commit,
                                    tag_message=f"{name} v{number}")
            except HfHubHTTPError as exc:
                raise self._http_error(f"tag {name} v{number}", exc) from None
            return full
        raise ConflictError(
            f"{name}: could not register a new version on {self.repo_id}: main kept moving "
            f"({_RETRIES} attempts); retry later", model=name,
        )

    def _local_file(self, name: str, version: int, filename: str, sha256: str) -> Path:
        commit = self._version_revision(name, version)
        path = None if commit is None else self._download(
            f"{name}/versions/{version}/{filename}", commit)
        if path is None:
            raise RegistryError(
                f"{name} v{version}: {filename} is missing on {self.repo_id}; the version is "
                "incomplete. Register the model again", model=name, version=version,
            )
        return path

    # --------------------------------------------------------- refs and ledger
    def _read_at(self, name: str, head: str | None) -> tuple[Refs, bytes]:
        if head is None:
            return Refs(), b""
        refs_path = self._download(f"{name}/refs.json", head)
        ledger_path = self._download(f"{name}/ledger.jsonl", head)
        refs = Refs.from_dict(json.loads(refs_path.read_bytes())) if refs_path else Refs()
        return refs, ledger_path.read_bytes() if ledger_path else b""

    def _read_refs(self, name: str) -> Refs:
        head, _ = self._refs()
        if head is None:
            return Refs()
        path = self._download(f"{validate_name(name)}/refs.json", head)
        return Refs.from_dict(json.loads(path.read_bytes())) if path else Refs()

    def _read_ledger(self, name: str) -> list[dict[str, Any]]:
        head, _ = self._refs()
        ledger = self._read_at(validate_name(name), head)[1]
        return [json.loads(line) for line in ledger.splitlines() if line.strip()]

    def _append(self, name: str, make: Callable[[Refs], dict[str, Any]]) -> dict[str, Any]:
        self._ensure_repo()
        for _ in range(_RETRIES):
            head, _ = self._refs()
            refs, ledger = self._read_at(name, head)
            entry = make(refs)  # raises ConflictError if the caller's expectation is stale
            refs.apply(entry)
            line = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode() + b"\n"
            files: dict[str, bytes | Path] = {
                f"{name}/ledger.jsonl": ledger + line,
                f"{name}/refs.json": json.dumps(refs.to_dict(), indent=1, sort_keys=True).encode(),
            }
            what = entry.get("key") or entry.get("alias")
            if self._commit(files, f"{entry['action']} {name} {what} (#{entry['seq']})", head):
                return entry
        raise ConflictError(
            f"{name}: could not update aliases on {self.repo_id}: main kept moving "
            f"({_RETRIES} attempts); retry later", model=name,
        )
