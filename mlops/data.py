"""Reading the data set, hashing it, and splitting it reproducibly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mlops.exceptions import DataError

__all__ = ["read_csv", "file_sha256", "split"]


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV file with a header row, or raise :class:`DataError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file", file=str(path), rule="exists")
    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot be read as CSV: {exc}", file=str(path)) from None
    if frame.empty:
        raise DataError(f"{path}: has no data rows", file=str(path), rule="non_empty")
    return frame


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split(
    frame: pd.DataFrame, target: str, *, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split; the same frame, size and seed give the same rows."""
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is missing", column=target, rule="target")
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[target]
    )
    return train.sort_index(), test.sort_index()
