"""The model registry: contract tests (also run against the Hub backend by
test_registry_hub.py) and the local backend's crash and concurrency tests."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops.core.exceptions import ConflictError, IntegrityError, NotFoundError, RegistryError
from mlops.registry import LedgerEntry, ModelVersion, open_registry
from mlops.registry.base import Refs, file_sha256
from mlops.registry.local import LocalRegistry

WORKER = Path(__file__).with_name("registry_worker.py")
PASSED = [{"gate": "min_roc_auc", "value": 0.81, "threshold": 0.7, "passed": True}]
FAILED = [{"gate": "min_roc_auc", "value": 0.61, "threshold": 0.7, "passed": False}]


@pytest.fixture
def reg(tmp_path: Path) -> LocalRegistry:
    """An empty local registry (test_registry_hub.py overrides this with a Hub one)."""
    return LocalRegistry(tmp_path / "registry")


def _register(reg, model_dir: Path, gates=PASSED, name: str = "credit-risk") -> ModelVersion:
    meta = {"gates": gates, "metrics": {"roc_auc": gates[0]["value"]},
            "lineage": {"data_sha256": "ab" * 32, "seed": 42, "notebooks": {"train": "cd" * 32}}}
    return reg.register(name, model_dir / "model.skops", metadata=meta,
                        files={"README.md": model_dir / "README.md"})


# ----------------------------------------------------------------- contract tests
def test_register_records_hashes_metadata_and_files(reg, registry_model_dir):
    first = _register(reg, registry_model_dir)
    second = _register(reg, registry_model_dir, gates=FAILED)
    assert (first.version, second.version) == (1, 2)
    assert first.sha256 == file_sha256(registry_model_dir / "model.skops")
    assert first.files == {"README.md": file_sha256(registry_model_dir / "README.md")}
    assert first.gates_passed and not second.gates_passed
    assert first.metadata["lineage"]["seed"] == 42
    assert reg.get("credit-risk", "v1") == first
    assert [v.version for v in reg.versions("credit-risk")] == [1, 2]
    assert reg.models() == ["credit-risk"]
    card = reg.file_path("credit-risk", 1, "README.md")
    assert card.read_text(encoding="utf-8") == "# model card\n"
    assert ModelVersion.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_inconsistent_gate_verdicts_are_refused(reg, registry_model_dir):
    with pytest.raises(RegistryError, match=r"gates_passed but these gates failed"):
        reg.register("m", registry_model_dir / "model.skops",
                     metadata={"gates": FAILED, "gates_passed": True})
    assert reg.versions("m") == []


def test_models_are_namespaced(reg, registry_model_dir):
    _register(reg, registry_model_dir, name="a")
    _register(reg, registry_model_dir, name="b")
    _register(reg, registry_model_dir, name="b")
    assert reg.models() == ["a", "b"]
    assert [v.version for v in reg.versions("a")] == [1]
    assert [v.version for v in reg.versions("b")] == [1, 2]


def test_load_model_verifies_and_predicts(reg, registry_model_dir):
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="first")
    from mlops.core.modelio import load_model

    rows = [[0.0, 1.0, 2.0], [-3.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
    original = load_model(registry_model_dir / "model.skops")
    model = reg.load_model("credit-risk", "production")
    assert model.predict(rows).tolist() == original.predict(rows).tolist()


@pytest.mark.parametrize("bad", ["../evil", "a/b", "", "..", ".hidden", "a\\b", "x" * 101])
def test_names_are_validated(reg, registry_model_dir, bad):
    with pytest.raises(RegistryError, match="invalid"):
        reg.register(bad, registry_model_dir / "model.skops", metadata={})
    with pytest.raises(RegistryError, match="invalid"):
        reg.get(bad, 1)


@pytest.mark.parametrize("bad", ["../1", "0", 0, -1, "1/../2", True, "latest!"])
def test_versions_are_validated(reg, registry_model_dir, bad):
    _register(reg, registry_model_dir)
    with pytest.raises(RegistryError):
        reg.get("credit-risk", bad)


def test_extra_file_names_are_validated(reg, registry_model_dir):
    for bad in ["../x.md", "/etc/passwd", "a/../b", "version.json"]:
        with pytest.raises(RegistryError):
            reg.register("m", registry_model_dir / "model.skops", metadata={},
                         files={bad: registry_model_dir / "README.md"})
    assert reg.versions("m") == []


def test_unknown_version_and_alias_name_what_is_missing(reg, registry_model_dir):
    _register(reg, registry_model_dir)
    with pytest.raises(NotFoundError, match=r"credit-risk v7.*known versions: \[1\]"):
        reg.get("credit-risk", 7)
    with pytest.raises(NotFoundError, match="alias 'production' is not set"):
        reg.resolve("credit-risk", "production")
    with pytest.raises(NotFoundError, match="no stored file"):
        reg.file_path("credit-risk", 1, "report.md")


def test_promote_is_compare_and_swap(reg, registry_model_dir):
    for _ in range(3):
        _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, actor="ci", reason="first")
    with pytest.raises(ConflictError, match=r"points to v1, not the expected nothing"):
        reg.promote("credit-risk", 2, "production", expected=None, actor="ci", reason="x")
    with pytest.raises(ConflictError, match="expected v3"):
        reg.promote("credit-risk", 2, "production", expected=3, actor="ci", reason="x")
    entry = reg.promote("credit-risk", 2, "production", expected=1, actor="ci", reason="better")
    assert (entry.from_version, entry.to_version) == (1, 2)
    assert (entry.actor, entry.reason) == ("ci", "better")
    assert reg.aliases("credit-risk") == {"production": 2}
    assert [e.to_version for e in reg.history("credit-risk")] == [1, 2]


def test_production_needs_passed_gates_unless_forced(reg, registry_model_dir):
    _register(reg, registry_model_dir, gates=FAILED)
    with pytest.raises(RegistryError, match=r"gates did not pass \(failed: \['min_roc_auc'\]\)"):
        reg.promote("credit-risk", 1, "production", expected=None, reason="try")
    reg.promote("credit-risk", 1, "candidate", expected=None, reason="candidates may fail")
    with pytest.raises(RegistryError, match="--force needs a --reason"):
        reg.promote("credit-risk", 1, "production", expected=None, reason=" ", force=True)
    entry = reg.promote("credit-risk", 1, "production", expected=None, force=True,
                        actor="alice", reason="hotfix approved by risk team")
    assert entry.action == "force-promote"
    assert reg.history("credit-risk")[-1] == entry
    assert entry.evidence["gates_passed"] is False


def test_unconfigured_alias_is_refused(reg, registry_model_dir):
    _register(reg, registry_model_dir)
    with pytest.raises(RegistryError, match="not configured"):
        reg.promote("credit-risk", 1, "qa", expected=None, reason="x")


def test_rollback_walks_back_through_the_ledger(reg, registry_model_dir):
    for _ in range(3):
        _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    reg.promote("credit-risk", 2, "production", expected=1, reason="r")
    reg.promote("credit-risk", 3, "production", expected=2, reason="r")
    back = reg.rollback("credit-risk", actor="monitor", reason="accuracy dropped",
                        evidence={"accuracy": 0.61})
    assert (back.action, back.from_version, back.to_version) == ("rollback", 3, 2)
    assert back.evidence == {"accuracy": 0.61}
    reg.rollback("credit-risk", reason="still bad")
    assert reg.aliases("credit-risk")["production"] == 1
    with pytest.raises(NotFoundError, match="no earlier version"):
        reg.rollback("credit-risk", reason="again")
    assert [(e.from_version, e.to_version) for e in reg.history("credit-risk")] == [
        (None, 1), (1, 2), (2, 3), (3, 2), (2, 1)]


def test_rollback_with_expected_is_a_compare_and_swap(reg, registry_model_dir):
    for _ in range(3):
        _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    reg.promote("credit-risk", 2, "production", expected=1, reason="r")
    decided_on = 2  # a monitor judged v2 ...
    reg.promote("credit-risk", 3, "production", expected=2, reason="r")  # ... v3 came first
    with pytest.raises(ConflictError):
        reg.rollback("credit-risk", reason="v2 is bad", expected=decided_on)
    assert reg.aliases("credit-risk")["production"] == 3
    back = reg.rollback("credit-risk", reason="v3 is bad", expected=3)
    assert (back.from_version, back.to_version) == (3, 2)


def test_latest_validated(reg, registry_model_dir):
    assert reg.latest_validated("credit-risk") is None
    _register(reg, registry_model_dir)
    _register(reg, registry_model_dir)
    _register(reg, registry_model_dir, gates=FAILED)
    assert reg.latest_validated("credit-risk").version == 2


def test_state_is_compare_and_swap_and_ledgered(reg, registry_model_dir):
    _register(reg, registry_model_dir)
    assert reg.get_state("credit-risk", "deployment") == (None, None)
    reg.set_state("credit-risk", "deployment", {"stage": "canary", "share": 5},
                  expected_token=None, actor="serve", reason="start canary")
    value, token = reg.get_state("credit-risk", "deployment")
    assert value == {"stage": "canary", "share": 5}
    with pytest.raises(ConflictError, match="state 'deployment' changed"):
        reg.set_state("credit-risk", "deployment", {"stage": "x"}, expected_token=None,
                      reason="stale")
    entry = reg.set_state("credit-risk", "deployment", {"stage": "done"}, expected_token=token,
                          reason="promoted")
    assert entry.action == "set-state" and entry.key == "deployment"
    assert reg.get_state("credit-risk", "deployment")[0] == {"stage": "done"}
    assert [e.action for e in reg.history("credit-risk")] == ["set-state", "set-state"]
    assert LedgerEntry.from_dict(entry.to_dict()) == entry


def test_ledger_entries_carry_who_when_and_why(reg, registry_model_dir, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("GITHUB_JOB", "cd")
    _register(reg, registry_model_dir)
    entry = reg.promote("credit-risk", 1, "candidate", expected=None, reason="new run")
    assert entry.actor == "octocat (CI job cd)"
    assert entry.time.endswith("+00:00") and entry.evidence["gates"] == PASSED
    assert entry.model == "credit-risk" and entry.seq == 1


def test_publish_sets_production_first_then_candidate(reg, registry_model_dir):
    meta = {"gates": PASSED, "gates_passed": True}
    model = registry_model_dir / "model.skops"
    first, move = reg.publish("credit-risk", model, metadata=meta, actor="ci")
    assert (move.alias, move.to_version, move.actor) == ("production", first.version, "ci")
    second, move = reg.publish("credit-risk", model, metadata=meta)
    assert (move.alias, move.from_version, move.to_version) == ("candidate", None, 2)
    failed, move = reg.publish("credit-risk", model, metadata={"gates": FAILED})
    assert move is None and not failed.gates_passed
    assert reg.aliases("credit-risk") == {"production": 1, "candidate": 2}


# ------------------------------------------------------------- local integrity
def _version_dir(reg: LocalRegistry, version: int) -> Path:
    return reg.root / "credit-risk" / "versions" / str(version)


def test_tampered_model_file_is_refused(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path)
    mv = _register(reg, registry_model_dir)
    path = _version_dir(reg, 1) / "model.skops"
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # stored read-only
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"credit-risk v1: model file hash .* does not match"):
        reg.load_model("credit-risk", mv.version)
    with pytest.raises(IntegrityError, match="credit-risk v1: file 'model.skops'"):
        reg.file_path("credit-risk", 1, "model.skops")


def test_malicious_pickle_is_refused_even_with_a_matching_hash(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path)
    _register(reg, registry_model_dir)
    marker = tmp_path / "pwned"
    version_dir = _version_dir(reg, 1)
    payload = pickle.dumps(_Exploit(str(marker)))
    model = version_dir / "model.skops"
    model.chmod(0o644)
    model.write_bytes(payload)
    # An attacker who can write the folder can also fix the recorded hash.
    doc_path = version_dir / "version.json"
    doc = json.loads(doc_path.read_text())
    doc["sha256"] = file_sha256(model)
    doc_path.chmod(0o644)
    doc_path.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match="credit-risk v1: not a valid skops model file"):
        reg.load_model("credit-risk", 1)
    assert not marker.exists()


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_version_json_for_another_version_is_refused(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path)
    _register(reg, registry_model_dir)
    _register(reg, registry_model_dir)
    src = _version_dir(reg, 1) / "version.json"
    dst = _version_dir(reg, 2) / "version.json"
    dst.chmod(0o644)
    dst.write_bytes(src.read_bytes())
    with pytest.raises(IntegrityError, match="edited by hand"):
        reg.get("credit-risk", 2)


def test_torn_ledger_line_is_ignored_then_truncated(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path)
    _register(reg, registry_model_dir)
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    ledger = tmp_path / "credit-risk" / "ledger.jsonl"
    with open(ledger, "ab") as fh:  # a writer killed in the middle of its line
        fh.write(b'{"seq": 2, "action": "prom')
    assert reg.aliases("credit-risk") == {"production": 1}
    assert len(reg.history("credit-risk")) == 1
    reg.promote("credit-risk", 2, "production", expected=1, reason="r")
    lines = ledger.read_bytes().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]


def test_lagging_snapshot_is_caught_up_from_the_ledger(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path)
    _register(reg, registry_model_dir)
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    refs = tmp_path / "credit-risk" / "refs.json"
    old = refs.read_bytes()
    reg.promote("credit-risk", 2, "production", expected=1, reason="r")
    refs.write_bytes(old)  # as if killed after the ledger append, before the snapshot
    assert reg.aliases("credit-risk") == {"production": 2}
    refs.unlink()
    assert reg.aliases("credit-risk") == {"production": 2}
    refs.write_bytes(b"")  # a snapshot lost in a power cut (it is not fsynced)
    assert reg.aliases("credit-risk") == {"production": 2}
    reg.rollback("credit-risk", reason="r")
    assert reg.aliases("credit-risk") == {"production": 1}
    assert json.loads(refs.read_bytes())["aliases"] == {"production": 1}


def test_open_registry_picks_backend_from_params_and_env(tmp_path, monkeypatch):
    from mlops.core.config import RegistryConfig
    from mlops.core.exceptions import ConfigError

    cfg = RegistryConfig(backend="local", path="reg", hub_repo_id="", aliases=("production",))
    reg = open_registry(cfg, tmp_path)
    assert isinstance(reg, LocalRegistry) and reg.root == tmp_path / "reg"
    assert reg.allowed_aliases == ("production",)
    monkeypatch.setenv("MLOPS_REGISTRY_BACKEND", "hub")
    with pytest.raises(ConfigError, match="hub_repo_id"):
        open_registry(cfg, tmp_path)
    monkeypatch.setenv("MLOPS_REGISTRY_BACKEND", "s3")
    with pytest.raises(ConfigError, match="unknown"):
        open_registry(cfg, tmp_path)


def test_import_is_cheap():
    code = ("import sys, mlops.registry, mlops.registry.local; "
            "bad = [m for m in ('skops', 'sklearn', 'huggingface_hub', 'matplotlib', "
            "'papermill', 'streamlit', 'pandas', 'yaml') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2], check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------ processes, kills, races
def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_consistent(reg: LocalRegistry, name: str = "m") -> list[ModelVersion]:
    """Every visible version is complete and verified; aliases match the ledger."""
    versions = reg.versions(name)
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    for mv in versions:
        reg.file_path(name, mv.version, "model.skops")  # raises if incomplete or changed
        reg.file_path(name, mv.version, "README.md")
    ledger = [e.to_dict() for e in reg.history(name)]
    assert [e["seq"] for e in ledger] == list(range(1, len(ledger) + 1))
    folded = Refs.fold(ledger)
    assert reg.aliases(name) == folded.aliases
    state = reg.get_state(name, "deployment")
    assert state == ((folded.state["deployment"]["value"], folded.state["deployment"]["token"])
                     if "deployment" in folded.state else (None, None))
    return versions


@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_half_a_version(tmp_path, registry_model_dir):
    root = tmp_path / "registry"
    reg = LocalRegistry(root)
    rng = random.Random(1234)
    done_seq = 0
    for _ in range(50):
        proc = _spawn("loop", root, registry_model_dir / "model.skops")
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, 0.04))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        _assert_consistent(reg)
        # Every move the writer reported as done survived the kill (no lost alias move).
        seqs = [int(line.split()[1]) for line in out.splitlines()
                if line.startswith(("promoted", "state"))]
        done_seq = max([done_seq, *seqs])
        assert len(reg.history("m")) >= done_seq
    assert len(reg.versions("m")) > 5  # the kills did land while work was being done
    staging = root / "m" / ".staging"
    _register_after_kills = reg.register("m", registry_model_dir / "model.skops", metadata={})
    assert _register_after_kills.version == len(reg.versions("m"))
    assert not any(staging.iterdir())  # leftovers of killed writers were cleaned up


@pytest.mark.slow
def test_eight_processes_register_eighty_distinct_complete_versions(tmp_path, registry_model_dir):
    root = tmp_path / "registry"
    procs = [_spawn("register", root, registry_model_dir / "model.skops", 10) for _ in range(8)]
    reported = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reported += [int(line.split()[1]) for line in out.splitlines()]
    assert sorted(reported) == list(range(1, 81))
    versions = _assert_consistent(LocalRegistry(root))
    assert len(versions) == 80


def test_two_concurrent_promotes_with_the_same_expected_version(tmp_path, registry_model_dir):
    root = tmp_path / "registry"
    reg = LocalRegistry(root)
    for _ in range(3):
        _register(reg, registry_model_dir, name="m")
    reg.promote("m", 1, "candidate", expected=None, reason="start")
    flag = tmp_path / "go"
    procs = [_spawn("promote", root, registry_model_dir / "model.skops", v, 1, flag)
             for v in (2, 3)]
    time.sleep(0.5)  # let both start and wait at the flag
    flag.touch()
    results = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert results == ["conflict", "won"]
    moves = [e for e in reg.history("m") if e.alias == "candidate"]
    assert len(moves) == 2 and moves[1].from_version == 1
    assert reg.aliases("m")["candidate"] == moves[1].to_version


# ------------------------------------------------------------------------ CLI
def test_cli_list_show_promote_rollback_history(tmp_path, registry_model_dir, capsys):
    from mlops.cli.main import main

    root = tmp_path / "registry"
    reg = LocalRegistry(root)
    _register(reg, registry_model_dir)
    _register(reg, registry_model_dir, gates=FAILED)
    _register(reg, registry_model_dir)
    params = str(Path(__file__).parents[2] / "params.yaml")
    common = ["--params", params, "--set", f"registry.path={root}"]
    assert main(["promote", "1", "--to", "production", *common]) == 0
    assert main(["promote", "2", "--to", "production", "--expected", "1", *common]) == 4
    assert "gates did not pass" in capsys.readouterr().err
    assert main(["promote", "--latest-validated", "--to", "production", "--expected", "none",
                 *common]) == 4
    assert "points to v1, not the expected nothing" in capsys.readouterr().err
    assert main(["promote", "--latest-validated", "--to", "production", *common]) == 0
    assert "production v1 -> v3" in capsys.readouterr().out
    assert main(["promote", "2", "--to", "production", "--force", *common]) == 4
    assert "--force needs --reason" in capsys.readouterr().err
    assert main(["promote", "2", "--to", "production", "--force", "--reason", "drill",
                 *common]) == 0
    assert main(["rollback", "--reason", "drill over", *common]) == 0
    assert "production v2 -> v3" in capsys.readouterr().out
    assert main(["registry", "list", *common]) == 0
    assert "credit-risk\t3 versions\tproduction=v3" in capsys.readouterr().out
    assert main(["registry", "show", *common]) == 0
    out = capsys.readouterr().out
    assert "v2\t" in out and "FAILED" in out
    assert main(["registry", "show", "credit-risk", "production", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 3
    assert main(["registry", "history", "--json", *common]) == 0
    actions = [e["action"] for e in json.loads(capsys.readouterr().out)]
    assert actions == ["promote", "promote", "force-promote", "rollback"]
    assert main(["registry", "show", "credit-risk", "9", *common]) == 4
    assert "no such version" in capsys.readouterr().err


def test_cli_rollback_with_a_stale_expected_version_is_refused(tmp_path, registry_model_dir,
                                                                capsys):
    from mlops.cli.main import main

    root = tmp_path / "registry"
    reg = LocalRegistry(root)
    for _ in range(3):
        _register(reg, registry_model_dir)
    params = str(Path(__file__).parents[2] / "params.yaml")
    common = ["--params", params, "--set", f"registry.path={root}"]
    assert main(["promote", "1", "--to", "production", *common]) == 0
    assert main(["promote", "2", "--to", "production", *common]) == 0
    # An operator decides to roll back v2; meanwhile CD promotes v3.
    assert main(["promote", "3", "--to", "production", "--expected", "2", *common]) == 0
    capsys.readouterr()
    assert main(["rollback", "--expected", "2", "--reason", "v2 is bad", *common]) == 4
    assert "points to v3, not the expected v2" in capsys.readouterr().err
    assert reg.aliases("credit-risk")["production"] == 3  # the promote was not undone
    assert main(["rollback", "--expected", "v3", "--reason", "v3 is bad", *common]) == 0
    assert "production v3 -> v2" in capsys.readouterr().out
    assert main(["rollback", "--expected", "nine", *common]) == 4
    assert "invalid version" in capsys.readouterr().err
