"""The pieces of the act rehearsal (tools/act_rehearsal.py) that stand in for GitHub: the
REST endpoints CML calls, git over smart HTTP, the artifact actions, the cml stand-in, and
how the pinned actions are mapped for act. The whole rehearsal runs in .ci/run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))

from act_rehearsal import (  # noqa: E402
    STANDIN_ACTIONS,
    adapt_for_act,
    local_repositories,
    pinned_actions,
    write_standins,
)
from github_standin import GitHubStandIn  # noqa: E402

CML = TOOLS / "act_standins" / "setup-cml" / "cml.py"
STORE = TOOLS / "act_standins" / "artifact_store.py"


def _cml(server: GitHubStandIn, tmp_path: Path, sha: str, body: str, title: str,
         token: str | None = "ghs_x") -> subprocess.CompletedProcess:
    (tmp_path / "event.json").write_text(json.dumps({"pull_request": {"head": {"sha": sha}}}))
    (tmp_path / "comment.md").write_text(body)
    env = {"PATH": os.environ["PATH"], "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
           "GITHUB_SHA": "0" * 40, **({"REPO_TOKEN": token} if token else {})}
    return subprocess.run([sys.executable, str(CML), "comment", "update",
                           f"--repo={server.url}/acme/proj", "--target=pr/7", "--publish=false",
                           f"--watermark-title={title}", str(tmp_path / "comment.md")],
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_cml_posts_one_comment_per_title_and_updates_it_in_place(tmp_path: Path) -> None:
    with GitHubStandIn(tmp_path) as server:
        first = _cml(server, tmp_path, "a" * 40, "report one", "mlops pipeline report: m_1")
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip().endswith("/acme/proj/pull/7#issuecomment-1")
        second = _cml(server, tmp_path, "b" * 40, "report two", "mlops pipeline report: m_1")
        other = _cml(server, tmp_path, "b" * 40, "other model", "mlops pipeline report: m_2")
        assert second.returncode == 0 and other.returncode == 0
        comments = server.comments
        assert [(c.id, c.edits) for c in comments] == [(1, 1), (2, 0)]
        # CML's watermark: the head SHA in the image URL, the title's underscore escaped.
        assert comments[0].body == ('report two\n\n![](https://cml.dev/watermark.png#'
                                    + "b" * 40 + ' "CML watermark mlops pipeline report: m\\_1")')
        calls = [(m, p) for m, p, _ in server.calls]
        assert calls[:3] == [("GET", "/api/v3/repos/acme/proj/issues/7/comments"),
                             ("POST", "/api/v3/repos/acme/proj/issues/7/comments"),
                             ("GET", "/api/v3/repos/acme/proj/issues/7/comments")]
        assert ("PATCH", "/api/v3/repos/acme/proj/issues/comments/1") in calls
        assert _cml(server, tmp_path, "c" * 40, "x", "t", token=None).returncode == 1


def test_the_rest_stand_in_wants_a_token_and_records_what_it_does_not_model(
        tmp_path: Path) -> None:
    with GitHubStandIn(tmp_path) as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/api/v3/repos/acme/proj/issues/7/comments")
        assert refused.value.code == 401
        request = urllib.request.Request(f"{server.url}/api/v3/repos/acme/proj/pulls/7",
                                         headers={"Authorization": "token t"})
        with pytest.raises(urllib.error.HTTPError) as unknown:
            urllib.request.urlopen(request)
        assert unknown.value.code == 404
        assert ("GET", "/api/v3/repos/acme/proj/pulls/7", 404) in server.calls


def test_git_clones_fetches_by_sha_and_pushes_over_smart_http(tmp_path: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
           "GIT_CONFIG_NOSYSTEM": "1"}
    (tmp_path / "gitconfig").write_text("[user]\n\tname = t\n\temail = t@example.invalid\n")

    def git(*args: str, cwd: Path = tmp_path) -> str:
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, text=True,
                              capture_output=True).stdout.strip()

    src = tmp_path / "src"
    src.mkdir()
    git("init", "-q", "-b", "main", cwd=src)
    (src / "f.txt").write_text("one\n")
    git("add", "f.txt", cwd=src)
    git("commit", "-q", "-m", "one", cwd=src)
    sha = git("rev-parse", "HEAD", cwd=src)
    bare = tmp_path / "srv" / "acme" / "proj.git"
    git("clone", "-q", "--bare", str(src), str(bare))
    git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
    git("config", "http.receivepack", "true", cwd=bare)
    with GitHubStandIn(tmp_path / "srv") as server:
        work = tmp_path / "work"
        work.mkdir()
        git("init", "-q", cwd=work)
        # What actions/checkout does for a named ref: a shallow fetch of one commit.
        git("fetch", "-q", "--depth=1", f"{server.url}/acme/proj", sha, cwd=work)
        git("checkout", "-q", "FETCH_HEAD", cwd=work)
        assert (work / "f.txt").read_text() == "one\n"
        # What the report job does for the plots: push an orphan branch.
        git("checkout", "-q", "--orphan", "assets", cwd=work)
        (work / "plot.png").write_bytes(b"png")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "plots", cwd=work)
        git("push", "-q", f"{server.url}/acme/proj.git", "HEAD:refs/heads/assets", cwd=work)
    assert "plot.png" in git("ls-tree", "--name-only", "assets", cwd=bare)


def _store(tmp_path: Path, mode: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STORE), mode], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "MLOPS_ACT_ARTIFACTS": str(tmp_path / "store"),
                               **env})


def test_artifacts_keep_upload_artifacts_layout_and_exclusions(tmp_path: Path) -> None:
    job = tmp_path / "job"
    for rel in ("runs/r1/report.md", "runs/r1/model.skops", "runs/r1/plots/a.png",
                "comment/comment.md"):
        (job / rel).parent.mkdir(parents=True, exist_ok=True)
        (job / rel).write_text(rel)
    up = _store(tmp_path, "upload", job, NAME="run-m", PATHS="runs/\n!runs/**/*.skops\n")
    assert up.returncode == 0, up.stderr
    assert sorted(p.relative_to(tmp_path / "store").as_posix()
                  for p in (tmp_path / "store").rglob("*") if p.is_file()) == [
        "run-m/r1/plots/a.png", "run-m/r1/report.md"]
    assert _store(tmp_path, "upload", job, NAME="report-comment-m",
                  PATHS="comment/").returncode == 0
    assert "No files were found" in _store(tmp_path, "upload", job, NAME="none",
                                           PATHS="missing/").stdout
    assert _store(tmp_path, "upload", job, NAME="none2", PATHS="missing/",
                  IF_NO_FILES="error").returncode == 1
    down = tmp_path / "down"
    down.mkdir()
    got = _store(tmp_path, "download", down, PATTERN="report-comment-*", OUT="comments")
    assert got.returncode == 0 and "Found 1 artifact(s)" in got.stdout
    assert (down / "comments" / "report-comment-m" / "comment.md").is_file()
    assert _store(tmp_path, "download", down, NAME="nope", OUT="x").returncode == 1


def test_pinned_actions_are_mapped_to_stand_ins_or_the_offline_folder(tmp_path: Path) -> None:
    pins = pinned_actions(ROOT / ".github" / "workflows")
    assert set(STANDIN_ACTIONS) <= set(pins) and "actions/checkout" in pins
    standins = write_standins(pins, tmp_path / "standins")
    for action in STANDIN_ACTIONS:
        folder = standins / f"{action}@{pins[action]}"
        assert yaml.safe_load((folder / "action.yml").read_text())["runs"]["using"] == "composite"
    offline = tmp_path / "actions"
    checkout = offline / f"actions/checkout@{pins['actions/checkout']}"
    checkout.mkdir(parents=True)
    args = local_repositories(pins, offline, standins)
    pairs = list(zip(args[::2], args[1::2], strict=True))
    mapped = f"actions/checkout@{pins['actions/checkout']}={checkout}"
    assert ("--local-repository", mapped) in pairs
    # Not in the folder: act fetches it from GitHub (not from the GitHub stand-in).
    assert ("--replace-ghe-action-with-github-com", "actions/setup-python") in pairs
    assert all(("--local-repository", f"{a}@{pins[a]}={standins / f'{a}@{pins[a]}'}") in pairs
               for a in STANDIN_ACTIONS)


def test_only_keys_acts_schema_refuses_are_dropped(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(ROOT / ".github" / "workflows", workflows)
    before = {p.name: yaml.safe_load(p.read_text()) for p in workflows.glob("*.yml")}
    done = adapt_for_act(workflows)
    after = {p.name: yaml.safe_load(p.read_text()) for p in workflows.glob("*.yml")}
    assert done == ["cd.yml: no cache-mode (act has one cache per run, so a read-only cache "
                    "mode changes nothing there)"]
    del before["cd.yml"]["jobs"]["release"]["cache-mode"]
    assert after == before
    # act knows only the path form of a reusable workflow of the same repository.
    assert after["cd.yml"]["jobs"]["release"]["uses"] == "./.github/workflows/cd-model.yml"
