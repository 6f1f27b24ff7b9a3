"""The Hub backend when the network fails: unreachable, 5xx, replies lost after a commit.

Each test runs its own local Hub server (mlops/space/hubserver.py), so injected faults and a
stopped server never touch the session's. The real huggingface_hub client is used.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path

import pytest
from hubserver import HubServer

from mlops.cli.main import main
from mlops.core.exceptions import RegistryError, UnavailableError

pytest.importorskip("huggingface_hub")

ROOT = Path(__file__).resolve().parents[2]
PASSED = [{"gate": "min_roc_auc", "value": 0.81, "threshold": 0.7, "passed": True}]
ROWS = [[0.0, 1.0, 2.0], [-3.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port


@pytest.fixture
def server():
    with HubServer() as hub:
        yield hub


def _hub(url: str, tmp_path: Path, repo_id: str | None = None, cache: str = "cache"):
    from mlops.registry.hub import HubRegistry

    return HubRegistry(repo_id or f"org/faults-{uuid.uuid4().hex[:8]}", endpoint=url,
                       cache_dir=tmp_path / cache)


def _register(reg, model_dir: Path, name: str = "credit-risk"):
    return reg.register(name, model_dir / "model.skops",
                        metadata={"gates": PASSED, "gates_passed": True},
                        files={"README.md": model_dir / "README.md"})


def _cli_hub(monkeypatch, tmp_path: Path, endpoint: str, *args: str) -> int:
    monkeypatch.setenv("MLOPS_REGISTRY_BACKEND", "hub")
    monkeypatch.setenv("MLOPS_HUB_REPO_ID", "org/down")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    return main([*args, "--params", str(ROOT / "params.yaml"),
                 "--set", f"registry.path={tmp_path / 'registry'}"])


# ------------------------------------------------------------------ unreachable
def test_unreachable_hub_is_one_line_and_exit_code_4(tmp_path, monkeypatch, capsys):
    assert _cli_hub(monkeypatch, tmp_path, DEAD, "registry", "list") == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert DEAD in err and "org/down" in err and "HF_ENDPOINT" in err
    assert "Traceback" not in err and "httpx" not in err.lower()


@pytest.mark.parametrize("status", [500, 503])
def test_hub_5xx_is_a_registry_error_naming_the_endpoint(server, tmp_path, monkeypatch, capsys,
                                                         status):
    server.state.inject("refs", status, after=False, times=5)
    assert _cli_hub(monkeypatch, tmp_path, server.url, "registry", "list") == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and server.url in err and f"HTTP {status}" in err


def test_hub_down_loads_a_cached_version_and_says_so(tmp_path, registry_model_dir, caplog):
    from mlops.core.modelio import load_model

    with HubServer() as hub:
        reg = _hub(hub.url, tmp_path)
        _register(reg, registry_model_dir)
        reg.promote("credit-risk", 1, "production", expected=None, reason="r")
        reg.load_model("credit-risk", "production")  # now in the local download cache
        _register(reg, registry_model_dir)  # v2: never downloaded
    # The Hub is gone. A new process (a fresh registry object) on the same cache:
    offline = _hub(hub.url, tmp_path, reg.repo_id)
    with caplog.at_level(logging.WARNING, logger="mlops.registry"):
        model = offline.load_model("credit-risk", "production")
    expected = load_model(registry_model_dir / "model.skops").predict(ROWS).tolist()
    assert model.predict(ROWS).tolist() == expected
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert hub.url in warning and "unreachable" in warning and "cache" in warning
    with pytest.raises(UnavailableError, match="unreachable"):
        offline.load_model("credit-risk", 2)
    with pytest.raises(UnavailableError, match="not in the local cache"):
        offline.file_path("credit-risk", 1, "README.md")  # v1 known, its card never fetched
    with pytest.raises(UnavailableError, match=hub.url.replace(".", r"\.")):
        offline.promote("credit-risk", 1, "candidate", expected=None, reason="offline")


def test_cli_with_the_hub_down_reads_the_cache(tmp_path, monkeypatch, capsys, caplog,
                                               registry_model_dir):
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        from mlops.core.config import load_params
        from mlops.registry import open_registry

        monkeypatch.setenv("MLOPS_REGISTRY_BACKEND", "hub")
        monkeypatch.setenv("MLOPS_HUB_REPO_ID", "org/down")
        params = load_params(ROOT / "params.yaml", [f"registry.path={tmp_path / 'registry'}"])
        reg = open_registry(params.registry, params.root)
        _register(reg, registry_model_dir)
        reg.promote("credit-risk", 1, "production", expected=None, reason="r")
        assert _cli_hub(monkeypatch, tmp_path, hub.url, "registry", "list") == 0
        capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="mlops.registry"):
        assert _cli_hub(monkeypatch, tmp_path, hub.url, "registry", "list") == 0
    assert "credit-risk\t1 version\tproduction=v1" in capsys.readouterr().out
    assert "unreachable" in caplog.text and hub.url in caplog.text


# ----------------------------------------------------- replies lost after a commit
def test_alias_move_whose_reply_was_lost_is_reported_as_done(server, tmp_path,
                                                             registry_model_dir):
    reg = _hub(server.url, tmp_path)
    _register(reg, registry_model_dir)
    server.state.inject("commit", 500, after=True)  # the commit lands, the reply is lost
    entry = reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    assert (entry.alias, entry.to_version) == ("production", 1)
    assert [(e.seq, e.to_version) for e in reg.history("credit-risk")] == [(1, 1)]
    assert reg.aliases("credit-risk") == {"production": 1}


def test_register_whose_commit_reply_was_lost_is_one_version(server, tmp_path,
                                                             registry_model_dir):
    reg = _hub(server.url, tmp_path)
    _register(reg, registry_model_dir)  # creates the repo
    server.state.inject("commit", 502, after=True)
    mv = _register(reg, registry_model_dir)
    assert mv.version == 2
    assert [v.version for v in reg.versions("credit-risk")] == [1, 2]
    tags = sorted(t.name for t in reg.api.list_repo_refs(reg.repo_id).tags)
    assert tags == ["credit-risk--v1", "credit-risk--v2"]
    assert reg.load_model("credit-risk", 2) is not None


def test_tag_whose_reply_was_lost_is_done(server, tmp_path, registry_model_dir):
    reg = _hub(server.url, tmp_path)
    server.state.inject("tag", 500, after=True)
    mv = _register(reg, registry_model_dir)
    assert mv.version == 1 and [v.version for v in reg.versions("credit-risk")] == [1]


def test_commit_refused_by_a_5xx_is_retried(server, tmp_path, registry_model_dir):
    reg = _hub(server.url, tmp_path)
    _register(reg, registry_model_dir)
    server.state.inject("commit", 503, after=False)  # refused, nothing applied
    entry = reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    assert entry.to_version == 1
    assert len(reg.history("credit-risk")) == 1


def test_hub_that_keeps_failing_commits_is_unavailable_not_a_conflict(server, tmp_path,
                                                                      registry_model_dir):
    reg = _hub(server.url, tmp_path)
    _register(reg, registry_model_dir)
    server.state.inject("commit", 503, after=False, times=50)
    with pytest.raises(UnavailableError, match="HTTP 503") as info:
        reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    assert info.value.exit_code == 4 and server.url in str(info.value)
    server.state.faults.clear()
    assert reg.aliases("credit-risk") == {}


def test_hand_edited_refs_on_the_hub_are_refused(server, tmp_path, registry_model_dir):
    from hubextra import put_files

    reg = _hub(server.url, tmp_path)
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    refs = {"seq": 1, "aliases": {"../../x": 1}, "stacks": {}, "state": {}}
    put_files(server, f"model/{reg.repo_id}", {"credit-risk/refs.json": json.dumps(refs).encode()})
    with pytest.raises(RegistryError, match=r"refs\.json.*'aliases'"):
        reg.aliases("credit-risk")


# ------------------------------------------------------------ publish on the Hub
def test_concurrent_publishers_on_the_hub_each_get_their_move(server, tmp_path,
                                                              registry_model_dir):
    repo_id = f"org/publish-{uuid.uuid4().hex[:8]}"
    _hub(server.url, tmp_path, repo_id)._ensure_repo()
    barrier = threading.Barrier(4)
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def publish(worker: int) -> None:
        mine = _hub(server.url, tmp_path, repo_id, cache=f"c{worker}")
        barrier.wait()
        try:
            for _ in range(3):
                mv, move = mine.publish("m", registry_model_dir / "model.skops",
                                        metadata={"gates": PASSED, "gates_passed": True})
                results.setdefault(worker, []).append((mv.version, move.alias, move.to_version))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    published = sorted(v for rows in results.values() for v, _, _ in rows)
    assert published == list(range(1, 13))
    reg = _hub(server.url, tmp_path, repo_id, cache="check")
    moves = sorted(e.to_version for e in reg.history("m"))
    assert moves == published, "every published version's alias move is recorded"
