"""What ``mlops space build|push|fetch-log`` do; ``mlops/cli/main.py`` parses the arguments.

Output names repositories, folders and commit URLs only: the token is never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.core.config import Params

__all__ = ["cmd_build", "cmd_push", "cmd_fetch_log"]


def cmd_build(params: Params, out: str, *, repo_id: str | None, bundle_registry: bool,
              dataset_repo: str | None = None) -> int:
    """Write the Space folder and list what is in it; the project is the params' folder."""
    from mlops.space.bundle import build_space

    bundle = build_space(params, out, project=params.root, repo_id=repo_id,
                         bundle_registry=bundle_registry, dataset_repo=dataset_repo)
    where = bundle.registry.get("hub_repo_id") or f"bundled {bundle.registry['path']}/"
    print(f"space bundle {bundle.folder}: {len(bundle.files)} files, registry {where}")
    return 0


def cmd_push(repo_id: str, folder: str, *, private: bool = False,
             message: str | None = None) -> int:
    """Upload the built folder to the Space in one commit."""
    from mlops.space.bundle import push_space

    url = push_space(repo_id, folder, private=private,
                     message=message or f"Deploy {Path(folder).name} with mlops space push")
    print(f"pushed {folder} to Space {repo_id}: {url}")
    return 0


def cmd_fetch_log(repo_id: str, out: str, *, patterns: list[str] | None = None) -> int:
    """Download the Space's recorded log/feedback dataset into ``out``."""
    from mlops.space.logfetch import fetch_dataset

    files = fetch_dataset(repo_id, out, allow_patterns=patterns or None)
    print(f"fetched {len(files)} files from dataset {repo_id} into {out}")
    return 0
