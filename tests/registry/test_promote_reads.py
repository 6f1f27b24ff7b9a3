"""`mlops registry promote` reads the aliases once per move: the read the write makes."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from mlops.cli.main import main
from mlops.registry import local
from mlops.registry.local import LocalRegistry

PASSED = [{"gate": "min_accuracy", "value": 0.9, "threshold": 0.7, "passed": True}]
NAME = "demo"
ALIASES = ("production", "candidate", "staging")


@pytest.fixture
def registry(tmp_path: Path, registry_model_dir: Path) -> Path:
    reg = LocalRegistry(tmp_path / "registry", aliases=ALIASES)
    for _ in range(2):  # v1 production, v2 candidate
        reg.publish(NAME, registry_model_dir / "model.skops",
                    metadata={"gates": PASSED, "gates_passed": True}, actor="ci")
    return tmp_path / "registry"


@pytest.fixture
def refs_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = local._load_refs

    def counted(model_dir, name):  # noqa: ANN001, ANN202
        reads.append(name)
        return real(model_dir, name)

    monkeypatch.setattr(local, "_load_refs", counted)
    return reads


def _promote(registry: Path, *argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["registry", "promote", NAME, *argv, "--set",
                     f"registry.path={registry}"]) == 0
    return out.getvalue()


def test_one_move_reads_the_aliases_once(registry: Path, refs_reads: list[str]) -> None:
    out = _promote(registry, "candidate", "--to", "staging", "--if-new", "--reason", "CD")
    assert "staging nothing -> v2" in out
    assert refs_reads == [NAME]
    refs_reads.clear()
    out = _promote(registry, "staging", "--to", "production", "--reason", "checked")
    assert "production v1 -> v2" in out
    assert refs_reads == [NAME]
    assert LocalRegistry(registry, aliases=ALIASES).aliases(NAME) == {
        "production": 2, "candidate": 2, "staging": 2}


def test_nothing_to_move_reads_once_and_writes_nothing(registry: Path,
                                                       refs_reads: list[str]) -> None:
    _promote(registry, "candidate", "--to", "staging", "--reason", "CD")
    history = LocalRegistry(registry, aliases=ALIASES).history(NAME)
    refs_reads.clear()
    out = _promote(registry, "candidate", "--to", "staging", "--if-new")
    assert "nothing to move on to staging (v2; staging holds v2)" in out
    assert refs_reads == [NAME]
    assert LocalRegistry(registry, aliases=ALIASES).history(NAME) == history
