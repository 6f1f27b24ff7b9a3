"""Push the app's live prediction log to a Hugging Face dataset repository, periodically.

A SQLite file that is being written cannot be uploaded as is (a half-written page would be
pushed), so before each scheduled commit a consistent copy is taken with SQLite's online
backup API into a folder of its own, and ``huggingface_hub``'s ``CommitScheduler`` uploads
that folder. Monitoring in CI then downloads ``live/predictions.sqlite`` and sees live
traffic and feedback. huggingface_hub is imported only here, and only when pushing is on.

The Space's disk is ephemeral: after a restart the log is gone, and the first push would
replace the dataset's history with a near-empty file. So :func:`start_push` first restores
the log from the dataset when the disk has none (:func:`restore_log`), and the app then
appends to it; when the dataset cannot be read it does not push at all rather than
overwrite what it could not read.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["PUSH_FOLDER", "restore_log", "snapshot_log", "start_push"]

log = logging.getLogger("mlops.space")

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


def restore_log(log_path: str | Path, repo_id: str, api: Any) -> bool:
    """Download the pushed log of dataset ``repo_id`` to ``log_path`` when there is no local
    log yet; True if restored. A missing repo or file is a first start (False); any other
    failure raises, since pushing then would overwrite a history that was not read."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    log_path = Path(log_path)
    if log_path.exists():
        return False  # the same disk as before: it already holds the history
    try:
        path = hf_hub_download(repo_id, f"{PATH_IN_REPO}/predictions.sqlite",
                               repo_type="dataset", endpoint=api.endpoint, token=api.token,
                               cache_dir=log_path.parent / ".restore-cache")
    except (EntryNotFoundError, RepositoryNotFoundError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, RepositoryNotFoundError) and status == 401:
            raise  # unreadable (no or wrong token), not absent: never push over it
        return False
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = log_path.with_suffix(".restoring")
    shutil.copyfile(path, tmp)
    os.replace(tmp, log_path)
    shutil.rmtree(log_path.parent / ".restore-cache", ignore_errors=True)
    return True


def start_push(log_path: str | Path, repo_id: str, *, every_minutes: float | None = None,
               token: str | None = None, hf_api: Any = None) -> Any:
    """Start a background ``CommitScheduler`` that pushes the log to dataset ``repo_id``.

    ``every_minutes`` defaults to ``MLOPS_PUSH_MINUTES`` or 5. Returns the scheduler
    (call ``.stop()``, or ``.trigger()`` to push now), or None when the dataset could not be
    read to restore the log. ``hf_api`` picks the endpoint (tests).
    """
    from huggingface_hub import CommitScheduler, HfApi

    token = token or os.environ.get("HF_TOKEN") or None
    api = hf_api or HfApi(token=token)
    try:
        if restore_log(log_path, repo_id, api):
            log.info("restored the prediction log from dataset %s", repo_id)
    except Exception as exc:  # noqa: BLE001 - any failure: pushing would overwrite history
        log.error("not pushing the prediction log: dataset %s could not be read (%s: %s); "
                  "check HF_TOKEN's read access", repo_id, type(exc).__name__, exc)
        return None

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
        every=every, token=token,
        # private: the log holds every request and its inputs
        allow_patterns=["*.sqlite"], hf_api=hf_api, private=True,
    )
