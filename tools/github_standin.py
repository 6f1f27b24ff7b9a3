"""A local stand-in of the few GitHub endpoints the workflows reach, for the act rehearsal.

One HTTP server on 127.0.0.1 (plain HTTP: act's ``GITHUB_SERVER_URL`` points at it) models:

- **git over smart HTTP** (``git http-backend``): ``GET /<owner>/<repo>[.git]/info/refs``,
  ``POST .../git-upload-pack`` and ``.../git-receive-pack``, on bare repositories under
  ``root``. actions/checkout fetches from it when a step names a ``ref`` (act copies the
  local tree only for a checkout of the run's own commit), and ci.yml's report job pushes
  the plots to the ``mlops-report-assets`` branch through it.
- **the REST calls that ``cml comment update --target=pr/N`` makes** (CML's GitHub driver:
  ``issues.listComments``, ``issues.createComment``, ``issues.updateComment``), under
  ``/api/v3`` as on GitHub Enterprise: ``GET`` and ``POST /repos/<o>/<r>/issues/<n>/comments``,
  ``PATCH /repos/<o>/<r>/issues/comments/<id>``. A call without a token gets 401, as on
  GitHub. ``GET /repos/<o>/<r>`` answers the default branch.

Everything else answers 404 and is recorded in :attr:`GitHubStandIn.calls`, so a rehearsal
that reaches an endpoint not modelled here fails visibly. Not modelled: authentication
rules beyond "a token is present", permissions, pagination, rate limits, the Checks,
Actions and Pull Request APIs.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Comment", "GitHubStandIn"]

_GIT = re.compile(r"^/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?"
                  r"(?P<rest>/(?:info/refs|git-upload-pack|git-receive-pack))$")
_COMMENTS = re.compile(r"^/api/v3/repos/(?P<o>[\w.-]+)/(?P<r>[\w.-]+)/issues/(?P<n>\d+)/comments$")
_COMMENT = re.compile(r"^/api/v3/repos/(?P<o>[\w.-]+)/(?P<r>[\w.-]+)/issues/comments/(?P<id>\d+)$")
_REPO = re.compile(r"^/api/v3/repos/(?P<o>[\w.-]+)/(?P<r>[\w.-]+)$")


@dataclass
class Comment:
    """One pull-request comment, as the REST API returns it."""

    id: int
    issue: int
    body: str
    edits: int = 0

    def json(self, base: str, repo: str) -> dict[str, Any]:
        return {"id": self.id, "body": self.body, "user": {"login": "github-actions[bot]"},
                "html_url": f"{base}/{repo}/pull/{self.issue}#issuecomment-{self.id}"}


@dataclass
class _State:
    root: Path
    comments: dict[int, Comment] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    # Re-entrant: a handler holding it to change state also records its answer's status.
    lock: threading.RLock = field(default_factory=threading.RLock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    _call: tuple[str, str] = ("", "")  # until a request line is parsed

    def log_message(self, *args: Any) -> None:  # quiet: the rehearsal prints what matters
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def _route(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        self._call = (method, path)
        git = _GIT.match(path)
        if git:
            self._git(method, git, query)
        else:
            self._rest(method, path)

    def send_response(self, code: int, message: str | None = None) -> None:
        # Recorded before the client can read the answer, so a test never races it.
        with self.server.state.lock:
            self.server.state.calls.append((*self._call, code))
        super().send_response(code, message)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, status: int, data: Any) -> int:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return status

    def _rest(self, method: str, path: str) -> int:
        state, base = self.server.state, self.server.base
        if not path.startswith("/api/v3/"):
            return self._json(404, {"message": "Not Found"})
        if not (self.headers.get("Authorization") or "").split(" ", 1)[-1].strip():
            return self._json(401, {"message": "Requires authentication"})
        if (m := _COMMENTS.match(path)) and method in ("GET", "POST"):
            issue, repo = int(m["n"]), f"{m['o']}/{m['r']}"
            with state.lock:
                if method == "GET":
                    found = [c.json(base, repo) for c in state.comments.values()
                             if c.issue == issue]
                    return self._json(200, found)
                comment = Comment(len(state.comments) + 1, issue, json.loads(self._body())["body"])
                state.comments[comment.id] = comment
                return self._json(201, comment.json(base, repo))
        if (m := _COMMENT.match(path)) and method == "PATCH":
            with state.lock:
                comment = state.comments.get(int(m["id"]))
                if comment is None:
                    return self._json(404, {"message": "Not Found"})
                comment.body = json.loads(self._body())["body"]
                comment.edits += 1
                return self._json(200, comment.json(base, f"{m['o']}/{m['r']}"))
        if (m := _REPO.match(path)) and method == "GET":
            return self._json(200, {"full_name": f"{m['o']}/{m['r']}", "default_branch": "main",
                                    "private": False})
        return self._json(404, {"message": "Not Found"})

    def _git(self, method: str, m: re.Match[str], query: str) -> int:
        """Run ``git http-backend`` as a CGI program (what a git server does)."""
        env = {"GIT_PROJECT_ROOT": str(self.server.state.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": f"/{m['owner']}/{m['repo']}.git{m['rest']}",
               "QUERY_STRING": query, "REQUEST_METHOD": method, "REMOTE_USER": "x-access-token",
               "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "PATH": "/usr/bin:/bin"}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        body = self._body() if method == "POST" else b""
        env["CONTENT_LENGTH"] = str(len(body))
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True, check=False).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        return status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State
    base: str


class GitHubStandIn:
    """Serve ``root`` (bare repos ``<owner>/<repo>.git``) and the comment endpoints.

    A context manager; :attr:`url` is what act's ``GITHUB_SERVER_URL`` is set to.
    """

    def __init__(self, root: Path) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(Path(root))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._server.base = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="github-standin")

    @property
    def comments(self) -> list[Comment]:
        with self._server.state.lock:
            return list(self._server.state.comments.values())

    @property
    def calls(self) -> list[tuple[str, str, int]]:
        with self._server.state.lock:
            return list(self._server.state.calls)

    def __enter__(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
