"""No token reaches a notebook parameter, an executed notebook, a manifest, a log or a report."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nbformat
import pytest

from mlops.core.config import load_params
from mlops.pipeline.runner import NOTEBOOK_PARAMETERS, run_pipeline

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "params.yaml"
TOKEN = "hf_fakeSecretTokenForLeakTest0123456789"
OTHER = "s3cr3t-operator-token-for-leak-test"


def _forms(secret: str) -> list[bytes]:
    """The secret as it could appear: raw, without its prefix, base64, JSON-escaped."""
    raw = secret.encode()
    return [raw, raw[3:], base64.b64encode(raw), json.dumps(secret).encode()]


@pytest.mark.slow
def test_pipeline_with_a_token_in_the_environment_leaks_it_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    # The kernels inherit this environment, exactly as in CD where HF_TOKEN is set.
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("MLOPS_ADMIN_TOKEN", OTHER)
    lines: list[str] = []
    result = run_pipeline(load_params(PARAMS), params_file=PARAMS, overrides=[],
                          runs_dir=tmp_path / "runs", register=False, progress=lines.append)
    assert result.status == "succeeded"

    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".ipynb", ".json"} <= kinds, "the run must have written notebooks and JSON"
    for path in files:
        data = path.read_bytes()
        for secret in (TOKEN, OTHER):
            assert not any(form in data for form in _forms(secret)), f"{secret} in {path}"

    captured = capfd.readouterr()
    log = "\n".join(lines) + captured.out + captured.err
    assert TOKEN not in log and TOKEN[3:] not in log and OTHER not in log

    # Papermill parameters: exactly the four runner values, none read from the environment.
    for notebook in result.run_dir.glob("*.ipynb"):
        injected = nbformat.read(notebook, as_version=4).metadata["papermill"]["parameters"]
        assert set(injected) == set(NOTEBOOK_PARAMETERS)
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert "env" not in manifest and "environ" not in json.dumps(manifest).lower()


def test_notebook_parameters_never_include_environment_values() -> None:
    """The runner passes only these names; a new one (say, a token) must be added here."""
    assert NOTEBOOK_PARAMETERS == ("params_path", "overrides", "run_dir", "run_id")
