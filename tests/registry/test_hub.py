"""The Hub backend, with the real huggingface_hub client against mlops/space/hubserver.py.

The contract tests of test_registry.py run here too (imported below), with ``reg`` bound
to a fresh repository on the local Hub server.
"""

from __future__ import annotations

import base64
import json
import pickle
import threading
import uuid

import pytest
from test_local import (  # noqa: F401  (collected again with the Hub `reg` below)
    PASSED,
    _Exploit,
    _register,
    test_extra_file_names_are_validated,
    test_inconsistent_gate_verdicts_are_refused,
    test_latest_validated,
    test_ledger_entries_carry_who_when_and_why,
    test_load_model_verifies_and_predicts,
    test_models_are_namespaced,
    test_names_are_validated,
    test_production_needs_passed_gates_unless_forced,
    test_promote_is_compare_and_swap,
    test_publish_sets_production_first_then_candidate,
    test_register_records_hashes_metadata_and_files,
    test_rollback_walks_back_through_the_ledger,
    test_state_is_compare_and_swap_and_ledgered,
    test_unconfigured_alias_is_refused,
    test_unknown_version_and_alias_name_what_is_missing,
    test_versions_are_validated,
)

from mlops.core.exceptions import ConflictError, IntegrityError
from mlops.registry.base import file_sha256

pytest.importorskip("huggingface_hub")


def _hub(hub_server, tmp_path, repo_id: str | None = None, cache: str = "cache"):
    from mlops.registry.hub import HubRegistry

    return HubRegistry(repo_id or f"org/reg-{uuid.uuid4().hex[:8]}", endpoint=hub_server.url,
                       cache_dir=tmp_path / cache)


@pytest.fixture
def reg(hub_server, tmp_path):
    """An empty registry in a new repository on the local Hub server."""
    return _hub(hub_server, tmp_path)


def _push_raw(hub_server, reg, files: dict[str, bytes], tag: str | None = None) -> str:
    """Commit ``files`` straight into the server's storage (an attacker with write access)."""
    state = hub_server.state
    repo = state.repos[f"model/{reg.repo_id}"]
    with state.lock:
        head = repo.branches["main"]
        content = {**repo.commits[head][1], **files}
        sha = uuid.uuid4().hex + "deadbeef"
        repo.commits[sha] = (head, content)
        repo.branches["main"] = sha
        if tag:
            repo.tags[tag] = sha
    return sha


def test_versions_are_tags_and_downloads_are_pinned(reg, hub_server, registry_model_dir, tmp_path):
    v1 = _register(reg, registry_model_dir)
    tags = {t.name: t.target_commit for t in reg.api.list_repo_refs(reg.repo_id).tags}
    assert set(tags) == {"credit-risk--v1"}
    # Overwriting the file on main later does not change version 1: reads use its tag.
    _push_raw(hub_server, reg, {"credit-risk/versions/1/model.skops": b"changed on main"})
    other = _hub(hub_server, tmp_path, reg.repo_id, cache="cache2")
    assert other.get("credit-risk", 1) == v1
    assert file_sha256(other.file_path("credit-risk", 1, "model.skops")) == v1.sha256


def test_tampered_file_on_the_hub_is_refused(reg, hub_server, registry_model_dir, tmp_path):
    _register(reg, registry_model_dir)
    good = (registry_model_dir / "model.skops").read_bytes()
    _push_raw(hub_server, reg, {"credit-risk/versions/1/model.skops": good[:-40] + b"\0" * 40},
              tag=None)
    repo = hub_server.state.repos[f"model/{reg.repo_id}"]
    repo.tags["credit-risk--v1"] = repo.branches["main"]  # someone moved the tag
    fresh = _hub(hub_server, tmp_path, reg.repo_id, cache="fresh")
    with pytest.raises(IntegrityError, match="credit-risk v1: model file hash"):
        fresh.load_model("credit-risk", 1)


def test_malicious_pickle_on_the_hub_is_refused(reg, hub_server, registry_model_dir, tmp_path):
    _register(reg, registry_model_dir)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(str(marker)))
    repo = hub_server.state.repos[f"model/{reg.repo_id}"]
    doc = json.loads(repo.commits[repo.tags["credit-risk--v1"]][1][
        "credit-risk/versions/1/version.json"])
    import hashlib

    doc["sha256"] = hashlib.sha256(payload).hexdigest()
    _push_raw(hub_server, reg, {"credit-risk/versions/1/model.skops": payload,
                                "credit-risk/versions/1/version.json": json.dumps(doc).encode()},
              tag="credit-risk--v1")
    fresh = _hub(hub_server, tmp_path, reg.repo_id, cache="fresh")
    with pytest.raises(IntegrityError, match="credit-risk v1: not a valid skops model file"):
        fresh.load_model("credit-risk", 1)
    assert not marker.exists()


def test_two_concurrent_promotes_on_the_hub(reg, hub_server, registry_model_dir, tmp_path):
    for _ in range(3):
        _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "candidate", expected=None, reason="start")
    barrier = threading.Barrier(2)
    results: dict[int, str] = {}

    def promote(version: int) -> None:
        mine = _hub(hub_server, tmp_path, reg.repo_id, cache=f"c{version}")
        barrier.wait()
        try:
            mine.promote("credit-risk", version, "candidate", expected=1, reason="race")
            results[version] = "won"
        except ConflictError:
            results[version] = "conflict"

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results.values()) == ["conflict", "won"]
    winner = next(v for v, r in results.items() if r == "won")
    moves = [e for e in reg.history("credit-risk") if e.alias == "candidate"]
    assert [(e.from_version, e.to_version) for e in moves] == [(None, 1), (1, winner)]
    assert reg.aliases("credit-risk")["candidate"] == winner


def test_unrelated_commit_in_between_is_retried_not_refused(reg, registry_model_dir, hub_server):
    _register(reg, registry_model_dir)
    _register(reg, registry_model_dir)
    original = reg._read_at
    moved = []

    def read_then_someone_registers(name, head):
        result = original(name, head)
        if not moved:  # main moves after we read it: our commit's parent_commit is stale
            moved.append(_register(reg, registry_model_dir, name="other-model"))
        return result

    reg._read_at = read_then_someone_registers
    entry = reg.promote("credit-risk", 2, "production", expected=None, reason="r")
    assert moved and entry.to_version == 2
    assert ("POST", "commit") in hub_server.calls
    assert [e.seq for e in reg.history("credit-risk")] == [1]
    assert reg.models() == ["credit-risk", "other-model"]


def test_open_registry_uses_the_hub_from_the_environment(hub_server, tmp_path, monkeypatch,
                                                         registry_model_dir):
    from mlops.core.config import RegistryConfig
    from mlops.registry import open_registry
    from mlops.registry.hub import HubRegistry

    monkeypatch.setenv("MLOPS_REGISTRY_BACKEND", "hub")
    monkeypatch.setenv("MLOPS_HUB_REPO_ID", "team/from-env")
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    cfg = RegistryConfig(backend="local", path="registry", hub_repo_id="", aliases=("production",))
    reg = open_registry(cfg, tmp_path)
    assert isinstance(reg, HubRegistry) and reg.repo_id == "team/from-env"
    assert reg.cache_dir == str(tmp_path / "registry" / ".hub-cache")
    assert _register(reg, registry_model_dir).version == 1


def test_hub_endpoints_used_by_the_client(reg, hub_server, registry_model_dir):
    """Documents (in docs/registry.md) which Hub endpoints the backend needs."""
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    reg.load_model("credit-risk", "production")
    assert {
        ("POST", "repos/create"), ("POST", "preupload"), ("POST", "commit"), ("POST", "tag"),
        ("GET", "refs"), ("HEAD", "resolve"), ("GET", "resolve"),
    } <= set(hub_server.calls)


def test_the_commit_payload_is_inline_base64(hub_server):
    """The server decodes what the client sends; a round trip of bytes proves it."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hub_server.url)
    api.create_repo("org/raw", exist_ok=True)
    blob = bytes(range(256))
    api.create_commit("org/raw", operations=[CommitOperationAdd("a/b.bin", blob)],
                      commit_message="raw")
    repo = hub_server.state.repos["model/org/raw"]
    assert repo.commits[repo.branches["main"]][1]["a/b.bin"] == blob
    assert base64.b64decode(base64.b64encode(blob)) == blob
