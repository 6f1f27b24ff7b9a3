"""Fetch what the Space records (prediction log, feedback) from a Hub dataset repository.

The Space pushes its log folder to a dataset repo (for example with huggingface_hub's
``CommitScheduler``); the monitor workflow downloads a snapshot of it with
:func:`fetch_dataset` and points ``monitoring.log_path`` at the downloaded file.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlops.core.exceptions import PublishError

__all__ = ["fetch_dataset"]


def fetch_dataset(
    repo_id: str,
    out: str | Path,
    *,
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
    endpoint: str | None = None,
) -> list[Path]:
    """Download dataset ``repo_id`` into ``out``; return the files fetched, sorted.

    Reads the token from ``HF_TOKEN`` (private datasets need one) and never shows it.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    out = Path(out)
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        snapshot_download(
            repo_id, repo_type="dataset", revision=revision, local_dir=str(out),
            allow_patterns=allow_patterns, endpoint=endpoint.rstrip("/"),
            token=os.environ.get("HF_TOKEN") or None,
        )
    except RepositoryNotFoundError:
        raise PublishError(f"dataset {repo_id} was not found (or HF_TOKEN may not read it); "
                           "check the HF_DATASET_REPO variable", repo=repo_id,
                           rule="not_found") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise PublishError(f"cannot fetch dataset {repo_id} (HTTP {status}: "
                           f"{exc.server_message or 'no message'})", repo=repo_id) from None
    except LocalEntryNotFoundError as exc:
        # huggingface_hub's answer when the Hub refused or could not be reached and nothing
        # is cached; the Hub's own reply, if any, is further down the exception chain.
        status = _http_status(exc)
        why = f"HTTP {status}" if status else "the Hub could not be reached"
        raise PublishError(f"cannot fetch dataset {repo_id} from {endpoint} ({why}) and "
                           "nothing is cached; check HF_TOKEN's read access and the network",
                           repo=repo_id) from None
    except OSError as exc:
        raise PublishError(f"cannot fetch dataset {repo_id} from {endpoint}: "
                           f"{type(exc).__name__}", repo=repo_id) from None
    # local_dir keeps download metadata in .cache/; it is bookkeeping, not data.
    return sorted(p for p in out.rglob("*")
                  if p.is_file() and ".cache" not in p.relative_to(out).parts)


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of the first error in ``exc``'s chain that carries a response."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if response is not None and getattr(response, "status_code", None):
            return int(response.status_code)
        current = current.__cause__ or current.__context__
    return None
