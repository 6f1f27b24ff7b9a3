"""Many models in one repository: discovery, --model, and which models a change touches."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops.cli.common import resolve_model
from mlops.cli.main import build_parser, main
from mlops.core.exceptions import ConfigError
from mlops.core.models import find_model, model_files
from mlops.pipeline.models import changed_models

ROOT = Path(__file__).resolve().parents[2]


def _params(path: Path, name: str, data: str) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"]["name"] = name
    params["data"]["path"] = data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git repository with two models and the files their runs read."""
    _params(tmp_path / "params.yaml", "first", "data/first.csv")
    _params(tmp_path / "models" / "second" / "params.yaml", "second", "data/second.csv")
    for rel in ("data/first.csv", "models/second/data/second.csv", "data/schema.yaml",
                "models/second/data/schema.yaml", "requirements.lock",
                "mlops/stages/training.py", "notebooks/02_train.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    return tmp_path


def test_every_params_file_is_a_model_found_by_its_name(repo: Path) -> None:
    assert model_files(repo) == {"first": repo / "params.yaml",
                                 "second": repo / "models/second/params.yaml"}
    assert find_model(repo, "second") == repo / "models/second/params.yaml"
    with pytest.raises(ConfigError, match=r"no model named 'third'.*\['first', 'second'\]"):
        find_model(repo, "third")


def test_two_files_naming_one_model_are_refused(repo: Path) -> None:
    _params(repo / "models" / "copy" / "params.yaml", "second", "data/x.csv")
    with pytest.raises(ConfigError, match="both name the model 'second'"):
        model_files(repo)


def test_a_change_touches_only_the_models_that_read_it(repo: Path) -> None:
    assert changed_models(repo, "HEAD") == set()
    (repo / "models/second/data/second.csv").write_text("new rows")
    assert changed_models(repo, "HEAD") == {"second"}
    (repo / "models/second/data/second.csv").write_text("models/second/data/second.csv")
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "\n# note\n")
    assert changed_models(repo, "HEAD") == {"first"}
    subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=repo, check=True)
    (repo / "mlops/stages/new_stage.py").write_text("# untracked model code")
    assert changed_models(repo, "HEAD") == {"first", "second"}, "model code is every model's"


def test_models_command_prints_a_ci_matrix_and_model_selects_the_params(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(repo)
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "first", "params": "params.yaml"},
        {"name": "second", "params": "models/second/params.yaml"}]
    (repo / "models/second/data/second.csv").write_text("changed")
    assert main(["models", "--changed-since", "HEAD", "--json"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["second"]
    # --model NAME stands for that model's params file, in every command that takes params.
    for command in (["run"], ["registry", "list"], ["deploy", "status"]):
        args = build_parser().parse_args([*command, "--model", "second"])
        resolve_model(args)
        assert Path(args.params) == repo / "models/second/params.yaml"
    assert main(["validate", "--model", "nope", "--data", "x.csv"]) == ConfigError.exit_code


def test_report_baseline_keeps_each_models_newest_report(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for run_id, name, text in [("20260101T000000Z-a", "first", "old"),
                               ("20260102T000000Z-b", "first", "new"),
                               ("20260101T000000Z-c", "second", "only"),
                               ("20260103T000000Z-d", "second", None)]:  # failed: no report
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "manifest.json").write_text(
            json.dumps({"params": {"model": {"name": name}}}))
        if text:
            (runs / run_id / "report.md").write_text(text)
    out = tmp_path / "reports"
    assert main(["report", "baseline", "--runs-dir", str(runs), "--out", str(out)]) == 0
    assert (out / "first" / "latest.md").read_text() == "new"
    assert (out / "second" / "latest.md").read_text() == "only"
    assert main(["report", "baseline", "--runs-dir", str(tmp_path / "none")]) == 2
