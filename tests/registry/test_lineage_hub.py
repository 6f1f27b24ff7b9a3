"""Lineage on the Hub backend, against the local Hub-protocol server (tests/hubserver.py).

A run registered with ``registry.backend: hub`` keeps its evidence in the model
repository and its training data as a tagged revision of the dataset repository
``<repo_id>-data``; both come back byte for byte, and identical data is stored once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest

from mlops.core.lineage import file_sha256

pytest.importorskip("huggingface_hub")

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ("01_validate_data.ipynb", "manifest.json", "README.md", "evaluation.json",
            "plots/roc.png")


def _run_folder(folder: Path, model_dir: Path, data: Path, run_id: str) -> dict:
    """A finished run's folder as the pipeline leaves it, and its manifest."""
    folder.mkdir(parents=True)
    shutil.copyfile(model_dir / "model.skops", folder / "model.skops")
    shutil.copyfile(model_dir / "README.md", folder / "README.md")
    (folder / "evaluation.json").write_text(json.dumps(
        {"metrics": {"accuracy": 0.9}, "gates": [{"gate": "min_accuracy", "passed": True}],
         "passed": True}), encoding="utf-8")
    (folder / "01_validate_data.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {"run": run_id}, "nbformat": 4, "nbformat_minor": 5}),
        encoding="utf-8")
    (folder / "plots").mkdir()
    (folder / "plots" / "roc.png").write_bytes(b"\x89PNG\r\n\x1a\n" + run_id.encode())
    manifest = {
        "run_id": run_id, "data": {"sha256": file_sha256(data)},
        "git": {"commit": "0" * 40, "dirty": False, "dirty_files": []},
        "params": {"data": {"path": str(data), "target": "target"}},
        "packages": {"scikit-learn": "x"}, "python": "3.11", "seed": 0,
        "stages": {"validate": {"notebook": "01_validate_data.ipynb",
                                "sha256": file_sha256(folder / "01_validate_data.ipynb")}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


@pytest.fixture()
def hub_params(hub_server, tmp_path, monkeypatch):
    """Params whose registry is a fresh repository on the local Hub server, and the CLI's
    arguments that select the same."""
    from sklearn.datasets import load_iris

    from mlops.core.config import load_params

    data = tmp_path / "data.csv"
    load_iris(as_frame=True).frame.to_csv(data, index=False)
    repo = f"org/lineage-{uuid.uuid4().hex[:8]}"
    overrides = ["registry.backend=hub", f"registry.hub_repo_id={repo}",
                 f"registry.path={tmp_path / 'registry'}", f"data.path={data}"]
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.delenv("MLOPS_REGISTRY_BACKEND", raising=False)
    monkeypatch.delenv("MLOPS_HUB_REPO_ID", raising=False)
    args = ["--params", str(ROOT / "params.yaml"), *(a for o in overrides for a in ("--set", o))]
    return load_params(ROOT / "params.yaml", overrides), args, data


def test_hub_stores_and_restores_evidence_and_data_snapshots(
        hub_params, hub_server, registry_model_dir, tmp_path, capsys):
    from hubextra import commits_on_main, files_at_head

    from mlops.cli.main import main
    from mlops.pipeline.registration import register_run
    from mlops.registry.hub import HubRegistry
    from mlops.registry.records import lineage_rows
    from mlops.stages.model_card import without_lineage

    params, args, data = hub_params
    name = params.model.name
    manifest = _run_folder(tmp_path / "runs" / "a", registry_model_dir, data, "run-a")
    done = register_run(params, tmp_path / "runs" / "a", manifest)
    assert done["backend"] == "hub" and done["version"] == 1

    # A fresh client with an empty cache: everything comes from the server.
    reg = HubRegistry(params.registry.hub_repo_id, endpoint=hub_server.url,
                      cache_dir=tmp_path / "fresh-cache")
    v1 = reg.get(name, 1)
    snapshot = v1.metadata["lineage"]["data_snapshot"]
    sha = file_sha256(data)
    assert snapshot["stored"] and snapshot["where"] == f"blobs/sha256/{sha}"
    data_repo = f"dataset/{params.registry.hub_repo_id}-data"
    tag_commit = hub_server.state.repos[data_repo].tags[f"sha256-{sha}"]
    assert snapshot["repo"] == f"datasets/{params.registry.hub_repo_id}-data"
    assert snapshot["revision"] == tag_commit
    assert snapshot["url"].endswith(f"/blob/{tag_commit}/blobs/sha256/{sha}")
    # The data lives in the dataset repository, not in the model repository.
    assert not any(p.startswith("blobs/") for p in
                   files_at_head(hub_server, f"model/{params.registry.hub_repo_id}"))

    # `mlops registry show NAME 1 --evidence DIR` fetches every stored file, hash-checked.
    out = tmp_path / "evidence"
    assert main(["registry", "show", name, "1", "--evidence", str(out), *args]) == 0
    printed = capsys.readouterr().out
    for filename in EVIDENCE:
        local = out / filename
        if filename != "README.md":  # the card gained its lineage section, checked below
            assert local.read_bytes() == (tmp_path / "runs" / "a" / filename).read_bytes()
        assert hashlib.sha256(local.read_bytes()).hexdigest() == v1.files[filename]
        assert f"{filename}\t{v1.files[filename][:12]}" in printed

    # The registered card says where each piece of lineage lives, with links; the rest of
    # it is the run's card byte for byte.
    card = (out / "README.md").read_text(encoding="utf-8")
    assert without_lineage(card) == (tmp_path / "runs" / "a" / "README.md").read_text()
    assert f"]({snapshot['url']})" in card and tag_commit[:12] in card
    assert "[`manifest.json`](manifest.json)" in card
    assert f"sha256 {v1.files['manifest.json'][:12]}" in card
    assert "commit 000000000000 (clean)" in card
    # The app's rows link to the Hub's file view at the version's tagged commit.
    base = reg.version_url(name, 1)
    assert base == (f"{hub_server.url}/{params.registry.hub_repo_id}/blob/"
                    f"{reg.revision(name, 1)}/{name}/versions/1/")
    rows = {r.where: r for r in lineage_rows(v1, file_base=base)}
    assert rows["`plots/roc.png`"].link == base + "plots/roc.png"
    assert rows["`README.md`"].value == f"sha256 {v1.files['README.md'][:12]}…"

    # The snapshot restores byte for byte after the working data has changed.
    original = data.read_bytes()
    data.write_text("replaced\n")
    restored = reg.blob_path(snapshot["where"])
    assert restored.read_bytes() == original
    assert file_sha256(restored) == v1.metadata["lineage"]["data_sha256"] == sha

    # The same data registered again is not stored again: no new dataset commit or file.
    data.write_bytes(original)
    commits = commits_on_main(hub_server, data_repo)
    manifest = _run_folder(tmp_path / "runs" / "b", registry_model_dir, data, "run-b")
    assert register_run(params, tmp_path / "runs" / "b", manifest)["version"] == 2
    assert commits_on_main(hub_server, data_repo) == commits
    assert [p for p in files_at_head(hub_server, data_repo) if p.startswith("blobs/")] == [
        f"blobs/sha256/{sha}"]
    assert reg.get(name, 2).metadata["lineage"]["data_snapshot"] == snapshot

    # New data is a new revision of the dataset repository, the old one unchanged.
    data.write_bytes(original + b"5.0,3.0,1.5,0.2,0\n")
    manifest = _run_folder(tmp_path / "runs" / "c", registry_model_dir, data, "run-c")
    register_run(params, tmp_path / "runs" / "c", manifest)
    third = reg.get(name, 3).metadata["lineage"]["data_snapshot"]
    assert third["revision"] != snapshot["revision"]
    assert commits_on_main(hub_server, data_repo) == commits + 1
    assert reg.blob_path(snapshot["where"]).read_bytes() == original


def test_a_tampered_snapshot_on_the_hub_is_refused(hub_params, hub_server, registry_model_dir,
                                                   tmp_path):
    from mlops.core.exceptions import IntegrityError
    from mlops.pipeline.registration import register_run
    from mlops.registry.hub import HubRegistry

    params, _, data = hub_params
    manifest = _run_folder(tmp_path / "runs" / "a", registry_model_dir, data, "run-a")
    register_run(params, tmp_path / "runs" / "a", manifest)
    where = f"blobs/sha256/{file_sha256(data)}"
    repo = hub_server.state.repos[f"dataset/{params.registry.hub_repo_id}-data"]
    commit = repo.tags[f"sha256-{file_sha256(data)}"]
    parent, files = repo.commits[commit]
    repo.commits[commit] = (parent, {**files, where: files[where] + b"1,2,3,4,0\n"})
    reg = HubRegistry(params.registry.hub_repo_id, endpoint=hub_server.url,
                      cache_dir=tmp_path / "fresh-cache")
    with pytest.raises(IntegrityError, match=where):
        reg.blob_path(where)


def test_the_card_says_why_data_was_not_kept(tmp_path, registry_model_dir):
    from mlops.core.config import load_params
    from mlops.pipeline.registration import register_run
    from mlops.registry import open_registry
    from mlops.registry.records import lineage_rows

    data = tmp_path / "data.csv"
    data.write_text("a,target\n1,0\n2,1\n")
    params = load_params(ROOT / "params.yaml", [
        "registry.backend=local", f"registry.path={tmp_path / 'registry'}", f"data.path={data}",
        "registry.snapshot_data=false", "registry.no_snapshot_reason=personal data, kept 30 days"])
    manifest = _run_folder(tmp_path / "run", registry_model_dir, data, "run-a")
    register_run(params, tmp_path / "run", manifest)
    registry = open_registry(params.registry, params.root)
    mv = registry.get(params.model.name, 1)
    card = registry.file_path(mv.name, 1, "README.md").read_text(encoding="utf-8")
    assert "| Data snapshot | not kept | personal data, kept 30 days |" in card
    assert not (tmp_path / "registry" / "blobs").exists()
    assert registry.version_url(mv.name, 1) is None  # a folder has no web view
    rows = lineage_rows(mv)
    assert all(r.link is None for r in rows)
    assert [r.item for r in rows][:6] == ["Data", "Data snapshot", "Code", "Params",
                                           "Packages", "Model"]


def test_the_lineage_section_is_replaced_not_repeated():
    from mlops.registry.records import LineageRow
    from mlops.stages.model_card import with_lineage, without_lineage

    card = "---\nx: 1\n---\n\n# m\n\ntext | with a pipe\n"
    once = with_lineage(card, [LineageRow("Data", "sha256 ab…", "`d.csv`")])
    twice = with_lineage(once, [LineageRow("Evidence", "a|b", "`r.md`", "r.md")])
    assert without_lineage(once) == without_lineage(twice) == card
    assert twice.count("## Lineage") == 1 and "| Evidence | a\\|b | [`r.md`](r.md) |" in twice
    assert "`d.csv`" not in twice
