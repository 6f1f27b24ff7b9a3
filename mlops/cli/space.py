"""``mlops space build|push|deploy|fetch-log``: the Hugging Face Space (Docker) bundle of the app.

Output names repositories, folders and commit URLs only: the token is never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlops.cli.common import HelpFormatter, add_params_args, load_params
from mlops.core.exceptions import PublishError

__all__ = ["register", "cmd_build", "cmd_push", "cmd_deploy", "cmd_fetch_log", "space_secrets"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops space build|push|deploy|fetch-log``."""
    p = subparsers.add_parser(
        "space", help="build and push the Hugging Face Space (Docker) bundle; fetch its log",
        description="The Streamlit app as a Hugging Face Docker Space: build the folder, "
                    "upload it, and download the prediction log the Space records.",
    )
    ssub = p.add_subparsers(dest="space_command", required=True, metavar="ACTION")
    c = ssub.add_parser(
        "build", help="write the exact folder that would be uploaded",
        description="Write the Space folder (Dockerfile, pinned requirements, the app and "
                    "its .streamlit/config.toml, the package, params and the schema; no "
                    "training row: the app reads each version's reference.json) into "
                    "--out, replacing a bundle built there before; any other "
                    "non-empty folder is refused without --force. The app finds models in a "
                    "Hub model repo (--repo-id) or in a copy of the local registry "
                    "(--bundle-registry). The README's license, models and datasets come "
                    "from params (space:) or the repos given.",
        epilog="examples:\n  mlops space build --repo-id user/my-model "
               "--dataset-repo user/my-logs\n  mlops space build --bundle-registry "
               "--out space",
        formatter_class=HelpFormatter,
    )
    add_params_args(c)
    c.add_argument("--out", default="space",
                   help="folder to write: new, empty or an earlier bundle (space)")
    c.add_argument("--force", action="store_true",
                   help="replace --out even when it holds files `space build` did not write")
    where = c.add_mutually_exclusive_group(required=True)
    where.add_argument("--repo-id", metavar="MODEL_REPO", help="Hub model repo of the registry")
    where.add_argument("--bundle-registry", action="store_true",
                       help="copy the local registry folder into the bundle")
    c.add_argument("--dataset-repo", metavar="DATASET_REPO",
                   help="Hub dataset repo the app pushes its prediction log to")
    c.add_argument("--include-training-data", action="store_true",
                   help="also ship the training data file (data.path): a public Space "
                        "publishes every row; only for versions without reference.json")
    c.set_defaults(func=cmd_build)

    c = ssub.add_parser(
        "push", help="upload the folder to a Docker Space in one commit (token from HF_TOKEN)",
        description="Upload a folder made by `mlops space build` to a Docker Space in one "
                    "commit; files not in the folder are deleted from the Space. The token "
                    "is read from HF_TOKEN.",
        epilog="example:\n  mlops space push --repo-id user/my-space --folder space",
        formatter_class=HelpFormatter,
    )
    c.add_argument("--repo-id", required=True, metavar="SPACE_REPO", help="e.g. user/my-space")
    c.add_argument("--folder", default="space", help="bundle made by `space build` (space)")
    c.add_argument("--private", action="store_true", help="create the Space private")
    c.add_argument("--message", help="commit message")
    c.set_defaults(func=cmd_push)

    c = ssub.add_parser(
        "deploy", help="push the bundle, set the Space's secrets and variables, restart it "
                       "and wait until it runs; roll back when it does not",
        description="Deploy a folder made by `mlops space build` and prove it runs: set the "
                    "Space's secrets (each from an environment variable) and variables "
                    "(where the app finds its registry and log, from the bundle), upload "
                    "the folder in one commit, restart the Space, wait until its runtime is "
                    "RUNNING (at most --timeout seconds) and its health route answers. On "
                    "BUILD_ERROR, RUNTIME_ERROR, a timeout or a failed health check, the "
                    "Space is put back on its previous commit and variables and the command "
                    "fails. The token is read from HF_TOKEN.",
        epilog="examples:\n  mlops space deploy --repo-id user/my-space --folder space\n"
               "  mlops space deploy --repo-id user/my-space --secret HF_TOKEN=SPACE_TOKEN",
        formatter_class=HelpFormatter,
    )
    c.add_argument("--repo-id", required=True, metavar="SPACE_REPO", help="e.g. user/my-space")
    c.add_argument("--folder", default="space", help="bundle made by `space build` (space)")
    c.add_argument("--secret", action="append", default=[], metavar="NAME[=ENV]",
                   help="set the Space secret NAME from the environment variable ENV "
                        "(default NAME); an unset ENV is an error (repeatable)")
    c.add_argument("--secret-if-set", action="append", default=[], metavar="NAME[=ENV]",
                   help="as --secret, but an unset ENV leaves the Space's secret as it is")
    c.add_argument("--variable", action="append", default=[], metavar="NAME=VALUE",
                   help="also set this Space variable (repeatable)")
    c.add_argument("--timeout", type=float, default=1500.0, metavar="SECONDS",
                   help="how long the build and start may take (1500)")
    c.add_argument("--poll", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between runtime checks (10)")
    c.add_argument("--health-url", metavar="URL",
                   help="the app's health URL (default: the Space's host + /_stcore/health)")
    c.add_argument("--private", action="store_true", help="create the Space private")
    c.add_argument("--message", help="commit message")
    c.set_defaults(func=cmd_deploy)

    c = ssub.add_parser(
        "fetch-log", help="download the Space's prediction log and feedback "
                          "from a Hub dataset repo",
        description="Download the prediction log and feedback the Space pushed to a Hub "
                    "dataset repo; point monitoring.log_path at the downloaded "
                    "predictions.sqlite.",
        epilog="examples:\n  mlops space fetch-log --repo-id user/my-logs --out "
               "monitor-data\n  mlops space fetch-log --repo-id user/my-logs "
               "--include 'live/*'",
        formatter_class=HelpFormatter,
    )
    c.add_argument("--repo-id", required=True, metavar="DATASET_REPO",
                   help="Hub dataset repo the Space pushes its log to")
    c.add_argument("--out", default="monitor-data", help="folder to fill (monitor-data)")
    c.add_argument("--include", action="append", metavar="GLOB",
                   help="only files matching GLOB (repeatable)")
    c.add_argument("--missing-ok", action="store_true",
                   help="a dataset repo that does not exist yet (no Space has logged to it) "
                        "fetches nothing and exits 0")
    c.set_defaults(func=cmd_fetch_log)


def cmd_build(args: argparse.Namespace) -> int:
    """Write the Space folder and list what is in it; the project is the params' folder."""
    from mlops.space.bundle import build_space

    params = load_params(args)
    bundle = build_space(params, args.out, project=params.root, repo_id=args.repo_id,
                         bundle_registry=args.bundle_registry, dataset_repo=args.dataset_repo,
                         force=args.force, include_data=args.include_training_data)
    for warning in bundle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    where = bundle.registry.get("hub_repo_id") or f"bundled {bundle.registry['path']}/"
    print(f"space bundle {bundle.folder}: {len(bundle.files)} files, registry {where}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """Upload the built folder to the Space in one commit."""
    from mlops.space.bundle import push_space

    folder = args.folder
    url = push_space(args.repo_id, folder, private=args.private,
                     message=args.message or f"Deploy {Path(folder).name} with mlops space push")
    print(f"pushed {folder} to Space {args.repo_id}: {url}")
    return 0


def space_secrets(required: list[str], optional: list[str],
                  env: dict[str, str]) -> dict[str, str]:
    """``{secret name: value}`` from ``NAME[=ENV]`` specs read in ``env``.

    A required spec whose variable is unset or empty is an error naming it; an optional
    one is left out (the Space keeps its current secret).
    """
    from mlops.core.exceptions import ConfigError

    found: dict[str, str] = {}
    for spec, needed in [(s, True) for s in required] + [(s, False) for s in optional]:
        name, _, var = spec.partition("=")
        name, var = name.strip(), (var or name).strip()
        if not name or not var:
            raise ConfigError(f"--secret {spec!r} must be NAME or NAME=ENV", key="--secret")
        value = env.get(var) or ""
        if value:
            found[name] = value
        elif needed:
            raise ConfigError(f"the Space secret {name} is read from the environment "
                              f"variable {var}, which is not set (in CI: a repository "
                              "secret passed in the step's env; docs/cicd.md)", key=var)
    return found


def cmd_deploy(args: argparse.Namespace) -> int:
    """Push, configure and restart the Space; wait until it runs, else roll it back."""
    import os

    from mlops.core.exceptions import ConfigError
    from mlops.space.deploy import deploy_space, hub_api

    secrets = space_secrets(args.secret, args.secret_if_set, dict(os.environ))
    variables = {}
    for spec in args.variable:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--variable {spec!r} must be NAME=VALUE", key="--variable")
        variables[name.strip()] = value
    folder = args.folder
    result = deploy_space(
        args.repo_id, folder, api=hub_api(), secrets=secrets, variables=variables,
        private=args.private, timeout=args.timeout, poll=args.poll,
        health_url=args.health_url,
        message=args.message or f"Deploy {Path(folder).name} with mlops space deploy")
    for line in result.log:
        print(f"  {line}")
    print(f"deployed {folder} to Space {args.repo_id}: commit {result.commit}, "
          f"{result.stage}, health {result.health}")
    return 0


def cmd_fetch_log(args: argparse.Namespace) -> int:
    """Download the Space's recorded log/feedback dataset into ``--out``."""
    from mlops.space.logfetch import fetch_dataset

    try:
        files = fetch_dataset(args.repo_id, args.out, allow_patterns=args.include or None)
    except PublishError as exc:
        if not (args.missing_ok and exc.fields.get("rule") == "not_found"):
            raise
        print(f"nothing fetched: {exc.message}", file=sys.stderr)
        return 0
    print(f"fetched {len(files)} files from dataset {args.repo_id} into {args.out}")
    return 0
