"""``mlops loop``: the whole CI/CD loop of this project, rehearsed offline in one command.

It plays what the three workflows do on GitHub, with the same commands, on this machine:

1. CD on ``main`` (the release before the story): ``mlops run`` registers v1 on the Hub.
2. A pull request changes one parameter on a feature branch.
3. CI on it: ``mlops run --no-register``; production is read, read-only, from the Hub
   (``MLOPS_CHAMPION_REGISTRY``, no token) and the report compares with it.
4. The merge, then CD: ``mlops run`` registers v2 (candidate), ``mlops deploy start``
   starts the canary, ``mlops space build`` writes the Space, which is started with
   ``streamlit run`` and checked on ``/_stcore/health``.
5. Live traffic through the router, labels coming back; then monitor.yml: ``mlops monitor
   --apply`` promotes the canary step by step (or aborts it, or rolls back), and the
   monitoring notebook shows the decision it recorded.
6. The registry's history.

Everything happens in a temporary copy of the project (a git repository of its own), on
127.0.0.1: the Hub is a local Hub-protocol server (:mod:`mlops.space.hubserver`) that the
real ``huggingface_hub`` client talks to through ``HF_ENDPOINT``, with a dummy token. Every
process it starts is stopped by its own id before it returns.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops.cli.common import HelpFormatter
from mlops.core.exceptions import StageError
from mlops.core.processes import free_port, stop, wait_for_http

__all__ = ["register", "cmd_loop", "edit_param"]

REPO_ID = "loop/model-registry"
DEFAULT_CHANGE = "model.hyperparameters.logistic_regression.C=0.3"
# The rehearsal shortens the canary to two steps so that two rounds of traffic finish it.
LOOP_DEPLOY = ("deployment.canary_steps=[25, 100]",)
# Requests per round of traffic: the first fills the 25 % step, the next the 100 % one.
ROUNDS = (320, 100, 100, 100)
STEP_TIMEOUT = 600  # seconds for any one command
# What the repository copy leaves out when the project is not a git work tree.
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "runs",
                                     "registry", "logs", "space", "bench", ".pytest_cache",
                                     ".ruff_cache", "*.egg-info")

DESCRIPTION = """\
Rehearse the CI/CD loop offline, in a temporary copy of the project: CD releases v1 on a
local Hub; a pull request changes a parameter and CI reports it against production (read
from the Hub, read-only); after the merge CD registers v2, starts a canary and builds the
Space (started with streamlit and health-checked); live traffic flows through the router
and the monitor promotes or rolls back. Each step prints what ran and its evidence; the
end is the registry's history. Nothing leaves 127.0.0.1."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops loop``."""
    p = subparsers.add_parser(
        "loop", help="rehearse CI, CD and monitoring end to end, offline (make loop)",
        description=DESCRIPTION, formatter_class=HelpFormatter,
        epilog="examples:\n  mlops loop\n  mlops loop --keep --workdir /tmp/loop\n"
               "  mlops loop --change model.hyperparameters.logistic_regression.C=0.1",
    )
    p.add_argument("--project", default=".", help="the project to copy (.)")
    p.add_argument("--workdir", help="where to work (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the work folder at the end")
    p.add_argument("--change", default=DEFAULT_CHANGE, metavar="KEY=VALUE",
                   help=f"the pull request's parameter change ({DEFAULT_CHANGE})")
    p.set_defaults(func=cmd_loop)


# --------------------------------------------------------------------------- output
class _Out:
    """Numbered steps, indented evidence, elapsed time."""

    def __init__(self) -> None:
        self.step = 0
        self.start = time.monotonic()

    def head(self, title: str, where: str = "") -> None:
        self.step += 1
        took = time.monotonic() - self.start
        print(f"\n[{self.step}] {title}" + (f"   ({where})" if where else "")
              + f"   t={took:.0f}s", flush=True)

    @staticmethod
    def say(text: str = "", indent: int = 4) -> None:
        pad = " " * indent
        for line in (text.splitlines() or [""]):
            print(pad + line, flush=True)


# --------------------------------------------------------------------------- helpers
def edit_param(text: str, key: str, value: Any) -> str | None:
    """``params.yaml`` text with ``key`` (dotted) set to ``value``, comments kept; None when
    the key is not found as a block key or inside a one-line ``{...}`` mapping."""
    import yaml

    parts = key.split(".")
    stack: list[tuple[int, str]] = []
    lines = text.splitlines(keepends=True)
    pattern = re.compile(r"^(\s*)([A-Za-z0-9_-]+):(\s*)([^#\n]*?)(\s*#.*)?(\n?)$")
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if not m or not line.strip() or line.lstrip().startswith("#"):
            continue
        indent, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [name]
        raw = m.group(4)
        if path == parts and raw:
            new = yaml.safe_dump(value, default_flow_style=True).strip()
            new = new.removesuffix("\n...").strip()
            lines[i] = f"{m.group(1)}{name}:{m.group(3) or ' '}{new}{m.group(5) or ''}{m.group(6)}"
            return "".join(lines)
        if path == parts[:-1] and raw.startswith("{") and raw.endswith("}"):
            mapping = yaml.safe_load(raw)
            if not isinstance(mapping, dict) or parts[-1] not in mapping:
                return None
            mapping[parts[-1]] = value
            flow = ", ".join(f"{k}: {yaml.safe_dump(v, default_flow_style=True).strip()}"
                             .replace("\n...", "") for k, v in mapping.items())
            lines[i] = (f"{m.group(1)}{name}:{m.group(3) or ' '}{{{flow}}}"
                        f"{m.group(5) or ''}{m.group(6)}")
            return "".join(lines)
        if not raw:
            stack.append((indent, name))
    return None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the loop
class Loop:
    """The rehearsal's state: the work folder, the repository copy, the Hub, the env."""

    def __init__(self, project: Path, work: Path, change: str) -> None:
        self.project, self.work, self.change = project, work, change
        self.repo = work / "repo"
        self.out = _Out()
        self.hub: Any = None
        self.space_proc: subprocess.Popen | None = None
        self.production: int | None = None

    # ------------------------------------------------------------ processes
    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every command: this machine's, minus any MLOPS_/HF_ setting
        (a real token must never reach the rehearsal), plus the local Hub."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "HF_"))}
        env.update(PYTHONPATH=str(self.repo), MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
                   HF_ENDPOINT=self.hub.url, HF_HUB_DISABLE_TELEMETRY="1",
                   HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HOME=str(self.work / "hf-home"),
                   HOME=str(self.work / "home"), GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_CONFIG_NOSYSTEM="1", OMP_NUM_THREADS="1")
        env.update(extra)
        return env

    def cd_env(self) -> dict[str, str]:
        """cd.yml's job environment: the Hub registry and a (dummy) write token."""
        return self.env(MLOPS_REGISTRY_BACKEND="hub", MLOPS_HUB_REPO_ID=REPO_ID,
                        HF_TOKEN="hf_loopDummyTokenNotASecret")

    def mlops(self, args: Sequence[str], env: dict[str, str], *, show: bool = True,
              cwd: Path | None = None) -> str:
        """Run ``mlops ARGS`` (this Python, the repository copy's code); its stdout."""
        if show:
            self.out.say("$ mlops " + shlex.join(args))
        return self.run([sys.executable, "-m", "mlops.cli", *args], env, cwd=cwd)

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None, *,
            cwd: Path | None = None) -> str:
        done = subprocess.run(list(argv), cwd=cwd or self.repo, env=env or self.env(),
                              capture_output=True, text=True, timeout=STEP_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            shown = (["mlops", *argv[3:]] if argv[:1] == [sys.executable] else list(argv))
            raise StageError(f"`{shlex.join(shown)}` failed with exit code "
                             f"{done.returncode}:\n{tail}", stage="loop")
        return done.stdout

    def git(self, *args: str) -> str:
        return self.run(["git", "-c", "user.name=mlops loop", "-c",
                         "user.email=loop@127.0.0.1", "-c", "commit.gpgsign=false",
                         "-c", "core.hooksPath=/dev/null", *args]).strip()

    # ------------------------------------------------------------ steps
    def setup(self) -> None:
        from mlops.space.hubserver import HubServer

        self.out.head("Setup: a repository copy and a local Hub")
        self.hub = HubServer().__enter__()
        os.environ["HF_ENDPOINT"] = self.hub.url  # for the router in this process
        self.repo.mkdir(parents=True)
        copied = self._copy_project()
        (self.work / "home").mkdir()
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "main: the project as it is")
        self.out.say(f"repository  {self.repo}  ({copied} files of {self.project}, "
                     f"branch main, commit {self.git('rev-parse', '--short', 'HEAD')})")
        self.out.say(f"Hub         {self.hub.url}  (mlops.space.hubserver: the Hub's HTTP "
                     "API, in memory; the real huggingface_hub client; dummy HF_TOKEN)")
        self.out.say(f"registry    hub:{REPO_ID}")

    def _copy_project(self) -> int:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=self.project, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        if listed.returncode == 0 and listed.stdout:
            names = [n for n in listed.stdout.decode().split("\0") if n]
            count = 0
            for name in names:
                source = self.project / name
                if source.is_file() and not name.startswith(("bench/", "runs/")):
                    target = self.repo / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
                    count += 1
            return count
        shutil.copytree(self.project, self.repo, dirs_exist_ok=True, ignore=_NOT_COPIED)
        return sum(1 for p in self.repo.rglob("*") if p.is_file())

    def cd_pipeline(self, title: str) -> dict[str, Any]:
        self.out.head(title, 'cd.yml: "Pipeline, registered on the Hub"')
        args = ["run", "--set", "registry.backend=hub", "--set",
                f"registry.hub_repo_id={REPO_ID}", "--require-clean"]
        self.mlops(args, self.cd_env())
        manifest = self._last_manifest()
        reg = manifest.get("registry") or {}
        self.out.say(f"-> run {manifest['run_id']}: {manifest['status']}; registered "
                     f"{reg.get('model')} v{reg.get('version')} on the Hub as "
                     f"{reg.get('alias') or 'no alias'} (commit "
                     f"{str(manifest['git']['commit'])[:7]}, clean: "
                     f"{manifest['git']['dirty'] is False})")
        return manifest

    def _last_manifest(self) -> dict[str, Any]:
        runs = sorted((self.repo / "runs").glob("*/manifest.json"))
        return json.loads(runs[-1].read_text(encoding="utf-8"))

    def pull_request(self) -> tuple[str, Any, Any]:
        from mlops.core.config import load_params
        from mlops.core.typed_yaml import parse_overrides

        key, value = next(iter(parse_overrides([self.change]).items()))
        self.out.head("A pull request changes a parameter", "a developer")
        before = load_params(self.repo / "params.yaml")
        old = _lookup(before, key)
        self.git("checkout", "-q", "-b", "feature/tune")
        params_file = self.repo / "params.yaml"
        text = params_file.read_text(encoding="utf-8")
        edited = edit_param(text, key, value)
        if edited is None:
            import yaml

            raw = yaml.safe_load(text)
            node = raw
            for part in key.split(".")[:-1]:
                node = node[part]
            node[key.split(".")[-1]] = value
            edited = yaml.safe_dump(raw, sort_keys=False)
        params_file.write_text(edited, encoding="utf-8")
        if _lookup(load_params(params_file), key) != value:
            raise StageError(f"--change {self.change}: params.yaml did not take it", stage="loop")
        self.git("commit", "-q", "-am", f"Tune {key}: {old} -> {value}")
        diff = self.git("diff", "-U0", "main", "--", "params.yaml")
        changed = [line for line in diff.splitlines()
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        self.out.say(f"branch feature/tune, commit {self.git('rev-parse', '--short', 'HEAD')}:"
                     f" {key} {old} -> {value}")
        for line in changed:
            self.out.say("  " + line)
        return key, old, value

    def ci(self) -> Path:
        self.out.head("CI on the pull request: pipeline, report against production",
                      'ci.yml: "Pipeline" with MLOPS_CHAMPION_REGISTRY, no token')
        env = self.env(MLOPS_CHAMPION_REGISTRY=f"hub:{REPO_ID}")
        self.out.say(f"MLOPS_CHAMPION_REGISTRY=hub:{REPO_ID}   (read-only; no HF_TOKEN, as "
                     "for a fork)")
        try:
            self.mlops(["run", "--no-register"], env)
        except StageError as exc:  # a failed gate still leaves its report: CI posts it
            self.out.say(f"-> the pipeline failed: {exc.message.splitlines()[0]}")
        manifest = self._last_manifest()
        report = self.repo / "runs" / manifest["run_id"] / "report.md"
        if not report.is_file():
            raise StageError("CI wrote no report.md", stage="loop")
        self.out.say(f"-> run {manifest['run_id']}: {manifest['status']}; the pull-request "
                     f"comment is {report.relative_to(self.work)}")
        self.out.say(_report_excerpt(report.read_text(encoding="utf-8")), indent=6)
        return report

    def merge(self) -> None:
        self.out.head("Merge into main", "a reviewer")
        self.git("checkout", "-q", "main")
        self.git("merge", "-q", "--no-ff", "feature/tune", "-m", "Merge feature/tune")
        self.out.say(f"main is now {self.git('rev-parse', '--short', 'HEAD')}: "
                     + self.git("log", "-1", "--format=%s", "HEAD^2"))

    def deploy_start(self) -> dict[str, Any]:
        self.out.head("CD starts the release", 'cd.yml: "Start the release strategy"')
        text = self.mlops(["deploy", "start", "--reason", "CI passed on main",
                           *[a for s in LOOP_DEPLOY for a in ("--set", s)]], self.cd_env())
        self.out.say("(the rehearsal shortens the canary: --set " + " ".join(LOOP_DEPLOY) + ")")
        state = json.loads(text)
        dep = state.get("deployment") or {}
        self.out.say(f"-> production v{state.get('production')}; {dep.get('strategy')} of "
                     f"v{dep.get('candidate')} at {dep.get('weight')} % (steps "
                     f"{dep.get('steps')})")
        return state

    def space(self) -> None:
        self.out.head("CD builds the Space, which is started and checked",
                      'cd.yml: "Build the Space bundle"')
        folder = self.work / "space"
        self.mlops(["space", "build", "--out", str(folder), "--repo-id", REPO_ID],
                   self.cd_env())
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and "mlops/" not in p.relative_to(folder).as_posix())
        self.out.say(f"-> {folder.relative_to(self.work)}/: " + ", ".join(files))
        from mlops.space.bundle import streamlit_command

        port = free_port()
        cmd = streamlit_command(port)
        exe = Path(sys.executable).with_name("streamlit")
        cmd[:1] = [str(exe)] if exe.is_file() else [sys.executable, "-m", "streamlit"]
        cmd[cmd.index("--server.address") + 1] = "127.0.0.1"
        self.out.say("$ " + shlex.join(["streamlit", *cmd[cmd.index("run"):]]))
        log = (self.work / "space.log").open("wb")
        # The operator token a Space gets as a secret: a fresh strong one, never printed.
        env = self.env(MLOPS_REGISTRY_BACKEND="hub", MLOPS_HUB_REPO_ID=REPO_ID,
                       MLOPS_ADMIN_TOKEN=secrets.token_urlsafe(32),
                       PYTHONPATH=str(folder), HOME=str(self.work / "home"))
        self.out.say("MLOPS_ADMIN_TOKEN=<secrets.token_urlsafe(32)>   (a Space secret; "
                     "docs/app.md, \"The operator token\")")
        try:
            self.space_proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=log,
                                               stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL)
            try:
                health = wait_for_http(f"http://127.0.0.1:{port}/_stcore/health",
                                       proc=self.space_proc, timeout=60, interval=0.2)
            except (ChildProcessError, TimeoutError):
                raise StageError("the Space did not start:\n" + (
                    self.work / "space.log").read_text(errors="replace")[-2000:],
                    stage="loop") from None
            page = wait_for_http(f"http://127.0.0.1:{port}/", proc=self.space_proc)
            self.out.say(f"-> GET /_stcore/health: {health[0]} {health[1]!r}; GET /: "
                         f"{page[0]} ({len(page[1])} bytes); pid {self.space_proc.pid}")
        finally:
            if self.space_proc is not None:
                stop(self.space_proc)
                self.out.say(f"-> stopped (pid {self.space_proc.pid}, exit "
                             f"{self.space_proc.returncode})")
            log.close()

    def traffic_and_monitor(self) -> list[dict[str, Any]]:
        from mlops.core.config import load_params
        from mlops.core.data import load_split
        from mlops.core.schema import load_schema
        from mlops.monitoring.simulation import send_traffic
        from mlops.registry.hub import HubRegistry
        from mlops.serving.predlog import PredictionLog
        from mlops.serving.router import Router

        params = load_params(self.repo / "params.yaml")
        rows = load_split(params).test
        log_path = self.work / "monitor-data" / "live" / "predictions.sqlite"
        out_dir = self.repo / "runs" / "monitor"
        sets = [f"monitoring.log_path={log_path}", *LOOP_DEPLOY]
        decisions: list[dict[str, Any]] = []
        for number, requests in enumerate(ROUNDS, 1):
            self.out.head(f"Live traffic, round {number}: {requests} requests",
                          "the Space's users; labels come back later")
            registry = HubRegistry(REPO_ID, endpoint=self.hub.url,
                                   token="hf_loopDummyTokenNotASecret",
                                   cache_dir=self.work / "router-cache",
                                   aliases=tuple(params.registry.aliases))
            router = Router(registry, params.model.name,
                            load_schema(params.resolve(params.data.schema)),
                            PredictionLog(log_path), positive_class=params.data.positive_class,
                            refresh_seconds=0.5)
            try:
                status = router.status()
                sent = send_traffic(router, rows, params.data.target, n=requests,
                                    seed=params.seed + number)
            finally:
                router.close()
            served = ", ".join(f"v{v}: {n}" for v, n in sent["by_version"].items())
            self.out.say(f"router: production v{status['production']}, canary "
                         f"v{status['canary']} at {status['canary_weight']} %")
            self.out.say(f"-> served {served}; {sent['labelled']} labels fed back; log "
                         f"{log_path.relative_to(self.work)}")

            self.out.head(f"Monitor, round {number}",
                          'monitor.yml: "Monitor and apply the rollback rules"')
            self.mlops(["monitor", *[a for s in sets for a in ("--set", s)],
                        "--out", str(out_dir), "--apply"], self.cd_env())
            report = json.loads((out_dir / "monitor.json").read_text(encoding="utf-8"))
            for action in report["actions"] or [{"target": "-", "action": "none",
                                                  "reasons": ["no rule acted"]}]:
                self.out.say(f"-> {action['target']}: {action['action']} "
                             f"({'; '.join(action['reasons'])[:150]})")
            decisions.append(report)
            state = json.loads(self.mlops(["deploy", "status"], self.cd_env(), show=False))
            dep = state.get("deployment") or {}
            self.out.say(f"-> production v{state['production']}; release "
                         f"{dep.get('strategy')} of v{dep.get('candidate')}: "
                         f"{dep.get('status')} at {dep.get('weight')} %")
            self.production = state["production"]
            if dep.get("status") != "running":
                break
        self._monitor_notebook(out_dir, sets)
        return decisions

    def _monitor_notebook(self, out_dir: Path, sets: list[str]) -> None:
        self.out.head("The monitoring notebook shows the recorded decision",
                      'monitor.yml: "Monitoring notebook (papermill)"')
        decision = out_dir / "monitor.json"
        before = _sha(decision)
        exe = Path(sys.executable).with_name("papermill")
        argv = [str(exe) if exe.is_file() else "papermill",
                str(self.repo / "notebooks" / "04_monitor.ipynb"),
                str(out_dir / "04_monitor.ipynb"), "--cwd", str(self.repo / "notebooks"),
                "-p", "params_path", str(self.repo / "params.yaml"), "-p", "run_dir",
                str(out_dir), "-y", json.dumps({"overrides": sets})]
        self.out.say("$ papermill notebooks/04_monitor.ipynb runs/monitor/04_monitor.ipynb ...")
        self.run(argv, self.cd_env())
        after = _sha(decision)
        self.out.say(f"-> monitor.json sha256 {before[:12]} before, {after[:12]} after: "
                     + ("unchanged, the notebook showed the decision that acted"
                        if before == after else "CHANGED"))
        if before != after:
            raise StageError("the monitoring notebook rewrote monitor.json", stage="loop")

    def history(self) -> list[dict[str, Any]]:
        self.out.head("The registry's history: every move, who made it and why",
                      "the ledger on the Hub")
        entries = json.loads(self.mlops(["registry", "history", "--json"], self.cd_env()))
        for e in entries:
            if e["action"] == "set-state":
                dep = e.get("value") or {}
                what = (f"{e.get('key')}: {dep.get('strategy')} of v{dep.get('candidate')} "
                        f"{dep.get('status')} at {dep.get('weight')} %")
            else:
                what = (f"{e['alias']}: v{e['from_version'] or '-'} -> "
                        f"v{e['to_version'] or '-'}")
            self.out.say(f"#{e['seq']:<3} {e['actor']:<13} {e['action']:<9} {what:<45} "
                         f"{(e.get('reason') or '')[:70]}")
        return entries

    def close(self) -> None:
        if self.space_proc is not None:
            stop(self.space_proc)
        if self.hub is not None:
            self.hub.__exit__(None, None, None)
            self.hub = None


def _lookup(params: Any, key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def _report_excerpt(text: str) -> str:
    """The verdict, the "Against production" section and the headline metric rows."""
    lines = text.splitlines()
    keep = [lines[0], ""] if lines else []
    inside = False
    for line in lines:
        if line.startswith("### Against production"):
            inside = True
        elif line.startswith("### ") and inside:
            break
        if inside and line.strip():
            keep.append(line)
    try:
        start = lines.index("### Metrics")
    except ValueError:
        return "\n".join(keep)
    keep.append("")
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        if line.startswith(("| Metric", "|---", "| accuracy", "| roc_auc", "| f1", "| brier")):
            keep.append(line)
    return "\n".join(keep)


def cmd_loop(args: argparse.Namespace) -> int:
    """Run the rehearsal; print every step; clean up."""
    project = Path(args.project).resolve()
    if not (project / "params.yaml").is_file() or not (project / "mlops").is_dir():
        raise StageError(f"{project} is not the project (no params.yaml or mlops/)",
                         stage="loop")
    work = Path(args.workdir).resolve() if args.workdir else Path(
        tempfile.mkdtemp(prefix="mlops-loop-"))
    if args.workdir:
        if work.exists() and any(work.iterdir()):
            raise StageError(f"--workdir {work} is not empty; give a new folder",
                             stage="loop")
        work.mkdir(parents=True, exist_ok=True)
    print("mlops loop: the CI/CD loop of this project, rehearsed offline on 127.0.0.1")
    print(f"work folder: {work}" + ("" if args.keep else " (removed at the end; --keep keeps"
                                    " it)"))
    loop = Loop(project, work, args.change)
    # This process talks to the local Hub too (the router): huggingface_hub reads these
    # when it is imported, so they are set first and restored at the end.
    saved = {k: os.environ.get(k) for k in ("HF_HUB_DISABLE_TELEMETRY", "HF_ENDPOINT")}
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    try:
        loop.setup()
        first = loop.cd_pipeline("CD on main: the release before this story")
        key, old, new = loop.pull_request()
        report = loop.ci()
        loop.merge()
        second = loop.cd_pipeline("CD on main after the merge: register the candidate")
        loop.deploy_start()
        loop.space()
        decisions = loop.traffic_and_monitor()
        loop.history()
        final = decisions[-1] if decisions else {}
        print("\nThe loop, in short:")
        loop.out.say(f"production was v{(first.get('registry') or {}).get('version')}; the "
                     f"pull request changed {key} {old} -> {new}; CI's report: "
                     f"{report.relative_to(work)}")
        acted = ", ".join(f"{a['target']} {a['action']}" for a in final.get("actions", []))
        loop.out.say(f"CD registered v{(second.get('registry') or {}).get('version')} and "
                     f"released it as a canary; after {len(decisions)} monitor round(s) "
                     f"the monitor's last decision: {acted or 'no action'}; production is "
                     f"now v{loop.production}")
        loop.out.say(f"total {time.monotonic() - loop.out.start:.0f} s; the Hub server and "
                     "the Space were stopped")
    finally:
        loop.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0
