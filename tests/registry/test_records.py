"""Registry records that point outside the registry, and version numbers of any size.

Everything read back from storage can have been edited by hand: ``version.json`` naming a
file outside its folder, a ledger line with an alias like ``../../x``, a version number of
5,000 digits. Each is refused with an IntegrityError (or RegistryError for user input)
naming the file and the field, through the registry API and the command line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops.cli.main import main
from mlops.core.exceptions import IntegrityError, RegistryError
from mlops.registry.local import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]
PASSED = [{"gate": "min_roc_auc", "value": 0.81, "threshold": 0.7, "passed": True}]


def _register(reg, model_dir: Path, name: str = "credit-risk"):
    return reg.register(name, model_dir / "model.skops",
                        metadata={"gates": PASSED, "gates_passed": True},
                        files={"README.md": model_dir / "README.md"})


def _edit_version_json(reg: LocalRegistry, number: int, **changes) -> None:
    path = reg.root / "credit-risk" / "versions" / str(number) / "version.json"
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.chmod(0o644)
    path.write_text(json.dumps(doc))


def _cli(root: Path, *args: str) -> int:
    return main([*args, "--params", str(ROOT / "params.yaml"), "--set", f"registry.path={root}"])


# ------------------------------------------------------ records that point outside
def test_model_file_outside_the_version_folder_is_refused(tmp_path, registry_model_dir, capsys):
    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    # A real model with the recorded hash, four levels up: loading it would "work".
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(registry_model_dir / "model.skops", elsewhere / "any.skops")
    _edit_version_json(reg, 1, model_file="../../../../elsewhere/any.skops")

    with pytest.raises(IntegrityError, match=r"version\.json.*'model_file'") as info:
        reg.load_model("credit-risk", "production")
    assert info.value.fields["field"] == "model_file"
    with pytest.raises(IntegrityError, match="model_file"):
        reg.get("credit-risk", 1)
    assert _cli(reg.root, "registry", "show", "credit-risk", "1") == 4
    err = capsys.readouterr().err
    assert "model_file" in err and "version.json" in err and len(err.strip().splitlines()) == 1
    assert _cli(reg.root, "registry", "show") == 4
    assert "model_file" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["../README.md", "/etc/passwd", "a/../../b", "", ".hidden"])
def test_extra_file_names_in_a_record_are_checked(tmp_path, registry_model_dir, bad):
    reg = LocalRegistry(tmp_path / "registry")
    mv = _register(reg, registry_model_dir)
    _edit_version_json(reg, 1, files={bad: mv.files["README.md"]})
    with pytest.raises(IntegrityError, match=r"'files'") as info:
        reg.get("credit-risk", 1)
    assert info.value.fields["field"] == "files"


def test_model_file_must_be_a_plain_name(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    sub = reg.root / "credit-risk" / "versions" / "1" / "sub"
    sub.mkdir()
    shutil.copyfile(registry_model_dir / "model.skops", sub / "model.skops")
    _edit_version_json(reg, 1, model_file="sub/model.skops")
    with pytest.raises(IntegrityError, match="model_file"):
        reg.load_model("credit-risk", 1)


def test_symlink_out_of_the_version_folder_is_refused(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    target = tmp_path / "outside.skops"
    shutil.copyfile(registry_model_dir / "model.skops", target)
    model = reg.root / "credit-risk" / "versions" / "1" / "model.skops"
    model.unlink()
    model.symlink_to(target)
    with pytest.raises(IntegrityError, match="outside"):
        reg.load_model("credit-risk", 1)


def test_hand_edited_ledger_alias_is_refused(tmp_path, registry_model_dir, capsys):
    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    ledger = reg.root / "credit-risk" / "ledger.jsonl"
    entry = json.loads(ledger.read_text().splitlines()[0])
    entry.update(seq=2, alias="../../evil")
    with open(ledger, "a") as fh:
        fh.write(json.dumps(entry) + "\n")
    with pytest.raises(IntegrityError, match=r"ledger\.jsonl.*'alias'") as info:
        reg.aliases("credit-risk")
    assert info.value.fields["field"] == "alias"
    with pytest.raises(IntegrityError, match="alias"):
        reg.history("credit-risk")
    assert _cli(reg.root, "registry", "history") == 4
    assert "ledger.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("field, value", [("to_version", "9" * 5000), ("to_version", 0),
                                          ("seq", "x"), ("action", "delete-everything")],
                         ids=["huge-version", "zero-version", "seq", "action"])
def test_hand_edited_ledger_values_are_refused(tmp_path, registry_model_dir, field, value):
    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    ledger = reg.root / "credit-risk" / "ledger.jsonl"
    entry = json.loads(ledger.read_text())
    entry[field] = value
    ledger.write_text(json.dumps(entry) + "\n")
    (reg.root / "credit-risk" / "refs.json").unlink()
    with pytest.raises(IntegrityError, match=field):
        reg.aliases("credit-risk")


def test_hand_edited_refs_snapshot_falls_back_to_the_ledger(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    reg.promote("credit-risk", 1, "production", expected=None, reason="r")
    refs = reg.root / "credit-risk" / "refs.json"
    snapshot = json.loads(refs.read_text())
    snapshot["aliases"] = {"../x": 1}
    refs.write_text(json.dumps(snapshot))
    assert reg.aliases("credit-risk") == {"production": 1}  # the ledger is the truth


# ------------------------------------------------------ huge version numbers
@pytest.mark.parametrize("version", [10**5000, 10**10, "9" * 5000, "v" + "1" * 20],
                         ids=["int-5000-digits", "int-11-digits", "str-5000-digits", "v20"])
def test_huge_version_numbers_are_refused_with_the_registry_error(tmp_path, registry_model_dir,
                                                                  version):
    from mlops.registry import parse_version

    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    with pytest.raises(RegistryError, match="invalid version") as info:
        parse_version(version)
    assert len(str(info.value)) < 300
    with pytest.raises(RegistryError, match="invalid version"):
        reg.get("credit-risk", version)
    with pytest.raises(RegistryError, match="invalid version"):
        reg.resolve("credit-risk", version)


def test_huge_version_in_a_record_or_folder_name_is_refused(tmp_path, registry_model_dir):
    reg = LocalRegistry(tmp_path / "registry")
    _register(reg, registry_model_dir)
    versions = reg.root / "credit-risk" / "versions"
    (versions / ("9" * 5000)[:200]).mkdir()  # a stray folder with a silly number
    (versions / "\u00b2").mkdir()  # a digit to str.isdigit, not to int()
    assert [v.version for v in reg.versions("credit-risk")] == [1]
    _edit_version_json(reg, 1, version="9" * 5000)
    with pytest.raises(IntegrityError, match="version"):
        reg.get("credit-risk", 1)


