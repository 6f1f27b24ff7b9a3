"""No token reaches a notebook parameter, an executed notebook, a manifest, a log, a report
or an error message.

Each test puts fake tokens where CD puts the real ones (``HF_TOKEN``, ``MLOPS_ADMIN_TOKEN``
in the environment), drives a code path that holds them, and looks for every form of them
in what that path leaves behind. The Space push and log fetch are covered the same way in
``test_spaces.py`` (successful calls); the failing calls are here. A notebook that declares
a parameter beyond the runner's four (a token, say) is refused before anything runs:
``test_pipeline.py::test_unknown_notebook_parameter_is_an_error``.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest

from mlops.core.config import load_params
from mlops.core.exceptions import PublishError, RegistryError
from mlops.pipeline import runner
from mlops.pipeline.runner import NOTEBOOK_PARAMETERS, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"
TOKEN = "hf_fakeSecretTokenForLeakTest0123456789"
OTHER = "s3cr3t-operator-token-for-leak-test"


def _forms(secret: str) -> list[bytes]:
    """The secret as it could appear: raw, without its prefix, base64, JSON-escaped."""
    raw = secret.encode()
    return [raw, raw[3:], base64.b64encode(raw), json.dumps(secret).encode()]


def _leaks(text: str | bytes) -> list[str]:
    """The secrets found in ``text``, in any of their forms."""
    data = text.encode() if isinstance(text, str) else text
    return [s for s in (TOKEN, OTHER) if any(form in data for form in _forms(s))]


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both tokens in the environment, exactly as in CD."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("MLOPS_ADMIN_TOKEN", OTHER)


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


# ------------------------------------------------------------------ the runner
class _FakePapermill:
    """Stands in for ``papermill.execute_notebook``: records what each notebook would get."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, source: str, output: str, *, parameters: dict, **kwargs) -> None:
        self.calls.append(dict(parameters))
        shutil.copyfile(source, output)


@pytest.fixture
def fake_papermill(monkeypatch: pytest.MonkeyPatch) -> _FakePapermill:
    import papermill

    fake = _FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    monkeypatch.setattr(runner, "_start_kernel", lambda cwd, *_: None)
    monkeypatch.setattr(runner, "_stop_kernel", lambda km: None)
    monkeypatch.setattr(runner, "_run_in_kernel", lambda km, code: None)
    return fake


def test_runner_hands_the_notebooks_its_own_four_values_and_nothing_from_the_environment(
    tmp_path: Path, tokens: None, fake_papermill: _FakePapermill,
) -> None:
    lines: list[str] = []
    result = run_pipeline(load_params(PARAMS), params_file=PARAMS, overrides=["seed=7"],
                          runs_dir=tmp_path / "runs", register=False, progress=lines.append)
    assert result.status == "succeeded"
    assert len(fake_papermill.calls) == len(runner.STAGES)
    for parameters in fake_papermill.calls:
        assert parameters == {"params_path": str(PARAMS.resolve()), "overrides": ["seed=7"],
                              "run_dir": str(result.run_dir), "run_id": result.run_id}
        assert not _leaks(json.dumps(parameters))
    assert not _leaks((result.run_dir / "manifest.json").read_bytes())
    assert not _leaks("\n".join(lines))


# ------------------------------------------------------------------ a Hub that says no
class _Forbidding(BaseHTTPRequestHandler):
    """Answers every request 403, as the Hub does for a token without the right; records
    the Authorization header it was sent."""

    seen: list[str] = []

    def _deny(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"error": "You do not have write access to this repository"})
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body.encode())

    do_GET = do_POST = do_PUT = do_HEAD = _deny

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forbidding_hub(monkeypatch: pytest.MonkeyPatch, tokens: None):
    """A Hub endpoint that refuses everything; ``HF_ENDPOINT`` points at it."""
    _Forbidding.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidding)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    try:
        yield _Forbidding
    finally:
        server.shutdown()
        server.server_close()


def _assert_secret_free(exc: BaseException, hub: type[_Forbidding], *texts: str) -> None:
    """The token was sent (so it was in play), yet nothing a user or a log sees holds it."""
    assert f"Bearer {TOKEN}" in hub.seen, "the client must have used the token"
    shown = "".join(traceback.format_exception(exc))
    assert "403" in shown
    assert not _leaks(shown), shown
    assert not _leaks(repr(vars(exc))), "the exception's fields hold the token"
    for text in texts:
        assert not _leaks(text), text


def test_hub_registry_refused_names_the_status_but_never_the_token(
    tmp_path: Path, forbidding_hub: type[_Forbidding], caplog: pytest.LogCaptureFixture,
) -> None:
    from mlops.registry.hub import HubRegistry

    caplog.set_level("DEBUG")
    reg = HubRegistry("acme/credit-models", cache_dir=tmp_path / "cache")
    with pytest.raises(RegistryError, match="HTTP 403") as info:
        reg.versions("credit-risk")
    _assert_secret_free(info.value, forbidding_hub, repr(reg), caplog.text)


def test_registry_cli_on_a_refusing_hub_prints_no_token(
    forbidding_hub: type[_Forbidding], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    from mlops.cli.main import main

    caplog.set_level("DEBUG")
    monkeypatch.setenv("MLOPS_REGISTRY_BACKEND", "hub")
    monkeypatch.setenv("MLOPS_HUB_REPO_ID", "acme/credit-models")
    assert main(["registry", "list", "--params", str(PARAMS)]) == RegistryError.exit_code
    out = capsys.readouterr()
    assert "HTTP 403" in out.err
    assert f"Bearer {TOKEN}" in forbidding_hub.seen
    assert not _leaks(out.out + out.err + caplog.text)


def test_space_push_refused_names_the_status_but_never_the_token(
    tmp_path: Path, forbidding_hub: type[_Forbidding], caplog: pytest.LogCaptureFixture,
) -> None:
    from mlops.space.bundle import push_space

    caplog.set_level("DEBUG")
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "README.md").write_text("---\nsdk: docker\n---\n")
    with pytest.raises(PublishError, match="HTTP 403") as info:
        push_space("acme/credit-space", tmp_path)
    assert "Check that HF_TOKEN may write to it" in str(info.value)
    _assert_secret_free(info.value, forbidding_hub, caplog.text)


def test_log_fetch_refused_names_the_status_but_never_the_token(
    tmp_path: Path, forbidding_hub: type[_Forbidding], caplog: pytest.LogCaptureFixture,
) -> None:
    from mlops.space.logfetch import fetch_dataset

    caplog.set_level("DEBUG")
    with pytest.raises(Exception, match="403") as info:
        fetch_dataset("acme/credit-logs", tmp_path / "out")
    _assert_secret_free(info.value, forbidding_hub, caplog.text)


def test_log_fetch_refused_is_a_publish_error(tmp_path: Path,
                                             forbidding_hub: type[_Forbidding]) -> None:
    from mlops.space.logfetch import fetch_dataset

    with pytest.raises(PublishError, match="HTTP 403"):
        fetch_dataset("acme/credit-logs", tmp_path / "out")
