"""A small Hugging Face Hub-protocol server: Starlette + uvicorn on 127.0.0.1.

The tests and ``mlops loop`` (the offline rehearsal of CI/CD) run the real
``huggingface_hub`` client against it through ``HF_ENDPOINT``; it is never a production
registry: storage is in memory and it has no authentication.

It speaks just enough of the Hub's HTTP API for the real ``huggingface_hub`` client to
create a repository, commit files (inline, base64), check ``parentCommit``, tag commits,
list refs, and download files by revision. Storage is in memory: every commit is a full
snapshot ``{path: bytes}`` with a parent, branches and tags point at commits.

Endpoints (``{type}`` is ``model``, ``dataset`` or ``space``):

- ``POST /api/repos/create``
- ``POST /api/validate-yaml``
- ``POST /api/{type}s/{ns}/{name}/preupload/{rev}``   (always ``uploadMode: regular``)
- ``POST /api/{type}s/{ns}/{name}/commit/{rev}``      (NDJSON; 412 if parentCommit moved)
- ``POST /api/{type}s/{ns}/{name}/tag/{rev}``         (409 if the tag exists)
- ``GET  /api/{type}s/{ns}/{name}/refs``
- ``HEAD|GET /{ns}/{name}/resolve/{rev}/{path}``      (models; X-Repo-Commit, ETag, size)
- ``HEAD|GET /{datasets|spaces}/{ns}/{name}/resolve/{rev}/{path}``  (the same, other types)

Every request is recorded in :attr:`HubServer.calls` as ``(method, endpoint name)``.

Faults: ``server.state.inject("commit", 500, after=True)`` makes the next request to an
endpoint answer ``500``; with ``after=True`` the request is applied first (the commit lands,
its reply is lost: an ambiguous failure), else it is refused untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["HubServer", "HubState"]


@dataclass
class _Repo:
    commits: dict[str, tuple[str | None, dict[str, bytes]]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class HubState:
    """In-memory repositories, guarded by one lock so commits are atomic."""

    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.lock = threading.Lock()
        self.faults: dict[str, list[tuple[int, bool]]] = {}  # endpoint -> [(status, after)]

    def inject(self, endpoint: str, status: int = 500, *, after: bool = True,
               times: int = 1) -> None:
        """The next ``times`` requests to ``endpoint`` (a name in :attr:`HubServer.calls`)
        answer ``status``; ``after``: applied first, so only the reply is lost."""
        with self.lock:
            self.faults.setdefault(endpoint, []).extend([(status, after)] * times)

    def take_fault(self, endpoint: str) -> tuple[int, bool] | None:
        with self.lock:
            queue = self.faults.get(endpoint)
            return queue.pop(0) if queue else None

    def create(self, repo_key: str) -> bool:
        with self.lock:
            if repo_key in self.repos:
                return False
            repo = _Repo()
            sha = _commit_sha(None, {".gitattributes": b""}, "initial commit")
            repo.commits[sha] = (None, {".gitattributes": b""})
            repo.branches["main"] = sha
            self.repos[repo_key] = repo
            return True

    def resolve(self, repo: _Repo, rev: str) -> str | None:
        if rev in repo.branches:
            return repo.branches[rev]
        if rev in repo.tags:
            return repo.tags[rev]
        return rev if rev in repo.commits else None


def _commit_sha(parent: str | None, files: dict[str, bytes], message: str) -> str:
    digest = hashlib.sha1((parent or "").encode() + message.encode() + str(time.time_ns()).encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha1(files[path]).digest())
    return digest.hexdigest()


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status,
                        headers={"X-Error-Code": code, "X-Error-Message": message})


def build_app(state: HubState, calls: list[tuple[str, str]], base_url: list[str]) -> Starlette:
    """The Starlette app serving ``state``; ``base_url[0]`` is filled in once bound."""

    def record(name):
        def wrap(handler):
            async def endpoint(request: Request) -> Response:
                calls.append((request.method, name))
                fault = state.take_fault(name)
                if fault is not None and not fault[1]:
                    return _error(fault[0], "InjectedFault", "injected fault (not applied)")
                response = await handler(request)
                if fault is not None:
                    return _error(fault[0], "InjectedFault", "injected fault (applied)")
                return response
            return endpoint
        return wrap

    def repo_of(request: Request) -> tuple[str, _Repo | None]:
        p = request.path_params
        key = f"{p.get('type', 'model')}/{p['ns']}/{p['name']}"
        return key, state.repos.get(key)

    @record("repos/create")
    async def create_repo(request: Request) -> Response:
        body = await request.json()
        org = body.get("organization")
        repo_id = f"{org}/{body['name']}" if org else body["name"]
        url = {"url": f"{base_url[0]}/{repo_id}", "name": repo_id}
        if not state.create(f"{body.get('type') or 'model'}/{repo_id}"):
            # The Hub sends the url with the 409 too; the client reads it when exist_ok=True.
            message = f"You already created this model repo: {repo_id}"
            return JSONResponse({**url, "error": message}, status_code=409,
                                headers={"X-Error-Code": "RepoExists", "X-Error-Message": message})
        return JSONResponse(url)

    @record("validate-yaml")
    async def validate_yaml(request: Request) -> Response:
        return JSONResponse({"errors": [], "warnings": []})

    @record("preupload")
    async def preupload(request: Request) -> Response:
        _, repo = repo_of(request)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        body = await request.json()
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                 for f in body["files"]]
        return JSONResponse({"files": files, "commitOid": repo.branches.get("main")})

    @record("commit")
    async def commit(request: Request) -> Response:
        key, repo = repo_of(request)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        rev = request.path_params["rev"]
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line]
        header = next(item["value"] for item in lines if item["key"] == "header")
        with state.lock:
            head = repo.branches.get(rev)
            if head is None:
                return _error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            parent = header.get("parentCommit")
            if parent is not None and parent != head:
                return _error(412, "PreconditionFailed",
                              "A commit has happened since. Please refresh and try again.")
            files = dict(repo.commits[head][1])
            for item in lines:
                value = item["value"]
                if item["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "deletedFile":
                    files.pop(value["path"], None)
                elif item["key"] == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: c for p, c in files.items() if not p.startswith(prefix)}
                elif item["key"] != "header":
                    return _error(400, "BadRequest", f"{item['key']} is not supported here")
            sha = _commit_sha(head, files, header.get("summary", ""))
            repo.commits[sha] = (head, files)
            repo.branches[rev] = sha
        repo_id = key.split("/", 1)[1]
        return JSONResponse({"commitUrl": f"{base_url[0]}/{repo_id}/commit/{sha}",
                             "commitOid": sha, "pullRequestUrl": None, "success": True})

    @record("tag")
    async def tag(request: Request) -> Response:
        _, repo = repo_of(request)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        body = await request.json()
        with state.lock:
            target = state.resolve(repo, request.path_params["rev"])
            if target is None:
                return _error(404, "RevisionNotFound", "Invalid rev id")
            if body["tag"] in repo.tags:
                return _error(409, "TagExists", f"Tag {body['tag']} already exists")
            repo.tags[body["tag"]] = target
        return JSONResponse({"success": True})

    @record("refs")
    async def refs(request: Request) -> Response:
        _, repo = repo_of(request)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        with state.lock:
            def info(kind: str, items: dict[str, str]) -> list[dict[str, str]]:
                return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c}
                        for n, c in sorted(items.items())]
            data = {"branches": info("heads", repo.branches), "tags": info("tags", repo.tags),
                    "converts": [], "pullRequests": []}
        return JSONResponse(data)

    @record("resolve")
    async def resolve(request: Request) -> Response:
        p = request.path_params
        kind = {None: "model", "datasets": "dataset", "spaces": "space"}.get(p.get("prefix"))
        repo = state.repos.get(f"{kind}/{p['ns']}/{p['name']}")
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        sha = state.resolve(repo, p["rev"])
        if sha is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {p['rev']}")
        content = repo.commits[sha][1].get(p["path"])
        if content is None:
            return _error(404, "EntryNotFound", f"{p['path']} does not exist at {p['rev']}")
        headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha1(content).hexdigest()}"',
                   "Content-Length": str(len(content))}
        body = b"" if request.method == "HEAD" else content
        return Response(body, headers=headers, media_type="application/octet-stream")

    api = "/api/{type}s/{ns}/{name}"
    routes = [
        Route("/api/repos/create", create_repo, methods=["POST"]),
        Route("/api/validate-yaml", validate_yaml, methods=["POST"]),
        Route(api + "/preupload/{rev}", preupload, methods=["POST"]),
        Route(api + "/commit/{rev}", commit, methods=["POST"]),
        Route(api + "/tag/{rev}", tag, methods=["POST"]),
        Route(api + "/refs", refs, methods=["GET"]),
        Route("/{ns}/{name}/resolve/{rev}/{path:path}", resolve, methods=["GET", "HEAD"]),
        Route("/{prefix:str}/{ns}/{name}/resolve/{rev}/{path:path}", resolve,
              methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes)


class HubServer:
    """Run the app with uvicorn in a daemon thread on a free port of 127.0.0.1.

    Use as a context manager; :attr:`url` is the endpoint to give the client.
    """

    def __init__(self) -> None:
        self.state = HubState()
        self.calls: list[tuple[str, str]] = []
        self._base: list[str] = [""]
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only
        # then; without it every keep-alive response waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._base[0] = self.url
        config = uvicorn.Config(build_app(self.state, self.calls, self._base), log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        daemon=True, name="hubserver")

    def __enter__(self) -> HubServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local Hub server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
