"""The local Hub enforces what the Hub enforces, seen through the real huggingface_hub client."""

from __future__ import annotations

import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError


def _api(server, token=None) -> HfApi:
    return HfApi(endpoint=server.url, token=token or False)


def test_private_repo_is_not_found_without_access(hub_auth_server) -> None:
    alice = _api(hub_auth_server, "hf_alice_write")
    alice.create_repo("alice/secret", private=True)
    for token, status in ((None, 401), ("hf_bob_write", 404)):
        with pytest.raises(RepositoryNotFoundError) as caught:
            _api(hub_auth_server, token).list_repo_refs("alice/secret")
        assert caught.value.response.status_code == status
        assert caught.value.response.headers["X-Error-Code"] == "RepoNotFound"
    assert alice.repo_info("alice/secret").private is True
    assert _api(hub_auth_server, "hf_alice_read").list_repo_refs("alice/secret").branches


def test_writes_need_a_write_token_of_the_namespace(hub_auth_server) -> None:
    _api(hub_auth_server, "hf_alice_write").create_repo("alice/public")
    add = [CommitOperationAdd("a.txt", b"a")]
    for token in ("hf_alice_read", "hf_bob_write"):
        with pytest.raises(HfHubHTTPError) as caught:
            _api(hub_auth_server, token).create_commit("alice/public", operations=add,
                                                        commit_message="x")
        assert caught.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as caught:
        _api(hub_auth_server, "hf_nobody").list_repo_refs("alice/public")
    assert caught.value.response.status_code == 401
    assert not isinstance(caught.value, RepositoryNotFoundError)  # a bad token says so


def test_identical_content_makes_no_commit(hub_auth_server) -> None:
    api = _api(hub_auth_server, "hf_alice_write")
    api.create_repo("alice/same")
    add = [CommitOperationAdd("a.txt", b"same bytes")]
    first = api.create_commit("alice/same", operations=add, commit_message="1")
    again = api.create_commit("alice/same", operations=[CommitOperationAdd("a.txt", b"same bytes")],
                              commit_message="2")
    assert again.oid == first.oid
    assert [c.title for c in api.list_repo_commits("alice/same")] == ["1", "initial commit"]
    api.create_branch("alice/same", branch="dev")
    assert {b.name for b in api.list_repo_refs("alice/same").branches} == {"main", "dev"}
    assert [f.path for f in api.list_repo_tree("alice/same")] == [".gitattributes", "a.txt"]


def test_space_secrets_variables_and_runtime_stages(hub_auth_server) -> None:
    api = _api(hub_auth_server, "hf_alice_write")
    api.create_repo("alice/app", repo_type="space", space_sdk="docker")
    api.add_space_secret("alice/app", "HF_TOKEN", "t")
    api.add_space_variable("alice/app", "MODEL", "m")
    space = hub_auth_server.state.repos["space/alice/app"].space
    assert space.secrets["HF_TOKEN"]["value"] == "t" and space.variables["MODEL"]["value"] == "m"
    api.delete_space_secret("alice/app", "HF_TOKEN")
    assert "HF_TOKEN" not in space.secrets
    api.upload_file(path_or_fileobj=b"FROM python:3.11-slim\n", path_in_repo="Dockerfile",
                    repo_id="alice/app", repo_type="space")
    assert api.get_space_runtime("alice/app").stage == "BUILDING"
    assert api.get_space_runtime("alice/app").stage == "RUNNING"
    assert api.restart_space("alice/app").stage == "BUILDING"
    assert api.get_space_runtime("alice/app").stage == "BUILDING"
    assert api.get_space_runtime("alice/app").stage == "RUNNING"
    api.upload_file(path_or_fileobj=b"RUN false # HUBSERVER_BUILD_ERROR\n",
                    path_in_repo="Dockerfile", repo_id="alice/app", repo_type="space")
    api.get_space_runtime("alice/app")
    assert api.get_space_runtime("alice/app").stage == "BUILD_ERROR"
    hub_auth_server.state.next_build("alice/app", "RUNTIME_ERROR")
    api.restart_space("alice/app")
    api.get_space_runtime("alice/app")
    assert api.get_space_runtime("alice/app").stage == "RUNTIME_ERROR"
    with pytest.raises(HfHubHTTPError) as caught:
        _api(hub_auth_server, "hf_alice_read").restart_space("alice/app")
    assert caught.value.response.status_code == 403


def test_a_private_registry_read_without_token_is_never_a_first_release(
        hub_auth_server, monkeypatch, tmp_path) -> None:
    """Issue 27 item 4: CI reads the private registry without a token; it must say so."""
    from pathlib import Path

    from mlops.core.config import load_params
    from mlops.core.data import read_csv, split
    from mlops.pipeline.compare import production_comparison
    from mlops.stages import evaluation as ev
    from mlops.stages.pr_report import render_report
    from mlops.stages.training import train

    _api(hub_auth_server, "hf_alice_write").create_repo("alice/registry", private=True)
    root = Path(__file__).resolve().parents[2]
    params = load_params(root / "params.yaml", ["evaluation.bootstrap_samples=20",
                                                f"registry.path={tmp_path / 'reg'}"])
    frame = read_csv(params.resolve(params.data.path))
    train_frame, test_frame = split(frame, params.data.target,
                                    test_size=params.data.test_size, seed=params.seed)
    result = ev.evaluate(train(params, train_frame), test_frame, params)
    monkeypatch.setenv("HF_ENDPOINT", hub_auth_server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", "hub:alice/registry")
    production = production_comparison(params, None, result=result)
    assert "HTTP 401" in production["error"] and "HF_TOKEN" in production["error"]
    text = render_report(result, production=production)
    assert "could not be read" in text
    assert "this is the first release" not in text
    assert "is **not** known to be the first release" in text
