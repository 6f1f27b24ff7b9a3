"""A small Hugging Face Hub-protocol server: Starlette + uvicorn on 127.0.0.1.

The tests and ``mlops loop`` (the offline rehearsal of CI/CD) run the real
``huggingface_hub`` client against it through ``HF_ENDPOINT``; it is never a production
registry: storage is in memory. docs/hub.md says which of the Hub's behaviours it copies
(and with which status, header and client exception) and which it does not.

Storage: every commit is a full snapshot ``{path: bytes}`` with a parent; branches and tags
point at commits; a repository is public or private; a Space also has secrets, variables and
a runtime stage.

Authentication: ``HubServer(tokens={"hf_w": HubToken("alice", "write"), ...})`` enforces what
the Hub enforces for the calls the project makes: a private repository (or one that does not
exist) read without access answers ``401`` (no token) or ``404`` (a token without access),
both with ``X-Error-Code: RepoNotFound`` (the client raises ``RepositoryNotFoundError``); a
write with a read token, or to another namespace, answers ``403`` (``HfHubHTTPError``); an
unknown token answers ``401 Invalid credentials in Authorization header``. Without ``tokens``
the server is open: every caller may read and write everything, as before.

Endpoints (``{type}`` is ``model``, ``dataset`` or ``space``; ``{repo}`` is ``{ns}/{name}``):

- ``POST /api/repos/create``, ``PUT /api/{type}s/{repo}/settings`` (visibility)
- ``GET  /api/whoami-v2``, ``POST /api/validate-yaml``
- ``GET  /api/{type}s/{repo}`` and ``.../revision/{rev}``  (repo_info)
- ``POST /api/{type}s/{repo}/preupload/{rev}``  (``uploadMode: regular``, and the ``oid`` of a
  file already there, so the client drops unchanged files and skips an empty commit)
- ``POST /api/{type}s/{repo}/commit/{rev}``     (NDJSON; 412 if parentCommit moved)
- ``POST /api/{type}s/{repo}/tag/{rev}``        (409 if the tag exists)
- ``POST|DELETE /api/{type}s/{repo}/branch/{branch}``  (409 if the branch exists)
- ``GET  /api/{type}s/{repo}/refs``, ``.../commits/{rev}``, ``.../tree/{rev}[/{path}]``
- ``GET|POST|DELETE /api/spaces/{repo}/secrets``, ``.../variables``
- ``GET /api/spaces/{repo}/runtime``, ``POST /api/spaces/{repo}/restart``
- ``HEAD|GET /[{datasets|spaces}/]{repo}/resolve/{rev}/{path}``  (X-Repo-Commit, ETag, size)

Space builds: each commit to a Space's ``main`` and each restart starts a build (stage
``BUILDING``); the next ``build_polls`` runtime reads answer ``BUILDING``, then the build's
outcome. The outcome is ``RUNNING`` unless a file of the Space holds :data:`BUILD_ERROR_MARK`
(``BUILD_ERROR``) or :data:`RUNTIME_ERROR_MARK` (``RUNTIME_ERROR``), or a test set it with
:meth:`HubState.next_build`.

Every request is recorded in :attr:`HubServer.calls` as ``(method, endpoint name)``.

Faults: ``server.state.inject("commit", 500, after=True)`` makes the next request to an
endpoint answer ``500``; with ``after=True`` the request is applied first (the commit lands,
its reply is lost: an ambiguous failure), else it is refused untouched.

Run it alone (for a workflow rehearsal): ``python -m mlops.space.hubserver --port 8900
--token hf_w=alice:write --token hf_r=alice:read``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["BUILD_ERROR_MARK", "RUNTIME_ERROR_MARK", "HubServer", "HubState", "HubToken",
           "git_blob_oid"]

# A file of a Space that holds one of these makes its next build end in that stage.
BUILD_ERROR_MARK = b"HUBSERVER_BUILD_ERROR"
RUNTIME_ERROR_MARK = b"HUBSERVER_RUNTIME_ERROR"
_STAGES = ("BUILDING", "RUNNING", "BUILD_ERROR", "RUNTIME_ERROR", "NO_APP_FILE", "STOPPED",
           "PAUSED", "APP_STARTING", "RUNNING_BUILDING", "CONFIG_ERROR")
INVALID_TOKEN = "Invalid credentials in Authorization header"  # the client keys on this text


@dataclass(frozen=True)
class HubToken:
    """Who a token is and what it may do: ``role`` is ``read`` or ``write``; ``orgs`` are the
    namespaces besides ``user`` that the token's user may write to (and read privately)."""

    user: str
    role: str = "write"
    orgs: tuple[str, ...] = ()

    def owns(self, namespace: str) -> bool:
        return self.user == "*" or namespace == self.user or namespace in self.orgs


_OPEN = HubToken("*", "write")  # the caller of an open server (no token table)


@dataclass
class _Space:
    sdk: str | None = None
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # values never read back
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage: str = "NO_APP_FILE"
    outcome: str = "RUNNING"  # what the running build ends in
    polls_left: int = 0  # runtime reads that still answer BUILDING
    forced: str | None = None  # a test's choice for the next build
    builds: int = 0


@dataclass
class _Repo:
    commits: dict[str, tuple[str | None, dict[str, bytes]]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    private: bool = False
    meta: dict[str, dict[str, str]] = field(default_factory=dict)  # sha -> title, author, date
    space: _Space | None = None


def git_blob_oid(content: bytes) -> str:
    """The git blob id of ``content``: what the Hub calls a regular file's ``oid``."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubState:
    """In-memory repositories, guarded by one lock so commits are atomic."""

    def __init__(self, build_polls: int = 1) -> None:
        self.repos: dict[str, _Repo] = {}
        self.lock = threading.Lock()
        self.faults: dict[str, list[tuple[int, bool]]] = {}  # endpoint -> [(status, after)]
        self.build_polls = build_polls

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

    def create(self, repo_key: str, *, private: bool = False, sdk: str | None = None,
               author: str = "") -> bool:
        """Create ``repo_key`` (``type/ns/name``) with its initial commit; False if it exists."""
        with self.lock:
            if repo_key in self.repos:
                return False
            repo = _Repo(private=private)
            sha = _commit_sha(None, {".gitattributes": b""}, "initial commit")
            repo.commits[sha] = (None, {".gitattributes": b""})
            repo.meta[sha] = {"title": "initial commit", "message": "", "author": author,
                              "date": _now()}
            repo.branches["main"] = sha
            if repo_key.startswith("space/"):
                repo.space = _Space(sdk=sdk)
            self.repos[repo_key] = repo
            return True

    def resolve(self, repo: _Repo, rev: str) -> str | None:
        if rev in repo.branches:
            return repo.branches[rev]
        if rev in repo.tags:
            return repo.tags[rev]
        return rev if rev in repo.commits else None

    def next_build(self, space_id: str, stage: str) -> None:
        """Make the next build of Space ``space_id`` (``ns/name``) end in ``stage``."""
        if stage not in _STAGES:
            raise ValueError(f"unknown Space stage {stage!r}; one of {', '.join(_STAGES)}")
        with self.lock:
            self.repos[f"space/{space_id}"].space.forced = stage  # type: ignore[union-attr]

    def start_build(self, repo: _Repo) -> None:
        """A commit or restart: the Space builds its head again (call with the lock held)."""
        space = repo.space
        if space is None:
            return
        files = repo.commits[repo.branches["main"]][1]
        if space.forced is not None:
            outcome, space.forced = space.forced, None
        elif any(BUILD_ERROR_MARK in c for c in files.values()):
            outcome = "BUILD_ERROR"
        elif any(RUNTIME_ERROR_MARK in c for c in files.values()):
            outcome = "RUNTIME_ERROR"
        else:
            outcome = "RUNNING"
        space.stage, space.outcome = "BUILDING", outcome
        space.polls_left, space.builds = self.build_polls, space.builds + 1

    def runtime(self, repo: _Repo, *, advance: bool = True) -> dict[str, Any]:
        """The Space's runtime as the Hub sends it; a read (``advance``) moves a build on."""
        space = repo.space
        assert space is not None
        with self.lock:
            if space.stage == "BUILDING" and advance:
                if space.polls_left <= 0:
                    space.stage = space.outcome
                space.polls_left -= 1
            stage = space.stage
        error = {"BUILD_ERROR": "Build failed (local Hub: planted build error)",
                 "RUNTIME_ERROR": "Launch timed out (local Hub: planted runtime error)"}
        data: dict[str, Any] = {"stage": stage, "hardware": {"current": "cpu-basic",
                                                             "requested": "cpu-basic"},
                                "storage": None, "gcTimeout": 172800,
                                "sha": repo.branches.get("main")}
        if stage in error:
            data["errorMessage"] = error[stage]
        return data


def _commit_sha(parent: str | None, files: dict[str, bytes], message: str) -> str:
    digest = hashlib.sha1((parent or "").encode() + message.encode() + str(time.time_ns()).encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha1(files[path]).digest())
    return digest.hexdigest()


def _error(status: int, code: str | None, message: str) -> Response:
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _private(body: dict[str, Any]) -> bool:
    """Whether a create or settings request asks for a private repo (clients >= 1.0 send
    ``visibility``; older ones ``private``)."""
    if body.get("visibility"):
        return body["visibility"] != "public"  # "protected" Spaces hide their files too
    return bool(body.get("private"))


class _Refused(Exception):
    """A request refused with ``response``."""

    def __init__(self, response: Response) -> None:
        self.response = response


def build_app(state: HubState, calls: list[tuple[str, str]], base_url: list[str],
              tokens: dict[str, HubToken] | None = None) -> Starlette:
    """The Starlette app serving ``state``; ``base_url[0]`` is filled in once bound.
    ``tokens``: the token table; None serves everyone as a writer of everything."""

    def record(name):
        def wrap(handler):
            async def endpoint(request: Request) -> Response:
                calls.append((request.method, name))
                fault = state.take_fault(name)
                if fault is not None and not fault[1]:
                    return _error(fault[0], "InjectedFault", "injected fault (not applied)")
                try:
                    response = await handler(request)
                except _Refused as refused:
                    return refused.response
                if fault is not None:
                    return _error(fault[0], "InjectedFault", "injected fault (applied)")
                return response
            return endpoint
        return wrap

    def caller(request: Request) -> HubToken | None:
        if tokens is None:
            return _OPEN
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        token = tokens.get(header[7:].strip())
        if token is None:
            raise _Refused(_error(401, None, INVALID_TOKEN))
        return token

    def access(request: Request, key: str, *, write: bool) -> _Repo:
        """The repo ``key`` if the caller may read (and, with ``write``, write) it."""
        who = caller(request)
        namespace = key.split("/")[1]
        repo = state.repos.get(key)
        if repo is None or (repo.private and (who is None or not who.owns(namespace))):
            # The Hub never says whether a repo it will not show exists.
            raise _Refused(_error(401 if who is None else 404, "RepoNotFound",
                                  "Repository not found"))
        if write:
            if who is None:
                raise _Refused(_error(401, None, "You must be authenticated to write"))
            if who.role != "write" or not who.owns(namespace):
                raise _Refused(_error(403, None, f"You don't have the rights to write to "
                                                 f"{key.split('/', 1)[1]} with this token"))
        return repo

    def repo_of(request: Request, *, write: bool = False) -> tuple[str, _Repo]:
        p = request.path_params
        key = f"{p.get('type', 'model')}/{p['ns']}/{p['name']}"
        return key, access(request, key, write=write)

    def space_of(request: Request, *, write: bool = False) -> _Repo:
        p = request.path_params
        return access(request, f"space/{p['ns']}/{p['name']}", write=write)

    def at(repo: _Repo, rev: str) -> str:
        sha = state.resolve(repo, rev)
        if sha is None:
            raise _Refused(_error(404, "RevisionNotFound", f"Invalid rev id: {rev}"))
        return sha

    @record("whoami")
    async def whoami(request: Request) -> Response:
        who = caller(request)
        if who is None:
            return _error(401, None, INVALID_TOKEN)
        return JSONResponse({"type": "user", "name": who.user,
                             "orgs": [{"name": o} for o in who.orgs],
                             "auth": {"type": "access_token",
                                      "accessToken": {"displayName": "local", "role": who.role}}})

    @record("repos/create")
    async def create_repo(request: Request) -> Response:
        who = caller(request)
        body = await request.json()
        org = body.get("organization")
        repo_id = f"{org}/{body['name']}" if org else body["name"]
        kind = body.get("type") or "model"
        url = {"url": f"{base_url[0]}/{repo_id}", "name": repo_id}
        if who is None:
            return _error(401, None, "You must be authenticated to create a repo")
        if who.role != "write" or not who.owns(repo_id.split("/")[0]):
            return _error(403, None, f"You don't have the rights to create {repo_id}")
        if not state.create(f"{kind}/{repo_id}", private=_private(body),
                            sdk=body.get("sdk"), author=who.user):
            # The Hub sends the url with the 409 too; the client reads it when exist_ok=True.
            message = f"You already created this {kind} repo: {repo_id}"
            return JSONResponse({**url, "error": message}, status_code=409,
                                headers={"X-Error-Code": "RepoExists", "X-Error-Message": message})
        return JSONResponse(url)

    @record("settings")
    async def settings(request: Request) -> Response:
        _, repo = repo_of(request, write=True)
        body = await request.json()
        with state.lock:
            if body.get("visibility") or body.get("private") is not None:
                repo.private = _private(body)
        return JSONResponse({"private": repo.private})

    @record("validate-yaml")
    async def validate_yaml(request: Request) -> Response:
        return JSONResponse({"errors": [], "warnings": []})

    @record("revision")
    async def info(request: Request) -> Response:
        key, repo = repo_of(request)
        sha = at(repo, request.path_params.get("rev", "main"))
        files = repo.commits[sha][1]
        ns, name = key.split("/")[1:]
        data: dict[str, Any] = {
            "id": f"{ns}/{name}", "author": ns, "sha": sha, "private": repo.private,
            "lastModified": repo.meta.get(sha, {}).get("date", _now()),
            "siblings": [{"rfilename": f} for f in sorted(files)]}
        if repo.space is not None:
            data["sdk"] = repo.space.sdk
            data["runtime"] = state.runtime(repo, advance=False)
        return JSONResponse(data)

    @record("preupload")
    async def preupload(request: Request) -> Response:
        _, repo = repo_of(request, write=True)
        body = await request.json()
        with state.lock:
            sha = state.resolve(repo, request.path_params["rev"])
            present = repo.commits[sha][1] if sha else {}
        files = []
        for f in body["files"]:
            entry: dict[str, Any] = {"path": f["path"], "uploadMode": "regular",
                                     "shouldIgnore": False}
            if f["path"] in present:  # the client skips a file whose oid did not change
                entry["oid"] = git_blob_oid(present[f["path"]])
            files.append(entry)
        return JSONResponse({"files": files, "commitOid": sha})

    @record("commit")
    async def commit(request: Request) -> Response:
        key, repo = repo_of(request, write=True)
        rev = request.path_params["rev"]
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line]
        header = next(item["value"] for item in lines if item["key"] == "header")
        who = caller(request)
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
            repo.meta[sha] = {"title": header.get("summary", ""),
                              "message": header.get("description", ""),
                              "author": who.user if who else "", "date": _now()}
            repo.branches[rev] = sha
            if rev == "main":
                state.start_build(repo)
        repo_id = key.split("/", 1)[1]
        return JSONResponse({"commitUrl": f"{base_url[0]}/{repo_id}/commit/{sha}",
                             "commitOid": sha, "pullRequestUrl": None, "success": True})

    @record("tag")
    async def tag(request: Request) -> Response:
        _, repo = repo_of(request, write=True)
        body = await request.json()
        with state.lock:
            target = state.resolve(repo, request.path_params["rev"])
            if target is None:
                return _error(404, "RevisionNotFound", "Invalid rev id")
            if body["tag"] in repo.tags:
                return _error(409, "TagExists", f"Tag {body['tag']} already exists")
            repo.tags[body["tag"]] = target
        return JSONResponse({"success": True})

    @record("branch")
    async def branch(request: Request) -> Response:
        _, repo = repo_of(request, write=True)
        name = request.path_params["branch"]
        if request.method == "DELETE":
            with state.lock:
                if name not in repo.branches or name == "main":
                    return _error(404 if name != "main" else 403, None,
                                  f"Cannot delete branch {name}")
                del repo.branches[name]
            return JSONResponse({"success": True})
        body = await request.json() if await request.body() else {}
        with state.lock:
            if name in repo.branches:
                return _error(409, None, f"Reference refs/heads/{name} already exists")
            repo.branches[name] = at(repo, body.get("startingPoint") or "main")
        return JSONResponse({"success": True})

    @record("refs")
    async def refs(request: Request) -> Response:
        _, repo = repo_of(request)
        with state.lock:
            def info(kind: str, items: dict[str, str]) -> list[dict[str, str]]:
                return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c}
                        for n, c in sorted(items.items())]
            data = {"branches": info("heads", repo.branches), "tags": info("tags", repo.tags),
                    "converts": [], "pullRequests": []}
        return JSONResponse(data)

    @record("commits")
    async def commits(request: Request) -> Response:
        _, repo = repo_of(request)
        out, sha = [], at(repo, request.path_params["rev"])
        with state.lock:
            while sha is not None:
                meta = repo.meta.get(sha, {})
                out.append({"id": sha, "authors": [{"user": meta.get("author", "")}],
                            "date": meta.get("date", _now()), "title": meta.get("title", ""),
                            "message": meta.get("message", "")})
                sha = repo.commits[sha][0]
        return JSONResponse(out)  # newest first, one page

    @record("tree")
    async def tree(request: Request) -> Response:
        _, repo = repo_of(request)
        files = repo.commits[at(repo, request.path_params["rev"])][1]
        base = request.path_params.get("path", "").strip("/")
        prefix = f"{base}/" if base else ""
        recursive = request.query_params.get("recursive", "").lower() == "true"
        entries: dict[str, dict[str, Any]] = {}
        for path, content in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                if depth > 1 and not recursive:
                    break
                folder = prefix + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "path": folder,
                                            "oid": hashlib.sha1(folder.encode()).hexdigest()})
            if recursive or len(parts) == 1:
                entries[path] = {"type": "file", "path": path, "size": len(content),
                                 "oid": git_blob_oid(content)}
        if base and not entries and base not in files:
            return _error(404, "EntryNotFound", f"{base} does not exist")
        return JSONResponse([entries[k] for k in sorted(entries)])

    def _named(items: dict[str, dict[str, Any]], *, values: bool) -> dict[str, Any]:
        return {k: ({**v} if values else {k2: v2 for k2, v2 in v.items() if k2 != "value"})
                for k, v in items.items()}

    @record("secrets")
    async def secrets(request: Request) -> Response:
        repo = space_of(request, write=True)  # secrets are the owner's, even to list
        assert repo.space is not None
        with state.lock:
            if request.method == "POST":
                body = await request.json()
                repo.space.secrets[body["key"]] = {"value": body["value"], "updatedAt": _now(),
                                                   "description": body.get("description")}
            elif request.method == "DELETE":
                repo.space.secrets.pop((await request.json())["key"], None)
            return JSONResponse(_named(repo.space.secrets, values=False))

    @record("variables")
    async def variables(request: Request) -> Response:
        repo = space_of(request, write=request.method != "GET")
        assert repo.space is not None
        with state.lock:
            if request.method == "POST":
                body = await request.json()
                repo.space.variables[body["key"]] = {"value": body["value"], "updatedAt": _now(),
                                                     "description": body.get("description")}
            elif request.method == "DELETE":
                repo.space.variables.pop((await request.json())["key"], None)
            return JSONResponse(_named(repo.space.variables, values=True))

    @record("runtime")
    async def runtime(request: Request) -> Response:
        return JSONResponse(state.runtime(space_of(request)))

    @record("restart")
    async def restart(request: Request) -> Response:
        repo = space_of(request, write=True)
        with state.lock:
            state.start_build(repo)
        return JSONResponse(state.runtime(repo, advance=False))

    @record("resolve")
    async def resolve(request: Request) -> Response:
        p = request.path_params
        kind = {None: "model", "datasets": "dataset", "spaces": "space"}.get(p.get("prefix"))
        if kind is None:
            return _error(404, None, "Not found")
        repo = access(request, f"{kind}/{p['ns']}/{p['name']}", write=False)
        sha = at(repo, p["rev"])
        content = repo.commits[sha][1].get(p["path"])
        if content is None:
            return _error(404, "EntryNotFound", f"{p['path']} does not exist at {p['rev']}")
        headers = {"X-Repo-Commit": sha, "ETag": f'"{git_blob_oid(content)}"',
                   "Content-Length": str(len(content))}
        body = b"" if request.method == "HEAD" else content
        return Response(body, headers=headers, media_type="application/octet-stream")

    api = "/api/{type}s/{ns}/{name}"
    space = "/api/spaces/{ns}/{name}"
    routes = [
        Route("/api/whoami-v2", whoami, methods=["GET"]),
        Route("/api/repos/create", create_repo, methods=["POST"]),
        Route("/api/validate-yaml", validate_yaml, methods=["POST"]),
        Route(space + "/secrets", secrets, methods=["GET", "POST", "DELETE"]),
        Route(space + "/variables", variables, methods=["GET", "POST", "DELETE"]),
        Route(space + "/runtime", runtime, methods=["GET"]),
        Route(space + "/restart", restart, methods=["POST"]),
        Route(api, info, methods=["GET"]),
        Route(api + "/revision/{rev}", info, methods=["GET"]),
        Route(api + "/settings", settings, methods=["PUT"]),
        Route(api + "/preupload/{rev}", preupload, methods=["POST"]),
        Route(api + "/commit/{rev}", commit, methods=["POST"]),
        Route(api + "/tag/{rev}", tag, methods=["POST"]),
        Route(api + "/branch/{branch}", branch, methods=["POST", "DELETE"]),
        Route(api + "/refs", refs, methods=["GET"]),
        Route(api + "/commits/{rev}", commits, methods=["GET"]),
        Route(api + "/tree/{rev}", tree, methods=["GET"]),
        Route(api + "/tree/{rev}/{path:path}", tree, methods=["GET"]),
        Route("/{ns}/{name}/resolve/{rev}/{path:path}", resolve, methods=["GET", "HEAD"]),
        Route("/{prefix:str}/{ns}/{name}/resolve/{rev}/{path:path}", resolve,
              methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes)


class HubServer:
    """Run the app with uvicorn in a daemon thread on 127.0.0.1 (a free port unless ``port``).

    Use as a context manager; :attr:`url` is the endpoint to give the client. ``tokens``
    switches authentication on (see the module's docstring).
    """

    def __init__(self, tokens: dict[str, HubToken] | None = None, *, port: int = 0,
                 build_polls: int = 1) -> None:
        self.state = HubState(build_polls=build_polls)
        self.tokens = tokens
        self.calls: list[tuple[str, str]] = []
        self._base: list[str] = [""]
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only
        # then; without it every keep-alive response waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._base[0] = self.url
        config = uvicorn.Config(build_app(self.state, self.calls, self._base, tokens),
                                log_level="warning", lifespan="off", access_log=False)
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


def _parse_token(text: str) -> tuple[str, HubToken]:
    """``TOKEN=USER:ROLE[:ORG,ORG]`` as a token table entry."""
    token, _, who = text.partition("=")
    user, _, rest = who.partition(":")
    role, _, orgs = rest.partition(":")
    if not token or not user or role not in ("read", "write"):
        raise argparse.ArgumentTypeError(f"--token {text!r}: expected TOKEN=USER:read|write"
                                         "[:ORG,...]")
    return token, HubToken(user, role, tuple(o for o in orgs.split(",") if o))


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted (``python -m mlops.space.hubserver --help``)."""
    parser = argparse.ArgumentParser(prog="python -m mlops.space.hubserver",
                                     description="A local Hub-protocol server (not the Hub).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", type=_parse_token, default=None,
                        help="TOKEN=USER:read|write[:ORG,...]; repeat. None: an open server")
    args = parser.parse_args(argv)
    with HubServer(dict(args.token) if args.token else None, port=args.port) as server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
