"""read_csv on the bundled data and on a generated corpus of malformed files.

Files that read fine but hold bad data (impossible values, new categories, drift,
degenerate labels...) are the data gate's corpus: tests/stages/test_gate_corpus.py.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from mlops.core.data import INDEX_COLUMN, read_csv
from mlops.core.exceptions import DataError

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "data" / "german.csv").read_bytes()
HEADER = GOOD.split(b"\n", 1)[0] + b"\n"
ROWS = b"\n".join(GOOD.split(b"\n")[1:6]) + b"\n"


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("german.csv", data)
    return buffer.getvalue()


def _parquet() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"a": [1, 2]}).to_parquet(buffer)
    return buffer.getvalue()


# name -> (file content, rule the error must name)
CORPUS: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "non_empty"),
    "whitespace_only": (b"  \n\n \t\n", "non_empty"),
    "header_only": (HEADER, "non_empty"),
    "header_and_blank_lines": (HEADER + b"\n\n\n", "non_empty"),
    "semicolon_delimiter": (GOOD.replace(b",", b";"), "delimiter"),
    "tab_delimiter": (GOOD.replace(b",", b"\t"), "delimiter"),
    "pipe_delimiter": (GOOD.replace(b",", b"|"), "delimiter"),
    "latin1_encoding": (HEADER + "1,männlich,2,own,little,little,1169,6,car,67\n"
                        .encode("latin-1"), "encoding"),
    "cp1252_encoding": (HEADER + ROWS + "1,male,2,own,little,little,1169,6,caf\u00e9 \u20ac,67\n"
                        .encode("cp1252"), "encoding"),
    "utf16_encoding": (GOOD[:2000].decode().encode("utf-16"), "encoding"),
    "gzip_named_csv": (gzip.compress(GOOD), "format"),
    "bzip2_named_csv": (bz2.compress(GOOD), "format"),
    "xz_named_csv": (lzma.compress(GOOD), "format"),
    "zip_named_csv": (_zip(GOOD), "format"),
    "parquet_named_csv": (_parquet(), "format"),
    "png_named_csv": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "format"),
    "nul_bytes": (HEADER + b"1,male\x00,2,own,little,little,1169,6,car,67\n", "format"),
    "json_named_csv": (b'[{"risk": 1, "sex": "male"}]\n', "format"),
    "html_named_csv": (b"<html><body>Not found</body></html>\n", "format"),
    "duplicate_columns": (b"a,b,a\n1,2,3\n", "unique_columns"),
    "duplicate_after_strip": (b"a, b,b \n1,2,3\n", "unique_columns"),
    "blank_column_name": (b"a,,b\n0,1,2\n", "column_names"),
    # An unnamed first column is read as a pandas index only when it is one.
    "unnamed_first_column_not_an_index": (b",a,b\nx,1,2\ny,3,4\n", "column_names"),
    "unnamed_first_column_repeats": (b",a,b\n0,1,2\n0,3,4\n", "column_names"),
    "ragged_long_row": (HEADER + ROWS + b"1,male,2,own,little,little,1169,6,car,67,99\n",
                        "ragged_rows"),
    "ragged_short_row": (HEADER + ROWS + b"1,male,2,own\n" + ROWS, "ragged_rows"),
    "unterminated_quote": (b'a,b\n1,"oops\n2,3\n', "quoting"),
}


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 20


def test_reads_bundled_data():
    frame = read_csv(ROOT / "data" / "german.csv")
    assert frame.shape == (1000, 10)
    assert frame["risk"].isin([0, 1]).all()


def test_an_unnamed_first_column_of_0_1_2_is_read_as_the_pandas_index(tmp_path):
    path = tmp_path / "indexed.csv"
    pd.DataFrame({"a": [5, 6, 7], "b": ["x", "y", "z"]}).to_csv(path)  # index written
    frame = read_csv(path)
    assert list(frame.columns) == [INDEX_COLUMN, "a", "b"]
    assert frame[INDEX_COLUMN].tolist() == [0, 1, 2]


def test_utf8_bom_is_accepted_and_stripped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD)
    frame = read_csv(path)
    assert list(frame.columns)[0] == "risk"
    assert frame.shape == (1000, 10)


def test_crlf_line_endings_are_fine(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(GOOD.replace(b"\n", b"\r\n"))
    assert read_csv(path).shape == (1000, 10)


def test_quoted_commas_are_not_ragged(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'a,b\n"x, y",2\n')
    assert read_csv(path)["a"].tolist() == ["x, y"]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_malformed_file_gives_clear_error(tmp_path, name):
    content, rule = CORPUS[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_csv(path)
    err = info.value
    assert str(path) in err.message, "the message must name the file"
    assert err.fields["rule"] == rule
    assert err.fields["file"] == str(path)
    assert err.exit_code == 2


def test_messages_say_where_and_how(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_bytes(CORPUS["ragged_long_row"][0])
    with pytest.raises(DataError, match=r"line 7 has 11 fields but the header .* has 10"):
        read_csv(path)
    path.write_bytes(CORPUS["duplicate_columns"][0])
    with pytest.raises(DataError, match=r"\['a'\]") as info:
        read_csv(path)
    assert info.value.fields["column"] == "a"
    path.write_bytes(CORPUS["latin1_encoding"][0])
    with pytest.raises(DataError, match=r"byte 0xe4 on line 2 .* UTF-8"):
        read_csv(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file") as info:
        read_csv(tmp_path / "nope.csv")
    assert info.value.fields["rule"] == "exists"
    with pytest.raises(DataError, match="is a directory") as info:
        read_csv(tmp_path)
    assert info.value.fields["rule"] == "is_file"


def test_data_error_is_a_value_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ValueError):
        read_csv(path)
