"""The pull-request report against production: where production is read from (read-only),
what the report says about it, the base-report fallback, and images linked absolutely."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops.cli.main import main
from mlops.core.config import load_params, to_dict
from mlops.core.data import read_csv, split
from mlops.core.exceptions import ConfigError, RegistryError
from mlops.core.lineage import file_sha256
from mlops.core.modelio import save_model
from mlops.core.params_diff import params_diff
from mlops.pipeline.compare import production_comparison
from mlops.registry import open_champion_registry
from mlops.registry.local import LocalRegistry
from mlops.stages import evaluation as ev
from mlops.stages import plots
from mlops.stages.markdown_links import absolute_image_links, image_links
from mlops.stages.outputs import write_outputs
from mlops.stages.pr_report import read_report_summary, render_report
from mlops.stages.training import train

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
ABSOLUTE = re.compile(r"^https?://")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Production (C=1.0) and a pull request's model (C=0.3), scored like the stage does."""
    params = load_params(ROOT / "params.yaml", ["evaluation.bootstrap_samples=60"])
    pr_params = load_params(ROOT / "params.yaml", [
        "evaluation.bootstrap_samples=60", "model.hyperparameters.logistic_regression.C=0.3"])
    frame = read_csv(params.resolve(params.data.path))
    train_frame, test_frame = split(frame, params.data.target, test_size=params.data.test_size,
                                    seed=params.seed)
    production, candidate = train(params, train_frame), train(pr_params, train_frame)
    folder = tmp_path_factory.mktemp("models")
    save_model(production, folder / "model.skops")
    result = ev.evaluate(candidate, test_frame, pr_params, champion=production)
    alone = ev.evaluate(candidate, test_frame, pr_params)
    return dataclasses.make_dataclass("M", ["params", "pr_params", "production", "candidate",
                                            "test", "folder", "result", "alone"])(
        params, pr_params, production, candidate, test_frame, folder, result, alone)


def _registry(path: Path, models, *, data_sha: str | None = None, commit: str = "abc123",
              params=None) -> LocalRegistry:
    reg = LocalRegistry(path)
    lineage = {"params": to_dict(params or models.params), "run_id": "prod-run",
               "git_commit": commit,
               "data_sha256": data_sha or file_sha256(models.params.resolve("data/german.csv"))}
    reg.register("credit-risk", models.folder / "model.skops",
                 metadata={"gates_passed": True, "lineage": lineage,
                           "metrics": {"accuracy": 0.751, "roc_auc": 0.77}})
    reg.promote("credit-risk", 1, "production", expected=None, reason="first release")
    return reg


# ------------------------------------------------------------------ the champion registry
def test_champion_registry_falls_back_to_the_params_registry(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("MLOPS_CHAMPION_REGISTRY", raising=False)
    monkeypatch.setenv("MLOPS_REGISTRY_PATH", str(tmp_path / "own"))
    reg = open_champion_registry(load_params(ROOT / "params.yaml"))
    # Named as configured: the report never quotes where a run's folders live.
    assert reg.source == "local folder (registry.path)" and reg.backend == "local"
    assert reg.root == tmp_path / "own"


@pytest.mark.slow
def test_champion_registry_from_a_folder_is_read_only(monkeypatch, tmp_path, models) -> None:
    _registry(tmp_path / "prod", models)
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", str(tmp_path / "prod"))
    reg = open_champion_registry(models.params)
    assert reg.aliases("credit-risk") == {"production": 1}
    assert reg.load_model("credit-risk", "production") is not None
    before = (tmp_path / "prod" / "credit-risk" / "ledger.jsonl").read_bytes()
    for call in (lambda: reg.promote("credit-risk", 1, "candidate", expected=None),
                 lambda: reg.rollback("credit-risk"),
                 lambda: reg.register("credit-risk", models.folder / "model.skops"),
                 lambda: reg.set_state("credit-risk", "x", {}, expected=None)):
        with pytest.raises(RegistryError, match="read-only"):
            call()
    assert (tmp_path / "prod" / "credit-risk" / "ledger.jsonl").read_bytes() == before


@pytest.mark.parametrize("spec", ["hub:", "hub:noslash", "hub:a/b/c", "/no/such/registry"])
def test_champion_registry_spec_is_checked(monkeypatch, spec) -> None:
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", spec)
    with pytest.raises(ConfigError, match="MLOPS_CHAMPION_REGISTRY"):
        open_champion_registry(load_params(ROOT / "params.yaml"))


def test_champion_from_a_public_hub_repo_needs_no_token(monkeypatch, tmp_path, models,
                                                        hub_server) -> None:
    from mlops.pipeline.registration import load_champion
    from mlops.registry.hub import HubRegistry

    writer = HubRegistry("acme/prod-registry", endpoint=hub_server.url, token="hf_writer",
                         cache_dir=tmp_path / "w")
    writer.register("credit-risk", models.folder / "model.skops",
                    metadata={"gates_passed": True, "lineage": {"params": to_dict(models.params)}})
    writer.promote("credit-risk", 1, "production", expected=None, reason="release")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", "hub:acme/prod-registry")
    calls = len(hub_server.calls)
    model, version = load_champion(models.pr_params)
    assert version.version == 1 and model is not None
    assert not [c for c in hub_server.calls[calls:] if c[0] == "POST"], "reads only"


def test_an_unreadable_champion_registry_is_reported_not_fatal(monkeypatch, models) -> None:
    """CI's comparison degrades (the report says why); CD's own registry stays strict."""
    from mlops.core.exceptions import UnavailableError
    from mlops.pipeline.registration import load_champion

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", "hub:acme/unreachable")
    assert load_champion(models.pr_params) == (None, None)
    production = production_comparison(models.pr_params, None, result=models.alone)
    assert "unreachable" in production["error"] or "connect" in production["error"].lower()
    text = render_report(models.alone, production=production)
    assert "Production could not be read from the registry `hub:acme/unreachable`" in text
    monkeypatch.delenv("MLOPS_CHAMPION_REGISTRY")
    monkeypatch.setenv("MLOPS_REGISTRY_BACKEND", "hub")
    monkeypatch.setenv("MLOPS_HUB_REPO_ID", "acme/unreachable")
    with pytest.raises(UnavailableError):
        load_champion(models.pr_params)


# ------------------------------------------------------------------ the comparison
def test_paired_delta_intervals(models) -> None:
    intervals = models.result["champion"]["difference_intervals"]
    assert set(intervals) == {"accuracy", "f1", "roc_auc", "brier"}
    for metric, ci in intervals.items():
        assert ci["low"] <= models.result["champion"]["difference"][metric] <= ci["high"]
        assert ci["level"] == 0.95
    same = ev.evaluate(models.production, models.test, models.params,
                       champion=models.production)["champion"]["difference_intervals"]
    assert all(ci["low"] == ci["high"] == 0 for ci in same.values())


def test_params_diff_lists_changes_and_ignores_where_state_lives() -> None:
    prod = {"model": {"hyperparameters": {"lr": {"C": 1.0}}}, "seed": 42,
            "registry": {"backend": "hub"}, "monitoring": {"log_path": "a", "min_samples": 1},
            "evaluation": {"gates": {"min_f1": 0.7}}}
    ours = {"model": {"hyperparameters": {"lr": {"C": 0.3}}}, "seed": 42.0,
            "registry": {"backend": "local"}, "monitoring": {"log_path": "b", "min_samples": 1},
            "evaluation": {"gates": {"min_f1": 0.7, "max_brier": 0.2}}}
    assert params_diff(prod, ours) == [
        {"key": "evaluation.gates.max_brier", "production": None, "candidate": 0.2},
        {"key": "model.hyperparameters.lr.C", "production": 1.0, "candidate": 0.3}]


def test_report_against_production_shows_deltas_params_data_and_fairness(
        monkeypatch, tmp_path, models) -> None:
    _registry(tmp_path / "prod", models)
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", str(tmp_path / "prod"))
    version = open_champion_registry(models.pr_params).resolve("credit-risk", "production")
    production = production_comparison(models.pr_params, version, result=models.result)
    assert production["params"] == [{"key": "model.hyperparameters.logistic_regression.C",
                                     "production": 1.0, "candidate": 0.3}]
    assert production["data"]["status"] == "compared"
    assert production["data"]["drift"]["identical"] is True
    text = render_report(models.result, production=production, model_name="credit-risk")
    section = text.split("### Against production", 1)[1].split("### Gates", 1)[0]
    assert "**`credit-risk` v1**" in section and str(tmp_path / "prod") in section
    assert "At its registration production scored accuracy 0.7510, roc_auc 0.7700" in section
    assert "| `model.hyperparameters.logistic_regression.C` | `1.0` | `0.3` |" in section
    assert "The training rows are identical: no drift." in section
    assert "| demographic_parity_ratio[sex] |" in section
    metrics = text.split("### Metrics", 1)[1]
    assert "| Δ vs production | Δ 95% CI |" in metrics
    row = next(line for line in metrics.splitlines() if line.startswith("| accuracy |"))
    low, high = re.findall(r"([+-]\d\.\d{4}) – ([+-]\d\.\d{4})", row)[-1]
    delta = models.result["champion"]["difference"]["accuracy"]
    assert float(low) <= delta <= float(high)
    assert "champion_accuracy" in text, "the champion gates are in the gates table"


def test_production_data_not_available_is_said(monkeypatch, tmp_path, models) -> None:
    _registry(tmp_path / "prod", models, data_sha="0" * 64)
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", str(tmp_path / "prod"))
    version = open_champion_registry(models.pr_params).resolve("credit-risk", "production")
    production = production_comparison(models.pr_params, version, result=models.result)
    assert production["data"]["status"] == "unavailable"
    text = render_report(models.result, production=production)
    assert "Production's training data is not available here" in text


def test_production_data_is_found_in_git_history(tmp_path, models, monkeypatch) -> None:
    """Production trained on data/german.csv as committed at its commit; the pull request
    changes the file. The drift of the new training rows against production's is shown."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    for name in ("params.yaml", "data/german.csv", "data/schema.yaml"):
        shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "production data"], cwd=repo, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.strip()
    sha = file_sha256(repo / "data" / "german.csv")
    frame = read_csv(repo / "data" / "german.csv")
    frame["credit_amount"] = frame["credit_amount"] * 3
    frame.to_csv(repo / "data" / "german.csv", index=False)
    params = load_params(repo / "params.yaml")
    _registry(tmp_path / "prod", models, data_sha=sha, commit=commit, params=params)
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", str(tmp_path / "prod"))
    version = open_champion_registry(params).resolve("credit-risk", "production")
    data = production_comparison(params, version)["data"]
    assert data["status"] == "compared" and data["source"] == f"git {commit[:12]}"
    assert "credit_amount" in data["drift"]["drifted_columns"]
    text = render_report(models.result, production=production_comparison(params, version))
    assert "| `credit_amount` | ks | psi" in text


def test_no_registry_configured_and_no_base_report_is_the_first_release(monkeypatch, models,
                                                                        tmp_path) -> None:
    monkeypatch.delenv("MLOPS_CHAMPION_REGISTRY", raising=False)
    production = production_comparison(models.pr_params, None, result=models.alone)
    text = render_report(models.alone, production=production)
    assert "No production registry is configured" in text
    assert "MLOPS_CHAMPION_REGISTRY" in text and "**this is the first release**" in text
    monkeypatch.setenv("MLOPS_CHAMPION_REGISTRY", str(tmp_path))
    text = render_report(models.alone,
                         production=production_comparison(models.pr_params, None))
    assert f"The registry `{tmp_path}` has no production version" in text


@pytest.mark.slow
def test_without_production_the_base_report_is_compared(monkeypatch, tmp_path, models) -> None:
    monkeypatch.delenv("MLOPS_CHAMPION_REGISTRY", raising=False)
    base_dir, run_dir = tmp_path / "base", tmp_path / "run"
    # The base branch's report, as `make report-baseline` commits it (production's model).
    write_outputs(ev.evaluate(models.production, models.test, models.params), models.production,
                  models.test, models.params, base_dir, run_id="base-run", git_commit="feed")
    summary = read_report_summary((base_dir / "report.md").read_text())
    assert summary["run_id"] == "base-run" and "accuracy" in summary["metrics"]
    run_dir.mkdir()
    shutil.copy2(base_dir / "report.md", run_dir / "base-report.md")
    production = production_comparison(models.pr_params, None, result=models.alone,
                                       run_dir=run_dir)
    assert production["base_report"]["found"]
    assert production["base_report"]["params"] == [
        {"key": "model.hyperparameters.logistic_regression.C", "production": 1.0,
         "candidate": 0.3}]
    text = render_report(models.alone, production=production)
    assert "Compared instead with the base branch's committed report `base-report.md`" in text
    assert "(run `base-run`, commit `feed`)" in text
    row = next(line for line in text.splitlines() if line.startswith("| accuracy |"))
    base = summary["metrics"]["accuracy"]
    assert f"| {base:.4f} | {models.alone['metrics']['accuracy']:.4f} |" in row
    (run_dir / "base-report.md").write_text("# an old report without a summary\n")
    text = render_report(models.alone, production=production_comparison(
        models.pr_params, None, run_dir=run_dir))
    assert "could not be used: it has no embedded summary" in text


def test_the_summary_cannot_close_its_comment_early(models) -> None:
    text = render_report(models.alone, summary={"note": "--> <script>", "metrics": {}})
    comment = text[text.index("<!--"):]
    assert comment.count("-->") == 1
    assert read_report_summary(text)["note"] == "--> <script>"


def test_run_refuses_a_missing_base_report(tmp_path) -> None:
    from mlops.pipeline.runner import run_pipeline

    params = load_params(ROOT / "params.yaml")
    with pytest.raises(ConfigError, match="no such file"):
        run_pipeline(params, params_file=ROOT / "params.yaml", runs_dir=tmp_path,
                     register=False, base_report=tmp_path / "missing.md")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ images
def test_absolute_image_links() -> None:
    text = ('![ROC](plots/roc.png)\n![x](./plots/a%20b.png "title")\n'
            '![keep](https://example.org/i.png)\n<img src="plots/pr.png" width=4>\n'
            '[not an image](plots/roc.png)\n')
    out = absolute_image_links(text, "https://github.com/o/r/raw/assets/pr-1/9-1")
    assert image_links(out) == ["https://github.com/o/r/raw/assets/pr-1/9-1/plots/roc.png",
                                "https://github.com/o/r/raw/assets/pr-1/9-1/plots/a%20b.png",
                                "https://example.org/i.png",
                                "https://github.com/o/r/raw/assets/pr-1/9-1/plots/pr.png"]
    assert '"title")' in out and "[not an image](plots/roc.png)" in out
    assert absolute_image_links(out, "https://other.example/x/") == out
    for bad in ("![a](../secret.png)", "![a](/etc/passwd)"):
        with pytest.raises(ValueError, match="outside"):
            absolute_image_links(bad, "https://h/x")
    with pytest.raises(ValueError, match="http"):
        absolute_image_links(text, "file:///tmp")


@pytest.fixture(scope="module")
def run_with_plots(models, tmp_path_factory):
    """A run folder as the evaluate stage writes it: report.md and plots/."""
    folder = tmp_path_factory.mktemp("run")
    plots.save_figures(plots.evaluation_figures(models.candidate, models.test, models.pr_params,
                                                models.result), folder / "plots")
    write_outputs(models.result, models.candidate, models.test, models.pr_params, folder,
                  run_id="run-1", git_commit="0123456789ab")
    return folder


@pytest.mark.slow
def test_every_image_link_in_the_posted_comment_is_absolute(run_with_plots, tmp_path,
                                                            capsys) -> None:
    report = run_with_plots / "report.md"
    assert image_links(report.read_text()), "the report has plots"
    url = "https://github.com/acme/credit/raw/mlops-report-assets/pr-7/123-1"
    out = tmp_path / "comment" / "comment.md"
    assert main(["report", "comment", str(report), "--out", str(out), "--images-url", url,
                 "--footer", "Executed notebooks: [artifacts](https://example.org/run)"]) == 0
    posted = out.read_text(encoding="utf-8")
    links = image_links(posted)
    assert len(links) == 6 and all(ABSOLUTE.match(link) for link in links), links
    for link in links:
        assert link.startswith(url + "/plots/")
        assert (run_with_plots / link[len(url) + 1:]).is_file(), link
    assert posted.rstrip().endswith("[artifacts](https://example.org/run)")
    assert "6 image links, absolute" in capsys.readouterr().out


def _workflow_step(job: str, name: str) -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return next(s for s in doc["jobs"][job]["steps"] if s.get("name") == name)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_workflow_publishes_the_plots_where_the_comment_links_them(run_with_plots,
                                                                   tmp_path) -> None:
    """The pipeline job's "Prepare" step and the report job's "Publish" step, run as the
    workflow runs them (bash, the same env), against a local bare repository; the report
    job finds each model's comment where download-artifact puts it."""
    work = tmp_path / "ws"
    (work / "runs").mkdir(parents=True)
    shutil.copytree(run_with_plots, work / "runs" / "20261129T000000Z-abcdef")
    (work / ".venv" / "bin").mkdir(parents=True)
    mlops = work / ".venv" / "bin" / "mlops"
    mlops.write_text(f"#!/bin/sh\nexec {Path(__import__('sys').executable)} -m mlops.cli "
                     '"$@"\n')
    mlops.chmod(0o755)
    server = tmp_path / "server"
    subprocess.run(["git", "init", "-q", "--bare", str(server / "acme" / "credit.git")],
                   check=True)
    prepare = _workflow_step("pipeline", "Prepare the report comment")
    publish = _workflow_step("report", "Publish the plots to the mlops-report-assets branch")
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    assets = "https://github.com/acme/credit/raw/mlops-report-assets/pr-7/55-1/credit-risk"
    env = {**base, "RUN_URL": "https://github.com/acme/credit/actions/runs/55",
           "IMAGES": "", "ASSETS_URL": assets}
    done = subprocess.run(["bash", "-e", "-c", prepare["run"]], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    comment = (work / "comment" / "comment.md").read_text(encoding="utf-8")
    links = image_links(comment)
    assert links and all(link.startswith(assets + "/plots/") for link in links)
    (work / "comments").mkdir()
    (work / "comment").rename(work / "comments" / "report-comment-credit-risk")

    for run in ("55-1", "56-1"):  # a later push publishes beside the earlier one
        env = {**base, "GH_TOKEN": "dummy", "SERVER_URL": f"file://{server}",
               "REPO": "acme/credit", "PR": "7", "RUN": run}
        done = subprocess.run(["bash", "-e", "-c", publish["run"]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Published the plots of pr-7/" in done.stdout, done.stdout + done.stderr
        shutil.rmtree(work / "assets")
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", "mlops-report-assets"],
                            cwd=server / "acme" / "credit.git", capture_output=True,
                            text=True, check=True).stdout.split()
    for link in links:  # .../raw/<branch>/<path>: every linked image is on the branch
        assert link.split("/raw/mlops-report-assets/", 1)[1] in listed
    assert any(p.startswith("pr-7/56-1/credit-risk/plots/") for p in listed)
    assert json.dumps(listed).count("roc.png") == 2


@pytest.mark.slow
def test_a_failing_pull_request_gets_its_report_and_comment(tmp_path) -> None:
    """A gate fails: the run exits with the gate's code, and report.md is there all the
    same; the workflow's Prepare step makes the comment from it, images absolute."""
    import os
    import sys

    from mlops.core.exceptions import GateFailedError

    runs = tmp_path / "ws" / "runs"
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_CHAMPION_REGISTRY"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "run", "--params", str(ROOT / "params.yaml"),
         "--no-register", "--runs-dir", str(runs), "--set", "evaluation.gates.min_roc_auc=0.99"],
        capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == GateFailedError.exit_code, done.stderr[-2000:]
    report = next(runs.glob("*/report.md"))
    text = report.read_text(encoding="utf-8")
    assert "❌" in text and "### Against production" in text
    assert "this is the first release" in text
    work = tmp_path / "ws"
    (work / ".venv" / "bin").mkdir(parents=True)
    (work / ".venv" / "bin" / "mlops").write_text(
        f'#!/bin/sh\nexec {sys.executable} -m mlops.cli "$@"\n')
    (work / ".venv" / "bin" / "mlops").chmod(0o755)
    prepare = _workflow_step("pipeline", "Prepare the report comment")
    assets = "https://github.com/acme/credit/raw/mlops-report-assets/pr-8/77-1"
    done = subprocess.run(["bash", "-e", "-c", prepare["run"]], cwd=work, capture_output=True,
                          text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "RUN_URL": "https://example.org/run", "IMAGES": "",
                               "ASSETS_URL": assets})
    assert done.returncode == 0, done.stderr
    comment = (work / "comment" / "comment.md").read_text(encoding="utf-8")
    links = image_links(comment)
    assert len(links) == 6 and all(ABSOLUTE.match(link) for link in links)
    assert {p.name for p in (work / "comment" / "plots").iterdir()} == \
        {link.rsplit("/", 1)[1] for link in links}
