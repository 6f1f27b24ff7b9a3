"""Routes that mlops/space/hubserver.py lacks, added to a running :class:`HubServer`.

``space push`` (``upload_folder`` with ``delete_patterns``) lists the repo tree, and
``fetch-log`` (``snapshot_download`` of a dataset) needs repo info, the tree and downloads
under ``/datasets/`` and ``/spaces/``. Kept apart so the registry's server stays unchanged:

- ``GET  /api/{type}s/{ns}/{name}/revision/{rev}``  (repo info: sha and siblings)
- ``GET  /api/{type}s/{ns}/{name}/tree/{rev}``      (recursive file list, one page)
- ``HEAD|GET /{datasets|spaces}/{ns}/{name}/resolve/{rev}/{path}``

:func:`put_files` seeds a repository directly, the way the Space's CommitScheduler would.
"""

from __future__ import annotations

import hashlib

from hubserver import HubServer, _commit_sha, _error
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["extend", "put_files", "files_at_head", "commits_on_main"]


def _snapshot(server: HubServer, request: Request, repo_type: str):
    p = request.path_params
    repo = server.state.repos.get(f"{repo_type}/{p['ns']}/{p['name']}")
    if repo is None:
        return None, None
    sha = server.state.resolve(repo, p.get("rev", "main"))
    return sha, (repo.commits[sha][1] if sha else None)


def extend(server: HubServer) -> HubServer:
    """Add the routes once; returns ``server``."""
    if getattr(server, "_extended", False):
        return server

    async def info(request: Request) -> Response:
        server.calls.append((request.method, "revision"))
        p = request.path_params
        sha, files = _snapshot(server, request, p["type"])
        if files is None:
            return _error(404, "RepoNotFound", "Repository not found")
        return JSONResponse({"id": f"{p['ns']}/{p['name']}", "sha": sha, "private": False,
                             "siblings": [{"rfilename": f} for f in sorted(files)]})

    async def tree(request: Request) -> Response:
        server.calls.append((request.method, "tree"))
        _, files = _snapshot(server, request, request.path_params["type"])
        if files is None:
            return _error(404, "RepoNotFound", "Repository not found")
        return JSONResponse([{"type": "file", "path": f, "size": len(c),
                              "oid": hashlib.sha1(c).hexdigest()}
                             for f, c in sorted(files.items())])

    async def resolve(request: Request) -> Response:
        server.calls.append((request.method, "resolve"))
        p = request.path_params
        sha, files = _snapshot(server, request, p["prefix"].rstrip("s"))
        if files is None:
            return _error(404, "RepoNotFound", "Repository not found")
        content = files.get(p["path"])
        if content is None:
            return _error(404, "EntryNotFound", f"{p['path']} does not exist")
        headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha1(content).hexdigest()}"',
                   "Content-Length": str(len(content))}
        body = b"" if request.method == "HEAD" else content
        return Response(body, headers=headers, media_type="application/octet-stream")

    api = "/api/{type}s/{ns}/{name}"
    app = server._server.config.app
    app.router.routes.extend([
        Route(api + "/revision/{rev}", info, methods=["GET"]),
        Route(api + "/tree/{rev}", tree, methods=["GET"]),
        Route("/{prefix:str}/{ns}/{name}/resolve/{rev}/{path:path}", resolve,
              methods=["GET", "HEAD"]),
    ])
    server._extended = True
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
