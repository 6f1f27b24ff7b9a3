"""Loading a version to serve reads its record once and its ONNX twin once (issue 28)."""

from __future__ import annotations

import builtins
import io
from collections import Counter
from pathlib import Path

import pytest

from mlops.core.config import load_params
from mlops.core.modelio import load_model, save_model
from mlops.core.schema import load_schema
from mlops.registry.local import LocalRegistry
from mlops.serving.router import Router
from mlops.stages.conversion import ONNX_FILE, convert
from mlops.stages.training import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def compiled_registry(serving_models, tmp_path) -> LocalRegistry:
    """v1 (production) registered as a pipeline run does: with its ONNX twin."""
    params = load_params(ROOT / "params.yaml")
    skops = tmp_path / "m.skops"
    save_model(train(params, serving_models.train), skops)
    holdout = serving_models.test.drop(columns=[params.data.target])
    conversion = convert(load_model(skops), holdout)
    assert conversion.onnx is not None, conversion.record["reason"]
    (tmp_path / ONNX_FILE).write_bytes(conversion.onnx)
    registry = LocalRegistry(tmp_path / "registry")
    registry.register("m", skops, files={ONNX_FILE: tmp_path / ONNX_FILE},
                      metadata={"gates_passed": True, "compiled": conversion.record})
    registry.promote("m", 1, "production", expected=None, reason="test")
    return registry


def test_a_compiled_version_reads_its_record_and_its_twin_once(compiled_registry,
                                                              serving_models, monkeypatch):
    params = serving_models.params
    schema = load_schema(params.resolve(params.data.schema))
    version_dir = (compiled_registry.root / "m" / "versions" / "1").resolve()
    opened: Counter[str] = Counter()
    real_open, real_io_open = builtins.open, io.open

    def spy(opener):
        def counted(file, *args, **kwargs):
            if isinstance(file, str | Path):
                path = Path(file).resolve()
                if path.parent == version_dir:
                    opened[path.name] += 1
            return opener(file, *args, **kwargs)
        return counted

    monkeypatch.setattr(builtins, "open", spy(real_open))
    monkeypatch.setattr(io, "open", spy(real_io_open))
    router = Router(compiled_registry, "m", schema, None, refresh_seconds=3600)
    monkeypatch.undo()
    try:
        assert router.status()["scoring"][1]["engine"] == "onnxruntime"
    finally:
        router.close()
    assert opened["version.json"] == 1, opened
    assert opened[ONNX_FILE] == 1, opened  # read and hashed from the same bytes


def test_a_tampered_twin_is_still_refused(compiled_registry, serving_models):
    params = serving_models.params
    schema = load_schema(params.resolve(params.data.schema))
    twin = compiled_registry.root / "m" / "versions" / "1" / ONNX_FILE
    twin.write_bytes(twin.read_bytes() + b"\0")
    with Router(compiled_registry, "m", schema, None, refresh_seconds=3600) as router:
        scoring = router.status()["scoring"][1]
    assert scoring["engine"] == "scikit-learn" and scoring["refused"]
    assert "does not match the recorded" in scoring["reason"]
