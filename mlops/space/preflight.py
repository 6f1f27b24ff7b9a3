"""``mlops cicd check``: what a fork must set before its first push, checked before it runs.

Reads the secrets and variables the way the workflows pass them (the environment), then
asks the Hub, with that token, for each repo the flow writes: does the token may write to
it (``auth_check(..., write=True)``), is it private where it must be, and is each Space a
Docker Space. The Hub client is passed in, so the check is tested against a fake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["REQUIRED", "Finding", "flow_repos", "preflight"]

# The names cd-model.yml's "Check configuration" step checks too (a test keeps them equal).
REQUIRED = ("HF_TOKEN", "HF_MODEL_REPO", "HF_SPACE_REPO", "HF_DATASET_REPO")


@dataclass(frozen=True)
class Finding:
    """One line of the check: ``ok``, ``missing``, ``wrong`` or ``warn``, and what to do."""

    status: str
    subject: str
    detail: str


def flow_repos(env: Mapping[str, str], models: list[tuple[str, bool]]
               ) -> list[tuple[str, str, bool]]:
    """``(repo_id, repo_type, must_be_private)`` of every repo the flow writes.

    ``models``: ``(name, is_the_root_params_yaml)``; the naming rule of cd-model.yml.
    """
    registry = env["HF_MODEL_REPO"]
    repos = [(registry, "model", False), (f"{registry}-data", "dataset", True)]
    for name, root in models:
        suffix = "" if root else f"-{name}"
        repos.append((f"{env['HF_SPACE_REPO']}{suffix}", "space", False))
        # The prediction log holds every request's inputs: never public.
        repos.append((f"{env['HF_DATASET_REPO']}{suffix}", "dataset", True))
    return repos


def preflight(env: Mapping[str, str], models: list[tuple[str, bool]], api: Any
              ) -> list[Finding]:
    """Every finding, in order; a fork is ready when none is ``missing`` or ``wrong``."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    found = [Finding("ok" if env.get(n) else "missing", n,
                     "set" if env.get(n) else "add it as a repository "
                     + ("secret" if n == "HF_TOKEN" else "variable") + " (docs/cicd.md)")
             for n in REQUIRED]
    if any(f.status == "missing" for f in found):
        return found
    for repo_id, repo_type, private in flow_repos(env, models):
        subject = f"{repo_type} {repo_id}"
        try:
            info = api.repo_info(repo_id, repo_type=repo_type)
        except RepositoryNotFoundError:
            found.append(Finding("ok", subject, "does not exist yet: CD (or the Space) "
                                 "creates it; the token needs write access to "
                                 f"{repo_id.split('/')[0]}"))
            continue
        try:
            api.auth_check(repo_id, repo_type=repo_type, write=True)
        except HfHubHTTPError:
            found.append(Finding("wrong", subject, "HF_TOKEN may not write to it"))
            continue
        if private and not info.private:
            found.append(Finding("wrong", subject, "is public but holds logged inputs or "
                                 "training data: make it private"))
        elif repo_type == "space" and getattr(info, "sdk", "docker") != "docker":
            found.append(Finding("wrong", subject, f"has sdk {info.sdk}; the bundle is a "
                                 "Docker Space: change its SDK to docker"))
        else:
            found.append(Finding("ok", subject, "writable"
                                 + (", private" if info.private else ", public")))
    return found
