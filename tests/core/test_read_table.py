"""Parquet is accepted wherever CSV is (one reader, ``read_table``), and a sampled data
file (``data.sample_rows``) is read once however many stages load it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops.cli.main import main
from mlops.core import data as data_module
from mlops.core.config import load_params
from mlops.core.data import load_split, read_csv, read_table
from mlops.core.exceptions import DataError
from mlops.core.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"


@pytest.fixture(scope="module")
def csv_path() -> Path:
    params = load_params(PARAMS)
    return params.resolve(params.data.path)


@pytest.fixture
def parquet(tmp_path: Path, csv_path: Path) -> Path:
    path = tmp_path / "data.parquet"
    read_csv(csv_path).to_parquet(path, index=False)
    return path


def test_read_table_reads_parquet_like_the_csv(parquet: Path, csv_path: Path) -> None:
    from_csv, from_parquet = read_table(csv_path), read_table(parquet)
    assert list(from_parquet.columns) == list(from_csv.columns)
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False)


def test_a_broken_parquet_file_is_a_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="cannot be read as Parquet") as info:
        read_table(bad)
    assert info.value.fields["rule"] == "format"


def test_load_split_reads_a_parquet_data_path(parquet: Path, csv_path: Path) -> None:
    split = load_split(load_params(PARAMS, [f"data.path={parquet}"]))
    expected = load_split(load_params(PARAMS))
    assert len(split.frame) == len(expected.frame)
    assert split.test.index.equals(expected.test.index)


def test_schema_infer_accepts_parquet(parquet: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "schema.yaml"
    assert main(["schema", "infer", "--params", str(PARAMS), "--data", str(parquet),
                 "--out", str(out)]) == 0
    inferred, committed = load_schema(out), load_schema(ROOT / "data" / "schema.yaml")
    assert inferred.names == committed.names
    assert [c.kind for c in inferred.columns] == [c.kind for c in committed.columns]


def test_validate_takes_a_parquet_data_path_as_its_default_drift_reference(
        parquet: Path, csv_path: Path) -> None:
    from mlops.cli.validate import run_validate

    params = load_params(PARAMS, [f"data.path={parquet}"])
    report = run_validate(params, csv_path, purpose="training")
    assert report.drift is not None and report.drift.columns
    assert not report.drift.drifted_columns  # the same rows: nothing drifted


def test_live_data_accepts_parquet_in_and_out(parquet: Path, tmp_path: Path) -> None:
    from mlops.monitoring.live_data import write_live_data

    params = load_params(PARAMS, [f"data.path={parquet}"])
    out = tmp_path / "retrain.parquet"
    result = write_live_data(params, out, tmp_path / "no-log.db")
    assert result.live_rows == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), read_table(parquet))


def test_a_sampled_file_is_read_once_for_every_stage(parquet: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    real = data_module.read_chunks

    def counted(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        reads.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(data_module, "read_chunks", counted)
    params = load_params(PARAMS, [f"data.path={parquet}", "data.sample_rows=300"])
    # Validation, training, evaluation and registration each load the split.
    splits = [load_split(params) for _ in range(4)]
    assert reads == [parquet]
    assert all(s.frame.equals(splits[0].frame) and len(s.frame) == 300 for s in splits)
    del splits[0].frame[params.data.target]  # a stage that changes its frame changes no other's
    assert load_split(params).frame.equals(splits[1].frame)
    assert reads == [parquet]
    load_split(load_params(PARAMS, [f"data.path={parquet}", "data.sample_rows=200"]))
    assert len(reads) == 2  # another sample is read again
