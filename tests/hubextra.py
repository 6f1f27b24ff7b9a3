"""Helpers that read or seed the local Hub server's state directly, bypassing HTTP.

:func:`put_files` seeds a repository directly, the way the Space's CommitScheduler would.
"""

from __future__ import annotations

from hubserver import HubServer, _commit_sha

__all__ = ["extend", "put_files", "files_at_head", "commits_on_main"]


def extend(server: HubServer) -> HubServer:
    """Kept for the tests that call it: the server now has every route itself."""
    return server


def put_files(server: HubServer, repo_key: str, files: dict[str, bytes]) -> str:
    """Commit ``files`` on main of ``repo_key`` (``dataset/ns/name``), creating it."""
    server.state.create(repo_key)
    repo = server.state.repos[repo_key]
    with server.state.lock:
        head = repo.branches["main"]
        merged = {**repo.commits[head][1], **files}
        sha = _commit_sha(head, merged, "seed")
        repo.commits[sha] = (head, merged)
        repo.branches["main"] = sha
    return sha


def files_at_head(server: HubServer, repo_key: str) -> dict[str, bytes]:
    """``{path: bytes}`` on main of ``repo_key``."""
    repo = server.state.repos[repo_key]
    return dict(repo.commits[repo.branches["main"]][1])


def commits_on_main(server: HubServer, repo_key: str) -> int:
    """How many commits main has, the initial one included."""
    repo = server.state.repos[repo_key]
    count, sha = 0, repo.branches["main"]
    while sha is not None:
        count, sha = count + 1, repo.commits[sha][0]
    return count
