"""HTTP access to the Hub registry's repositories: Hub failures mapped to the registry's
errors (one line naming the endpoint), backoff between retries, and reads that fall back
to the last state seen when the Hub cannot be reached.

Network failures (no connection, a timeout, HTTP 5xx) are :class:`UnavailableError`. Reads
then fall back to the last state seen (kept next to the download cache): versions already
downloaded still load, with a warning. A commit whose reply is lost raises :class:`Unsure`,
so that the caller checks fresh state before it retries or reports.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
import uuid
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

from mlops.core.exceptions import IntegrityError, RegistryError, UnavailableError
from mlops.registry.records import utc_now

__all__ = ["NETWORK_RETRIES", "RETRIES", "TAG_SEP", "HubTransport", "Unsure", "is_network",
           "http_status"]

log = logging.getLogger("mlops.registry")

TAG_SEP = "--v"  # a version's tag is <name>--v<N>
RETRIES = 20  # commits lost to unrelated concurrent commits before giving up
NETWORK_RETRIES = 3  # writes that failed on the network (and did not land) before giving up
# Failures where the request never reached the Hub: nothing can have been applied.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout,
             httpx2.UnsupportedProtocol, OfflineModeIsEnabled)


class Unsure(UnavailableError):
    """A write failed after it was sent: the Hub may or may not have applied it."""

    cause: BaseException  # what the client raised


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a failed request, or None."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def is_network(exc: BaseException) -> bool:
    """True for failures of the network or of the Hub itself, not of the request."""
    if isinstance(exc, HfHubHTTPError):
        code = http_status(exc)
        return code is None or code >= 500 or code in (408, 429)
    return isinstance(exc, (httpx2.RequestError, OfflineModeIsEnabled, LocalEntryNotFoundError,
                            ConnectionError, TimeoutError))


def reason(exc: BaseException) -> str:
    """What went wrong, on one short line."""
    if isinstance(exc, LocalEntryNotFoundError):
        cause = exc.__cause__ or exc.__context__
        return reason(cause) if cause is not None else "no connection"
    if isinstance(exc, HfHubHTTPError):
        message = (exc.server_message or "").strip().splitlines()
        return f"HTTP {http_status(exc)}" + (f": {message[0][:120]}" if message else "")
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__



class HubTransport:
    """The registry's model repository ``repo_id`` (and its dataset repository of data
    snapshots, ``<repo_id>-data``) at ``endpoint``, with the registry's errors and the last
    state seen.

    ``endpoint`` defaults to ``HF_ENDPOINT`` (read now, not at import), ``token`` to
    ``HF_TOKEN`` or the stored login; downloads are cached in ``cache_dir``.
    """

    def __init__(self, repo_id: str, *, cache_dir: str | Path | None = None,
                 endpoint: str | None = None, token: str | None = None) -> None:
        self.repo_id = repo_id
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
        self.endpoint = self.endpoint.rstrip("/")
        self.token = token or os.environ.get("HF_TOKEN") or None
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.api = HfApi(endpoint=self.endpoint, token=self.token, library_name="mlops")
        self.data_repo_id = f"{repo_id}-data"  # the dataset repository of data snapshots
        self.tags: dict[str, str] = {}  # version tag -> commit, filled by refs()
        self.offline = False  # the Hub could not be reached: reads come from the cache
        self._repo_ready = False
        self._seen: dict[str, Any] | None = None  # the last state seen, as saved on disk

    def unavailable(self, what: str, exc: BaseException, *, unsure: bool = False
                     ) -> UnavailableError:
        cls = Unsure if unsure else UnavailableError
        if unsure:
            todo = ("The Hub may or may not have applied it: check `mlops registry history` "
                    "once it answers, before retrying")
        else:
            todo = ("Check the network and HF_ENDPOINT (or the Hub's status page), then retry")
        return cls(
            f"Hub registry {self.repo_id} at {self.endpoint}: cannot {what} ({reason(exc)}). "
            f"{todo}", repo=self.repo_id, endpoint=self.endpoint,
        )

    def http_error(self, what: str, exc: HfHubHTTPError) -> RegistryError:
        if is_network(exc):
            return self.unavailable(what, exc)
        status = http_status(exc) or "?"
        hint = " Set HF_TOKEN to a token with write access." if status in (401, 403) else ""
        return RegistryError(
            f"Hub registry {self.repo_id} at {self.endpoint}: cannot {what} ({reason(exc)})."
            f"{hint}", repo=self.repo_id,
        )

    def error(self, what: str, exc: Exception) -> Exception:
        """``exc`` as the registry's error, or ``exc`` itself if it is not the Hub's."""
        if isinstance(exc, HfHubHTTPError):
            return self.http_error(what, exc)
        if is_network(exc):
            return self.unavailable(what, exc)
        return exc

    def seen_path(self) -> Path:
        root = Path(self.cache_dir or constants.HF_HUB_CACHE)
        slug = re.sub(r"[^A-Za-z0-9._-]", "_", self.repo_id.replace("/", "--"))
        return root / "mlops-registry" / f"models--{slug}.json"

    def load_seen(self) -> dict[str, Any] | None:
        if self._seen is None:
            try:
                seen = json.loads(self.seen_path().read_bytes())
            except (OSError, ValueError):
                return None
            if not isinstance(seen, dict) or seen.get("endpoint") != self.endpoint:
                return None
            self._seen = seen
        return self._seen

    def remember(self, *, main: str | None = None, tags: dict[str, str] | None = None) -> None:
        """Save what a later offline read may use: the version tags (they never move) and
        the last commit of ``main`` whose refs were read."""
        seen = dict(self.load_seen() or {"endpoint": self.endpoint, "tags": {}})
        new_tags = {**seen.get("tags", {}), **(tags or {})}
        if new_tags == seen.get("tags") and (main is None or main == seen.get("main")):
            return
        seen.update(tags=new_tags, saved=utc_now())
        if main is not None:
            seen["main"] = main
        path = self.seen_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
            tmp.write_text(json.dumps(seen, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache only costs the offline fallback
            log.debug("cannot save the registry state in %s: %s", path, exc)
        self._seen = seen

    def refs(self, *, fresh: bool = False) -> tuple[str | None, dict[str, str]]:
        """``(main's commit, {tag: commit})``; ``(None, {})`` if the repo does not exist.

        When the Hub cannot be reached, the last state seen is returned (with a warning)
        unless ``fresh``: writes always need the Hub's current state.
        """
        try:
            refs = self.api.list_repo_refs(self.repo_id)
        except RepositoryNotFoundError as exc:
            if self.token is None and http_status(exc) == 401:
                # Without a token the Hub answers 401 for a private repo and for a missing
                # one alike: "no versions yet" would be a guess, so say that it is unreadable.
                raise RegistryError(
                    f"Hub registry {self.repo_id} at {self.endpoint}: cannot read it without "
                    "a token (HTTP 401: the repository is private, or does not exist). Set "
                    "HF_TOKEN to a token that can read it", repo=self.repo_id) from None
            return None, {}
        except Exception as exc:
            error = self.error("list the repository's refs", exc)
            seen = None if fresh or not isinstance(error, UnavailableError) else self.load_seen()
            if seen is None:
                raise error from None
            if not self.offline:
                log.warning(
                    "Hub registry %s at %s is unreachable (%s); reading the state last seen "
                    "on %s from the local cache in %s: versions downloaded before still load, "
                    "aliases may be out of date, writes need the Hub", self.repo_id,
                    self.endpoint, reason(exc), seen.get("saved", "?"), self.seen_path().parent,
                )
            self.offline = True
            self.tags.update(seen.get("tags", {}))
            return seen.get("main"), dict(seen.get("tags", {}))
        if self.offline:
            log.warning("Hub registry %s at %s answers again", self.repo_id, self.endpoint)
        self.offline = False
        main = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        tags = {t.name: t.target_commit for t in refs.tags}
        self.tags.update(tags)
        self.remember(tags={t: c for t, c in tags.items() if TAG_SEP in t})
        return main, tags

    def download(self, path: str, revision: str, *, dataset: bool = False) -> Path | None:
        """Local path of ``path`` at commit ``revision``, or None if it does not exist.

        ``dataset``: from the dataset repository of data snapshots, not the model's.
        """
        try:
            return Path(hf_hub_download(
                self.data_repo_id if dataset else self.repo_id, path, revision=revision,
                repo_type="dataset" if dataset else None, cache_dir=self.cache_dir,
                endpoint=self.endpoint, token=self.token, local_files_only=self.offline,
            ))
        except LocalEntryNotFoundError as exc:  # the Hub is down and the file is not cached
            if self.offline:
                raise UnavailableError(
                    f"Hub registry {self.repo_id} at {self.endpoint} is unreachable and "
                    f"{path}@{revision[:12]} is not in the local cache; it loads once the Hub "
                    "answers again (check the network and HF_ENDPOINT)",
                    repo=self.repo_id, endpoint=self.endpoint,
                ) from None
            raise self.unavailable(f"download {path}@{revision[:12]}", exc) from None
        except (EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError):
            return None
        except Exception as exc:
            raise self.error(f"download {path}@{revision[:12]}", exc) from None

    def read_json(self, path: Path, where: str) -> Any:
        try:
            return json.loads(path.read_bytes())
        except ValueError as exc:
            raise IntegrityError(f"{self.repo_id}: {where} is not valid JSON ({exc}); it was "
                                 "edited by hand", repo=self.repo_id, file=where) from None

    def ensure_repo(self) -> None:
        if not self._repo_ready:
            try:
                self.api.create_repo(self.repo_id, exist_ok=True, private=True)
            except Exception as exc:
                raise self.error("create the repository", exc) from None
            self._repo_ready = True

    def commit(self, files: dict[str, bytes | Path], message: str, parent: str) -> str | None:
        """Commit ``files`` on main if main is still ``parent``; the new commit or None.

        Raises :class:`Unsure` when the commit was sent but no answer says whether it
        landed (a timeout, a dropped connection, HTTP 5xx): the caller checks.
        """
        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=c if isinstance(c, bytes)
                                  else str(c)) for p, c in files.items()]
        try:
            info = self.api.create_commit(
                self.repo_id, operations=ops, commit_message=message, parent_commit=parent,
            )
        except Exception as exc:
            if isinstance(exc, HfHubHTTPError) and http_status(exc) in (409, 412):
                return None  # main moved since we read it: the caller re-reads and retries
            if is_network(exc) and not isinstance(exc, _NOT_SENT):
                unsure = self.unavailable(f"commit ({message})", exc, unsure=True)
                unsure.cause = exc  # type: ignore[attr-defined]
                raise unsure from None
            raise self.error(f"commit ({message})", exc) from None
        if all(op._remote_oid is not None and op._remote_oid == op._local_oid for op in ops):
            # The client made no commit: main already held these bytes. Whether main is
            # still ``parent`` decides: a no-op, or someone else's commit (re-read, retry).
            return parent if info.oid == parent else None
        return info.oid

    @staticmethod
    def pause(attempt: int) -> None:
        """Jittered backoff between attempts, so that racing writers spread out."""
        time.sleep(random.uniform(0, min(1.0, 0.02 * 2 ** attempt)))
