"""`mlops cicd check`: a fork's missing settings and wrong repos, before its first push."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
import yaml
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from mlops.cli import cicd
from mlops.space.preflight import REQUIRED, flow_repos, preflight

ROOT = Path(__file__).resolve().parents[2]
ENV = {"HF_TOKEN": "hf_fakePreflightToken0123456789", "HF_MODEL_REPO": "me/registry",
       "HF_SPACE_REPO": "me/app", "HF_DATASET_REPO": "me/logs"}
MODELS = [("credit", True), ("sugar", False)]


def _response(status: int) -> httpx2.Response:
    return httpx2.Response(status, request=httpx2.Request("GET", "http://hub/api"))


class FakeHub:
    """Repos by id: ``(private, sdk, writable)``; absent ids do not exist."""

    def __init__(self, repos: dict[str, tuple[bool, str | None, bool]]) -> None:
        self.repos = repos

    def repo_info(self, repo_id: str, *, repo_type: str):
        if repo_id not in self.repos:
            raise RepositoryNotFoundError("not found", response=_response(404))
        private, sdk, _ = self.repos[repo_id]
        return SimpleNamespace(private=private, sdk=sdk)

    def auth_check(self, repo_id: str, *, repo_type: str, write: bool) -> None:
        assert write
        if not self.repos[repo_id][2]:
            raise HfHubHTTPError("forbidden", response=_response(403))


def test_flow_repos_are_every_repo_the_workflows_write() -> None:
    assert flow_repos(ENV, MODELS) == [
        ("me/registry", "model", False), ("me/registry-data", "dataset", True),
        ("me/app", "space", False), ("me/logs", "dataset", True),
        ("me/app-sugar", "space", False), ("me/logs-sugar", "dataset", True)]


def test_missing_settings_are_named_before_the_hub_is_asked() -> None:
    found = preflight({"HF_MODEL_REPO": "me/registry"}, MODELS, api=None)
    assert [(f.status, f.subject) for f in found if f.status != "ok"] == [
        ("missing", "HF_TOKEN"), ("missing", "HF_SPACE_REPO"), ("missing", "HF_DATASET_REPO")]


def test_write_access_visibility_and_space_sdk() -> None:
    hub = FakeHub({"me/registry": (False, None, True), "me/registry-data": (True, None, False),
                   "me/app": (False, "gradio", True), "me/logs": (False, None, True)})
    found = {f.subject: f for f in preflight(ENV, MODELS, hub)}
    assert found["model me/registry"].status == "ok"
    assert found["dataset me/registry-data"].detail == "HF_TOKEN may not write to it"
    assert "sdk gradio" in found["space me/app"].detail
    assert "make it private" in found["dataset me/logs"].detail
    assert found["space me/app-sugar"].status == "ok"  # CD creates it


def test_the_cli_exits_2_until_ready(monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    hub = FakeHub({})
    assert cicd.cmd_check(None, api=hub) == 0
    assert "ready for the first push" in capsys.readouterr().out
    monkeypatch.delenv("HF_SPACE_REPO")
    assert cicd.cmd_check(None, api=hub) == 2
    out = capsys.readouterr().out
    assert "missing  HF_SPACE_REPO" in out and ENV["HF_TOKEN"] not in out


def test_cd_checks_the_same_names() -> None:
    doc = yaml.safe_load((ROOT / ".github/workflows/cd-model.yml").read_text())
    step = next(s for s in doc["jobs"]["deploy"]["steps"]
                if s.get("name") == "Check configuration")
    assert tuple(re.search(r"for name in ([\w ]+); do", step["run"])[1].split()) == REQUIRED


@pytest.mark.parametrize("text", ["forks start with Actions", "Actions tab"])
def test_the_docs_say_forks_start_with_actions_off(text: str) -> None:
    assert text.lower() in (ROOT / "docs/cicd.md").read_text().lower().replace("\n", " ")
