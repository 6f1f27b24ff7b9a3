"""Production's training data against this run's (mlops.pipeline.compare)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlops.core.config import load_params
from mlops.core.data import read_csv
from mlops.pipeline.compare import data_comparison

ROOT = Path(__file__).resolve().parents[2]


def test_a_parquet_training_file_is_compared_as_a_csv_one_is(tmp_path: Path) -> None:
    read_csv(ROOT / "data" / "german.csv").to_parquet(tmp_path / "train.parquet")
    params = load_params(ROOT / "params.yaml", [f"data.path={tmp_path / 'train.parquet'}"])
    sha = hashlib.sha256((tmp_path / "train.parquet").read_bytes()).hexdigest()
    out = data_comparison(params, {"data_sha256": sha, "params": {}})
    assert (out["status"], out["source"]) == ("compared", "the same file as this run")
    assert out["drift"]["dataset_drift"] is False  # the same rows, split the same way
