"""Push the app's live prediction log to a Hugging Face dataset repository, periodically.

A SQLite file that is being written cannot be uploaded as is (a half-written page would be
pushed), so before each scheduled commit a consistent copy is taken with SQLite's online
backup API into a folder of its own, and ``huggingface_hub``'s ``CommitScheduler`` uploads
that folder. Monitoring in CI then downloads ``live/predictions.sqlite`` and sees live
traffic and feedback. huggingface_hub is imported only here, and only when pushing is on.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["PUSH_FOLDER", "snapshot_log", "start_push"]

PUSH_FOLDER = "live-push"  # next to the log; holds only the snapshot that gets uploaded
PATH_IN_REPO = "live"


def snapshot_log(log_path: str | Path, dest: str | Path) -> Path | None:
    """Copy the SQLite log consistently to ``dest``; None if there is no log yet."""
    log_path, dest = Path(log_path), Path(dest)
    if not log_path.is_file():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    src = sqlite3.connect(f"file:{log_path}?mode=ro", uri=True, timeout=30)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out)  # consistent even while the app keeps writing (WAL)
        finally:
            out.close()
    finally:
        src.close()
    os.replace(tmp, dest)  # the scheduler never sees a half-written file
    return dest


def start_push(log_path: str | Path, repo_id: str, *, every_minutes: float | None = None,
               token: str | None = None, hf_api: Any = None) -> Any:
    """Start a background ``CommitScheduler`` that pushes the log to dataset ``repo_id``.

    ``every_minutes`` defaults to ``MLOPS_PUSH_MINUTES`` or 5. Returns the scheduler
    (call ``.stop()``, or ``.trigger()`` to push now). ``hf_api`` picks the endpoint (tests).
    """
    from huggingface_hub import CommitScheduler

    class _SnapshotScheduler(CommitScheduler):
        """CommitScheduler that refreshes the snapshot right before each push."""

        def push_to_hub(self) -> Any:
            with self.lock:
                snapshot_log(log_path, Path(self.folder_path) / "predictions.sqlite")
            return super().push_to_hub()

    folder = Path(log_path).parent / PUSH_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    every = every_minutes if every_minutes is not None else float(
        os.environ.get("MLOPS_PUSH_MINUTES") or 5)
    return _SnapshotScheduler(
        repo_id=repo_id, repo_type="dataset", folder_path=folder, path_in_repo=PATH_IN_REPO,
        every=every, token=token or os.environ.get("HF_TOKEN") or None,
        allow_patterns=["*.sqlite"], hf_api=hf_api, private=True,  # it holds requests and their inputs
    )
