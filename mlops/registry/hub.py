"""The Hugging Face Hub backend: one model repository holds the whole registry.

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

Network failures (no connection, a timeout, HTTP 5xx) are :class:`UnavailableError`, one
line naming the endpoint. Reads then fall back to the last state seen (kept next to the
download cache): versions already downloaded still load, with a warning. A write whose
reply is lost (the commit may have landed) is checked against fresh state before it is
retried or reported, so a commit that landed is reported as done, and never made twice.

huggingface_hub is imported here only, and this module only by ``open_registry``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import CommitOperationAdd, HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from mlops.core.exceptions import ConflictError, IntegrityError, RegistryError, UnavailableError
from mlops.registry.base import BLOB_PREFIX, Registry
from mlops.registry.records import (
    DEFAULT_ALIASES,
    MODEL_FILE,
    VERSION_FILE,
    Refs,
    utc_now,
    validate_name,
    version_number,
)

__all__ = ["HubRegistry"]

log = logging.getLogger("mlops.registry")

_TAG_SEP = "--v"
_BLOB_TAG = "sha256-"  # tag of a data snapshot's commit in the dataset repository
_RETRIES = 20  # commits lost to unrelated concurrent commits before giving up
_NETWORK_RETRIES = 3  # writes that failed on the network (and did not land) before giving up
# Failures where the request never reached the Hub: nothing can have been applied.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout,
             httpx2.UnsupportedProtocol, OfflineModeIsEnabled)


class _Unsure(UnavailableError):
    """A write failed after it was sent: the Hub may or may not have applied it."""

    cause: BaseException  # what the client raised


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_network(exc: BaseException) -> bool:
    """True for failures of the network or of the Hub itself, not of the request."""
    if isinstance(exc, HfHubHTTPError):
        status = _status(exc)
        return status is None or status >= 500 or status in (408, 429)
    return isinstance(exc, (httpx2.RequestError, OfflineModeIsEnabled, LocalEntryNotFoundError,
                            ConnectionError, TimeoutError))


def _reason(exc: BaseException) -> str:
    """What went wrong, on one short line."""
    if isinstance(exc, LocalEntryNotFoundError):
        cause = exc.__cause__ or exc.__context__
        return _reason(cause) if cause is not None else "no connection"
    if isinstance(exc, HfHubHTTPError):
        message = (exc.server_message or "").strip().splitlines()
        return f"HTTP {_status(exc)}" + (f": {message[0][:120]}" if message else "")
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
        self.data_repo_id = f"{repo_id}-data"  # the dataset repository of data snapshots
        self._repo_ready = False
        self._data_repo_ready = False
        self._tags: dict[str, str] = {}  # version tag -> commit, filled by _refs()
        self._offline = False  # the Hub could not be reached: reads come from the cache
        self._seen: dict[str, Any] | None = None  # the last state seen, as saved on disk

    def __repr__(self) -> str:
        return f"HubRegistry({self.repo_id!r} at {self.endpoint})"

    # ------------------------------------------------------------ errors
    def _unavailable(self, what: str, exc: BaseException, *, unsure: bool = False
                     ) -> UnavailableError:
        cls = _Unsure if unsure else UnavailableError
        if unsure:
            todo = ("The Hub may or may not have applied it: check `mlops registry history` "
                    "once it answers, before retrying")
        else:
            todo = ("Check the network and HF_ENDPOINT (or the Hub's status page), then retry")
        return cls(
            f"Hub registry {self.repo_id} at {self.endpoint}: cannot {what} ({_reason(exc)}). "
            f"{todo}", repo=self.repo_id, endpoint=self.endpoint,
        )

    def _http_error(self, what: str, exc: HfHubHTTPError) -> RegistryError:
        if _is_network(exc):
            return self._unavailable(what, exc)
        status = _status(exc) or "?"
        hint = " Set HF_TOKEN to a token with write access." if status in (401, 403) else ""
        return RegistryError(
            f"Hub registry {self.repo_id} at {self.endpoint}: cannot {what} ({_reason(exc)})."
            f"{hint}", repo=self.repo_id,
        )

    def _error(self, what: str, exc: Exception) -> Exception:
        """``exc`` as the registry's error, or ``exc`` itself if it is not the Hub's."""
        if isinstance(exc, HfHubHTTPError):
            return self._http_error(what, exc)
        if _is_network(exc):
            return self._unavailable(what, exc)
        return exc

    # ------------------------------------------------- the last state seen
    def _seen_path(self) -> Path:
        root = Path(self.cache_dir or constants.HF_HUB_CACHE)
        slug = re.sub(r"[^A-Za-z0-9._-]", "_", self.repo_id.replace("/", "--"))
        return root / "mlops-registry" / f"models--{slug}.json"

    def _load_seen(self) -> dict[str, Any] | None:
        if self._seen is None:
            try:
                seen = json.loads(self._seen_path().read_bytes())
            except (OSError, ValueError):
                return None
            if not isinstance(seen, dict) or seen.get("endpoint") != self.endpoint:
                return None
            self._seen = seen
        return self._seen

    def _remember(self, *, main: str | None = None, tags: dict[str, str] | None = None) -> None:
        """Save what a later offline read may use: the version tags (they never move) and
        the last commit of ``main`` whose refs were read."""
        seen = dict(self._load_seen() or {"endpoint": self.endpoint, "tags": {}})
        new_tags = {**seen.get("tags", {}), **(tags or {})}
        if new_tags == seen.get("tags") and (main is None or main == seen.get("main")):
            return
        seen.update(tags=new_tags, saved=utc_now())
        if main is not None:
            seen["main"] = main
        path = self._seen_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
            tmp.write_text(json.dumps(seen, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache only costs the offline fallback
            log.debug("cannot save the registry state in %s: %s", path, exc)
        self._seen = seen

    # ------------------------------------------------------------ hub access
    def _refs(self, *, fresh: bool = False) -> tuple[str | None, dict[str, str]]:
        """``(main's commit, {tag: commit})``; ``(None, {})`` if the repo does not exist.

        When the Hub cannot be reached, the last state seen is returned (with a warning)
        unless ``fresh``: writes always need the Hub's current state.
        """
        try:
            refs = self.api.list_repo_refs(self.repo_id)
        except RepositoryNotFoundError as exc:
            if self.token is None and _status(exc) == 401:
                # Without a token the Hub answers 401 for a private repo and for a missing
                # one alike: "no versions yet" would be a guess, so say that it is unreadable.
                raise RegistryError(
                    f"Hub registry {self.repo_id} at {self.endpoint}: cannot read it without "
                    "a token (HTTP 401: the repository is private, or does not exist). Set "
                    "HF_TOKEN to a token that can read it", repo=self.repo_id) from None
            return None, {}
        except Exception as exc:
            error = self._error("list the repository's refs", exc)
            seen = None if fresh or not isinstance(error, UnavailableError) else self._load_seen()
            if seen is None:
                raise error from None
            if not self._offline:
                log.warning(
                    "Hub registry %s at %s is unreachable (%s); reading the state last seen "
                    "on %s from the local cache in %s: versions downloaded before still load, "
                    "aliases may be out of date, writes need the Hub", self.repo_id,
                    self.endpoint, _reason(exc), seen.get("saved", "?"), self._seen_path().parent,
                )
            self._offline = True
            self._tags.update(seen.get("tags", {}))
            return seen.get("main"), dict(seen.get("tags", {}))
        if self._offline:
            log.warning("Hub registry %s at %s answers again", self.repo_id, self.endpoint)
        self._offline = False
        main = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        tags = {t.name: t.target_commit for t in refs.tags}
        self._tags.update(tags)
        self._remember(tags={t: c for t, c in tags.items() if _TAG_SEP in t})
        return main, tags

    def _download(self, path: str, revision: str, *, dataset: bool = False) -> Path | None:
        """Local path of ``path`` at commit ``revision``, or None if it does not exist.

        ``dataset``: from the dataset repository of data snapshots, not the model's.
        """
        try:
            return Path(hf_hub_download(
                self.data_repo_id if dataset else self.repo_id, path, revision=revision,
                repo_type="dataset" if dataset else None, cache_dir=self.cache_dir,
                endpoint=self.endpoint, token=self.token, local_files_only=self._offline,
            ))
        except LocalEntryNotFoundError as exc:  # the Hub is down and the file is not cached
            if self._offline:
                raise UnavailableError(
                    f"Hub registry {self.repo_id} at {self.endpoint} is unreachable and "
                    f"{path}@{revision[:12]} is not in the local cache; it loads once the Hub "
                    "answers again (check the network and HF_ENDPOINT)",
                    repo=self.repo_id, endpoint=self.endpoint,
                ) from None
            raise self._unavailable(f"download {path}@{revision[:12]}", exc) from None
        except (EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError):
            return None
        except Exception as exc:
            raise self._error(f"download {path}@{revision[:12]}", exc) from None

    def _json(self, path: Path, where: str) -> Any:
        try:
            return json.loads(path.read_bytes())
        except ValueError as exc:
            raise IntegrityError(f"{self.repo_id}: {where} is not valid JSON ({exc}); it was "
                                 "edited by hand", repo=self.repo_id, file=where) from None

    def _ensure_repo(self) -> None:
        if not self._repo_ready:
            try:
                self.api.create_repo(self.repo_id, exist_ok=True, private=True)
            except Exception as exc:
                raise self._error("create the repository", exc) from None
            self._repo_ready = True

    def _commit(self, files: dict[str, bytes | Path], message: str, parent: str) -> str | None:
        """Commit ``files`` on main if main is still ``parent``; the new commit or None.

        Raises :class:`_Unsure` when the commit was sent but no answer says whether it
        landed (a timeout, a dropped connection, HTTP 5xx): the caller checks.
        """
        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=c if isinstance(c, bytes)
                                  else str(c)) for p, c in files.items()]
        try:
            info = self.api.create_commit(
                self.repo_id, operations=ops, commit_message=message, parent_commit=parent,
            )
        except Exception as exc:
            if isinstance(exc, HfHubHTTPError) and _status(exc) in (409, 412):
                return None  # main moved since we read it: the caller re-reads and retries
            if _is_network(exc) and not isinstance(exc, _NOT_SENT):
                unsure = self._unavailable(f"commit ({message})", exc, unsure=True)
                unsure.cause = exc  # type: ignore[attr-defined]
                raise unsure from None
            raise self._error(f"commit ({message})", exc) from None
        if all(op._remote_oid is not None and op._remote_oid == op._local_oid for op in ops):
            # The client made no commit: main already held these bytes. Whether main is
            # still ``parent`` decides: a no-op, or someone else's commit (re-read, retry).
            return parent if info.oid == parent else None
        return info.oid

    @staticmethod
    def _pause(attempt: int) -> None:
        """Jittered backoff between attempts, so that racing writers spread out."""
        time.sleep(random.uniform(0, min(1.0, 0.02 * 2 ** attempt)))

    @staticmethod
    def _tag(name: str, version: int) -> str:
        return f"{name}{_TAG_SEP}{version}"

    def _tagged_versions(self, tags: dict[str, str]) -> dict[str, dict[int, str]]:
        found: dict[str, dict[int, str]] = {}
        for tag, commit in tags.items():
            name, sep, text = tag.rpartition(_TAG_SEP)
            if sep and name and (number := version_number(text)) is not None:
                found.setdefault(name, {})[number] = commit
        return found

    def _version_revision(self, name: str, version: int) -> str | None:
        # Version tags never move, so a tag seen once is not looked up again.
        tag = self._tag(name, version)
        if tag not in self._tags:
            self._refs()
        if tag not in self._tags and self._offline:
            raise UnavailableError(
                f"Hub registry {self.repo_id} at {self.endpoint} is unreachable and {name} "
                f"v{version} is not in the state last seen; it loads once the Hub answers "
                "again (check the network and HF_ENDPOINT)",
                repo=self.repo_id, endpoint=self.endpoint,
            )
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
        where = f"{name}/versions/{version}/{VERSION_FILE}"
        path = self._download(where, commit)
        return None if path is None else self._json(path, where)

    def _store_version(
        self, name: str, doc: dict[str, Any], model_path: Path, files: dict[str, Path],
    ) -> dict[str, Any]:
        self._ensure_repo()
        sent: list[dict[str, Any]] = []  # commits whose reply was lost
        unsure: _Unsure | None = None
        for attempt in range(_RETRIES):
            head, tags = self._check_refs(unsure)
            for full in sent:  # did a commit whose reply was lost land after all?
                if head and self._holds_version(name, full, head):
                    log.info("%s v%s: the Hub did not confirm the commit, but it landed",
                             name, full["version"])
                    return self._tag_version(name, full, head)
            if unsure is not None and len(sent) > _NETWORK_RETRIES:
                raise self._unavailable(f"register {name} ({len(sent)} commits failed, none "
                                        "was applied)", unsure.cause)
            number = max(self._tagged_versions(tags).get(name, {}), default=0) + 1
            # A writer that died between its commit and its tag left an untagged folder.
            while self._download(f"{name}/versions/{number}/{VERSION_FILE}", head) is not None:
                number += 1
            full = {**doc, "version": number}
            prefix = f"{name}/versions/{number}/"
            payload: dict[str, bytes | Path] = {prefix + MODEL_FILE: model_path}
            payload.update({prefix + fname: src for fname, src in files.items()})
            payload[prefix + VERSION_FILE] = json.dumps(full, indent=1, sort_keys=True).encode()
            try:
                commit = self._commit(payload, f"register {name} v{number}", head)
            except _Unsure as exc:
                sent.append(full)
                unsure = exc
                self._pause(attempt)
                continue
            if commit is not None:
                return self._tag_version(name, full, commit)
            self._pause(attempt)
        raise ConflictError(
            f"{name}: could not register a new version on {self.repo_id}: main kept moving "
            f"({_RETRIES} attempts); retry later", model=name,
        )

    def _check_refs(self, unsure: _Unsure | None) -> tuple[str | None, dict[str, str]]:
        """Fresh refs for a write; after a lost reply, an unreachable Hub says so."""
        try:
            return self._refs(fresh=True)
        except UnavailableError:
            if unsure is not None:
                raise unsure from None
            raise

    def _holds_version(self, name: str, full: dict[str, Any], head: str) -> bool:
        path = self._download(f"{name}/versions/{full['version']}/{VERSION_FILE}", head)
        return path is not None and self._json(path, VERSION_FILE) == full

    def _tag_version(self, name: str, full: dict[str, Any], commit: str) -> dict[str, Any]:
        """Tag the commit holding version ``full``: from then on the version exists."""
        number = full["version"]
        tag = self._tag(name, number)
        failure: Exception | None = None
        for attempt in range(_NETWORK_RETRIES + 1):
            try:
                self.api.create_tag(self.repo_id, tag=tag, revision=commit,
                                    tag_message=f"{name} v{number}")
                self._tags[tag] = commit
                self._remember(tags={tag: commit})
                return full
            except Exception as exc:
                exists = isinstance(exc, HfHubHTTPError) and _status(exc) == 409
                if not exists and not _is_network(exc):
                    raise self._error(f"tag {name} v{number}", exc) from None
                failure = exc
            # The reply was lost, or the tag exists: look before trying again.
            try:
                _, tags = self._refs(fresh=True)
            except UnavailableError:
                tags = {}
            if tag in tags:
                return full
            self._pause(attempt)
        raise self._unavailable(
            f"tag {name} v{number} (committed as {commit[:12]}, but a version exists only once "
            "it is tagged: register it again)", failure or RuntimeError("no answer"),
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

    def _put_blob(self, sha: str, path: Path) -> None:
        # One commit per content hash in the dataset repository, tagged with the hash: the
        # tag is the snapshot's revision. Data already tagged is never uploaded again. The
        # file's path is its hash, so racing writers of the same bytes cannot conflict: the
        # tag that lands first wins and the other writer's commit adds nothing new.
        if self._blob_revision(sha, fresh=True) is not None:
            return
        if not self._data_repo_ready:
            try:
                self.api.create_repo(self.data_repo_id, repo_type="dataset", exist_ok=True,
                                     private=True)
            except Exception as exc:
                raise self._error(f"create the dataset repository {self.data_repo_id}",
                                  exc) from None
            self._data_repo_ready = True
        message = f"data snapshot {sha[:12]}"
        try:
            info = self.api.create_commit(
                self.data_repo_id, repo_type="dataset", commit_message=message,
                operations=[CommitOperationAdd(BLOB_PREFIX + sha, str(path))])
            self.api.create_tag(self.data_repo_id, repo_type="dataset", tag=_BLOB_TAG + sha,
                                revision=info.oid, tag_message=message)
        except Exception as exc:
            if self._blob_revision(sha, fresh=True) is not None:
                return  # another writer stored the same bytes first
            raise self._error(f"store {message} in {self.data_repo_id}", exc) from None

    def _blob_revision(self, sha: str, *, fresh: bool = False) -> str | None:
        """The dataset repository's commit that holds snapshot ``sha``, or None."""
        tag = _BLOB_TAG + sha
        if fresh or tag not in self._tags:
            try:
                refs = self.api.list_repo_refs(self.data_repo_id, repo_type="dataset")
            except RepositoryNotFoundError:
                return None
            except Exception as exc:
                raise self._error(f"list the refs of {self.data_repo_id}", exc) from None
            self._tags.update({t.name: t.target_commit for t in refs.tags
                               if t.name.startswith(_BLOB_TAG)})
        return self._tags.get(tag)

    def _get_blob(self, sha: str) -> Path | None:
        revision = self._blob_revision(sha)
        if revision is not None:
            return self._download(BLOB_PREFIX + sha, revision, dataset=True)
        main, _ = self._refs()  # kept in the model repository by earlier releases
        return None if main is None else self._download(BLOB_PREFIX + sha, main)

    def version_url(self, name: str, version: int | str) -> str | None:
        """The Hub's file view of the version's folder at its tagged commit."""
        mv = self.resolve(name, version)
        commit = self.revision(name, mv.version)
        return None if commit is None else (
            f"{self.endpoint}/{self.repo_id}/blob/{commit}/{name}/versions/{mv.version}/")

    def blob_location(self, where: str) -> dict[str, Any]:
        """The dataset repository, revision and link of a stored snapshot."""
        sha = where.removeprefix(BLOB_PREFIX)
        revision = self._blob_revision(sha)
        if revision is None:
            return {}
        return {"repo": f"datasets/{self.data_repo_id}", "revision": revision,
                "url": f"{self.endpoint}/datasets/{self.data_repo_id}/blob/{revision}/{where}"}

    # --------------------------------------------------------- refs and ledger
    def _read_at(self, name: str, head: str | None) -> tuple[Refs, bytes]:
        if head is None:
            return Refs(), b""
        refs_path = self._download(f"{name}/refs.json", head)
        ledger_path = self._download(f"{name}/ledger.jsonl", head)
        refs = (Refs.from_dict(self._json(refs_path, f"{name}/refs.json"),
                               where=f"{name}/refs.json") if refs_path else Refs())
        if not self._offline:
            self._remember(main=head)
        return refs, ledger_path.read_bytes() if ledger_path else b""

    def _read_refs(self, name: str) -> Refs:
        head, _ = self._refs()
        if head is None:
            return Refs()
        where = f"{validate_name(name)}/refs.json"
        path = self._download(where, head)
        refs = Refs.from_dict(self._json(path, where), where=where) if path else Refs()
        if not self._offline:
            self._remember(main=head)  # its refs.json is in the cache now
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
        head, _ = self._refs()
        return self._ledger_lines(name, self._read_at(validate_name(name), head)[1])

    def _append(self, name: str, make: Callable[[Refs], dict[str, Any]]) -> dict[str, Any]:
        self._ensure_repo()
        where = f"{name}/ledger.jsonl"
        sent: list[dict[str, Any]] = []  # entries whose commit reply was lost
        unsure: _Unsure | None = None
        for attempt in range(_RETRIES):
            head, _ = self._check_refs(unsure)
            refs, ledger = self._read_at(name, head)
            if sent:  # did a commit whose reply was lost land after all?
                landed = [e for e in sent if e in self._ledger_lines(name, ledger)]
                if landed:
                    log.info("%s: the Hub did not confirm %s #%s, but it landed", name,
                             landed[0]["action"], landed[0]["seq"])
                    return landed[0]
                if unsure is not None and len(sent) > _NETWORK_RETRIES:
                    raise self._unavailable(f"update {where} ({len(sent)} commits failed, "
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
                if self._commit(files, f"{entry['action']} {name} {what} (#{entry['seq']})",
                                head):
                    return entry
            except _Unsure as exc:
                sent.append(entry)
                unsure = exc
            self._pause(attempt)
        raise ConflictError(
            f"{name}: could not update aliases on {self.repo_id}: main kept moving "
            f"({_RETRIES} attempts); retry later", model=name,
        )
