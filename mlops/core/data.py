"""Reading the data set, hashing it, and splitting it reproducibly."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlops.core.exceptions import DataError

if TYPE_CHECKING:
    from mlops.core.config import Params

__all__ = ["CHUNK_ROWS", "INDEX_COLUMN", "DataSplit", "read_csv", "read_chunks", "read_sample",
           "read_table", "write_table",
           "is_parquet", "split", "load_split", "class_balance",
           "target_summary"]

CHUNK_ROWS = 65_536  # rows per chunk read: a few MB a column; larger chunks cost RSS, not speed
# What pandas.read_csv reads as missing by default, so a chunked read agrees with it.
_NA_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


# Leading bytes of formats that are sometimes saved with a .csv name by mistake.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed; decompress it first (gunzip) or name it .csv.gz"),
    (b"PK\x03\x04", "a zip archive (or an Excel .xlsx workbook); export it as CSV"),
    (b"BZh", "bzip2-compressed; decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first"),
    (b"PAR1", "a Parquet file; read it with pandas.read_parquet or export it as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook; export it as CSV"),
    (b"\x89PNG", "a PNG image, not a CSV file"),
    (b"%PDF", "a PDF document, not a CSV file"),
    (b"\xff\xfe", "UTF-16 encoded; re-save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 encoded; re-save it as UTF-8"),
)
_DELIMITERS = (";", "\t", "|")
# What pandas names an unnamed first column: the index that ``DataFrame.to_csv()`` writes.
INDEX_COLUMN = "Unnamed: 0"


def _fail(path: Path, message: str, rule: str, column: str | None = None) -> DataError:
    return DataError(f"{path}: {message}", file=str(path), rule=rule, column=column)


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 text of ``raw`` (a UTF-8 BOM is accepted and dropped)."""
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise _fail(path, f"is {what}", "encoding" if "UTF-16" in what else "format")
    if b"\x00" in raw[:65536]:
        raise _fail(path, "is a binary file (it contains NUL bytes), not UTF-8 CSV text",
                    "format")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(
            path, f"is not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} cannot be "
            "decoded; re-save it as UTF-8 (for example `iconv -f latin1 -t utf-8`)",
            "encoding",
        ) from None


def _check_structure(path: Path, text: str) -> None:
    """Header and row shape, checked with the csv module so line numbers are exact."""
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next((row for row in reader if row), None)
        if header is None:
            raise _fail(path, "has no header row (only blank lines)", "non_empty")
        header_line = reader.line_num
        names = [name.strip() for name in header]
        if text.lstrip()[:1] in ("{", "[", "<"):
            raise _fail(path, "looks like JSON or HTML, not CSV", "format")
        if len(names) == 1:
            found = [d for d in _DELIMITERS if d in header[0]]
            if found:
                shown = "tab" if found[0] == "\t" else repr(found[0])
                raise _fail(path, f"the header is one column {header[0]!r}: the file is "
                            f"separated by {shown}, not commas; re-save it comma-separated",
                            "delimiter")
        for i, name in enumerate(names):
            if not name and i > 0:  # an unnamed first column may be an index: read_csv judges
                raise _fail(path, f"column {i + 1} of the header has no name (was the "
                            "index written? use index=False)", "column_names")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _fail(path, f"duplicate column name(s) {dupes} in the header; give each "
                        "column a unique name", "unique_columns", column=dupes[0])
        rows = 0
        for row in reader:
            if not row:
                continue  # pandas skips blank lines too
            if len(row) != len(header):
                raise _fail(path, f"line {reader.line_num} has {len(row)} fields but the "
                            f"header (line {header_line}) has {len(header)}; fix the row or "
                            "quote values that contain commas", "ragged_rows")
            rows += 1
    except csv.Error as exc:
        raise _fail(path, f"is not valid CSV near line {reader.line_num}: {exc} (check "
                    "quotes)", "quoting") from None
    if rows == 0:
        raise _fail(path, f"has a header ({len(header)} columns) but no data rows",
                    "non_empty")


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a comma-separated UTF-8 file with a header row.

    Raises :class:`DataError` naming the file and the rule broken (``exists``,
    ``is_file``, ``non_empty``, ``format``, ``encoding``, ``delimiter``, ``column_names``,
    ``unique_columns``, ``ragged_rows``, ``quoting``) and how to fix it. A UTF-8 byte-order
    mark is accepted and dropped.
    """
    path = Path(path)
    if path.is_dir():
        raise _fail(path, "is a directory, not a CSV file", "is_file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "no such file", "exists") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror}", "readable") from None
    if not raw.strip():
        raise _fail(path, "is empty", "non_empty")
    text = _decode(path, raw)
    if not text.strip():
        raise _fail(path, "is empty", "non_empty")
    _check_structure(path, text)
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise _fail(path, f"cannot be read as CSV: {exc}", "format") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if not next(csv.reader(io.StringIO(text.lstrip("\r\n"))))[0].strip():
        _check_index(path, frame)
    return frame


def _check_index(path: Path, frame: pd.DataFrame) -> None:
    """An unnamed first column is kept (as :data:`INDEX_COLUMN`) only when it holds a
    different whole number in every row (0, 1, 2, ..., or what is left of them after rows
    were filtered): the index that ``DataFrame.to_csv()`` writes, an identifier. Anything
    else in a column without a name is refused: nobody can say what it means."""
    values = frame.iloc[:, 0]
    if not (pd.api.types.is_integer_dtype(values) and values.is_unique):
        raise _fail(path, "column 1 of the header has no name and its values are not a "
                    "pandas index (a different whole number in every row); name it, or "
                    "write the file with index=False", "column_names")
    frame.columns = [INDEX_COLUMN, *frame.columns[1:]]


PARQUET_MAGIC = b"PAR1"  # a Parquet file's first (and last) four bytes


def is_parquet(path: str | Path) -> bool:
    """True for a Parquet file (by its name, or its leading magic bytes)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
    except OSError:
        return False


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a whole data file: Parquet (by its name or magic bytes) or CSV (:func:`read_csv`).

    Everything that accepts a CSV file reads it through here, so it accepts Parquet too.
    Raises :class:`DataError` naming the file and the rule broken.
    """
    path = Path(path)
    if not is_parquet(path):
        return read_csv(path)
    import pyarrow as pa

    if path.is_dir():
        raise _fail(path, "is a directory, not a data file", "is_file")
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise _fail(path, "no such file", "exists") from None
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise _fail(path, f"cannot be read as Parquet: {exc}", "format") from None
    if frame.empty:
        raise _fail(path, "has no data rows", "non_empty")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as Parquet when ``path`` is named ``*.parquet`` (or ``*.pq``), else
    as CSV; without the index either way."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _like_read_csv(series: pd.Series) -> pd.Series:
    """A text column as ``pandas.read_csv`` would type it: numbers, true/false, or text."""
    present = int(series.notna().sum())
    numbers = pd.to_numeric(series, errors="coerce")
    if int(numbers.notna().sum()) == present:
        return numbers
    lowered = series.str.lower()
    if present == len(series) and lowered.isin(["true", "false"]).all():
        return lowered == "true"
    return series


def read_chunks(path: str | Path, *, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Read a Parquet or CSV file as consecutive frames of at most ``rows`` rows.

    Memory is bounded by one chunk, whatever the file's size (pyarrow's dataset scanner).
    Parquet columns keep the file's types; CSV columns are read as text and typed per
    chunk as ``pandas.read_csv`` would type them (numbers, true/false, else text), with
    its missing-value spellings. Raises :class:`DataError` for a file that cannot be read.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import csv as pacsv

    path = Path(path)
    if path.is_dir():
        raise _fail(path, "is a directory, not a data file", "is_file")
    if not path.is_file():
        raise _fail(path, "no such file", "exists")
    if path.stat().st_size == 0:
        raise _fail(path, "is empty", "non_empty")
    parquet = is_parquet(path)
    try:
        if parquet:
            # No pre-buffering: it reads many row groups ahead into memory at once.
            source = ds.dataset(path, format=ds.ParquetFileFormat(
                default_fragment_scan_options=ds.ParquetFragmentScanOptions(
                    pre_buffer=False)))
        else:
            with path.open("rb") as handle:
                _decode(path, handle.read(65536))  # encoding and format, with their fixes
            header = pacsv.open_csv(path).schema.names
            fmt = ds.CsvFileFormat(
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()), null_values=_NA_VALUES,
                    strings_can_be_null=True),
                read_options=pacsv.ReadOptions(block_size=16 << 20))
            source = ds.dataset(path, format=fmt)
        # One batch read ahead, not the scanner's default 16: memory stays one chunk or two.
        for batch in source.to_batches(batch_size=rows, batch_readahead=1,
                                       fragment_readahead=1):
            if not batch.num_rows:
                continue
            frame = batch.to_pandas()
            frame.columns = [str(c).strip() for c in frame.columns]
            if not parquet:
                frame = frame.apply(_like_read_csv)
            yield frame
    except (pa.ArrowInvalid, pa.ArrowIOError, UnicodeDecodeError) as exc:
        kind = "Parquet" if parquet else "CSV"
        raise _fail(path, f"cannot be read as {kind}: {exc}", "format") from None


def split(
    frame: pd.DataFrame, target: str, *, test_size: float, seed: int, stratify: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split, stratified by the target unless ``stratify`` is False (a numeric
    regression target has no classes); the same frame, size and seed give the same rows."""
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is missing", column=target, rule="target")
    from sklearn.model_selection import train_test_split  # reading data must not wait for it

    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed,
        stratify=frame[target] if stratify else None,
    )
    return train.sort_index(), test.sort_index()


@dataclass(frozen=True)
class DataSplit:
    """The data set of a run and its reproducible train/held-out split.

    The split is made when ``train`` or ``test`` is first read, so a validation stage can
    check the whole frame (a missing label, say) before anything is split.
    """

    path: Path
    frame: pd.DataFrame
    target: str
    test_size: float
    seed: int
    stratify: bool = True  # False for a regression target

    @cached_property
    def _parts(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return split(self.frame, self.target, test_size=self.test_size, seed=self.seed,
                     stratify=self.stratify)

    @property
    def train(self) -> pd.DataFrame:
        """The training rows."""
        return self._parts[0]

    @property
    def test(self) -> pd.DataFrame:
        """The held-out rows."""
        return self._parts[1]


def read_sample(path: str | Path, rows: int, *, seed: int,
                chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """A seeded uniform sample of ``rows`` rows of a CSV or Parquet file, in file order.

    Memory holds the sample and one chunk. Every row gets a key from one seeded random
    stream, in file order, and the rows with the smallest keys are kept, so the sample
    depends on the file, ``rows`` and ``seed`` only, never on the chunk size.
    """
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    start = 0
    for chunk in read_chunks(path, rows=chunk_rows):
        chunk = chunk.set_axis(np.arange(start, start + len(chunk)))
        start += len(chunk)
        frame = chunk if kept is None else pd.concat([kept, chunk])
        keys = np.concatenate([keys, rng.random(len(chunk))])
        if len(frame) > rows:
            keep = np.sort(np.argpartition(keys, rows - 1)[:rows])
            frame, keys = frame.iloc[keep], keys[keep]
        kept = frame
    if kept is None:
        raise _fail(Path(path), "has no data rows", "non_empty")
    return kept.reset_index(drop=True)


def load_split(params: Params) -> DataSplit:
    """Read ``params.data.path`` (CSV or Parquet), to be split as every stage does (target,
    test size, seed).

    With ``data.sample_rows`` only a seeded sample of that many rows is read
    (:func:`read_sample`), for data larger than memory, and only once per process while
    the file is unchanged: the stages of a run all call this.
    """
    path = params.resolve(params.data.path)
    frame = (read_table(path) if params.data.sample_rows is None
             else _sample_once(path, params.data.sample_rows, params.seed))
    return DataSplit(path, frame, params.data.target, params.data.test_size, params.seed,
                     stratify=not params.data.regression)


# The last sample read, by what decides it: the file (path, size, modification time), the
# number of rows and the seed. One is kept: a sample may be large.
_SAMPLE: dict[tuple[str, int, int, int, int], pd.DataFrame] = {}


def _sample_once(path: Path, rows: int, seed: int) -> pd.DataFrame:
    """:func:`read_sample` of ``path``, read again only when the file or the request changed."""
    try:
        stat = path.stat()
    except OSError:
        return read_sample(path, rows, seed=seed)  # read_sample says what is wrong
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, rows, seed)
    if key not in _SAMPLE:
        _SAMPLE.clear()
        _SAMPLE[key] = read_sample(path, rows, seed=seed)
    return _SAMPLE[key].copy()  # a caller may change its frame; the kept one stays as read


def class_balance(parts: dict[str, pd.DataFrame], target: str) -> pd.DataFrame:
    """Share of each target class in each named part (columns), rounded for display."""
    return pd.DataFrame(
        {name: part[target].value_counts(normalize=True).sort_index()
         for name, part in parts.items()}
    ).round(3)


def target_summary(parts: dict[str, pd.DataFrame], target: str, *, regression: bool = False
                   ) -> pd.DataFrame:
    """How the target is spread in each named part (columns): the class shares, or for a
    regression target its mean and quantiles, rounded for display."""
    if not regression:
        return class_balance(parts, target)
    quantiles = {"5%": 0.05, "25%": 0.25, "median": 0.5, "75%": 0.75, "95%": 0.95}
    return pd.DataFrame(
        {name: pd.Series({"mean": part[target].mean(),
                          **{k: part[target].quantile(q) for k, q in quantiles.items()}})
         for name, part in parts.items()}
    ).round(3)
