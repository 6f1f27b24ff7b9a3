"""The Space bundle (`mlops space build`), its upload (`space push`) and the log fetch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlops.cli.main import main
from mlops.core.config import load_params
from mlops.core.exceptions import ConfigError, PublishError
from mlops.core.processes import free_port, stop
from mlops.registry.local import LocalRegistry
from mlops.space.bundle import build_space, read_lock, runtime_requirements

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_fakeSpaceTokenDoNotLeak0123456789"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project with a tiny app and an extra screen: what `space build` reads."""
    # This project's own registry folder is under test, not the session's temporary one.
    monkeypatch.delenv("MLOPS_REGISTRY_PATH", raising=False)
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copytree(ROOT / "mlops", proj / "mlops",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (proj / "mlops" / "__pycache__").mkdir()
    (proj / "mlops" / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    shutil.copytree(ROOT / "data", proj / "data")
    for name in ("params.yaml", "requirements.lock"):
        shutil.copy2(ROOT / name, proj / name)
    (proj / "app.py").write_text("import streamlit as st\n\nfrom mlops.app import old_screen\n"
                                 "from mlops.app.context import AppContext\n\n"
                                 "st.title('credit')\n")
    (proj / "mlops" / "app" / "old_screen.py").write_text("import streamlit as st\n")
    return proj


def _build(project: Path, out: Path, **kwargs):
    params = load_params(project / "params.yaml")
    return build_space(params, out, project=project, **kwargs)


def _front_matter(readme: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", readme, re.S)
    assert match, "README.md must start with YAML front matter"
    return yaml.safe_load(match.group(1))


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    rows = [line.strip() for line in text.splitlines()]
    return [(r.split(None, 1)[0].upper(), r.split(None, 1)[1] if " " in r else "")
            for r in rows if r and not r.startswith("#")]


def test_build_writes_docker_space_front_matter(project: Path, tmp_path: Path) -> None:
    bundle = _build(project, tmp_path / "space", repo_id="acme/credit-models")
    meta = _front_matter((bundle.folder / "README.md").read_text(encoding="utf-8"))
    assert meta["sdk"] == "docker"
    assert meta["app_port"] == 8501
    assert meta["title"] and meta["emoji"]
    assert len(meta["short_description"]) <= 60


def test_bundle_holds_app_package_params_and_registry(project: Path,
                                                            tmp_path: Path) -> None:
    bundle = _build(project, tmp_path / "space", repo_id="acme/credit-models")
    files = set(bundle.files)
    assert {"README.md", "Dockerfile", "requirements.txt", "registry.json", "app.py",
            "mlops/__init__.py", "mlops/app/context.py", "params.yaml",
            "data/schema.yaml"} <= files
    assert "data/german.csv" not in files, "no training row in a public bundle"
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert json.loads((bundle.folder / "registry.json").read_text()) == {
        "backend": "hub", "hub_repo_id": "acme/credit-models"}
    env = " ".join(a for i, a in _instructions((bundle.folder / "Dockerfile").read_text())
                   if i == "ENV")
    assert "MLOPS_REGISTRY_BACKEND=hub" in env and "MLOPS_HUB_REPO_ID=acme/credit-models" in env


def test_dataset_repo_reaches_the_app_and_repo_ids_are_checked(project: Path,
                                                               tmp_path: Path) -> None:
    bundle = _build(project, tmp_path / "space", repo_id="acme/m", dataset_repo="acme/logs")
    assert "MLOPS_DATASET_REPO=acme/logs" in (bundle.folder / "Dockerfile").read_text()
    assert json.loads((bundle.folder / "registry.json").read_text())["dataset_repo"] == "acme/logs"
    with pytest.raises(ConfigError, match="owner/name"):
        _build(project, tmp_path / "space2", repo_id="acme/m\nRUN curl evil")


REGISTRY_FILES = {
    "registry/credit-risk/ledger.jsonl", "registry/credit-risk/refs.json",
    "registry/credit-risk/versions/1/version.json", "registry/credit-risk/versions/1/model.skops",
    "registry/credit-risk/versions/1/README.md",
}


def _project_registry(project: Path, model_dir: Path) -> LocalRegistry:
    """One version of credit-risk in production, in the project's own registry/ folder."""
    reg = LocalRegistry(project / "registry")
    reg.register("credit-risk", model_dir / "model.skops",
                 metadata={"gates": [{"gate": "g", "passed": True}], "gates_passed": True},
                 files={"README.md": model_dir / "README.md"})
    reg.promote("credit-risk", 1, "production", expected=None, reason="test")
    return reg


def test_bundle_registry_snapshot_is_copied(project: Path, tmp_path: Path,
                                            registry_model_dir: Path) -> None:
    _project_registry(project, registry_model_dir)
    bundle = _build(project, tmp_path / "space", bundle_registry=True)
    assert {f for f in bundle.files if f.startswith("registry/")} == REGISTRY_FILES
    assert json.loads((bundle.folder / "registry.json").read_text())["backend"] == "local"
    assert "MLOPS_REGISTRY_BACKEND=local" in (bundle.folder / "Dockerfile").read_text()
    shipped = LocalRegistry(bundle.folder / "registry")
    assert shipped.load_model("credit-risk", "production") is not None


def test_bundle_never_ships_the_prediction_log_or_stray_files(project: Path, tmp_path: Path,
                                                              registry_model_dir: Path) -> None:
    reg = _project_registry(project, registry_model_dir)
    strays = ["predictions.sqlite", "predictions.sqlite-wal", "predictions.sqlite-shm",
              "notes.txt", "live-push/predictions.sqlite", "credit-risk/predictions.sqlite",
              "credit-risk/.staging/123-abc/model.skops", "credit-risk/versions/1/stray.bin",
              "credit-risk/versions/7/model.skops", ".hub-cache/blob"]
    for rel in strays:
        (reg.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (reg.root / rel).write_bytes(b"SQLite format 3\0 every input and label")
    bundle = _build(project, tmp_path / "space", bundle_registry=True)
    assert {f for f in bundle.files if f.startswith("registry/")} == REGISTRY_FILES
    assert not [f for f in bundle.files if "predictions" in f or "stray" in f]
    for path in bundle.folder.rglob("*"):
        assert not path.is_file() or b"LEAKED-PREDICTION-ROW" not in path.read_bytes(), path


def test_bundle_refuses_a_registry_that_was_tampered_with(project: Path, tmp_path: Path,
                                                         registry_model_dir: Path) -> None:
    from mlops.core.exceptions import IntegrityError

    reg = _project_registry(project, registry_model_dir)
    card = reg.root / "credit-risk" / "versions" / "1" / "README.md"
    card.chmod(0o644)
    card.write_text("# edited after registration\n")
    with pytest.raises(IntegrityError, match="README.md"):
        _build(project, tmp_path / "space", bundle_registry=True)


@pytest.mark.parametrize("path", ["/srv/registry", "../registry"])
def test_bundle_registry_path_must_be_inside_the_project(project: Path, tmp_path: Path,
                                                         path: str) -> None:
    params = load_params(project / "params.yaml", [f"registry.path={path}"])
    with pytest.raises(ConfigError, match="inside the project"):
        build_space(params, tmp_path / "space", project=project, bundle_registry=True)


def test_the_default_prediction_log_lives_outside_the_registry(monkeypatch) -> None:
    for var in ("MLOPS_LOG_PATH", "MLOPS_REGISTRY_PATH"):
        monkeypatch.delenv(var, raising=False)
    params = load_params(ROOT / "params.yaml")
    log = params.resolve(params.monitoring.log_path)
    assert not log.is_relative_to(params.resolve(params.registry.path))
    if shutil.which("git") and (ROOT / ".git").exists():
        rel = log.relative_to(ROOT).as_posix()
        ignored = subprocess.run(["git", "check-ignore", "-q", rel], cwd=ROOT)
        assert ignored.returncode == 0, f"{rel} is not in .gitignore"


def test_build_replaces_its_own_bundle_so_it_is_exact(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "space"
    _build(project, out, repo_id="acme/m")
    (out / "stale.txt").write_text("old")
    bundle = _build(project, out, repo_id="acme/m")
    assert "stale.txt" not in bundle.files and not (out / "stale.txt").exists()
    assert ".mlops-space-bundle" in bundle.files


def test_build_refuses_a_folder_it_did_not_write_unless_forced(project: Path, tmp_path: Path,
                                                               capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match="not written by `mlops space build`.*--force"):
        _build(project, out, repo_id="acme/m")
    assert (out / "thesis.tex").read_text() == "years of work"
    args = ["space", "build", "--params", str(project / "params.yaml"), "--out", str(out),
            "--repo-id", "acme/m"]
    assert main(args) == ConfigError.exit_code
    assert "--force" in capsys.readouterr().err and (out / "thesis.tex").exists()
    assert main([*args, "--force"]) == 0
    assert not (out / "thesis.tex").exists() and (out / "Dockerfile").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _build(project, empty, repo_id="acme/m").folder == empty.resolve()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        _build(project, tmp_path / "a-file", repo_id="acme/m")


def test_streamlit_config_fits_the_spaces_iframe(project: Path, tmp_path: Path) -> None:
    import tomllib

    from mlops.app.batch import MAX_UPLOAD_BYTES

    bundle = _build(project, tmp_path / "space", repo_id="acme/m")
    assert ".streamlit/config.toml" in bundle.files
    config = tomllib.loads((bundle.folder / ".streamlit" / "config.toml").read_text())
    assert config["client"] == {"showErrorDetails": "none", "toolbarMode": "minimal"}
    assert config["server"]["enableXsrfProtection"] is False
    assert config["server"]["fileWatcherType"] == "none"  # files change only by a rebuild
    assert config["browser"]["gatherUsageStats"] is False
    # Streamlit counts MB of 2**20 bytes: the smallest limit that lets the app's own through.
    mb = config["server"]["maxUploadSize"]
    assert (mb - 1) * 2**20 < MAX_UPLOAD_BYTES <= mb * 2**20


def test_streamlit_accepts_the_bundle_config(project: Path, tmp_path: Path) -> None:
    """`streamlit config show` in the bundle folder reads the file as the Space will."""
    bundle = _build(project, tmp_path / "space", repo_id="acme/m")
    done = subprocess.run([str(Path(sys.executable).with_name("streamlit")), "config", "show"],
                          cwd=bundle.folder, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    shown = re.sub(r"(?m)^#.*\n", "", done.stdout)
    for line in ('showErrorDetails = "none"', 'toolbarMode = "minimal"', "maxUploadSize = 2",
                 "enableXsrfProtection = false"):
        assert line in shown, line
    assert "is not a valid" not in done.stderr + done.stdout


def test_front_matter_takes_license_models_and_datasets(project: Path, tmp_path: Path) -> None:
    bundle = _build(project, tmp_path / "space", repo_id="acme/models", dataset_repo="acme/logs")
    meta = _front_matter((bundle.folder / "README.md").read_text(encoding="utf-8"))
    assert meta["license"] == "mit"
    assert meta["models"] == ["acme/models"] and meta["datasets"] == ["acme/logs"]
    params = load_params(project / "params.yaml", [
        "space.license=apache-2.0", "space.models=[acme/base-model, acme/models]",
        "space.datasets=[acme/german-credit]"])
    bundle = build_space(params, tmp_path / "space", project=project, repo_id="acme/models",
                         dataset_repo="acme/logs")
    meta = _front_matter((bundle.folder / "README.md").read_text(encoding="utf-8"))
    assert meta["license"] == "apache-2.0"
    assert meta["models"] == ["acme/base-model", "acme/models"]
    assert meta["datasets"] == ["acme/german-credit"]
    assert meta["sdk"] == "docker" and meta["app_port"] == 8501


def test_front_matter_without_hub_repos_and_bad_values(project: Path, tmp_path: Path,
                                                       registry_model_dir: Path) -> None:
    _project_registry(project, registry_model_dir)
    bundle = _build(project, tmp_path / "space", bundle_registry=True)
    meta = _front_matter((bundle.folder / "README.md").read_text(encoding="utf-8"))
    assert "models" not in meta and "datasets" not in meta and meta["license"] == "mit"
    for override, match in (("space.license=MIT License", "license id"),
                            ("space.models=[not a repo]", "owner/name")):
        params = load_params(project / "params.yaml", [override])
        with pytest.raises(ConfigError, match=match):
            build_space(params, tmp_path / "space2", project=project, repo_id="a/b")
        assert not (tmp_path / "space2").exists(), "checked before anything is written"


@pytest.mark.parametrize("kwargs", [{}, {"repo_id": "a/b", "bundle_registry": True}])
def test_build_needs_exactly_one_registry_source(project: Path, tmp_path: Path,
                                                 kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        _build(project, tmp_path / "space", **kwargs)


def test_build_fails_without_app_and_never_over_the_project(project: Path,
                                                            tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="overwrite the project"):
        _build(project, project, repo_id="a/b")
    (project / "app.py").unlink()
    with pytest.raises(ConfigError, match="app.py is missing"):
        _build(project, tmp_path / "space", repo_id="a/b")


def test_dockerfile_runs_as_non_root_with_healthcheck(project: Path, tmp_path: Path) -> None:
    bundle = _build(project, tmp_path / "space", repo_id="a/b")
    steps = _instructions((bundle.folder / "Dockerfile").read_text())
    kinds = [i for i, _ in steps]
    # Pinned by digest: a rebuild of the Space gets the same Python and Debian.
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", steps[0][1]), steps[0]
    users = [a for i, a in steps if i == "USER"]
    assert users == ["user"], "one USER, never root"
    # Everything after the last USER runs as that user, and the app starts after it.
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k in ("RUN", "COPY"))
    assert kinds.index("CMD") > kinds.index("USER")
    assert any("useradd" in a and "1000" in a for i, a in steps if i == "RUN")
    # The app's bytecode is built into the image, after its code is copied in.
    compiled = kinds.index("RUN", max(i for i, k in enumerate(kinds) if k == "COPY"))
    assert "compileall" in steps[compiled][1] and "mlops" in steps[compiled][1]
    health = next(a for i, a in steps if i == "HEALTHCHECK")
    assert "/_stcore/health" in health and "8501" in health
    cmd = json.loads(next(a for i, a in steps if i == "CMD"))
    assert cmd[:3] == ["streamlit", "run", "app.py"]
    opts = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert opts == {"--server.port": "8501", "--server.address": "0.0.0.0",
                    "--server.headless": "true", "--browser.gatherUsageStats": "false"}
    install = next(a for i, a in steps if i == "RUN" and "pip install" in a)
    assert "-r requirements.txt" in install and "--no-deps" in install


def test_requirements_are_the_runtime_closure_pinned_as_in_the_lock(project: Path,
                                                                   tmp_path: Path) -> None:
    bundle = _build(project, tmp_path / "space", repo_id="a/b")
    lines = (bundle.folder / "requirements.txt").read_text().split()
    pins = dict(line.split("==") for line in lines)
    lock = read_lock(ROOT / "requirements.lock")
    norm = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pins.items()}
    assert all(lock[name] == version for name, version in norm.items())
    assert "fairlearn" not in norm, "only the evaluation stage imports fairlearn"
    for needed in ("streamlit", "scikit-learn", "skops", "huggingface-hub", "pandas",
                   "pyyaml", "tornado" if "tornado" in norm else "starlette"):
        assert needed in norm, needed
    for tool in ("pytest", "jupyterlab", "ruff", "papermill", "playwright", "nbval"):
        assert tool not in norm, f"{tool} is a dev tool and must stay out of the image"


def test_pins_come_from_the_lock_and_unpinned_needs_fail(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    text = (ROOT / "requirements.lock").read_text()
    lock.write_text(re.sub(r"(?m)^streamlit==.*$", "streamlit==0.0.1", text))
    assert "streamlit==0.0.1" in runtime_requirements(lock)
    lock.write_text(re.sub(r"(?m)^narwhals==.*\n", "", text))
    with pytest.raises(ConfigError, match="narwhals is needed at runtime"):
        runtime_requirements(lock)


# ------------------------------------------------------------------------ push
@pytest.fixture(scope="module")
def hub(hub_server):
    from hubextra import extend

    return extend(hub_server)


def _leaks(text: str) -> bool:
    return TOKEN in text or TOKEN[3:] in text


def test_push_uploads_the_bundle_in_one_commit_and_keeps_the_token_secret(
    project: Path, tmp_path: Path, hub, monkeypatch, capsys, caplog,
) -> None:
    from hubextra import commits_on_main, files_at_head

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    caplog.set_level("DEBUG")
    out = tmp_path / "space"
    assert main(["space", "build", "--params", str(project / "params.yaml"), "--out", str(out),
                 "--repo-id", "acme/credit-models"]) == 0
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert "app.py" in files and "mlops/app/old_screen.py" in files
    before = len(hub.calls)
    assert main(["space", "push", "--repo-id", "acme/credit-space", "--folder", str(out)]) == 0
    key = "space/acme/credit-space"
    assert key in hub.state.repos, "the repo is created as a Space"
    assert commits_on_main(hub, key) == 2, "initial commit + exactly one upload commit"
    assert [c for c in hub.calls[before:] if c[1] == "commit"] == [("POST", "commit")]
    remote = files_at_head(hub, key)
    assert set(remote) == files | {".gitattributes"}
    for name in files:
        assert remote[name] == (out / name).read_bytes()

    # A second deploy without that screen: the stale file is deleted in that same commit.
    (project / "mlops" / "app" / "old_screen.py").unlink()
    _build(project, out, repo_id="acme/credit-models")
    assert main(["space", "push", "--repo-id", "acme/credit-space", "--folder", str(out)]) == 0
    assert commits_on_main(hub, key) == 3
    assert "mlops/app/old_screen.py" not in files_at_head(hub, key)

    captured = capsys.readouterr()
    assert "acme/credit-space" in captured.out
    assert not _leaks(captured.out + captured.err + caplog.text)
    for path in out.rglob("*"):
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path


def test_push_without_token_fails_with_a_fix(project: Path, tmp_path: Path, hub,
                                            monkeypatch, capsys) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    _build(project, tmp_path / "space", repo_id="a/b")
    code = main(["space", "push", "--repo-id", "acme/x", "--folder", str(tmp_path / "space")])
    assert code == PublishError.exit_code
    assert "HF_TOKEN is not set" in capsys.readouterr().err
    assert "space/acme/x" not in hub.state.repos


def test_push_refuses_a_folder_that_is_not_a_bundle(tmp_path: Path, monkeypatch) -> None:
    from mlops.space.bundle import push_space

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(ConfigError, match="run `mlops space build` first"):
        push_space("acme/x", tmp_path)


def test_fetch_log_downloads_the_dataset_the_space_records(tmp_path: Path, hub, monkeypatch,
                                                          capsys) -> None:
    from hubextra import put_files

    put_files(hub, "dataset/acme/credit-logs", {
        "predictions.sqlite": b"SQLite format 3\0fake",
        "feedback/2026-11-26.jsonl": b'{"id": 1, "label": 0}\n',
    })
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    out = tmp_path / "monitor-data"
    assert main(["space", "fetch-log", "--repo-id", "acme/credit-logs", "--out", str(out)]) == 0
    assert (out / "predictions.sqlite").read_bytes() == b"SQLite format 3\0fake"
    assert (out / "feedback" / "2026-11-26.jsonl").read_text() == '{"id": 1, "label": 0}\n'
    text = capsys.readouterr()
    assert "fetched 3 files" in text.out  # .gitattributes comes along
    assert not _leaks(text.out + text.err)


def test_fetch_log_of_a_missing_dataset_names_the_variable(tmp_path: Path, hub,
                                                          monkeypatch) -> None:
    from mlops.space.logfetch import fetch_dataset

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    with pytest.raises(PublishError, match="HF_DATASET_REPO"):
        fetch_dataset("acme/nothing-here", tmp_path / "x")
    # The monitor workflow's way: a model no Space has logged for yet fetches nothing.
    assert main(["space", "fetch-log", "--repo-id", "acme/nothing-here", "--out",
                 str(tmp_path / "y"), "--missing-ok"]) == 0
    assert not (tmp_path / "y" / "live").exists()
    assert main(["space", "fetch-log", "--repo-id", "acme/nothing-here", "--out",
                 str(tmp_path / "z")]) == PublishError.exit_code


# ------------------------------------------------------------- run the bundle

def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8", "replace")


# Run first in a Python started inside the bundle: drops the project's editable install,
# so that every mlops module comes from the bundle or not at all.
_NO_EDITABLE = ("import sys\n"
                "sys.meta_path[:] = [f for f in sys.meta_path\n"
                "                    if 'editable' not in repr(f).lower()]\n")


@pytest.mark.slow
def test_bundle_starts_the_way_its_dockerfile_starts_it(tmp_path: Path, hub) -> None:
    """The Space bundle is started locally the way its Dockerfile starts it, and the
    health endpoint and first page are checked."""
    if not (ROOT / "app.py").is_file():
        pytest.skip("app.py does not exist yet (Streamlit app issue); remove when it lands")
    out = tmp_path / "space"
    bundle = build_space(load_params(ROOT / "params.yaml"), out, project=ROOT,
                         repo_id="acme/credit-models")
    steps = _instructions((bundle.folder / "Dockerfile").read_text())
    cmd = json.loads(next(a for i, a in steps if i == "CMD"))
    env = dict(os.environ, HF_ENDPOINT=hub.url, HOME=str(tmp_path))
    env.pop("HF_TOKEN", None)
    for args in (a for i, a in steps if i == "ENV"):
        env.update(pair.split("=", 1) for pair in args.split() if "=" in pair)
    port = free_port()
    # Same argv, but the venv's streamlit and a free port instead of the image's 8501.
    cmd[0] = str(Path(sys.executable).with_name("streamlit"))
    cmd[cmd.index("--server.port") + 1] = str(port)
    cmd[cmd.index("--server.address") + 1] = "127.0.0.1"
    # As in the image, where mlops is not installed: the project's editable install is
    # switched off, so the app can import only the bundle's slimmed package.
    assert "mlops/space/hubserver.py" not in bundle.files
    cmd = [sys.executable, "-c", _NO_EDITABLE + "from streamlit.web.cli import main\n"
           "sys.argv = sys.argv[1:]\nsys.exit(main())", *cmd]
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = _get(f"http://127.0.0.1:{port}/_stcore/health")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "streamlit.log").read_text()) from None
                time.sleep(0.2)
        assert health == (200, "ok")
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and '<div id="root">' in page
    finally:
        stop(proc)
        log.close()


# ------------------------------------------- no training row, no machine path
ENV_STATE = ("MLOPS_REGISTRY_PATH", "MLOPS_LOG_PATH", "MLOPS_RUNS_DIR", "MLOPS_PARAMS",
             "MLOPS_REGISTRY_BACKEND", "MLOPS_HUB_REPO_ID", "MLOPS_DATASET_REPO")


@pytest.fixture(scope="module")
def run_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whole project (package, notebooks, data, params, app) after one real pipeline run
    that registered v1 in the project's own registry/ and wrote runs/ inside it."""
    from mlops.pipeline.runner import run_pipeline

    proj = tmp_path_factory.mktemp("run-project") / "proj"
    for name in ("mlops", "notebooks", "data"):
        shutil.copytree(ROOT / name, proj / name, ignore=shutil.ignore_patterns(
            "__pycache__", ".ipynb_checkpoints"))
    for name in ("params.yaml", "requirements.lock", "app.py"):
        shutil.copy2(ROOT / name, proj / name)
    with pytest.MonkeyPatch.context() as mp:
        for var in ENV_STATE:  # the project's own registry and runs, as a user has them
            mp.delenv(var, raising=False)
        params = load_params(proj / "params.yaml")
        run_pipeline(params, params_file=proj / "params.yaml", runs_dir=proj / "runs",
                     notebooks_dir=proj / "notebooks", progress=lambda line: None)
    return proj


def _tokens(text: str) -> list[str]:
    """Cell-like tokens of any text: CSV, JSON, Markdown, HTML or a printed table."""
    text = re.sub(r"<[^>]+>", " ", text).replace("\\n", " ").replace('\\"', '"')
    return re.findall(r"[^\s,;|\"'\[\]{}()]+", text)


def _training_rows(data: Path) -> tuple[int, list[list[str]]]:
    """The rows of the data file as tokens, and how many consecutive values of one row
    make it recognisable (all but three: no summary lists values across columns)."""
    import csv

    with data.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return max(4, len(header) - 3), [[t for v in row for t in _tokens(v)] for row in rows]


def _private_data(folders: list[Path], needles: list[str], data: Path) -> list[str]:
    """Every file under ``folders`` that holds one of ``needles`` (absolute paths) or a
    training row of ``data`` (rendered in any of the forms above); data snapshots, kept
    on purpose for `mlops reproduce`, are searched for paths only."""
    width, rows = _training_rows(data)
    found = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            text = path.read_bytes().decode("utf-8", "replace")
            found += [f"{path}: path {n}" for n in needles if n in text]
            if "blobs" in path.relative_to(folder).parts:
                continue
            tokens = _tokens(text)
            grams = {tuple(tokens[i:i + width]) for i in range(len(tokens) - width + 1)}
            hits = [r for r in rows if any(tuple(r[i:i + width]) in grams
                                           for i in range(len(r) - width + 1))]
            if hits:
                found.append(f"{path}: {len(hits)} training rows, e.g. {hits[0]}")
    return found


@pytest.mark.slow
def test_bundle_and_registry_hold_no_training_row_and_no_machine_path(
        run_project: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_STATE:
        monkeypatch.delenv(var, raising=False)
    params = load_params(run_project / "params.yaml")
    hub = build_space(params, tmp_path / "hub", project=run_project, repo_id="acme/m")
    local = build_space(params, tmp_path / "local", project=run_project, bundle_registry=True)
    registry = run_project / "registry"
    # The detector finds what it looks for: the data file itself, and one row in a table.
    data = run_project / params.data.path
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "copy.csv").write_bytes(data.read_bytes())
    line = data.read_text().splitlines()[500]
    (probe / "nb.json").write_text(json.dumps({"text/html": "<tr><th>3</th><td>" + line.replace(
        ",", "</td><td>") + "</td></tr>", "path": str(run_project / "x")}))
    assert len(_private_data([probe], [str(run_project)], data)) == 3
    needles = [str(run_project), str(tmp_path_factory.getbasetemp()), str(ROOT)]
    assert _private_data([hub.folder, local.folder, registry, run_project / "runs"],
                         needles, data) == []
    # ...and the evidence it searched is there: the run's files, published with v1.
    version = "registry/credit-risk/versions/1/"
    assert {f"{version}{n}" for n in ("reference.json", "manifest.json", "README.md",
                                      "01_validate_data.ipynb")} <= set(local.files)
    manifest = json.loads((registry / "credit-risk/versions/1/manifest.json").read_text())
    assert manifest["data"]["path"] == "data/german.csv"
    assert manifest["params_file"] == "params.yaml"


@pytest.mark.slow
def test_the_app_runs_from_the_bundle_on_the_versions_summary(
        run_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No data next to the app: the form's defaults, the router's batch profiles, drift over
    time and explanations come from the version's reference.json, as from the rows."""
    import dataclasses

    import pandas as pd

    from mlops.app.context import AppContext
    from mlops.app.form import form_spec
    from mlops.app.live import live_timeline
    from mlops.core.data import load_split
    from mlops.serving.summary import SUMMARY_ROWS
    from mlops.stages.reference import serving_profiles, summarize_reference

    for var in ENV_STATE:
        monkeypatch.delenv(var, raising=False)
    params = load_params(run_project / "params.yaml")
    bundle = build_space(params, tmp_path / "space", project=run_project, bundle_registry=True)
    assert not (bundle.folder / params.data.path).exists()
    split = load_split(params)  # what the version was trained on, read here only to compare
    ctx = AppContext.create(bundle.folder, {"MLOPS_REGISTRY_BACKEND": "local",
                                            "MLOPS_LOG_PATH": str(tmp_path / "log.sqlite")})
    try:
        summary = ctx.reference()
        assert summary is not None and summary.rows == len(split.train)
        schema = ctx.schema
        assert ctx.typical() == summarize_reference(split.train, schema).typical
        bare = dataclasses.replace(schema, columns=tuple(
            dataclasses.replace(c, typical=None) for c in schema.columns))
        defaults = {s.name: s.default for s in form_spec(bare, ctx.typical())}
        assert defaults["age"] == int(round(split.train["age"].median()))
        assert defaults["housing"] == split.train["housing"].mode().iloc[0]
        # The router's drift profiles are exactly those of the training rows.
        profiles = ctx.router.input_profiles()
        expected = serving_profiles(split.train, schema)
        assert list(profiles) == list(expected)
        for name, profile in expected.items():
            for field in dataclasses.fields(profile):
                mine, theirs = getattr(profiles[name], field.name), getattr(profile, field.name)
                assert (mine.equals(theirs) if isinstance(theirs, pd.Series)
                        else np.array_equal(mine, theirs)), (name, field.name)
        # Drift over time, against the summary; and a large batch logged as one record.
        rows = split.test[list(schema.serving_columns)].reset_index(drop=True)
        big = pd.concat([rows] * (SUMMARY_ROWS // len(rows) + 1), ignore_index=True)
        ctx.predict(rows, version=None, session_key="s")
        ctx.predict(big, version=None, session_key="s")
        ctx.log.flush()
        drift = live_timeline(ctx, drift=True, windows=1).drift
        assert set(drift["column"]) == set(schema.serving_columns)
        # Explanations on background rows drawn from the summary (none is a training row).
        background = summary.background(50, seed=params.seed)
        merged = background.merge(split.frame[list(background.columns)].drop_duplicates())
        assert len(background) == 50 and merged.empty
        assert ctx.explain(1, rows.iloc[[0]]).columns
    finally:
        ctx.close()


_SERVE = _NO_EDITABLE + """
import importlib.util, json
import pandas as pd
from mlops.app.context import AppContext
rows = pd.read_json(sys.argv[1], orient="records")
ctx = AppContext.create(".", {"MLOPS_REGISTRY_BACKEND": "local", "MLOPS_LOG_PATH": sys.argv[2]})
try:
    scored = ctx.predict(rows, version=None, session_key="s")
finally:
    ctx.close()
files = [m.__file__ for n, m in sorted(sys.modules.items())
         if n.split(".")[0] == "mlops" and getattr(m, "__file__", None)]
print(json.dumps({"version": scored.version, "rows": len(scored.frame), "files": files,
                  "hubserver": importlib.util.find_spec("mlops.space.hubserver") is not None}))
"""


@pytest.mark.slow
def test_the_bundle_alone_serves_a_prediction(run_project: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python whose only mlops is the slimmed bundle's scores rows with the bundled
    registry's production version (issue 27 item 8)."""
    from mlops.core.data import load_split

    for var in ENV_STATE:
        monkeypatch.delenv(var, raising=False)
    params = load_params(run_project / "params.yaml")
    bundle = build_space(params, tmp_path / "space", project=run_project, bundle_registry=True)
    rows = load_split(params).test.drop(columns=[params.data.target]).head(5)
    rows.to_json(tmp_path / "rows.json", orient="records")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PYTHONPATH"))}
    done = subprocess.run([sys.executable, "-c", _SERVE, str(tmp_path / "rows.json"),
                           str(tmp_path / "log.sqlite")], cwd=bundle.folder, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served["version"] == 1 and served["rows"] == 5
    assert served["files"] and all(Path(f).is_relative_to(bundle.folder)
                                   for f in served["files"]), served["files"]
    assert served["hubserver"] is False


def test_training_data_ships_only_on_request_with_a_warning(project: Path, tmp_path: Path,
                                                            capsys) -> None:
    bundle = _build(project, tmp_path / "space", repo_id="acme/m")
    assert "data/german.csv" not in bundle.files and bundle.warnings == ()
    args = ["space", "build", "--params", str(project / "params.yaml"), "--out",
            str(tmp_path / "with-data"), "--repo-id", "acme/m", "--include-training-data"]
    assert main(args) == 0
    assert (tmp_path / "with-data" / "data" / "german.csv").is_file()
    err = capsys.readouterr().err
    assert "warning: the bundle carries the training data data/german.csv (1,000 rows)" in err


def test_the_prediction_log_dataset_is_created_private(hub_auth_server, tmp_path) -> None:
    """Issue 27 item 6: every request and its inputs would be public otherwise."""
    import sqlite3

    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    from mlops.space.logpush import start_push

    log = tmp_path / "logs" / "predictions.sqlite"
    log.parent.mkdir()
    with sqlite3.connect(log) as conn:
        conn.execute("CREATE TABLE predictions (request_id TEXT)")
    api = HfApi(endpoint=hub_auth_server.url, token="hf_alice_write")
    scheduler = start_push(log, "alice/live-log", every_minutes=60, hf_api=api)
    try:
        scheduler.trigger().result(timeout=30)
    finally:
        scheduler.stop()
    assert hub_auth_server.state.repos["dataset/alice/live-log"].private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub_auth_server.url, token=False).list_repo_files(
            "alice/live-log", repo_type="dataset")


def test_the_log_survives_a_restart_of_the_space(hub_auth_server, tmp_path) -> None:
    """Issue 27 item 7: after a restart (an empty disk) the log is restored, then appended."""
    import sqlite3

    from hubextra import files_at_head
    from huggingface_hub import HfApi

    from mlops.space.logpush import start_push

    api = HfApi(endpoint=hub_auth_server.url, token="hf_alice_write")

    def run_space(disk, request_ids):
        log = disk / "logs" / "predictions.sqlite"
        log.parent.mkdir(parents=True)
        scheduler = start_push(log, "alice/kept-log", every_minutes=60, hf_api=api)
        with sqlite3.connect(log) as conn:  # the app's writes: appended to what is there
            conn.execute("CREATE TABLE IF NOT EXISTS predictions (request_id TEXT)")
            conn.executemany("INSERT INTO predictions VALUES (?)", [(r,) for r in request_ids])
        try:
            scheduler.trigger().result(timeout=30)
        finally:
            scheduler.stop()

    run_space(tmp_path / "first-disk", ["r1", "r2"])
    run_space(tmp_path / "after-restart", ["r3"])  # a new, empty disk
    pushed = tmp_path / "pushed.sqlite"
    pushed.write_bytes(files_at_head(hub_auth_server, "dataset/alice/kept-log")[
        "live/predictions.sqlite"])
    with sqlite3.connect(pushed) as conn:
        ids = [r for (r,) in conn.execute("SELECT request_id FROM predictions ORDER BY 1")]
    assert ids == ["r1", "r2", "r3"]


def test_an_unreadable_log_dataset_is_never_pushed_over(hub_auth_server, tmp_path) -> None:
    from huggingface_hub import HfApi

    from mlops.space.logpush import start_push

    HfApi(endpoint=hub_auth_server.url, token="hf_alice_write").create_repo(
        "alice/hidden-log", repo_type="dataset", private=True)
    anonymous = HfApi(endpoint=hub_auth_server.url, token=False)
    log = tmp_path / "logs" / "predictions.sqlite"
    log.parent.mkdir()
    assert start_push(log, "alice/hidden-log", every_minutes=60, hf_api=anonymous) is None
