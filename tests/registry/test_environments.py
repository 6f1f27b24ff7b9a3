"""Environments (staging, then production) and the actor every ledger entry records."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import yaml

from mlops.cli.main import main
from mlops.core.exceptions import RegistryError
from mlops.registry import ENVIRONMENTS, default_actor
from mlops.registry.local import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]
PASSED = [{"gate": "min_accuracy", "value": 0.9, "threshold": 0.7, "passed": True}]
NAME = "demo"


@pytest.fixture
def registry(tmp_path: Path, registry_model_dir: Path, monkeypatch) -> Path:
    """A registry with v1 production and v2 candidate, as two runs of `mlops run` leave it."""
    for var in ("MLOPS_ACTOR", "GITHUB_ACTOR", "GITHUB_JOB"):
        monkeypatch.delenv(var, raising=False)
    reg = LocalRegistry(tmp_path / "registry", aliases=("production", "candidate", "staging"))
    for _ in range(2):
        reg.publish(NAME, registry_model_dir / "model.skops",
                    metadata={"gates": PASSED, "gates_passed": True}, actor="ci")
    assert reg.aliases(NAME) == {"production": 1, "candidate": 2}
    return tmp_path / "registry"


def _mlops(registry: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--set", f"registry.path={registry}"])
    return code, out.getvalue(), err.getvalue()


def test_a_version_moves_from_staging_to_production_with_who_when_why(registry, monkeypatch):
    code, out, _ = _mlops(registry, "registry", "promote", NAME, "candidate", "--to", "staging",
                          "--actor", "alice", "--reason", "CD: CI passed on main")
    assert code == 0 and "staging nothing -> v2 by alice" in out
    # production takes only what staging holds: v1 is refused, naming the way forward
    code, _, err = _mlops(registry, "registry", "promote", NAME, "1", "--to", "production",
                          "--reason", "skip staging")
    assert code == RegistryError.exit_code and "'staging' holds v2" in err
    monkeypatch.setenv("MLOPS_ACTOR", "bob")
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")  # an operator's name wins over CI's
    code, out, _ = _mlops(registry, "registry", "promote", NAME, "staging", "--to",
                          "production", "--reason", "checked on staging")
    assert code == 0 and "production v1 -> v2 by bob" in out

    reg = LocalRegistry(registry, aliases=("production", "candidate", "staging"))
    staging, production = reg.history(NAME)[-2:]
    assert (staging.alias, staging.to_version, staging.actor, staging.reason) == (
        "staging", 2, "alice", "CD: CI passed on main")
    assert staging.evidence["from_environment"] == "candidate"
    assert (production.alias, production.from_version, production.to_version) == (
        "production", 1, 2)
    assert production.actor == "bob" and production.reason == "checked on staging"
    assert production.evidence == {**production.evidence, "from_environment": "staging",
                                   "from_version": 2, "gates_passed": True}
    assert production.time.endswith("+00:00")

    code, out, _ = _mlops(registry, "registry", "history", NAME)
    assert "production: v1 -> v2 (from staging)\tchecked on staging" in out
    assert "\tbob\t" in out and "\talice\t" in out
    code, out, _ = _mlops(registry, "registry", "list")
    assert "\tcandidate=v2, production=v2, staging=v2\tstaging v2 -> production v2" in out
    code, out, _ = _mlops(registry, "registry", "list", "--json")
    assert json.loads(out)[0]["environments"] == {"staging": 2, "production": 2}


def test_cd_step_is_idempotent_and_force_needs_a_reason(registry):
    args = ("registry", "promote", NAME, "candidate", "--to", "staging", "--if-new")
    assert _mlops(registry, *args)[0] == 0
    code, out, _ = _mlops(registry, *args)  # a run that reused its version: nothing to do
    assert code == 0 and "nothing to move on to staging" in out
    reg = LocalRegistry(registry, aliases=("production", "candidate", "staging"))
    assert [e.alias for e in reg.history(NAME)] == ["production", "candidate", "staging"]
    code, _, err = _mlops(registry, "registry", "promote", NAME, "1", "--to", "staging",
                          "--force")
    assert code == RegistryError.exit_code and "--force needs --reason" in err
    code, _, err = _mlops(registry, "registry", "promote", NAME, "2", "--to", "qa")
    assert code == RegistryError.exit_code and "not an environment" in err
    # a hotfix may skip staging, with a recorded reason
    code, out, _ = _mlops(registry, "registry", "promote", NAME, "candidate", "--to",
                          "production", "--force", "--reason", "hotfix")
    assert code == 0 and reg.aliases(NAME)["production"] == 2
    assert ENVIRONMENTS == ("staging", "production")


def test_the_actor_comes_from_the_operator_then_ci_then_the_os_user(monkeypatch):
    for var in ("MLOPS_ACTOR", "GITHUB_ACTOR", "GITHUB_JOB"):
        monkeypatch.delenv(var, raising=False)
    import getpass

    assert default_actor() == getpass.getuser()
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    assert default_actor() == "octocat"
    monkeypatch.setenv("MLOPS_ACTOR", "  dana  ")
    assert default_actor() == "dana"
    monkeypatch.setenv("MLOPS_ACTOR", "")
    assert default_actor() == "octocat"


def test_rollback_and_deploy_take_an_actor(registry):
    code, _, _ = _mlops(registry, "promote", "2", "--to", "production", "--model", NAME,
                        "--actor", "erin", "--reason", "by hand")
    assert code == 0
    code, _, _ = _mlops(registry, "rollback", "--model", NAME, "--actor", "frank",
                        "--reason", "error rate up")
    assert code == 0
    reg = LocalRegistry(registry, aliases=("production", "candidate", "staging"))
    assert [e.actor for e in reg.history(NAME)][-2:] == ["erin", "frank"]
    code, out, _ = _mlops(registry, "deploy", "start", "candidate", "--model", NAME,
                          "--strategy", "canary", "--actor", "gina")
    assert code == 0 and json.loads(out)["deployment"]["candidate"] == 2
    assert reg.history(NAME)[-1].actor == "gina"


def test_cd_releases_to_staging_and_production_waits_for_its_environment():
    # cd.yml calls cd-model.yml once per model; these are that call's two jobs.
    doc = yaml.safe_load((ROOT / ".github/workflows/cd-model.yml").read_text(encoding="utf-8"))
    staging, production = doc["jobs"]["deploy"], doc["jobs"]["production"]
    assert staging["environment"] == "staging" and production["environment"] == "production"
    assert "deploy" in production["needs"]
    runs = "\n".join(s.get("run", "") for s in staging["steps"])
    assert "mlops registry advance candidate --to staging --if-new" in " ".join(runs.split())
    assert "deploy start" not in runs
    assert any("deploy start" in s.get("run", "") for s in production["steps"])


def test_codeowners_is_a_commented_example_per_model():
    text = (ROOT / ".github/CODEOWNERS").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(line.startswith("#") for line in lines)
    assert "/models/" in text and "production" in text
