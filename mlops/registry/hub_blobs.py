"""Data snapshots of the Hub registry, in its dataset repository ``<repo_id>-data``: each
snapshot is the file ``blobs/sha256/<hex>`` added by one commit and tagged ``sha256-<hex>``,
so the revision of a version's data is that tag's commit and identical data is never
uploaded twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import RepositoryNotFoundError

from mlops.registry.base import BLOB_PREFIX
from mlops.registry.hub_transport import HubTransport

__all__ = ["BLOB_TAG", "HubBlobStore"]

BLOB_TAG = "sha256-"  # tag of a data snapshot's commit in the dataset repository


class HubBlobStore:
    """Content-addressed files in the dataset repository of ``hub``'s registry."""

    def __init__(self, hub: HubTransport) -> None:
        self.hub = hub
        self._repo_ready = False
        self._tags: dict[str, str] = {}  # snapshot tag -> commit

    def put(self, sha: str, path: Path) -> None:
        """Store the file ``path`` as snapshot ``sha`` unless it is stored already."""
        # One commit per content hash in the dataset repository, tagged with the hash: the
        # tag is the snapshot's revision. Data already tagged is never uploaded again. The
        # file's path is its hash, so racing writers of the same bytes cannot conflict: the
        # tag that lands first wins and the other writer's commit adds nothing new.
        if self.revision(sha, fresh=True) is not None:
            return
        if not self._repo_ready:
            try:
                self.hub.api.create_repo(self.hub.data_repo_id, repo_type="dataset",
                                         exist_ok=True, private=True)
            except Exception as exc:
                raise self.hub.error(
                    f"create the dataset repository {self.hub.data_repo_id}", exc) from None
            self._repo_ready = True
        message = f"data snapshot {sha[:12]}"
        try:
            info = self.hub.api.create_commit(
                self.hub.data_repo_id, repo_type="dataset", commit_message=message,
                operations=[CommitOperationAdd(BLOB_PREFIX + sha, str(path))])
            self.hub.api.create_tag(self.hub.data_repo_id, repo_type="dataset",
                                    tag=BLOB_TAG + sha, revision=info.oid, tag_message=message)
        except Exception as exc:
            if self.revision(sha, fresh=True) is not None:
                return  # another writer stored the same bytes first
            raise self.hub.error(f"store {message} in {self.hub.data_repo_id}", exc) from None

    def revision(self, sha: str, *, fresh: bool = False) -> str | None:
        """The dataset repository's commit that holds snapshot ``sha``, or None."""
        tag = BLOB_TAG + sha
        if fresh or tag not in self._tags:
            try:
                refs = self.hub.api.list_repo_refs(self.hub.data_repo_id, repo_type="dataset")
            except RepositoryNotFoundError:
                return None
            except Exception as exc:
                raise self.hub.error(f"list the refs of {self.hub.data_repo_id}", exc) from None
            self._tags.update({t.name: t.target_commit for t in refs.tags
                               if t.name.startswith(BLOB_TAG)})
        return self._tags.get(tag)

    def get(self, sha: str) -> Path | None:
        """Local path of snapshot ``sha``, or None if the dataset repository lacks it."""
        revision = self.revision(sha)
        return None if revision is None else self.hub.download(BLOB_PREFIX + sha, revision,
                                                               dataset=True)

    def location(self, where: str) -> dict[str, Any]:
        """The dataset repository, revision and link of a stored snapshot."""
        sha = where.removeprefix(BLOB_PREFIX)
        revision = self.revision(sha)
        if revision is None:
            return {}
        repo = f"datasets/{self.hub.data_repo_id}"
        return {"repo": repo, "revision": revision,
                "url": f"{self.hub.endpoint}/{repo}/blob/{revision}/{where}"}
