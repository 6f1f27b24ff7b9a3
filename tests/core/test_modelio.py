"""Model files that are not what they claim: zip bombs, lying zip members, skops nodes that
use trusted names in ways the loader does not expect. All are IntegrityErrors naming the file.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest

from mlops.core.exceptions import ConfigError, IntegrityError
from mlops.core.lineage import file_sha256
from mlops.core.modelio import load_model


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _array_schema(file: str) -> dict:
    return {"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode",
            "__id__": 1, "type": "numpy", "file": file, "protocol": 2,
            "_skops_version": "0.16.0"}


def test_numpy_dtype_as_an_object_node_is_an_integrity_error(tmp_path):
    key_types = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                 "content": [], "__id__": 3}
    schema = {"__class__": "dtype", "__module__": "numpy", "__loader__": "ObjectNode",
              "content": {"__class__": "dict", "__module__": "builtins",
                          "__loader__": "DictNode", "content": {}, "key_types": key_types,
                          "__id__": 2},
              "__id__": 1, "protocol": 2, "_skops_version": "0.16.0"}
    path = tmp_path / "dtype.skops"
    path.write_bytes(_zip({"schema.json": json.dumps(schema).encode()}))
    with pytest.raises(IntegrityError, match="dtype.skops") as info:
        load_model(path)
    assert "TypeError" in str(info.value)


def test_zip_bomb_is_refused_before_it_inflates(tmp_path):
    big = _npy(np.zeros(4 * 1024 * 1024))  # 32 MiB of zeros: deflates about 1000-fold
    path = tmp_path / "bomb.skops"
    path.write_bytes(_zip({"schema.json": json.dumps(_array_schema("0.npy")).encode(),
                           "0.npy": big}))
    assert path.stat().st_size < 200_000
    with pytest.raises(IntegrityError, match="bomb.skops.*inflate") as info:
        load_model(path)
    assert info.value.fields["rule"] == "size"


def test_total_uncompressed_size_is_capped(registry_model_dir):
    path = registry_model_dir / "model.skops"
    with pytest.raises(IntegrityError, match="inflate"):
        load_model(path, max_bytes=1000)
    assert load_model(path) is not None


def test_member_larger_than_declared_is_refused(tmp_path):
    content = _npy(np.arange(500, dtype=np.float64))
    data = bytearray(_zip({"schema.json": json.dumps(_array_schema("0.npy")).encode(),
                           "0.npy": content}, compression=zipfile.ZIP_STORED))
    # Declare the array member 100 bytes shorter than it is, in both headers.
    declared = len(content) - 100
    local = data.find(b"PK\x03\x04")
    while local != -1:
        name_len = struct.unpack_from("<H", data, local + 26)[0]
        if bytes(data[local + 30:local + 30 + name_len]) == b"0.npy":
            struct.pack_into("<I", data, local + 22, declared)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46:central + 46 + name_len]) == b"0.npy":
            struct.pack_into("<I", data, central + 24, declared)
        central = data.find(b"PK\x01\x02", central + 4)
    path = tmp_path / "liar.skops"
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="liar.skops"):
        load_model(path, sha256=file_sha256(path))


def test_the_cap_is_configured_by_the_environment(registry_model_dir, monkeypatch):
    path = registry_model_dir / "model.skops"
    monkeypatch.setenv("MLOPS_MAX_MODEL_MB", "0.001")
    with pytest.raises(IntegrityError, match="MLOPS_MAX_MODEL_MB"):
        load_model(path)
    monkeypatch.setenv("MLOPS_MAX_MODEL_MB", "lots")
    with pytest.raises(ConfigError, match="MLOPS_MAX_MODEL_MB"):
        load_model(path)
    monkeypatch.setenv("MLOPS_MAX_MODEL_MB", "64")
    assert load_model(path) is not None
