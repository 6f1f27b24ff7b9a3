"""Deploy a built Space bundle and prove it runs: ``mlops space deploy``.

One deploy, in order:

1. note the Space's current commit and variables (what a rollback returns to);
2. set the Space's secrets (from the workflow's environment) and variables (where the app
   finds its registry and log: the bundle's ``registry.json``, plus any given);
3. upload the bundle in one commit (:func:`mlops.space.bundle.push_space`);
4. restart the Space and poll its runtime until ``RUNNING`` within ``timeout`` seconds;
5. check the app's health route (``/_stcore/health``).

``BUILD_ERROR``, ``RUNTIME_ERROR`` (and the other failed stages), a timeout or a failed
health check put the Space back on its previous commit and variables, restart it, and
raise :class:`PublishError`: a failed deploy never leaves the public app broken. A Space
that had no commit before (the first deploy) has nothing to return to, and says so.

The Hub client is passed in (``api``: an ``HfApi`` or anything with its methods), so the
logic is tested against a fake; tokens are only ever handed to it, never printed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.exceptions import ConfigError, PublishError

__all__ = ["FAILED_STAGES", "DeployResult", "deploy_space", "hub_api", "registry_variables"]

# Stages after which waiting longer changes nothing; RUNNING is the one good end.
FAILED_STAGES = frozenset({"BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE",
                           "STOPPED", "PAUSED", "DELETING"})
HEALTH_PATH = "/_stcore/health"
# registry.json key -> the environment variable the app reads (mlops.registry, logpush).
_REGISTRY_VARIABLES = {"backend": "MLOPS_REGISTRY_BACKEND", "hub_repo_id": "MLOPS_HUB_REPO_ID",
                       "dataset_repo": "MLOPS_DATASET_REPO"}


@dataclass
class DeployResult:
    """What a deploy did: the commit now live, the one before, and each step's evidence."""

    repo_id: str
    commit: str | None
    previous_commit: str | None
    stage: str
    health: str
    log: list[str] = field(default_factory=list)


def hub_api(endpoint: str | None = None) -> Any:
    """An ``HfApi`` with the token of ``HF_TOKEN`` (required) and ``HF_ENDPOINT``."""
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN") or None
    if token is None:
        raise PublishError("HF_TOKEN is not set: export a token with write access to the "
                           "Space (in CI: the HF_TOKEN repository secret)")
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return HfApi(endpoint=endpoint.rstrip("/"), token=token, library_name="mlops")


def registry_variables(folder: str | Path) -> dict[str, str]:
    """The Space variables that say where the bundle's app reads models and writes its log.

    The Dockerfile sets the same values; writing them as Space variables too means a value
    typed into the Space's settings by hand earlier (which would override the image's) can
    no longer point the app elsewhere.
    """
    path = Path(folder) / "registry.json"
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: {folder} is not a Space bundle; run "
                          "`mlops space build` first", file=str(path)) from None
    return {env: str(registry[key]) for key, env in _REGISTRY_VARIABLES.items()
            if registry.get(key)}


def _status(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(getattr(response, "status_code", "?"))


def _hub_call(what: str, repo_id: str, call: Callable[[], Any]) -> Any:
    """``call()``, with a Hub HTTP error turned into a PublishError naming ``what``."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return call()
    except HfHubHTTPError as exc:
        # Only the status and the server's message: never the request, which holds a token.
        raise PublishError(f"cannot {what} of the Space {repo_id} (HTTP {_status(exc)}: "
                           f"{getattr(exc, 'server_message', None) or 'no message'})",
                           repo=repo_id) from None


def _current_commit(api: Any, repo_id: str) -> str | None:
    """The Space's head commit, or None when the Space does not exist yet."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return api.repo_info(repo_id, repo_type="space").sha
    except RepositoryNotFoundError:
        return None


def check_health(url: str, token: str | None, timeout: float = 10.0) -> str:
    """GET ``url``; the body when it answers 2xx, else raise ``OSError`` (no token shown)."""
    request = urllib.request.Request(url)
    if token:  # a private Space's URL needs the token
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.read(200).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise OSError(type(exc).__name__) from None


def _health_url(api: Any, repo_id: str) -> str | None:
    """``https://<subdomain>.hf.space/_stcore/health``, from the Space's info."""
    info = api.space_info(repo_id)
    host = getattr(info, "host", None) or (
        f"https://{info.subdomain}.hf.space" if getattr(info, "subdomain", None) else None)
    return host.rstrip("/") + HEALTH_PATH if host else None


def _wait_running(api: Any, repo_id: str, commit: str | None, deadline: float, poll: float,
                  sleep: Callable[[float], None], clock: Callable[[], float],
                  log: list[str]) -> str:
    """Poll the runtime until RUNNING (on ``commit`` when the Hub says which commit runs),
    a failed stage, or ``deadline``; return the last stage seen."""
    last = None
    while True:
        runtime = api.get_space_runtime(repo_id)
        stage = str(getattr(runtime.stage, "value", runtime.stage))
        running_sha = (getattr(runtime, "raw", None) or {}).get("sha")
        if stage != last:
            log.append(f"runtime: {stage}")
            last = stage
        # A stage of the previous commit (when the Hub says which commit it is) is not
        # this deploy's: keep waiting for the new build.
        stale = commit is not None and running_sha is not None and running_sha != commit
        if not stale and (stage in FAILED_STAGES or stage == "RUNNING"):
            return stage
        if clock() >= deadline:
            return f"TIMEOUT ({stage})"
        sleep(poll)


def deploy_space(
    repo_id: str,
    folder: str | Path,
    *,
    api: Any,
    secrets: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    private: bool = False,
    timeout: float = 1500.0,
    poll: float = 10.0,
    health_url: str | None = None,
    health: Callable[[str], str] | None = None,
    message: str = "Deploy with mlops space deploy",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    """Push ``folder`` to the Space ``repo_id`` and wait until it runs and is healthy.

    ``secrets`` and ``variables`` are set on the Space before the push (the bundle's
    registry variables are added to ``variables``). ``health`` is called with the health
    URL and returns the answer or raises ``OSError`` (default: an HTTP GET with the api's
    token). On a failed stage, a timeout or a failed health check the Space is put back on
    its previous commit and variables and :class:`PublishError` is raised.
    """
    from mlops.space.bundle import push_space

    secrets = dict(secrets or {})
    wanted = {**registry_variables(folder), **dict(variables or {})}
    token = getattr(api, "token", None)
    health = health or (lambda url: check_health(url, token if private else None))
    log: list[str] = []

    previous = _current_commit(api, repo_id)
    log.append(f"previous commit: {previous or 'none (a new Space)'}")
    if previous is None:
        _hub_call("create", repo_id, lambda: api.create_repo(
            repo_id, repo_type="space", space_sdk="docker", exist_ok=True, private=private))
    before_vars = _hub_call("read the variables", repo_id,
                            lambda: api.get_space_variables(repo_id))
    before = {k: getattr(v, "value", v) for k, v in (before_vars or {}).items()}
    for key, value in sorted(secrets.items()):
        _hub_call(f"set the secret {key}", repo_id,
                  lambda key=key, value=value: api.add_space_secret(repo_id, key, value))
    for key, value in sorted(wanted.items()):
        _hub_call(f"set the variable {key}", repo_id,
                  lambda key=key, value=value: api.add_space_variable(repo_id, key, value))
    log.append(f"secrets set: {', '.join(sorted(secrets)) or 'none'}; variables set: "
               f"{', '.join(f'{k}={v}' for k, v in sorted(wanted.items())) or 'none'}")

    push_space(repo_id, folder, private=private, message=message, api=api)
    commit = _current_commit(api, repo_id)
    log.append(f"pushed commit: {commit}")
    _hub_call("restart", repo_id, lambda: api.restart_space(repo_id))

    deadline = clock() + timeout
    stage = _hub_call("read the runtime", repo_id, lambda: _wait_running(
        api, repo_id, commit, deadline, poll, sleep, clock, log))
    failure = None if stage == "RUNNING" else f"the Space ended in {stage}"
    answer = "not checked"
    if failure is None:
        url = health_url or _hub_call("read the info", repo_id,
                                      lambda: _health_url(api, repo_id))
        if url is None:
            log.append("health: not checked (the Hub named no host; pass --health-url)")
        else:
            answer, failure = _check_until(health, url, deadline, poll, sleep, clock)
            log.append(f"health {url}: {answer}")
    if failure is None:
        return DeployResult(repo_id, commit, previous, stage, answer, log)

    back = _roll_back(api, repo_id, previous, before, wanted, failure, log)
    raise PublishError(f"deploy of the Space {repo_id} failed: {failure}; {back}. "
                       f"Steps: {'; '.join(log)}", repo=repo_id, rule="space_failed")


def _check_until(health: Callable[[str], str], url: str, deadline: float, poll: float,
                 sleep: Callable[[float], None], clock: Callable[[], float]
                 ) -> tuple[str, str | None]:
    """Ask ``url`` until it answers (the proxy may lag the runtime) or ``deadline``."""
    while True:
        try:
            return health(url), None
        except OSError as exc:
            if clock() >= deadline:
                return f"failed ({exc})", f"its health check {url} failed ({exc})"
        sleep(poll)


def _roll_back(api: Any, repo_id: str, previous: str | None, before: dict[str, str],
               wanted: Mapping[str, str], why: str, log: list[str]) -> str:
    """Put the Space back on ``previous`` and its earlier variables; say what was done."""
    if previous is None:
        return "it had no earlier commit to return to (a first deploy), so it stays as is"
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-space-rollback-") as tmp:
            api.snapshot_download(repo_id, repo_type="space", revision=previous,
                                  local_dir=tmp)
            api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=tmp,
                              commit_message=f"Roll back to {previous[:12]}: {why}",
                              delete_patterns=["*"], ignore_patterns=[".cache/**"])
        for key in wanted:
            if key in before:
                api.add_space_variable(repo_id, key, before[key])
            else:
                api.delete_space_variable(repo_id, key)
        api.restart_space(repo_id)
    except Exception as exc:  # noqa: BLE001 - the deploy failed already; say both
        log.append(f"rollback failed: {type(exc).__name__} (HTTP {_status(exc)})")
        return (f"putting it back on {previous[:12]} failed too ({type(exc).__name__}): "
                "restore it by hand")
    log.append(f"rolled back to {previous}")
    return f"it was put back on its previous commit {previous[:12]} and restarted"
