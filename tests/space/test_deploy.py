"""`mlops space deploy`: the Space configured, restarted, watched until it runs, else rolled back.

The Hub client is an in-process fake with HfApi's method names and signatures (the
deploy takes its client as an argument). An end-to-end run against the local Hub server,
once it has the Space runtime routes, belongs in tests/space/test_bundle.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from huggingface_hub.errors import RepositoryNotFoundError

from mlops.cli.main import main
from mlops.core.exceptions import ConfigError, PublishError
from mlops.space import deploy as deploy_module
from mlops.space.deploy import deploy_space

TOKEN = "hf_fakeDeployTokenDoNotLeak0123456789"
SPACE = "acme/credit-risk"


class FakeSpaceApi:
    """A Hub holding one Space: commits (file trees), secrets, variables, a runtime.

    ``stages`` is what ``get_space_runtime`` answers after the next restart, one per poll
    (the last one repeats); each is a stage, or ``(stage, "old")`` for a stage the Hub
    reports of the previous commit.
    """

    def __init__(self, *, files: dict[str, str] | None = None,
                 variables: dict[str, str] | None = None, stages=("RUNNING",)) -> None:
        self.token = TOKEN
        self.commits: list[tuple[str, dict[str, str]]] = []
        if files is not None:
            self._commit(files)
        self.created = None
        self.secrets: dict[str, str] = {}
        self.variables = dict(variables or {})
        self.stages = list(stages)
        self.restarts = 0
        self.polls = 0
        self._running_sha = self.head

    @property
    def head(self) -> str | None:
        return self.commits[-1][0] if self.commits else None

    def files(self) -> dict[str, str]:
        return dict(self.commits[-1][1])

    def _commit(self, files: dict[str, str]) -> str:
        sha = hashlib.sha1(repr((len(self.commits), sorted(files.items()))).encode()).hexdigest()
        self.commits.append((sha, dict(files)))
        return sha

    # -- HfApi's methods, as the deploy calls them --------------------------------------
    def repo_info(self, repo_id: str, *, repo_type: str | None = None):
        assert repo_id == SPACE and repo_type == "space"
        if not self.commits:
            request = httpx2.Request("GET", f"http://hub/api/spaces/{repo_id}")
            raise RepositoryNotFoundError("not found",
                                          response=httpx2.Response(404, request=request))
        return SimpleNamespace(sha=self.head, private=False)

    def create_repo(self, repo_id: str, **kwargs) -> None:
        self.created = kwargs
        if not self.commits:
            self._commit({})

    def get_space_variables(self, repo_id: str) -> dict:
        return {k: SimpleNamespace(key=k, value=v) for k, v in self.variables.items()}

    def add_space_secret(self, repo_id: str, key: str, value: str) -> None:
        self.secrets[key] = value

    def add_space_variable(self, repo_id: str, key: str, value: str) -> None:
        self.variables[key] = value

    def delete_space_variable(self, repo_id: str, key: str) -> None:
        del self.variables[key]

    def upload_folder(self, *, repo_id: str, repo_type: str, folder_path: str,
                      commit_message: str, delete_patterns, ignore_patterns=None):
        assert delete_patterns == ["*"], "the Space must equal the folder"
        root = Path(folder_path)
        files = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*")
                 if p.is_file() and ".cache" not in p.relative_to(root).parts}
        sha = self._commit(files)
        return SimpleNamespace(commit_url=f"http://hub/spaces/{repo_id}/commit/{sha}", oid=sha)

    def snapshot_download(self, repo_id: str, *, repo_type: str, revision: str,
                          local_dir: str) -> str:
        files = dict(self.commits)[revision]
        for name, text in files.items():
            (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(local_dir) / name).write_text(text)
        (Path(local_dir) / ".cache").mkdir(exist_ok=True)  # the client's bookkeeping
        (Path(local_dir) / ".cache" / "x.lock").write_text("")
        return local_dir

    def restart_space(self, repo_id: str) -> None:
        self.restarts += 1
        self._running_sha = self.head

    def get_space_runtime(self, repo_id: str):
        self.polls += 1
        stage = self.stages.pop(0) if len(self.stages) > 1 else self.stages[0]
        sha = self._running_sha
        if isinstance(stage, tuple):
            stage, sha = stage[0], self.commits[-2][0]
        return SimpleNamespace(stage=stage, raw={"stage": stage, "sha": sha})

    def space_info(self, repo_id: str):
        return SimpleNamespace(host="https://acme-credit-risk.hf.space", subdomain=None)


class Clock:
    """Time that moves only when the deploy sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


OLD = {"Dockerfile": "FROM old\n", "README.md": "old\n", "app.py": "old = 1\n"}


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "space"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM new\n")
    (folder / "README.md").write_text("---\nsdk: docker\n---\n")
    (folder / "app.py").write_text("new = 1\n")
    (folder / "registry.json").write_text(
        '{"backend": "hub", "hub_repo_id": "acme/registry", "dataset_repo": "acme/logs"}\n')
    return folder


def _deploy(api: FakeSpaceApi, bundle: Path, clock: Clock | None = None, **kwargs):
    clock = clock or Clock()
    health_calls: list[str] = []

    def health(url: str) -> str:
        health_calls.append(url)
        return kwargs.pop("answer", "ok")

    kwargs.setdefault("health", health)
    result = deploy_space(SPACE, bundle, api=api, secrets={"HF_TOKEN": TOKEN}, timeout=600,
                          poll=10, sleep=clock.sleep, clock=clock, **kwargs)
    return result, health_calls


def test_deploy_sets_secrets_and_variables_restarts_and_waits_until_running(bundle) -> None:
    api = FakeSpaceApi(files=OLD, variables={"MLOPS_HUB_REPO_ID": "someone/else"},
                       stages=["APP_STARTING", "BUILDING", "BUILDING", "RUNNING"])
    old = api.head
    result, health = _deploy(api, bundle)
    assert result.stage == "RUNNING" and result.health == "ok"
    assert result.previous_commit == old and result.commit == api.head != old
    assert api.files()["app.py"] == "new = 1\n" and api.restarts == 1 and api.polls == 4
    assert api.secrets == {"HF_TOKEN": TOKEN}
    # The bundle's registry settings, replacing a value typed into the settings by hand.
    assert api.variables == {"MLOPS_REGISTRY_BACKEND": "hub",
                             "MLOPS_HUB_REPO_ID": "acme/registry",
                             "MLOPS_DATASET_REPO": "acme/logs"}
    assert health == ["https://acme-credit-risk.hf.space/_stcore/health"]
    assert TOKEN not in " ".join(result.log)


def test_a_running_stage_of_the_previous_commit_is_not_this_deploy(bundle) -> None:
    api = FakeSpaceApi(files=OLD, stages=[("RUNNING", "old"), ("RUNTIME_ERROR", "old"),
                                          "BUILDING", "RUNNING"])
    result, _ = _deploy(api, bundle)
    assert result.stage == "RUNNING" and api.polls == 4


@pytest.mark.parametrize("stage", ["BUILD_ERROR", "RUNTIME_ERROR"])
def test_a_failed_space_is_put_back_on_its_previous_commit(bundle, stage) -> None:
    api = FakeSpaceApi(files=OLD, variables={"MLOPS_HUB_REPO_ID": "acme/old-registry"},
                       stages=["BUILDING", stage])
    old = api.head
    with pytest.raises(PublishError) as failed:
        _deploy(api, bundle)
    message = failed.value.message
    assert f"ended in {stage}" in message and f"previous commit {old[:12]}" in message
    assert api.files() == OLD, "the Space serves the previous commit's files again"
    assert len(api.commits) == 3  # the old one, the failed deploy, the rollback
    assert api.variables == {"MLOPS_HUB_REPO_ID": "acme/old-registry"}
    assert api.restarts == 2 and TOKEN not in message


def test_a_space_that_never_starts_times_out_and_is_rolled_back(bundle) -> None:
    api = FakeSpaceApi(files=OLD, stages=["BUILDING"])
    clock = Clock()
    with pytest.raises(PublishError, match=r"TIMEOUT \(BUILDING\)"):
        _deploy(api, bundle, clock)
    assert 600 <= clock.now <= 610, "bounded by the timeout"
    assert api.files() == OLD


def test_a_running_space_whose_app_does_not_answer_is_rolled_back(bundle) -> None:
    api = FakeSpaceApi(files=OLD, stages=["RUNNING"])

    def down(url: str) -> str:
        raise OSError("HTTP 503")

    with pytest.raises(PublishError, match="health check .* failed \\(HTTP 503\\)"):
        _deploy(api, bundle, health=down)
    assert api.files() == OLD


def test_a_failed_first_deploy_says_there_is_nothing_to_return_to(bundle) -> None:
    api = FakeSpaceApi(files=None, stages=["BUILD_ERROR"])
    with pytest.raises(PublishError, match="no earlier commit"):
        _deploy(api, bundle)
    assert api.created["space_sdk"] == "docker" and api.created["repo_type"] == "space"


def test_the_cli_reads_secrets_from_the_environment_and_never_prints_them(
        bundle, monkeypatch, capsys) -> None:
    api = FakeSpaceApi(files=OLD, stages=["RUNNING"])
    monkeypatch.setattr(deploy_module, "hub_api", lambda endpoint=None: api)
    monkeypatch.setattr(deploy_module, "check_health", lambda url, token: "ok")
    monkeypatch.setenv("SPACE_HF_TOKEN", TOKEN)
    monkeypatch.delenv("SPACE_ADMIN_TOKEN", raising=False)
    argv = ["space", "deploy", "--repo-id", SPACE, "--folder", str(bundle), "--poll", "0.01",
            "--secret", "HF_TOKEN=SPACE_HF_TOKEN",
            "--secret-if-set", "MLOPS_ADMIN_TOKEN=SPACE_ADMIN_TOKEN"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "RUNNING" in out.out and TOKEN not in out.out + out.err
    assert api.secrets == {"HF_TOKEN": TOKEN}, "an unset optional secret is left alone"

    monkeypatch.delenv("SPACE_HF_TOKEN")
    assert main(argv) == ConfigError.exit_code
    assert "SPACE_HF_TOKEN, which is not set" in capsys.readouterr().err

    api.stages = ["BUILD_ERROR"]
    monkeypatch.setenv("SPACE_HF_TOKEN", TOKEN)
    assert main(argv) == PublishError.exit_code
    err = capsys.readouterr().err
    assert "BUILD_ERROR" in err and TOKEN not in err
