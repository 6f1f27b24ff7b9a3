"""The GitHub Actions workflows, checked offline: schema, actionlint, make targets, privileges."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
BIN = Path(sys.executable).parent
# Write scopes a job may ask for, and which job may ask: everything else is read-only.
# The report job pushes the plots to the mlops-report-assets branch (contents) and comments.
ALLOWED_WRITES = {("ci.yml", "report"): {"pull-requests", "contents"},
                  ("monitor.yml", "retrain"): {"actions"}}


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def _runs(path: Path) -> list[str]:
    """Every ``run:`` script of every job."""
    return [step["run"] for job in _load(path)["jobs"].values()
            for step in job.get("steps", []) if "run" in step]


def _commands(scripts: list[str]) -> list[list[str]]:
    """Shell commands of ``scripts`` as argv lists (continuations joined, comments dropped)."""
    found = []
    for script in scripts:
        for line in re.sub(r"\\\n", " ", script).splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                try:
                    found.append(shlex.split(line))
                except ValueError:
                    continue
    return found


def test_the_workflows_exist() -> None:
    # cd-model.yml is one model's CD, called by cd.yml once per model.
    assert [p.name for p in FILES] == ["cd-model.yml", "cd.yml", "ci.yml", "monitor.yml"]


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schema(path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         str(path)], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint() -> None:
    # shellcheck/pyflakes are off so the result does not depend on what the machine has.
    result = subprocess.run(
        [str(BIN / "actionlint"), "-shellcheck=", "-pyflakes=", *map(str, FILES)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - uses: actions/checkout@v4\n      - run: echo ${{ github.nope }}\n")
    result = subprocess.run([str(BIN / "actionlint"), "-shellcheck=", "-pyflakes=", str(bad)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1 and "node20" in result.stdout and "nope" in result.stdout


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"(?m)^([A-Za-z][\w-]*):(?!=)", text))


def test_every_make_target_called_exists() -> None:
    scripts = [s for p in FILES for s in _runs(p)]
    scripts.append((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    called = {argv[1] for argv in _commands(scripts) if argv[:1] == ["make"] and len(argv) > 1}
    assert {"lint", "test", "pipeline", "install"} <= called
    assert called <= _make_targets(), f"missing in the Makefile: {called - _make_targets()}"


def test_ci_runs_what_ci_run_runs() -> None:
    def makes(scripts: list[str]) -> list[str]:
        return [a[1] for a in _commands(scripts) if a[:1] == ["make"]]

    local = makes([(ROOT / ".ci" / "run").read_text(encoding="utf-8")])
    ci = [target for target in makes(_runs(WORKFLOWS / "ci.yml")) if target != "install"]
    # .ci/run also runs the workflow files themselves under act (make rehearsal); on GitHub
    # they run as themselves.
    assert local == ["lint", "test", "test-slow", "rehearsal", "pipeline"]
    assert ci == [target for target in local if target != "rehearsal"]


def _mlops_calls(path: Path) -> list[list[str]]:
    """Every ``mlops ...`` command line in the ``run:`` scripts of a workflow, as argv."""
    calls = []
    for argv in _commands(_runs(path)):
        while argv and re.fullmatch(r"[A-Za-z_]\w*=.*", argv[0]):  # VAR=value mlops ...
            argv = argv[1:]
        if argv and Path(argv[0]).name == "mlops":
            calls.append(argv)
    return calls


def _parse_error(parser, argv: list[str]) -> str | None:
    """None if the root parser accepts ``argv``; else what argparse printed."""
    import contextlib
    import io

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exc:
        return err.getvalue().strip() or f"exit {exc.code}"
    return None


def test_mlops_commands_in_workflows_exist() -> None:
    from mlops.cli.main import build_parser

    parser = build_parser()
    called, broken = set(), []
    for path in FILES:
        for argv in _mlops_calls(path):
            called.add(argv[1] if len(argv) > 1 else "")
            error = _parse_error(parser, argv[1:])
            if error is not None:
                broken.append(f"{path.name}: `mlops {shlex.join(argv[1:])}`: {error}")
    assert not broken, "the CLI does not accept:\n" + "\n".join(broken)
    # The parse above covers these; an empty scan would pass vacuously.
    assert {"deploy", "monitor", "space", "live-data"} <= called, called


def test_the_workflow_command_check_catches_a_changed_cli() -> None:
    from mlops.cli.main import build_parser

    parser = build_parser()
    assert _parse_error(parser, ["deploy", "start", "--params", "params.yaml"]) is None
    assert "invalid choice" in _parse_error(parser, ["deploy", "begin"])
    assert "unrecognized arguments: --dry-run" in _parse_error(parser,
                                                               ["monitor", "--dry-run"])
    assert _parse_error(parser, ["space", "push", "--folder", "space"])  # --repo-id required


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    doc = _load(path)
    text = path.read_text(encoding="utf-8")
    assert doc["permissions"] == {"contents": "read"}, "top level: read the code, nothing else"
    assert "write-all" not in text and "read-all" not in text
    for name, job in doc["jobs"].items():
        perms = job.get("permissions", {})
        assert isinstance(perms, dict), f"{name}: permissions must list scopes"
        writes = {scope for scope, level in perms.items() if level == "write"}
        assert writes <= ALLOWED_WRITES.get((path.name, name), set()), f"{name}: {writes}"
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_pull_request_target_and_secrets_only_where_forks_cannot_reach(path: Path) -> None:
    doc = _load(path)
    triggers = doc["on"]
    assert "pull_request_target" not in triggers
    secrets = re.findall(r"secrets\.(\w+)", path.read_text(encoding="utf-8"))
    if "pull_request" in triggers:
        # Fork pull requests run this workflow: it must not reference any secret at all.
        assert secrets == [], f"{path.name} runs for forks but reads {secrets}"
    else:
        assert set(secrets) <= {"HF_TOKEN", "HF_SPACE_TOKEN", "MLOPS_ADMIN_TOKEN"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_token_only_in_env_never_inlined_in_scripts(path: Path) -> None:
    for script in _runs(path):
        assert "${{" not in script or "secrets." not in script, script
        assert not re.search(r"(echo|printf|cat)\b[^\n|]*\$\{?HF_TOKEN\b", script), script
    for job in _load(path)["jobs"].values():
        for step in job.get("steps", []):
            assert "secrets." not in str(step.get("with", {})), step


def test_pr_comment_job_is_same_repo_only_and_updates_one_comment() -> None:
    doc = _load(WORKFLOWS / "ci.yml")
    job = doc["jobs"]["report"]
    assert job["needs"] == "pipeline"
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    assert any(s.get("uses", "").startswith("iterative/setup-cml@") for s in job["steps"])
    comment = [a for a in _commands(_runs(WORKFLOWS / "ci.yml")) if a[:1] == ["cml"]]
    assert comment and comment[0][:3] == ["cml", "comment", "update"]
    assert "--target=pr/$PR" in comment[0] and "--repo=$SERVER_URL/$REPO" in comment[0]
    assert any(a.startswith("--watermark-title=") for a in comment[0])


def test_ci_caches_pip_on_the_lock_and_uploads_the_run() -> None:
    steps = _load(WORKFLOWS / "ci.yml")["jobs"]["pipeline"]["steps"]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"] == {"python-version": "3.11", "cache": "pip",
                             "cache-dependency-path": "requirements.lock"}
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and "runs/" in upload["with"]["path"]


def test_ci_runs_one_pipeline_job_per_changed_model() -> None:
    jobs = _load(WORKFLOWS / "ci.yml")["jobs"]
    changed = next(s for s in jobs["models"]["steps"] if s.get("id") == "changed")
    assert "mlops models --json --changed-since" in changed["run"]
    assert 'since="origin/$BASE_REF"' in changed["run"], "a pull request: since its base"
    assert jobs["models"]["outputs"]["models"] == "${{ steps.changed.outputs.models }}"
    pipeline = jobs["pipeline"]
    assert pipeline["needs"] == "models" and pipeline["if"] == "needs.models.outputs.models != '[]'"
    assert pipeline["strategy"]["matrix"]["model"] == "${{ fromJSON(needs.models.outputs.models) }}"
    run = next(s for s in pipeline["steps"] if s.get("name") == "Pipeline")["run"]
    assert 'make pipeline PARAMS="$PARAMS_FILE"' in run
    assert pipeline["env"]["PARAMS_FILE"] == "${{ matrix.model.params }}"


def test_cd_runs_only_after_ci_succeeded_on_main_and_never_overlaps() -> None:
    doc = _load(WORKFLOWS / "cd.yml")
    trigger = doc["on"]["workflow_run"]
    assert trigger == {"workflows": ["CI"], "types": ["completed"], "branches": ["main"]}
    assert _load(WORKFLOWS / "ci.yml")["name"] == "CI"
    condition = doc["jobs"]["models"]["if"]  # every model's release needs it
    assert doc["jobs"]["release"]["needs"] == "models"
    for needed in ("github.event.workflow_run.conclusion == 'success'",
                   "github.event.workflow_run.head_branch == 'main'",
                   "github.event.workflow_run.head_repository.full_name == github.repository"):
        assert needed in condition
    assert doc["concurrency"] == {"group": "cd-production", "cancel-in-progress": False}
    commands = _commands(_runs(WORKFLOWS / "cd-model.yml"))
    argv = [a for a in commands if a[:2] == ["make", "pipeline"]]
    assert argv and "registry.backend=hub" in argv[0][3] and argv[0][2] == "PARAMS=$PARAMS_FILE"
    deploys = [a for a in commands if a[1:3] == ["space", "deploy"]]
    assert deploys, "CD deploys the Space with `mlops space deploy` (waits until it runs)"
    release = doc["jobs"]["release"]  # each model released on its own
    assert release["strategy"]["matrix"]["model"] == "${{ fromJSON(needs.models.outputs.models) }}"
    assert release["with"]["params"] == "${{ matrix.model.params }}"
    for job in _load(WORKFLOWS / "cd-model.yml")["jobs"].values():
        assert job["env"]["PARAMS_FILE"] == "${{ inputs.params }}"


def test_monitor_runs_on_schedule_and_only_retrain_may_start_workflows() -> None:
    doc = _load(WORKFLOWS / "monitor.yml")
    assert doc["on"]["schedule"] and "workflow_dispatch" in doc["on"]
    retrain = doc["jobs"]["retrain"]
    assert retrain["permissions"] == {"actions": "write"}
    assert retrain["needs"] == "monitor" and "!cancelled()" in retrain["if"]
    assert not any("uses" in s for s in retrain["steps"]), "no project code with write rights"
    assert "gh workflow run cd.yml" in retrain["steps"][0]["run"]


# Each model's prediction log lives in a dataset repo of its own, named like its Space.
DATASET_REPO_RULE = ('if [ "$PARAMS_FILE" != "params.yaml" ]; then '
                     'dataset_repo="$HF_DATASET_REPO-$MODEL"; fi')


def test_monitor_runs_one_job_per_model() -> None:
    jobs = _load(WORKFLOWS / "monitor.yml")["jobs"]
    listing = next(s for s in jobs["models"]["steps"] if s.get("id") == "list")
    assert "mlops models --json" in listing["run"]
    assert jobs["models"]["outputs"]["models"] == "${{ steps.list.outputs.models }}"
    monitor = jobs["monitor"]
    assert monitor["needs"] == "models" and monitor["strategy"]["fail-fast"] is False
    assert monitor["strategy"]["matrix"]["model"] == "${{ fromJSON(needs.models.outputs.models) }}"
    assert monitor["env"]["PARAMS_FILE"] == "${{ matrix.model.params }}"
    assert monitor["env"]["MODEL"] == "${{ matrix.model.name }}"
    calls = _mlops_calls(WORKFLOWS / "monitor.yml")
    run = next(a for a in calls if a[1] == "monitor")
    assert run[2:4] == ["--params", "$PARAMS_FILE"] and "--apply" in run
    # A relative log path would be read against models/<folder>/, not the checkout.
    assert "monitoring.log_path=$PWD/monitor-data/live/predictions.sqlite" in run
    steps = {s.get("name"): s for s in monitor["steps"]}
    assert '-p params_path "$PWD/$PARAMS_FILE"' in steps["Monitoring notebook (papermill)"]["run"]
    assert DATASET_REPO_RULE in steps["Fetch the Space's prediction log and feedback"]["run"]
    uploads = {s["with"]["name"] for s in monitor["steps"]
               if s.get("uses", "").startswith("actions/upload-artifact@")}
    assert uploads == {"monitor-run-${{ matrix.model.name }}",
                       "retrain-${{ github.run_attempt }}-${{ matrix.model.name }}"}
    assert steps["Ask for retraining"]["if"] == "steps.decide.outputs.retrain == 'true'"


def test_cd_pushes_and_reads_each_models_log_where_monitor_fetches_it() -> None:
    steps = [s for path in (WORKFLOWS / "cd.yml", WORKFLOWS / "cd-model.yml")
             for job in _load(path)["jobs"].values() for s in job.get("steps", [])]
    build = next(s for s in steps if s.get("name") == "Build the Space bundle")
    live = next(s for s in steps if s.get("name", "").startswith("Add the labelled live"))
    for step in (build, live):
        assert DATASET_REPO_RULE in step["run"] and '"$dataset_repo"' in step["run"]
    assert '--params "$PARAMS_FILE"' in live["run"]


def _fake_bin(tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def _run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    import os

    path = f"{cwd / 'bin'}:{os.environ['PATH']}"
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd,
                          env={**os.environ, **env, "PATH": path},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("artifacts", "dispatched"), [
    (["monitor-run-b", "retrain-2-b", "monitor-run-a", "retrain-2-a"], "a b"),
    (["monitor-run-a", "monitor-run-b"], None),
    # A re-run (attempt 2) does not act on attempt 1's decisions.
    (["retrain-1-a", "retrain-2-b", "retrain-1-my-model"], "b"),
    (["retrain-1-a"], None),
])
def test_monitor_retrains_the_models_that_asked_in_one_cd_run(tmp_path: Path, artifacts,
                                                               dispatched) -> None:
    import json

    step = _load(WORKFLOWS / "monitor.yml")["jobs"]["retrain"]["steps"][0]
    listing = json.dumps({"artifacts": [{"name": n} for n in artifacts]})
    # gh: `api` answers with the run's artifacts through the step's own --jq filter.
    _fake_bin(tmp_path, "gh", f"""
if [ "$1" = api ]; then
  while [ "$1" != --jq ]; do shift; done
  jq -r "$2" <<< '{listing}'
else
  printf '%s\n' "$@" > "{tmp_path}/dispatch"
fi
""")
    done = _run_step(step["run"], tmp_path, {"GH_REPO": "o/r", "RUN_ID": "7", "GH_TOKEN": "x",
                                             "RUN_ATTEMPT": "2"})
    assert done.returncode == 0, done.stderr
    sent = tmp_path / "dispatch"
    if dispatched is None:
        assert not sent.exists() and "No model drifted" in done.stdout
    else:
        argv = sent.read_text().splitlines()
        assert argv[:3] == ["workflow", "run", "cd.yml"]
        assert f"models={dispatched}" in argv and "live_data=true" in argv


@pytest.mark.parametrize(("only", "expected"), [
    ("", ["credit", "sugar"]), ("sugar", ["sugar"]), (" credit  sugar ", ["credit", "sugar"]),
    ("sugar nope", None)])
def test_cd_releases_only_the_models_it_is_asked_for(tmp_path: Path, only, expected) -> None:
    import json

    step = next(s for s in _load(WORKFLOWS / "cd.yml")["jobs"]["models"]["steps"]
                if s.get("id") == "list")
    models = [{"name": "credit", "params": "params.yaml"},
              {"name": "sugar", "params": "models/sugar/params.yaml"}]
    _fake_bin(tmp_path, "make", "exit 0\n")
    (tmp_path / ".venv").mkdir()
    _fake_bin(tmp_path / ".venv", "mlops", f"echo '{json.dumps(models)}'\n")
    out = tmp_path / "github_output"
    done = _run_step(step["run"], tmp_path, {"ONLY": only, "GITHUB_OUTPUT": str(out)})
    if expected is None:
        assert done.returncode == 1 and "not models of this repository" in done.stdout
        return
    assert done.returncode == 0, done.stderr
    listed = json.loads(out.read_text().split("models=", 1)[1])
    assert [m["name"] for m in listed] == expected


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    pinned = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
    # A reusable workflow of this repository (./.github/workflows/...) is pinned by being here.
    uses = [(path.name, line.split("uses:", 1)[1].strip())
            for path in FILES for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith(("uses:", "- uses:"))
            and not line.split("uses:", 1)[1].strip().startswith("./.github/workflows/")]
    assert uses, "no action found: the check would pass vacuously"
    assert [u for u in uses if not pinned.match(u[1])] == []


def test_zizmor_offline_is_clean() -> None:
    result = subprocess.run([str(BIN / "zizmor"), "--offline", "--quiet", *map(str, FILES)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_catches_an_unpinned_action(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - uses: actions/checkout@v6\n"
                   "        with: {persist-credentials: false}\n")
    result = subprocess.run([str(BIN / "zizmor"), "--offline", "--quiet", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "unpinned" in (result.stdout + result.stderr)


def test_ci_compares_with_production_read_only_and_with_the_base_report() -> None:
    steps = _load(WORKFLOWS / "ci.yml")["jobs"]["pipeline"]["steps"]
    pipeline = next(s for s in steps if s.get("name") == "Pipeline")
    env = pipeline["env"]["MLOPS_CHAMPION_REGISTRY"]
    assert "vars.HF_MODEL_REPO" in env and "hub:" in env and "secrets" not in env
    assert "HF_TOKEN" not in pipeline["env"], "production is read without a token"
    assert 'base=".base/reports/$MODEL/latest.md"' in pipeline["run"]
    assert '--base-report $base' in pipeline["run"]
    base = next(s for s in steps if s.get("name") == "Check out the base branch's report")
    assert base["with"]["ref"] == "${{ github.base_ref }}"
    assert base["with"]["path"] == ".base" and base["with"]["persist-credentials"] is False
    assert steps.index(base) < steps.index(pipeline)


def test_the_comment_links_images_absolutely_and_runs_on_failure() -> None:
    doc = _load(WORKFLOWS / "ci.yml")
    steps = doc["jobs"]["pipeline"]["steps"]
    prepare = next(s for s in steps if s.get("name") == "Prepare the report comment")
    assert prepare["if"].startswith("always()")
    assert "mlops report comment" in prepare["run"] and "--images-url" in prepare["run"]
    assert prepare["env"]["ASSETS_URL"].endswith(
        "/raw/mlops-report-assets/pr-${{ github.event.pull_request.number }}/"
        "${{ github.run_id }}-${{ github.run_attempt }}/${{ matrix.model.name }}")
    upload = next(s for s in steps if s.get("name") == "Upload the report comment")
    assert upload["if"].startswith("always()") and upload["with"]["name"] == (
        "report-comment-${{ matrix.model.name }}")
    report = doc["jobs"]["report"]
    assert report["if"].startswith("always()")
    names = [s.get("name") or s.get("uses", "") for s in report["steps"]]
    assert not any("checkout" in n for n in names), "the privileged job runs no project code"
    assert not any(".venv" in s.get("run", "") or s.get("run", "").split()[:1] == ["mlops"]
                   for s in report["steps"])
    publish = next(s for s in report["steps"] if s.get("name", "").startswith("Publish"))
    assert publish["if"] == "vars.MLOPS_REPORT_IMAGES != 'cml'"
    post = report["steps"][-1]
    assert "comments/report-comment-*/comment.md" in post["run"]
    assert '"$publish"' in post["run"] and '"$comment"' in post["run"]


# --- issue 27: a fork's first push ---------------------------------------------------------

def test_the_comment_job_tells_cml_the_repository_it_cannot_find_without_a_checkout(
        tmp_path: Path) -> None:
    """The report job checks nothing out; CML, told no repository, reads it from
    `git config remote.origin.url` (iterative/cml src/cml.js) and fails there."""
    post = _load(WORKFLOWS / "ci.yml")["jobs"]["report"]["steps"][-1]
    comment = tmp_path / "comments" / "report-comment-credit" / "comment.md"
    comment.parent.mkdir(parents=True)
    comment.write_text("report\n")
    _fake_bin(tmp_path, "cml", f"""
printf '%s\\n' "$@" > "{tmp_path}/cml-argv"
for a in "$@"; do case "$a" in --repo=*) exit 0;; esac; done
git config --get remote.origin.url >/dev/null || {{ echo "fatal: no remote" >&2; exit 1; }}
""")
    env = {"REPO_TOKEN": "x", "IMAGES": "", "SERVER_URL": "https://github.com",
           "REPO": "acme/credit", "PR": "7", "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    done = _run_step(post["run"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    argv = (tmp_path / "cml-argv").read_text().splitlines()
    assert "--repo=https://github.com/acme/credit" in argv and "--target=pr/7" in argv


def test_setup_cml_installs_no_vega_and_runs_on_a_current_node() -> None:
    job = _load(WORKFLOWS / "ci.yml")["jobs"]["report"]
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("iterative/setup-cml@"))
    assert setup.get("with", {}).get("vega") is False
    # Its action.yml says node16; GitHub's switch runs it on Node 24.
    assert job["env"]["FORCE_JAVASCRIPT_ACTIONS_TO_NODE24"] == "true"


def test_no_scheduled_or_automatic_job_waits_for_an_approval() -> None:
    # production has required reviewers: a scheduled monitor there waits forever.
    for name, job in _load(WORKFLOWS / "monitor.yml")["jobs"].items():
        assert "environment" not in job, f"monitor.yml job {name} would wait for reviewers"


def _docs_secrets() -> dict[str, str]:
    """``{name: kind}`` of the secrets in docs/cicd.md's "Secrets and variables" table."""
    text = (ROOT / "docs" / "cicd.md").read_text(encoding="utf-8")
    rows = re.findall(r"(?m)^\| `(\w+)` \| ([^|]+) \|", text)
    return {name: kind.strip() for name, kind in rows if "secret" in kind}


def test_every_secret_has_one_place_that_reaches_every_job_that_reads_it() -> None:
    documented = _docs_secrets()
    for path in FILES:
        for name, job in _load(path)["jobs"].items():
            for secret in set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job))):
                kind = documented.get(secret)
                assert kind, f"{path.name} {name} reads {secret}, not in docs/cicd.md"
                places = re.findall(r"repository|environment `(\w+)`", kind)
                assert len(places) == 1, f"{secret}: one place, not {kind!r}"
                if places[0]:  # an environment secret reaches only jobs in it
                    assert job.get("environment") == places[0], (path.name, name, secret)


def test_each_models_production_needs_only_its_own_staging() -> None:
    """A job that needs a matrix job waits for, and is skipped with, every one of its
    members: one model's failed gate must not hold back the others."""
    for path in FILES:
        jobs = _load(path)["jobs"]
        for name, job in jobs.items():
            needs = job.get("needs", [])
            for need in [needs] if isinstance(needs, str) else needs:
                if "strategy" in jobs[need]:
                    assert "uses" not in jobs[need] and "strategy" not in job and need in (
                        "pipeline", "monitor"), f"{path.name}: {name} needs matrix {need}"
    release = _load(WORKFLOWS / "cd.yml")["jobs"]["release"]
    # The path form: act, which rehearses the workflows offline, does not know `$/...`.
    assert release["uses"] == "./.github/workflows/cd-model.yml"
    assert release["strategy"]["fail-fast"] is False
    model = _load(WORKFLOWS / "cd-model.yml")["jobs"]
    assert model["production"]["needs"] == "deploy"
    assert model["deploy"]["environment"] == "staging"
    assert model["production"]["environment"] == "production"


def test_the_venv_cache_key_has_the_exact_python() -> None:
    found = 0
    for path in FILES:
        for job in _load(path)["jobs"].values():
            steps = job.get("steps", [])
            for i, step in enumerate(steps):
                if step.get("uses", "").startswith("actions/cache@") and (
                        step["with"]["path"] == ".venv"):
                    setup = next(s for s in steps[:i]
                                 if s.get("uses", "").startswith("actions/setup-python@"))
                    assert f"steps.{setup['id']}.outputs.python-version" in step["with"]["key"]
                    found += 1
    assert found >= 5


def test_the_token_docs_name_every_repo_the_flow_writes() -> None:
    text = (ROOT / "docs" / "cicd.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `HF_TOKEN` |"))
    for repo in ("HF_MODEL_REPO", "HF_MODEL_REPO`-data", "HF_SPACE_REPO",
                 "HF_SPACE_REPO-<model name>", "HF_DATASET_REPO",
                 "HF_DATASET_REPO-<model name>"):
        assert repo in row, repo


def test_renovate_relocks_when_it_bumps_requirements_in() -> None:
    import json

    config = json.loads((ROOT / "renovate.json").read_text(encoding="utf-8"))
    rules = config["packageRules"]
    relock = [r for r in rules if "requirements.in" in r.get("matchFileNames", [])]
    assert relock and relock[0]["postUpgradeTasks"]["commands"] == ["make lock"]
    assert "requirements.lock" in relock[0]["postUpgradeTasks"]["fileFilters"]
    assert any(r.get("matchFileNames") == ["requirements.lock"] and r.get("enabled") is False
               for r in rules), "the lock is never bumped pin by pin"
    assert "lock:" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_renovate_keeps_the_space_base_image_digest_current() -> None:
    import json

    from mlops.space import bundle

    manager = json.loads((ROOT / "renovate.json").read_text())["customManagers"][0]
    pattern = manager["matchStrings"][0].replace("(?<", "(?P<")
    found = re.search(pattern, (ROOT / "mlops" / "space" / "bundle.py").read_text())
    assert found and found["depName"] == "python" and found["currentValue"] == "3.11-slim"
    assert f"{found['depName']}:{found['currentValue']}@{found['currentDigest']}" == (
        bundle.BASE_IMAGE)


def test_the_lock_satisfies_requirements_in() -> None:
    """What a renovate bump of requirements.in without `make lock` would break."""
    from packaging.requirements import Requirement

    from mlops.space.bundle import read_lock

    pins = read_lock(ROOT / "requirements.lock")
    for line in (ROOT / "requirements.in").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            name = re.sub(r"[-_.]+", "-", req.name).lower()
            assert name in pins and req.specifier.contains(pins[name], prereleases=True), line
